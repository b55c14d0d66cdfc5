import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Model-checking tests explore hundreds of thousands of states; a wall-clock limit would make them flaky.
    testTimeout: 0,
    hookTimeout: 0,
  },
})
