import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { openWebSocket, wsExchange } from "../src/internal/clients.js"
import * as Network from "../src/Network.js"
import * as Transports from "../src/Transports.js"
import { makeScenario } from "../src/Workload.js"

const scenario = makeScenario({ toolCalls: 4, baseContextBytes: 2048, toolOutputBytes: 512 })

describe("Transports against the floor server", () => {
  for (const transport of Transports.available()) {
    it.live(`${transport.name} completes a rollout of N tool calls in N + 1 turns`, () =>
      Effect.scoped(Effect.gen(function*() {
        const runner = yield* transport.setup({ network: Network.loopback, scenario })
        assert.strictEqual(runner.server, "floor-server")
        const result = yield* runner.runRollout(scenario)
        assert.deepStrictEqual(result.turns.map((t) => t.index), [0, 1, 2, 3, 4])
        for (const turn of result.turns) {
          assert.isAbove(turn.bytesSent, 0)
          assert.isAbove(turn.bytesReceived, 0)
          assert.isAtLeast(turn.events, 1)
        }
        const sent = result.turns.map((t) => t.bytesSent)
        if (transport.name === "http-full") {
          // The stateless client re-sends the growing history: every turn is larger than the one before.
          assert.isFalse(result.turns.some((t) => t.delta))
          for (let i = 1; i < sent.length; i++) assert.isAbove(sent[i]!, sent[i - 1]!)
        } else {
          // Delta continuation: after the first turn only the new tool output (+ instructions and tools) is sent.
          assert.deepStrictEqual(result.turns.map((t) => t.delta), [false, true, true, true, true])
          assert.isAtMost(Math.max(...sent.slice(1)) - Math.min(...sent.slice(1)), 8)
        }
        // A second rollout on the same runner works too (fresh connection, fresh chain).
        const again = yield* runner.runRollout(scenario)
        assert.strictEqual(again.turns.length, 5)
      })))
  }

  it.live("a delta against an unknown response fails the rollout with a Protocol error, not a crash", () =>
    Effect.scoped(Effect.gen(function*() {
      const { endpoint } = yield* Transports.floorTarget().start(scenario)
      const ws = yield* openWebSocket(`ws://${endpoint.host}:${endpoint.port}/v1/responses`, endpoint)
      const error = yield* Effect.flip(wsExchange(ws)({ type: "response.create", previous_response_id: "resp_nope", input: [] }))
      assert.strictEqual(error.reason, "Protocol")
      assert.include(error.detail, "previous_response_not_found")
    })))

  it.live("the WAN network (delay proxy + run-time TLS) carries rollouts over https and wss", () =>
    Effect.scoped(Effect.gen(function*() {
      const network = yield* Network.wan({ rttMs: 2, tls: true })
      assert.isTrue(network.tls)
      for (const transport of [Transports.floor(), Transports.httpPrevious(), Transports.openAiSdkWs()]) {
        const small = makeScenario({ toolCalls: 1, baseContextBytes: 1024 })
        const runner = yield* transport.setup({ network, scenario: small })
        const result = yield* runner.runRollout(small)
        assert.strictEqual(result.turns.length, 2)
      }
    })))

  it.effect("the WAN network degrades to plain TCP when no certificate can be made, unless TLS is required", () =>
    Effect.gen(function*() {
      const reasons: Array<string> = []
      const degraded = yield* Network.wan({
        rttMs: 1,
        tls: "auto",
        openssl: "/nonexistent/openssl",
        onDegrade: (reason) => reasons.push(reason)
      })
      assert.isFalse(degraded.tls)
      assert.strictEqual(degraded.name, "wan-1ms")
      assert.strictEqual(reasons.length, 1)
      assert.include(reasons[0]!, "TLS disabled")
      const error = yield* Effect.flip(Network.wan({ rttMs: 1, tls: true, openssl: "/nonexistent/openssl" }))
      assert.strictEqual(error.reason, "Certificate")
    }))
})
