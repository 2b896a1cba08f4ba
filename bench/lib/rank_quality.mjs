// Quality beside speed in the CPU benchmark: every system's rerank scores against sentence-transformers
// torch fp32 on the same weights and lists (issue 25). Same measures as bench/int8_study.py.

/** Spearman correlation of two equal-length score arrays (ranks by stable sort, as the studies). */
export function spearman(a, b) {
  const ranks = (x) => {
    const order = x.map((v, i) => [v, i]).sort((p, q) => p[0] - q[0] || p[1] - q[1]);
    const r = new Array(x.length);
    order.forEach(([, i], k) => (r[i] = k));
    return r;
  };
  const ra = ranks(a);
  const rb = ranks(b);
  const mean = (x) => x.reduce((s, v) => s + v, 0) / x.length;
  const ma = mean(ra);
  const mb = mean(rb);
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < ra.length; i++) {
    num += (ra[i] - ma) * (rb[i] - mb);
    da += (ra[i] - ma) ** 2;
    db += (rb[i] - mb) ** 2;
  }
  return num / Math.sqrt(da * db);
}

export function topOverlap(a, b, k = 10) {
  const top = (x) => new Set(x.map((v, i) => [v, i]).sort((p, q) => q[0] - p[0] || p[1] - q[1]).slice(0, k).map(([, i]) => i));
  const ta = top(a);
  return [...top(b)].filter((i) => ta.has(i)).length / Math.min(k, a.length);
}

/** Each system's rerank scores against sentence-transformers torch fp32 on the same weights and
 *  lists: per-list Spearman and top-10 overlap (min over the lists), max |score difference|. */
export function qualityAgainstTorch(runs) {
  const out = [];
  for (const ref of runs.filter((r) => r.system === 'sentence-transformers' && r.workload === 'rerank' && r.scores)) {
    for (const r of runs.filter((x) => x.model === ref.model && x.workload === 'rerank' && x.scores && x !== ref)) {
      const lists = ref.scores.map((a, i) => [a, r.scores[i]]).filter(([a, b]) => b && a.length === b.length);
      if (lists.length === 0) continue;
      out.push({
        model: r.model,
        system: r.system,
        lists: lists.length,
        spearman_min: Math.min(...lists.map(([a, b]) => spearman(a, b))),
        top10_min: Math.min(...lists.map(([a, b]) => topOverlap(a, b))),
        max_abs_diff: Math.max(...lists.flatMap(([a, b]) => a.map((v, i) => Math.abs(v - b[i])))),
      });
    }
  }
  return out;
}
