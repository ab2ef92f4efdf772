import { assert, describe, it } from "@effect/vitest"
import * as UpstreamHop from "@loopwire/bench/UpstreamHop"
import * as Effect from "effect/Effect"

describe("UpstreamHop (smallest size)", () => {
  it.live("runs every cell; WebSocket mode upstream puts fewer bytes per turn on the hop than HTTP, for both clients", () =>
    Effect.scoped(Effect.gen(function*() {
      const results = yield* UpstreamHop.run({
        ...UpstreamHop.defaults,
        turns: 3,
        iterations: 1,
        warmup: 0,
        rttMs: 0,
        tls: false,
        inputCosts: [0]
      })
      assert.strictEqual(results.cells.length, 4)
      for (const client of ["websocket-client", "stateless-http"] as const) {
        const ws = results.cells.find((c) => c.client === client && c.upstream === "websocket")!
        const http = results.cells.find((c) => c.client === client && c.upstream === "http")!
        assert.isBelow(ws.bytesPerTurn, http.bytesPerTurn, client)
        assert.isAbove(ws.e2eMsPerTurn, 0)
      }
      assert.match(UpstreamHop.markdown(results), /\| stateless-http \| off \| websocket \|/)
      assert.deepStrictEqual(Object.keys(UpstreamHop.plots(results)).length, 3)
    })), 120_000)
})
