// Ranking metrics with trec_eval's exact semantics (what pytrec_eval and BEIR report):
// - a run is ordered by score descending, ties broken by document id in descending byte order;
// - a document is relevant when its qrels grade is >= 1; documents missing from the qrels are 0;
// - only queries present in both the run and the qrels are evaluated; the mean is over them;
// - NDCG uses the grade itself as gain and log2(rank + 1) as discount (trec_eval ndcg_cut).

/** qrels: query id -> document id -> graded relevance. */
export type Qrels = Map<string, Map<string, number>>;
/** run: query id -> document id -> score. */
export type Run = Map<string, Map<string, number>>;

/** trec_eval's measures of one query (or their means), each in [0, 1]. */
export interface QueryMetrics {
  /** NDCG@10 (trec_eval ndcg_cut_10): graded gain, log2(rank + 1) discount. */
  ndcg10: number;
  /** Reciprocal rank of the first relevant document (grade >= 1) within the top 10, else 0 (recip_rank cut at 10). */
  mrr10: number;
  /** Relevant documents in the top 100 over all relevant documents of the query (recall_100). */
  recall100: number;
  /** Average precision over the whole ranking (trec_eval map). */
  map: number;
}

/** evaluateRun()'s result: means, and each query's metrics. */
export interface MetricsReport {
  /** Means over the evaluated queries. */
  mean: QueryMetrics;
  /** Query id -> that query's metrics. */
  perQuery: Map<string, QueryMetrics>;
  /** How many queries were evaluated (in both the run and the qrels). */
  queries: number;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Document ids of one query in trec_eval order. */
export function trecOrder(docs: Map<string, number>): string[] {
  return [...docs.entries()]
    .sort((a, b) => (a[1] !== b[1] ? b[1] - a[1] : compareBytes(b[0], a[0])))
    .map(([id]) => id);
}

function dcg(gains: number[], k: number): number {
  let sum = 0;
  for (let i = 0; i < Math.min(k, gains.length); i++) sum += (gains[i] as number) / Math.log2(i + 2);
  return sum;
}

/**
 * The metrics of one query: `ranking` is its document ids best first (trecOrder() of a run),
 * `judged` its qrels (document id -> grade; relevant when >= 1, missing documents are 0).
 */
export function queryMetrics(ranking: string[], judged: Map<string, number>): QueryMetrics {
  const grade = (doc: string): number => judged.get(doc) ?? 0;
  const numRel = [...judged.values()].filter((g) => g >= 1).length;

  const gains = ranking.map((d) => Math.max(0, grade(d)));
  const ideal = [...judged.values()].filter((g) => g > 0).sort((a, b) => b - a);
  const idcg = dcg(ideal, 10);
  const ndcg10 = idcg > 0 ? dcg(gains, 10) / idcg : 0;

  let mrr10 = 0;
  for (let i = 0; i < Math.min(10, ranking.length); i++) {
    if (grade(ranking[i] as string) >= 1) {
      mrr10 = 1 / (i + 1);
      break;
    }
  }

  let relIn100 = 0;
  for (let i = 0; i < Math.min(100, ranking.length); i++) if (grade(ranking[i] as string) >= 1) relIn100++;
  const recall100 = numRel > 0 ? relIn100 / numRel : 0;

  let found = 0;
  let precisionSum = 0;
  ranking.forEach((doc, i) => {
    if (grade(doc) >= 1) {
      found++;
      precisionSum += found / (i + 1);
    }
  });
  const map = numRel > 0 ? precisionSum / numRel : 0;
  return { ndcg10, mrr10, recall100, map };
}

/**
 * trec_eval over a whole run: each query present in both the run and the qrels, ordered as
 * trec_eval orders it (score descending, ties by document id in descending byte order), and the
 * means over those queries. Matches pytrec_eval to 1e-6 (test/eval.test.ts).
 */
export function evaluateRun(run: Run, qrels: Qrels): MetricsReport {
  const perQuery = new Map<string, QueryMetrics>();
  for (const [qid, docs] of run) {
    const judged = qrels.get(qid);
    if (!judged) continue;
    perQuery.set(qid, queryMetrics(trecOrder(docs), judged));
  }
  const mean: QueryMetrics = { ndcg10: 0, mrr10: 0, recall100: 0, map: 0 };
  for (const m of perQuery.values()) {
    mean.ndcg10 += m.ndcg10;
    mean.mrr10 += m.mrr10;
    mean.recall100 += m.recall100;
    mean.map += m.map;
  }
  const n = perQuery.size;
  if (n > 0) {
    mean.ndcg10 /= n;
    mean.mrr10 /= n;
    mean.recall100 /= n;
    mean.map /= n;
  }
  return { mean, perQuery, queries: n };
}
