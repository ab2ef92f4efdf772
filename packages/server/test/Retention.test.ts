/**
 * After a load, the gateway holds nothing of the connections that are gone (issue 16: "heap snapshots before and
 * after load show nothing else kept"). Real sockets against the real upgrade path: hundreds of connections each
 * served one turn, half closed with 1000 and half cut (their sessions wait out a short resume grace); then, after
 * the grace and full collections (V8's `gc`, obtained as `MemoryReclaim` does), no server-side `Connection` or
 * upgrade request of theirs is still reachable, and the caches and logs are empty. Not timed: it waits for the
 * grace, then counts.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Faults from "@loopwire/testkit/Faults"
import * as WebSocketServer from "@loopwire/transport/WebSocketServer"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as Auth from "../src/Auth.js"
import * as ConnectionLimit from "../src/ConnectionLimit.js"
import * as Gateway from "../src/Gateway.js"
import * as GatewayConfig from "../src/GatewayConfig.js"
import * as MemoryReclaim from "../src/MemoryReclaim.js"
import * as ResponseStore from "../src/ResponseStore.js"
import * as ResumeLog from "../src/ResumeLog.js"
import * as ScriptedBackend from "../src/ScriptedBackend.js"
import * as StateCache from "../src/StateCache.js"

// Full collections until the WeakRefs settle (a WeakRef's target survives the job that read it, so yield between).
const collect = (gc: () => void) =>
  Effect.gen(function*() {
    for (let i = 0; i < 4; i++) {
      gc()
      yield* Effect.sleep("20 millis")
    }
  })

describe("retention after load", () => {
  it.scopedLive("no Connection or upgrade request of a closed or cut connection stays reachable", () =>
    Effect.gen(function*() {
      const gc = MemoryReclaim.collector()
      assert.isDefined(gc)
      const services = yield* Layer.build(Layer.mergeAll(
        GatewayConfig.layer({ port: 0, resumeGrace: Duration.millis(300), heartbeatInterval: Duration.seconds(1) }),
        Auth.layer(),
        ScriptedBackend.layer({ scenario: { turns: [], fallback_text: "ok" } }),
        StateCache.layer(),
        ResponseStore.layerMemory()
      ))
      const handler = yield* Effect.provide(Gateway.upgradeHandler, services)
      const server = Http.createServer()
      const node = yield* Layer.build(WebSocketServer.layerHttpServer(() => server, { port: 0, host: "127.0.0.1" }))
      const refs: Array<WeakRef<object>> = []
      yield* WebSocketServer.make({
        path: Gateway.path,
        ...handler,
        handle: (connection, request) => {
          refs.push(new WeakRef(connection), new WeakRef(request))
          return handler.handle(connection, request)
        }
      }).pipe(Effect.provide(node))
      const baseUrl = `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`

      const [closed, cut] = yield* Effect.all([
        Faults.connectionChurn({ baseUrl, connections: 150, concurrency: 50, inputBytes: 4096 }),
        Faults.connectionChurn({ baseUrl, connections: 150, concurrency: 50, inputBytes: 4096, drop: true })
      ], { concurrency: 2 })
      assert.strictEqual(closed.completed + cut.completed, 300)
      assert.strictEqual(refs.length, 600)

      // Past the grace of the cut ones (bounded wait for the gateway to see every socket go).
      const cache = Context.get(services, StateCache.StateCache)
      const limit = ConnectionLimit.forConfig(Context.get(services, GatewayConfig.GatewayConfig))
      for (let i = 0; i < 100; i++) {
        yield* Effect.sleep("100 millis")
        const stats = yield* cache.stats
        if (i >= 5 && stats.entries === 0 && limit.total === 0) break
      }
      yield* collect(gc!)
      const alive = refs.filter((ref) => ref.deref() !== undefined).length
      assert.strictEqual(alive, 0, `${alive} of ${refs.length} connection objects are still reachable`)
      const stats = yield* cache.stats
      assert.deepStrictEqual([stats.entries, stats.bytes, stats.connections], [0, 0, 0])
      assert.strictEqual(limit.total, 0)
      assert.strictEqual((yield* Metric.value(ResumeLog.budgetMetrics.bytes)).value, 0)
    }))
})
