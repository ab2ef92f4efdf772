import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Loopwire from "../src/Loopwire.js"
import * as Network from "../src/Network.js"
import * as Throughput from "../src/Throughput.js"
import * as Transports from "../src/Transports.js"
import { makeScenario } from "../src/Workload.js"

const scenario = makeScenario({ toolCalls: 3, baseContextBytes: 2048, toolOutputBytes: 512 })

describe("Loopwire client and gateway in the suite", () => {
  it.live("loopwire-ws runs a rollout against the gateway in a child process: deltas after turn 0, server CPU apart", () =>
    Effect.scoped(Effect.gen(function*() {
      const runner = yield* Loopwire.loopwireWs(Loopwire.gatewayTarget("child")).setup({ network: Network.loopback, scenario })
      assert.strictEqual(runner.server, "gateway(child)")
      assert.isDefined(runner.serverCpu)
      const before = yield* runner.serverCpu!
      const result = yield* runner.runRollout(scenario)
      const after = yield* runner.serverCpu!
      assert.isAbove(after.user + after.system, before.user + before.system)
      assert.deepStrictEqual(result.turns.map((t) => t.delta), [false, true, true, true])
      for (const turn of result.turns) {
        assert.isAbove(turn.bytesSent, 0)
        assert.isAbove(turn.bytesReceived, 0)
        assert.isAtLeast(turn.events, 4)
      }
      // A delta carries the new tool output, not the history: turn sizes stay flat.
      const sent = result.turns.slice(1).map((t) => t.bytesSent)
      assert.isAtMost(Math.max(...sent) - Math.min(...sent), 8)
      assert.isAbove(result.connectMs, 0)
    })))

  it.live("loopwire-ws (turnWith) and loopwire-ws-stream (send) run the same rollout against one shared gateway", () =>
    Effect.scoped(Effect.gen(function*() {
      const target = Transports.shared(Loopwire.gatewayTarget("child"))
      const callback = Loopwire.loopwireWs(target)
      const stream = Loopwire.loopwireWs(target, "stream")
      assert.deepStrictEqual([callback.name, stream.name], ["loopwire-ws", "loopwire-ws-stream"])
      const ctx = { network: Network.loopback, scenario }
      const a = yield* (yield* callback.setup(ctx)).runRollout(scenario)
      const b = yield* (yield* stream.setup(ctx)).runRollout(scenario)
      // The same turns, bytes and events either way (response ids are the gateway's own, not compared).
      const shape = (r: typeof a) => r.turns.map((t) => [t.index, t.delta, t.events, t.bytesReceived > 0])
      assert.deepStrictEqual(shape(a), shape(b))
      assert.deepStrictEqual(a.turns.map((t) => t.bytesSent), b.turns.map((t) => t.bytesSent))
    })))

  it.live("a script larger than a command-line argument may be (streaming, 12,000 deltas) reaches the child gateway", () =>
    Effect.scoped(Effect.gen(function*() {
      const streaming = Throughput.streamingScenario(12_000)
      const runner = yield* Loopwire.loopwireWs(Loopwire.gatewayTarget("child")).setup({
        network: Network.loopback,
        scenario: streaming
      })
      const result = yield* runner.runRollout(streaming)
      assert.strictEqual(result.turns.length, 1)
      assert.isAtLeast(result.turns[0]!.events, 12_000)
    })))

  it.live("every transport runs against one shared in-process gateway, also through the WAN network with TLS", () =>
    Effect.scoped(Effect.gen(function*() {
      const starts: Array<string> = []
      const inner = Loopwire.gatewayTarget("in-process")
      const target = Transports.shared({
        name: inner.name,
        start: (s) => Effect.tap(inner.start(s), () => Effect.sync(() => starts.push(s.id)))
      })
      const network = yield* Network.wan({ rttMs: 2, tls: true })
      const small = makeScenario({ toolCalls: 1, baseContextBytes: 1024, toolOutputBytes: 256 })
      for (
        const transport of [
          Transports.httpFull(target),
          Transports.httpPrevious(target),
          Loopwire.loopwireWs(target),
          Transports.openAiSdkWs(target)
        ]
      ) {
        const runner = yield* transport.setup({ network, scenario: small })
        assert.strictEqual(runner.server, "gateway")
        const result = yield* runner.runRollout(small)
        assert.strictEqual(result.turns.length, 2, transport.name)
        assert.strictEqual(result.turns[1]!.delta, transport.name !== "http-full", transport.name)
      }
      // One gateway for the four transports of the scenario.
      assert.deepStrictEqual(starts, [small.id])
    })))
})
