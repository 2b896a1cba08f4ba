import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  format: ['esm', 'cjs'],
  dts: true,
  shims: true,
  sourcemap: true,
  target: 'node20',
  splitting: false,
};

// The framework adapters (crossrank/ai-sdk, crossrank/langchain, crossrank/llamaindex) import the
// core as `crossrank` (tsconfig paths map it to lib/index.ts while developing) and keep that
// import: one CrossEncoder and one CrossrankError class per process, so `instanceof` holds for
// what users pass and catch, and no second copy of the core in each adapter's file. The
// frameworks are optional peer dependencies, never bundled.
// The two builds run at once, so neither cleans dist/ (one could delete the other's output):
// `npm run build:ts` empties it first.
// ESM and CommonJS builds with .d.ts/.d.cts; `shims` provides import.meta.url in CJS and
// __dirname in ESM so that lib/native.ts finds the addon either way.
export default defineConfig([
  { ...shared, entry: ['lib/index.ts', 'lib/cli.ts', 'lib/serve/index.ts'] },
  {
    ...shared,
    entry: {
      'integrations/ai-sdk': 'lib/integrations/ai-sdk.ts',
      'integrations/langchain': 'lib/integrations/langchain.ts',
      'integrations/llamaindex': 'lib/integrations/llamaindex.ts',
    },
    external: ['crossrank', 'ai', '@ai-sdk/provider', /^@langchain\//, /^@llamaindex\//],
  },
]);
