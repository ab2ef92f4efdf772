import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Cli from "../src/Cli.js"

describe("loopwire bench", () => {
  it.live("hands its flags to the suite's parser unchanged: a bad flag exits with 2 and runs nothing", () =>
    Effect.gen(function*() {
      const before = process.exitCode
      try {
        yield* Cli.run(["node", "loopwire", "bench", "--sizes", "-1", "--no-write"])
        assert.strictEqual(process.exitCode, 2)
        process.exitCode = undefined
        yield* Cli.run(["node", "loopwire", "bench", "--", "--help"])
        assert.isUndefined(process.exitCode)
      } finally {
        process.exitCode = before
      }
    }).pipe(Effect.provide(NodeContext.layer)))
})
