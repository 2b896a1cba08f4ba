#!/usr/bin/env node
// crossrank command line:
//   crossrank rerank  --model DIR --query TEXT [--top-k N] [--device cpu|auto] DOC [DOC ...]
//   crossrank info    --model DIR
//   crossrank eval    --model DIR --data BEIR_DIR --run RUN.trec [--output OUT.trec] [--top-k 100] [--split test] [--device cpu|auto|cuda] [--concurrency 8] [--json]
//   crossrank convert --model HF_DIR --out DIR [--python PATH] [-- extra convert.py options]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CrossEncoder } from './cross-encoder.js';
import { CrossrankError } from './errors.js';
import { evaluate } from './evaluate.js';
import { packageRoot } from './native.js';

const USAGE = `usage:
  crossrank rerank  --model DIR --query TEXT [--top-k N] [--device cpu|auto] DOC [DOC ...]
  crossrank info    --model DIR
  crossrank eval    --model DIR --data BEIR_DIR --run RUN.trec [--output OUT.trec] [--top-k 100] [--split test] [--device cpu|auto|cuda] [--concurrency 8] [--json]
  crossrank convert --model HF_DIR --out DIR [--python PATH] [--no-fp16] [--no-int8] [--no-optimize] [--bounds JSON] [--traceback]
    exit 0: all written; 1: the model could not be converted (nothing written); 3: fp32 written, a variant refused`;

function bar(done: number, total: number, started: number): void {
  const width = 30;
  const filled = total ? Math.round((done / total) * width) : width;
  const rate = done / Math.max(1e-3, (Date.now() - started) / 1000);
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} queries, ${rate.toFixed(1)}/s`);
  if (done === total) process.stderr.write('\n');
}

const fmt = (x: number): string => x.toFixed(4);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      query: { type: 'string' },
      'top-k': { type: 'string' },
      device: { type: 'string' },
      data: { type: 'string' },
      run: { type: 'string' },
      output: { type: 'string' },
      split: { type: 'string' },
      concurrency: { type: 'string' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      python: { type: 'string' },
      'no-fp16': { type: 'boolean' },
      'no-int8': { type: 'boolean' },
      'no-optimize': { type: 'boolean' },
      bounds: { type: 'string' },
      traceback: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !command || !values.model) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const topK = values['top-k'] !== undefined ? Number(values['top-k']) : undefined;
  const device = (values.device ?? 'cpu') as 'cpu' | 'auto' | 'cuda';

  if (command === 'convert') {
    if (!values.out) {
      console.error(USAGE);
      return 2;
    }
    const script = join(packageRoot(), 'lib', 'python', 'convert.py');
    const venv = join(packageRoot(), '.venv', 'bin', 'python');
    const python = values.python ?? process.env.CROSSRANK_PYTHON ?? (existsSync(venv) ? venv : 'python3');
    const args = [script, '--model', values.model, '--out', values.out];
    if (values['no-fp16']) args.push('--no-fp16');
    if (values['no-int8']) args.push('--no-int8');
    if (values['no-optimize']) args.push('--no-optimize');
    if (values.bounds) args.push('--bounds', values.bounds);
    if (values.traceback) args.push('--traceback');
    args.push(...positionals); // after `--`: passed to convert.py as they are (e.g. --queries 4 --docs 8)
    const run = spawnSync(python, args, { stdio: 'inherit' });
    if (run.error) throw new CrossrankError('INVALID_ARGUMENT', `cannot run ${python}: ${run.error.message}`);
    return run.status ?? 1;
  }

  if (command === 'eval') {
    if (!values.data || !values.run) {
      console.error(USAGE);
      return 2;
    }
    const started = Date.now();
    const report = await evaluate({
      data: values.data,
      run: values.run,
      model: values.model,
      output: values.output,
      topK,
      split: values.split,
      concurrency: values.concurrency !== undefined ? Number(values.concurrency) : undefined,
      loadOptions: { device },
      onProgress: process.stderr.isTTY || process.env.CROSSRANK_PROGRESS ? (d, t) => bar(d, t, started) : undefined,
    });
    if (values.json) {
      const { perQuery: _perQuery, ...summary } = report;
      console.log(JSON.stringify(summary, null, 2));
    } else {
      console.log(`queries: ${report.queries} (${report.resumedQueries} resumed), documents scored: ${report.documentsScored}, ${report.seconds.toFixed(1)} s`);
      // 'first stage' is the run file as trec_eval scores it; 'first stage, top k' is what the reranker reorders.
      const rows = [
        ['first stage', report.firstStage],
        [`first stage, top ${report.topK}`, report.firstStageTopK],
        [`reranked, top ${report.topK}`, report.reranked],
      ] as const;
      const width = Math.max(...rows.map(([name]) => name.length)) + 2;
      console.log(`${''.padEnd(width)} NDCG@10  MRR@10   R@100    MAP`);
      for (const [name, m] of rows) {
        console.log(`${name.padEnd(width)} ${fmt(m.ndcg10)}   ${fmt(m.mrr10)}   ${fmt(m.recall100)}   ${fmt(m.map)}`);
      }
      if (report.output) console.log(`reranked run: ${report.output}`);
    }
    return 0;
  }

  const model = await CrossEncoder.load(values.model, { device });
  try {
    if (command === 'info') {
      console.log(JSON.stringify(model.info, null, 2));
      return 0;
    }
    if (command === 'rerank') {
      if (values.query === undefined || positionals.length === 0) {
        console.error(USAGE);
        return 2;
      }
      const hits = await model.rerank(values.query, positionals, { topK, returnDocuments: true });
      console.log(`model: ${model.info.dir} (${model.info.architecture ?? model.info.modelType ?? 'unknown'})`);
      console.log(`query: ${values.query}`);
      for (const [rank, hit] of hits.entries()) {
        console.log(`${String(rank + 1).padStart(3)}. ${hit.score.toFixed(4)}  [${hit.index}] ${hit.document}`);
      }
      return 0;
    }
    console.error(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  } finally {
    await model.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const code = error instanceof CrossrankError ? ` [${error.code}]` : '';
    console.error(`crossrank: ${(error as Error).message}${code}`);
    process.exitCode = 1;
  },
);
