import { defineWorkspace } from "vitest/config"

// The one test entry point: every package's `test/` folder, plus the cross-package end-to-end tests in `test/`.
// Tests run from the TypeScript sources, never from a build: the `@loopwire/source` export condition (first in
// every package's `exports`) resolves `@loopwire/*` imports to `src/*.ts`.
const packages = ["protocol", "transport", "client", "server", "upstream", "testkit", "bench", "cli"]

// Vite's default conditions (client and server) with `@loopwire/source` first.
const conditions = ["@loopwire/source", "module", "node", "development|production"]
const resolve = { resolve: { conditions }, ssr: { resolve: { conditions } } }

export default defineWorkspace([
  ...packages.map((name) => ({
    ...resolve,
    test: {
      name,
      root: `packages/${name}`,
      include: ["test/**/*.test.ts"],
      testTimeout: 30_000,
      hookTimeout: 30_000
    }
  })),
  {
    ...resolve,
    test: {
      name: "e2e",
      root: "test",
      include: ["**/*.test.ts"],
      exclude: ["consumer/**"],
      testTimeout: 60_000,
      hookTimeout: 60_000
    }
  }
])
