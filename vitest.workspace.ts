import { defineWorkspace } from "vitest/config"

// The one test entry point: every package's `test/` folder, plus the cross-package end-to-end tests in `test/`.
const packages = ["protocol", "transport", "client", "server", "testkit", "bench", "cli"]

export default defineWorkspace([
  ...packages.map((name) => ({
    test: {
      name,
      root: `packages/${name}`,
      include: ["test/**/*.test.ts"],
      testTimeout: 30_000,
      hookTimeout: 30_000
    }
  })),
  {
    test: {
      name: "e2e",
      root: "test",
      include: ["**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 60_000
    }
  }
])
