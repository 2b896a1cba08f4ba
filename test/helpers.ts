import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const ROOT = join(FIXTURES, '..', '..');
/** The Python with the reference packages (test/fixtures/requirements.txt): CI installs them in .venv. */
export const PYTHON =
  process.env.CROSSRANK_PYTHON ?? (existsSync(join(ROOT, '.venv/bin/python')) ? join(ROOT, '.venv/bin/python') : 'python3');
export const MODEL_NAMES = ['bert-tiny', 'electra-tiny', 'roberta-tiny', 'xlmr-tiny-3'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export function modelDir(name: ModelName): string {
  return join(FIXTURES, 'models', name);
}

export interface RankCase {
  query: string;
  documents: string[];
  top_k: number | null;
}

export interface Golden {
  activation: string;
  num_labels: number;
  scores: number[] | number[][];
  logits: number[] | number[][];
  ids: number[][];
  type_ids: number[][];
  token_type_ids_input: boolean;
  rank?: { index: number; score: number; document: string }[][];
}

let pairsCache: { pairs: [string, string][]; rank_cases: RankCase[] } | undefined;

export function parityPairs(): { pairs: [string, string][]; rank_cases: RankCase[] } {
  pairsCache ??= JSON.parse(readFileSync(join(FIXTURES, 'pairs.json'), 'utf8'));
  return pairsCache!;
}

export function golden(name: ModelName): Golden {
  return JSON.parse(readFileSync(join(FIXTURES, 'goldens', `${name}.json`), 'utf8')) as Golden;
}

/** Flattens goldens of multi-label models to the row-major layout predict() returns. */
export function flat(values: number[] | number[][]): number[] {
  return (values as (number | number[])[]).flatMap((v) => (Array.isArray(v) ? v : [v]));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

/** A scratch copy of a fixture model folder, for tests that damage it. */
export function scratchCopy(name: ModelName): string {
  const dir = mkdtempSync(join(tmpdir(), `crossrank-${name}-`));
  cpSync(modelDir(name), dir, { recursive: true });
  return dir;
}
