#!/usr/bin/env node
// crossrank command line:
// --model takes a folder or a Hugging Face hub id (org/name, org/name@revision, or --revision REV):
// hub models download into the HF cache with a progress bar on stderr (HF_ENDPOINT, HF_TOKEN,
// HF_HUB_OFFLINE, HF_HUB_CACHE / HF_HOME as for Python).
//   crossrank rerank  --model DIR|ID --query TEXT [--top-k N] [--device cpu|auto] [--instruction TEXT] DOC [DOC ...]
//   crossrank info    --model DIR|ID
//   crossrank download --model ID [--revision REV] [--precision P] [--device D]   (fills the HF cache, loads nothing)
//   crossrank eval    --model DIR|ID --data BEIR_DIR --run RUN.trec [--output OUT.trec] [--top-k 100] [--split test] [--device cpu|auto|cuda] [--concurrency 8] [--json]
//   crossrank convert --model HF_DIR --out DIR [--python PATH] [-- extra convert.py options]
//   crossrank serve   --model ID|DIR [--model ...] [--port 8080] [...]   (lib/serve/cli.ts: flags and CROSSRANK_* env)
//   crossrank build   (builds the native addon from source in this project; native/build.mjs)
//   crossrank --version
// Errors name the flag the user typed (--top-k), not the library's option path (options.topK).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Presets, SingleBar } from 'cli-progress';

import { CrossEncoder, type LoadOptions, type PrecisionOption } from './cross-encoder.js';
import type { DownloadProgress } from './hub/resolve.js';
import { intFlag, isUsageError, withFlagNames } from './cli-errors.js';
import { CrossrankError } from './errors.js';
import { type HubModel, resolveHubModel } from './hub/resolve.js';
import { type PrecisionChoice, autoDevice, resolveHubAuto } from './hub/precision.js';
import { parseModelRef } from './hub/settings.js';
import { evaluate } from './eval/evaluate.js';
import { cudaProviderPath, ownVersion, packageRoot } from './native.js';

const USAGE = `usage:
  crossrank rerank  --model DIR|ID --query TEXT [--top-k N] [--device cpu|auto] [--instruction TEXT] DOC [DOC ...]
    --instruction: LLM rerankers' instruction (default: the model's own; '' for none)
  crossrank info    --model DIR|ID
  crossrank download --model ID [--revision REV] [--precision fp32|fp16|int8|q4|auto] [--device cpu|cuda|auto]
    downloads the files \`serve --model ID\` with the same --precision/--device loads into the HF cache, and
    prints {repo, revision, commit, dir, file, downloaded} as JSON (a Kubernetes init step; see docs/deploy.md)
  crossrank eval    --model DIR|ID --data BEIR_DIR --run RUN.trec [--output OUT.trec] [--top-k 100] [--split test] [--device cpu|auto|cuda] [--concurrency 8] [--json]
  crossrank convert --model HF_DIR|ID --out DIR [--python PATH] [--no-fp16] [--no-int8] [--int8 per-token|hybrid|dynamic] [--int8-keep-fp32 auto|N] [--no-optimize] [--bounds JSON] [--traceback]
    exit 0: all written; 1: the model could not be converted (nothing written); 3: fp32 written, a variant refused;
          4: unsupported architecture (crossrank cannot score it as sentence-transformers does; nothing written)
  crossrank serve   --model ID|DIR [--model [NAME=]ID|DIR ...] [--host H] [--port P] ... (crossrank serve --help)
  crossrank build   (build the native addon from source: cmake, cargo, a C++17 compiler, and the dev packages
                     cmake-js node-addon-api com.github.asus4.onnxruntime or ONNXRUNTIME_ROOT)
  crossrank --version
--model: a model folder, or a Hugging Face hub id such as cross-encoder/ms-marco-MiniLM-L6-v2
  (org/name@REV or --revision REV for a branch, tag or commit; --precision fp32|fp16|int8|q4|auto picks the ONNX file,
  auto: the fastest file \`crossrank convert\` checked for this CPU or GPU, else fp32; info says why).
  Hub models download once into the Hugging Face cache (HF_HUB_CACHE, HF_HOME); HF_TOKEN for gated or
  private repos, HF_ENDPOINT for a mirror, HF_HUB_OFFLINE=1 to use only the cache.`;

/** A download progress bar on stderr (cli-progress), shown on a terminal or with CROSSRANK_PROGRESS set. */
function downloadBar(): ((p: DownloadProgress) => void) | undefined {
  const forced = Boolean(process.env.CROSSRANK_PROGRESS);
  if (!process.stderr.isTTY && !forced) return undefined;
  let bar: SingleBar | undefined;
  let started = 0;
  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
  return (p) => {
    if (!bar) {
      bar = new SingleBar(
        {
          stream: process.stderr,
          format: 'downloading [{bar}] {percentage}% | {done} of {size} | {rate} | {file}',
          hideCursor: process.stderr.isTTY,
          noTTYOutput: forced,
          notTTYSchedule: 500,
          etaBuffer: 50,
        },
        Presets.shades_classic,
      );
      bar.start(p.total, 0, { done: mb(0), size: mb(p.total), rate: '-', file: p.file });
      started = Date.now();
    }
    const rate = p.loaded / Math.max(1e-3, (Date.now() - started) / 1000);
    bar.update(p.loaded, { done: mb(p.loaded), size: mb(p.total), rate: `${mb(rate)}/s`, file: p.file });
    if (p.loaded >= p.total) {
      bar.stop();
      bar = undefined;
    }
  };
}

function bar(done: number, total: number, started: number): void {
  const width = 30;
  const filled = total ? Math.round((done / total) * width) : width;
  const rate = done / Math.max(1e-3, (Date.now() - started) / 1000);
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} queries, ${rate.toFixed(1)}/s`);
  if (done === total) process.stderr.write('\n');
}

const fmt = (x: number): string => x.toFixed(4);

// Downloads what `crossrank convert` reads from a hub repo (configs, tokenizer files, safetensors
// weights or else pytorch_model.bin) and prints the snapshot folder.
const SNAPSHOT_PY = `
import sys
from huggingface_hub import HfApi, snapshot_download
repo, rev = sys.argv[1], sys.argv[2]
files = HfApi().list_repo_files(repo, revision=rev)
weights = ["*.safetensors"] if any(f.endswith(".safetensors") for f in files) else ["pytorch_model.bin"]
print(snapshot_download(repo, revision=rev, allow_patterns=["*.json", "*.txt", "*.model"] + weights, ignore_patterns=["onnx/*", "openvino/*"]))
`;

/** The flags of rerank, info, eval and convert (serve has its own: lib/serve/cli.ts). */
const OPTIONS = {
  model: { type: 'string' },
  revision: { type: 'string' },
  precision: { type: 'string' },
  query: { type: 'string' },
  instruction: { type: 'string' },
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
  int8: { type: 'string' },
  'int8-keep-fp32': { type: 'string' },
  'no-optimize': { type: 'boolean' },
  bounds: { type: 'string' },
  traceback: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;
const FLAG_NAMES = Object.keys(OPTIONS);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // As git, npm and node: `--version` prints the version alone, for scripts to read.
  if (command === '--version' || command === '-V') {
    console.log(ownVersion());
    return 0;
  }
  if (command === '--help' || command === '-h') {
    console.error(USAGE);
    return 0;
  }
  // serve has flags of its own (and reads CROSSRANK_* env); loaded only when asked for, so the
  // other commands never load fastify.
  if (command === 'serve') {
    const serve = await import('./serve/cli.js');
    try {
      return await serve.serveMain(rest);
    } catch (error) {
      throw withFlagNames(error, serve.SERVE_FLAG_NAMES);
    }
  }
  if (command === 'build') {
    // The source build in this project (loaded before any prebuilt package): see native/build.mjs.
    return spawnSync(process.execPath, [join(packageRoot(), 'native', 'build.mjs')], { stdio: 'inherit' }).status ?? 1;
  }
  try {
    return await runCommand(command, rest);
  } catch (error) {
    throw withFlagNames(error, FLAG_NAMES);
  }
}

/** rerank, info, eval and convert; their errors name library options, which main() turns into flags. */
async function runCommand(command: string | undefined, rest: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: OPTIONS,
  });
  if (values.help || !command || !values.model) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const topK = intFlag('top-k', values['top-k']);
  const device = (values.device ?? 'cpu') as 'cpu' | 'auto' | 'cuda';
  const loadOptions: LoadOptions = { device, onProgress: downloadBar() };
  if (values.revision !== undefined) loadOptions.revision = values.revision;
  if (values.precision !== undefined) loadOptions.precision = values.precision as PrecisionOption;

  if (command === 'convert') {
    if (!values.out) {
      console.error(USAGE);
      return 2;
    }
    const script = join(packageRoot(), 'lib', 'python', 'convert.py');
    const venv = join(packageRoot(), '.venv', 'bin', 'python');
    const python = values.python ?? process.env.CROSSRANK_PYTHON ?? (existsSync(venv) ? venv : 'python3');
    let source = values.model;
    const ref = parseModelRef(values.model, values.revision);
    if ('hub' in ref) {
      // convert needs the PyTorch weights, not an ONNX file: Python's huggingface_hub fetches
      // them into the same HF cache (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE apply).
      const fetched = spawnSync(python, ['-c', SNAPSHOT_PY, ref.hub.repo, ref.hub.revision], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
      if (fetched.error) throw new CrossrankError('INVALID_ARGUMENT', `cannot run ${python}: ${fetched.error.message}`);
      if (fetched.status !== 0) return fetched.status ?? 1;
      source = fetched.stdout.trim().split('\n').at(-1) ?? '';
    }
    const args = [script, '--model', source, '--out', values.out];
    if (values['no-fp16']) args.push('--no-fp16');
    if (values['no-int8']) args.push('--no-int8');
    if (values.int8 !== undefined) {
      if (values.int8 !== 'per-token' && values.int8 !== 'hybrid' && values.int8 !== 'dynamic') {
        throw new CrossrankError('INVALID_ARGUMENT', `--int8 must be per-token, hybrid or dynamic, got ${JSON.stringify(values.int8)}`);
      }
      args.push('--int8', values.int8);
    }
    const keep = values['int8-keep-fp32'];
    if (keep !== undefined) {
      // auto: the all-int8 file, then 2, 4, 6 of the most sensitive MatMul groups fp32 until it passes
      if (keep !== 'auto' && !/^\d+$/.test(keep)) {
        throw new CrossrankError('INVALID_ARGUMENT', `--int8-keep-fp32 must be auto or a whole number, got ${JSON.stringify(keep)}`);
      }
      args.push('--int8-keep-fp32', keep);
    }
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
      concurrency: intFlag('concurrency', values.concurrency),
      loadOptions,
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

  if (command === 'download') {
    // The same file choice as CrossEncoder.load (precision, device, this CPU's features), so a
    // later `serve --model ID` with the same flags finds everything cached, even with HF_HUB_OFFLINE=1.
    const ref = parseModelRef(values.model, values.revision);
    if (!('hub' in ref)) throw new CrossrankError('INVALID_ARGUMENT', `download takes a hub id (org/name), received the folder ${JSON.stringify(values.model)}`);
    if (!['cpu', 'cuda', 'auto'].includes(device)) throw new CrossrankError('INVALID_ARGUMENT', `--device must be cpu, cuda or auto, received ${JSON.stringify(device)}`);
    if (values.precision !== undefined && !['fp32', 'fp16', 'int8', 'q4', 'auto'].includes(values.precision)) {
      throw new CrossrankError('INVALID_ARGUMENT', `--precision must be fp32, fp16, int8, q4 or auto, received ${JSON.stringify(values.precision)}`);
    }
    const progress = loadOptions.onProgress ? { onProgress: loadOptions.onProgress } : {};
    let hub: HubModel;
    let precisionChoice: PrecisionChoice | undefined;
    if (loadOptions.precision === 'auto') {
      // The same decision as CrossEncoder.load's, so serve --precision auto finds its file cached.
      ({ hub, choice: precisionChoice } = await resolveHubAuto(ref.hub, autoDevice(device, device === 'auto' && cudaProviderPath() !== ''), { device, ...progress }));
    } else {
      hub = await resolveHubModel(ref.hub, { device, ...(loadOptions.precision ? { precision: loadOptions.precision } : {}), ...progress });
    }
    console.log(JSON.stringify({ repo: hub.repo, revision: hub.revision, commit: hub.commit, dir: hub.dir, file: hub.file, downloaded: hub.downloaded, source: hub.source, ...(precisionChoice ? { precisionChoice } : {}) }));
    return 0;
  }

  const model = await CrossEncoder.load(values.model, loadOptions);
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
      const hits = await model.rerank(values.query, positionals, {
        topK,
        returnDocuments: true,
        ...(values.instruction !== undefined ? { instruction: values.instruction } : {}),
      });
      const { hub } = model.info;
      const source = hub ? `${hub.repo}@${hub.revision} (commit ${hub.commit.slice(0, 12)}, ${hub.file})` : model.info.dir;
      const graph = model.info.llm ? `, graph ${model.info.llm.graph}` : '';
      console.log(`model: ${source} (${model.info.architecture ?? model.info.modelType ?? 'unknown'}, ${model.info.kind}${graph})`);
      if (model.info.llm) console.log(`instruction: ${values.instruction ?? model.info.llm.instruction ?? "(the template's own)"}`);
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
    // An unknown flag or a flag without its value is a usage error: exit 2, as a missing --model.
    if (isUsageError(error)) {
      console.error(`crossrank: ${(error as Error).message}\n(crossrank --help lists the commands and flags)`);
      process.exitCode = 2;
      return;
    }
    const code = error instanceof CrossrankError ? ` [${error.code}]` : '';
    console.error(`crossrank: ${(error as Error).message}${code}`);
    process.exitCode = 1;
  },
);
