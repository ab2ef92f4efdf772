import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildServer from "../src/ChildServer.js"
import { openWebSocket } from "../src/internal/clients.js"
import * as Network from "../src/Network.js"
import * as Transports from "../src/Transports.js"
import { makeScenario } from "../src/Workload.js"

const floorEntry = fileURLToPath(new URL("../src/internal/floorServerProcess.ts", import.meta.url))
const scenario = makeScenario({ toolCalls: 2, baseContextBytes: 2048 })

describe("ChildServer", () => {
  it.live("a forked server reports its port, connections, memory and CPU, and runs rollouts as a target", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* ChildServer.fork(floorEntry)
      assert.notStrictEqual(server.pid, process.pid)
      const idle = yield* server.stats({ gc: true })
      assert.strictEqual(idle.connections, 0)
      assert.isTrue(idle.gc)
      assert.isAbove(idle.memory.heapUsed, 0)
      yield* openWebSocket(`ws://127.0.0.1:${server.endpoint.port}/v1/responses`, server.endpoint)
      let connected = 0
      for (let i = 0; i < 200 && connected === 0; i++) {
        connected = (yield* server.stats()).connections
        if (connected === 0) yield* Effect.sleep("10 millis")
      }
      assert.strictEqual(connected, 1)

      const target = Transports.childTarget("floor(child)", floorEntry)
      const runner = yield* Transports.httpPrevious(target).setup({ network: Network.loopback, scenario })
      assert.isDefined(runner.serverCpu)
      const before = yield* runner.serverCpu!
      const result = yield* runner.runRollout(scenario)
      const after = yield* runner.serverCpu!
      assert.strictEqual(result.turns.length, 3)
      assert.isAtLeast(after.user + after.system, before.user + before.system)
    })), 60_000)

  it.live("a server that fails to start is a Listen error, not a hang", () =>
    Effect.scoped(Effect.gen(function*() {
      const entry = fileURLToPath(new URL("./fixtures/failingServer.ts", import.meta.url))
      const error = yield* Effect.flip(ChildServer.fork(entry, { startTimeoutMs: 20_000 }))
      assert.oneOf(error.reason, ["Listen", "Closed"])
      if (error.reason === "Listen") assert.include(error.detail, "port unavailable")
    })), 60_000)
})
