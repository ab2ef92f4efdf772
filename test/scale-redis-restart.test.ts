/**
 * Redis restarted between turns (issue 8), with two `loopwire serve --redis URL` PROCESSES on a private
 * redis-server (no persistence, so the restart empties it): a continuation of a response stored before the restart
 * answers the documented `previous_response_not_found`; the client's ladder resends the full context and the
 * rollout completes; once the gateways have reconnected, responses stored after the restart continue across
 * processes again.
 */
import { assert } from "@effect/vitest"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ResponsesClient from "@loopwire/client/ResponsesClient"
import * as Session from "@loopwire/client/Session"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { Context, Effect, Layer } from "effect"
import * as TestRedis from "../packages/server/test/helpers/redisServer.js"
import * as Gw from "./helpers/gateways.js"

const apiKey = "sk-restart"
const auth = { authorization: `Bearer ${apiKey}` }

const scenario = {
  name: "restart",
  turns: Array.from({ length: 6 }, (_, i) => ({ output: [{ type: "message", text: `answer ${i}` }] }))
}

interface ClusterShape {
  readonly redis: TestRedis.RedisServer
  readonly gateways: ReadonlyArray<Gw.GatewayProcess>
  readonly balancer: Gw.Balancer
}
class Cluster extends Context.Tag("test/RestartCluster")<Cluster, ClusterShape>() {}

const ClusterLive = Layer.scoped(
  Cluster,
  Effect.gen(function*() {
    // Private: this test stops and starts it.
    const redis = yield* TestRedis.startPrivate
    const script = yield* Gw.tempJson("scenario.json", scenario)
    const gateways = yield* Gw.spawnGateways(2, (i) => ({
      name: `gw${i}`,
      args: ["--port", "0", "--redis", redis.url, "--script", script, "--api-keys", `${apiKey}:acme`]
    }))
    const balancer = yield* Gw.balancer(gateways)
    return { redis, gateways, balancer }
  })
)

const user = (text: string) => ({ type: "message", role: "user", content: [{ type: "input_text", text }] }) as const

const create = (socket: Gw.RawSocket, body: Gw.Json) =>
  Effect.gen(function*() {
    yield* socket.send({ type: "response.create", model: "scripted", store: true, ...body })
    return (yield* socket.untilTerminal()).at(-1)!
  })

TestRedis.layerPrivate(ClusterLive, { excludeTestServices: true, timeout: 90_000 })("Redis restarted between turns", (it) => {
  it.effect("the documented error, the client's full resend, then continuations across processes again", () =>
    Effect.gen(function*() {
      const { balancer, gateways: [gw0, gw1], redis } = yield* Cluster
      const session = yield* Session.make({
        settings: { model: "scripted", store: true },
        backoff: { initialMillis: 20, maxMillis: 200, maxRetries: 5 }
      })
      // Turn 1 on gw0 (the balancer's first pick), stored in Redis.
      const first = yield* session.turn([user("one")])
      assert.deepStrictEqual(balancer.open(), [0])
      assert.strictEqual(Gw.outputText(first), "answer 0")
      const onOther = yield* Gw.openSocket(gw1!.wsUrl, auth)
      const before = yield* create(onOther, { previous_response_id: first.id, input: "peek" })
      assert.strictEqual(before["type"], "response.completed", "stored and continued across processes")

      // Redis restarts empty (no persistence).
      yield* redis.stop
      yield* redis.start

      // Another process does not find the response: the documented error frame.
      const lost = yield* create(onOther, { previous_response_id: first.id, input: "again" })
      assert.strictEqual(lost["type"], "error")
      assert.strictEqual(lost["status"], 400)
      assert.strictEqual(lost["error"].code, "previous_response_not_found")
      assert.strictEqual(lost["error"].param, "previous_response_id")

      // The client's socket drops between turns and its next turn lands on gw1: not found there either, so the
      // ladder resends the full context, and the rollout goes on.
      balancer.setInRotation(0, false)
      balancer.cutAll()
      const second = yield* session.turn([user("two")])
      assert.strictEqual(Gw.outputText(second), "answer 1")
      assert.strictEqual(balancer.routed().at(-1), 1)
      const metrics = yield* session.metrics
      assert.strictEqual(metrics.fullResends, 1)
      balancer.setInRotation(0, true)

      // Once both processes have reconnected (bounded), a response stored after the restart continues on the other.
      let continued: Gw.Json | undefined
      for (let attempt = 0; attempt < 50 && continued?.["type"] !== "response.completed"; attempt++) {
        if (attempt > 0) yield* Effect.sleep("200 millis")
        const onFirst = yield* Gw.openSocket(gw0!.wsUrl, auth)
        const fresh = yield* create(onFirst, { input: [user("fresh")] })
        if (fresh["type"] !== "response.completed") continue
        continued = yield* create(onOther, { previous_response_id: fresh["response"].id, input: "next" })
      }
      assert.strictEqual(continued?.["type"], "response.completed", "continuations work again after the restart")
      assert.strictEqual(Gw.outputText(continued!["response"]), "answer 1")
    }).pipe(
      Effect.provide(Layer.unwrapEffect(Effect.map(Cluster, ({ balancer }) =>
        ResponsesClient.layer(ClientConfig.make({ baseUrl: `${balancer.url}/v1`, apiKey }), { size: 1 }).pipe(
          Layer.provide(WebSocket.layer())
        )))),
      Effect.scoped
    ))
})
