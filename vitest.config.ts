import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addon + ONNX Runtime threads: separate processes are the robust isolation.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
