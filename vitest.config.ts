import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: onnxruntime sessions already use both; running test files in parallel only thrashes.
    fileParallelism: false,
  },
});
