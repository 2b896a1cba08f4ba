import { defineConfig } from 'tsup';

// ESM and CommonJS builds with .d.ts/.d.cts; `shims` provides import.meta.url in CJS and
// __dirname in ESM so that lib/native.ts finds the addon either way.
export default defineConfig({
  entry: ['lib/index.ts', 'lib/cli.ts', 'lib/serve/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  shims: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  splitting: false,
});
