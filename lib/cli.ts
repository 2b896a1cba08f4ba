#!/usr/bin/env node
// crossrank command line:
//   crossrank rerank --model DIR --query TEXT [--top-k N] [--device cpu|auto] DOC [DOC ...]
//   crossrank info --model DIR
import { parseArgs } from 'node:util';

import { CrossEncoder } from './cross-encoder.js';
import { CrossrankError } from './errors.js';

const USAGE = `usage:
  crossrank rerank --model DIR --query TEXT [--top-k N] [--device cpu|auto] DOC [DOC ...]
  crossrank info --model DIR`;

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
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !command || !values.model) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const device = (values.device ?? 'cpu') as 'cpu' | 'auto' | 'cuda';
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
      const topK = values['top-k'] !== undefined ? Number(values['top-k']) : undefined;
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
