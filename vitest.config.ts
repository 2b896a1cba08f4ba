import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The framework adapters import the core as `crossrank` (tsconfig paths): the sources here.
  resolve: { alias: [{ find: /^crossrank$/, replacement: fileURLToPath(new URL('./lib/index.ts', import.meta.url)) }] },
  test: {
    include: ['test/**/*.test.ts'],
    // Native addon + ONNX Runtime threads: separate processes are the robust isolation.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
