/**
 * Three `loopwire serve --redis URL` PROCESSES sharing one real redis-server (issue 8): a response stored by one is
 * continued on another (hydrated from Redis, read only on a connection-cache miss), a socket dropped on one resumes
 * on another while the first still runs the response (raw frames, docs/resume.md), tenants are isolated across
 * processes, and retention settings expire what they should.
 */
import { assert } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { Redis as IORedis } from "ioredis"
import * as TestRedis from "../packages/server/test/helpers/redisServer.js"
import * as Gw from "./helpers/gateways.js"

const alice = { authorization: "Bearer sk-alice" }
const bob = { authorization: "Bearer sk-bob" }
const slowText = Array.from({ length: 30 }, (_, i) => `s${String(i).padStart(2, "0")}`).join("")

// Turns 0-3 answer at once; turn 4 streams 40 deltas 50 ms apart (2 s), long enough to drop and resume mid-way.
const scenario = {
  name: "scale",
  turns: [
    { output: [{ type: "message", text: "answer 0" }] },
    { output: [{ type: "message", text: "answer 1" }] },
    { output: [{ type: "message", text: "answer 2" }] },
    { output: [{ type: "message", text: "answer 3" }] },
    {
      latency: { delta_delay_ms: 50, chars_per_delta: 3 },
      output: [{ type: "message", text: slowText }]
    }
  ]
}

interface ClusterShape {
  readonly gateways: ReadonlyArray<Gw.GatewayProcess>
  readonly redis: IORedis
  readonly prefix: string
}
class Cluster extends Context.Tag("test/Cluster")<Cluster, ClusterShape>() {}

const ClusterLive = Layer.scoped(
  Cluster,
  Effect.gen(function*() {
    const server = yield* TestRedis.start
    const prefix = TestRedis.uniquePrefix("scale-state")
    const script = yield* Gw.tempJson("scenario.json", scenario)
    const common = ["--port", "0", "--redis", server.url, "--redis-prefix", prefix, "--script", script, "--api-keys", "sk-alice:alice,sk-bob:bob"]
    // gw2 keeps stored responses 2 seconds and finished resume logs 1 second: the retention test writes there.
    const gateways = yield* Gw.spawnGateways(3, (i) => ({
      name: `gw${i}`,
      args: i === 2 ? [...common, "--store-ttl", "2 seconds", "--resume-grace", "1 second"] : common
    }))
    const redis = yield* Effect.acquireRelease(
      Effect.sync(() => new IORedis(server.url, { lazyConnect: false, maxRetriesPerRequest: 1 })),
      (client) => Effect.promise(() => client.quit().then(() => undefined, () => client.disconnect()))
    )
    return { gateways, redis, prefix }
  })
)

const create = (body: Gw.Json) => ({ type: "response.create", model: "scripted", ...body })
const last = (events: ReadonlyArray<Gw.Json>) => events[events.length - 1]!

/** Sends one create and returns its terminal event. */
const turn = (socket: Gw.RawSocket, body: Gw.Json) =>
  Effect.gen(function*() {
    yield* socket.send(create(body))
    return last(yield* socket.untilTerminal())
  })

const completedText = (event: Gw.Json) => {
  assert.strictEqual(event["type"], "response.completed", JSON.stringify(event))
  return Gw.outputText(event["response"])
}

const totalGenerations = (gateways: ReadonlyArray<Gw.GatewayProcess>) =>
  Effect.map(Effect.forEach(gateways, Gw.generations), (counts) => counts.reduce((a, b) => a + b, 0))

const getStored = (gateway: Gw.GatewayProcess, id: string, headers: Record<string, string>) =>
  Effect.promise(() => fetch(`${gateway.url}/v1/responses/${id}`, { headers, signal: AbortSignal.timeout(5_000) }))

/** Polls `check` every 100 ms until it holds, at most `attempts` times. */
const eventually = <E>(check: Effect.Effect<boolean, E>, attempts = 100) =>
  Effect.gen(function*() {
    for (let i = 0; i < attempts; i++) {
      if (yield* check) return true
      yield* Effect.sleep("100 millis")
    }
    return false
  })

/**
 * Presents `token` on `gateway` until the upgrade answers `loopwire-resumed: 1`: a reconnect can arrive before the
 * first process has seen the drop, and is then answered `0` (docs/deployment.md). Bounded: 30 attempts.
 */
const resumeOn = (gateway: Gw.GatewayProcess, token: string) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 30; attempt++) {
      const scope = yield* Scope.make()
      const socket = yield* Gw.openSocket(gateway.wsUrl, { ...alice, "loopwire-resume-token": token }).pipe(
        Scope.extend(scope)
      )
      if (socket.headers["loopwire-resumed"] === "1") {
        yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
        return socket
      }
      yield* Scope.close(scope, Exit.void)
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.fail(new Error("the token was never resumed"))
  })

TestRedis.layer(ClusterLive, { excludeTestServices: true, timeout: 90_000 })("three gateway processes on one Redis", (it) => {
  it.effect("a stored response is continued on another process; Redis is read only on a connection-cache miss", () =>
    Effect.scoped(Effect.gen(function*() {
      const { gateways: [gw0, gw1, gw2] } = yield* Cluster
      const reads0 = yield* Gw.storeReads(gw0!)
      const reads1 = yield* Gw.storeReads(gw1!)

      const on0 = yield* Gw.openSocket(gw0!.wsUrl, alice)
      const first = yield* turn(on0, { input: "hello", store: true })
      assert.strictEqual(completedText(first), "answer 0")
      const second = yield* turn(on0, { previous_response_id: first["response"].id, input: "more", store: true })
      assert.strictEqual(completedText(second), "answer 1")
      // Same connection: the cache served the parent, the store was not read.
      assert.strictEqual(yield* Gw.storeReads(gw0!), reads0)

      // Another process: the parent is hydrated from Redis (turn count included: this is the chain's third turn).
      const on1 = yield* Gw.openSocket(gw1!.wsUrl, alice)
      const third = yield* turn(on1, { previous_response_id: second["response"].id, input: "again", store: true })
      assert.strictEqual(completedText(third), "answer 2")
      assert.strictEqual(third["response"].previous_response_id, second["response"].id)
      assert.strictEqual(yield* Gw.storeReads(gw1!), reads1 + 1)
      // ... and from then on its connection cache is the fast path again.
      const fourth = yield* turn(on1, { previous_response_id: third["response"].id, input: "last", store: true })
      assert.strictEqual(completedText(fourth), "answer 3")
      assert.strictEqual(yield* Gw.storeReads(gw1!), reads1 + 1)

      // A third process serves what the second stored.
      const fetched = yield* getStored(gw2!, fourth["response"].id, alice)
      assert.strictEqual(fetched.status, 200)
      const body = yield* Effect.promise(() => fetched.json() as Promise<Gw.Json>)
      assert.strictEqual(body["id"], fourth["response"].id)
    })))

  it.effect("another tenant's response id and resume token are not found on any process", () =>
    Effect.scoped(Effect.gen(function*() {
      const { gateways: [gw0, gw1, gw2], prefix, redis } = yield* Cluster
      const on0 = yield* Gw.openSocket(gw0!.wsUrl, alice)
      const stored = yield* turn(on0, { input: "secret", store: true })
      const id = stored["response"].id as string
      // The key is scoped by tenant.
      assert.strictEqual(yield* Effect.promise(() => redis.exists(`${prefix}:{alice}:resp:${id}`)), 1)
      assert.strictEqual(yield* Effect.promise(() => redis.exists(`${prefix}:{bob}:resp:${id}`)), 0)

      const asBob = yield* Gw.openSocket(gw1!.wsUrl, bob)
      const denied = yield* turn(asBob, { previous_response_id: id, input: "steal", store: true })
      assert.strictEqual(denied["type"], "error")
      assert.strictEqual(denied["error"].code, "previous_response_not_found")
      assert.strictEqual((yield* getStored(gw2!, id, bob)).status, 404)
      assert.strictEqual((yield* getStored(gw2!, id, alice)).status, 200)

      // Alice's dropped connection cannot be claimed by Bob, only by Alice.
      const token = on0.headers["loopwire-resume-token"]
      assert.isString(token)
      yield* on0.drop
      const suspended = yield* eventually(Effect.map(
        Effect.promise(() => redis.hget(`${prefix}:{alice}:sess:${token}`, "state")),
        (state) => state === "suspended"
      ))
      assert.isTrue(suspended, "gw0 saw the drop")
      const claim = yield* Gw.openSocket(gw2!.wsUrl, { ...bob, "loopwire-resume-token": token! })
      assert.strictEqual(claim.headers["loopwire-resumed"], "0")
      const own = yield* Gw.openSocket(gw2!.wsUrl, { ...alice, "loopwire-resume-token": token! })
      assert.strictEqual(own.headers["loopwire-resumed"], "1")
    })))

  it.effect("a socket dropped on one process resumes on another while the first still runs the response", () =>
    Effect.scoped(Effect.gen(function*() {
      const { gateways, prefix, redis } = yield* Cluster
      const [gw0, gw1] = gateways
      const before = yield* totalGenerations(gateways)
      const generated1 = yield* Gw.generations(gw1!)

      const on0 = yield* Gw.openSocket(gw0!.wsUrl, alice)
      const token = on0.headers["loopwire-resume-token"]
      assert.isString(token)
      // Four earlier exchanges in full: the scripted model answers turn 4, the slow one.
      const history = Array.from({ length: 4 }, (_, i) => [
        { type: "message", role: "user", content: [{ type: "input_text", text: `q${i}` }] },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: `answer ${i}` }] }
      ]).flat()
      const input = [...history, { type: "message", role: "user", content: [{ type: "input_text", text: "slow" }] }]
      yield* on0.send(create({ input, store: false, loopwire_request_id: "lwr_scale_resume" }))
      const seen: Array<Gw.Json> = []
      // Read a few deltas, then cut the TCP connection.
      for (let deltas = 0; deltas < 3;) {
        const event = yield* on0.next()
        seen.push(event)
        if (event["type"] === "response.output_text.delta") deltas++
      }
      const responseId = seen[0]!["response"].id as string
      yield* on0.drop

      const on1 = yield* resumeOn(gw1!, token!)
      // Still running on gw0 when gw1 took over: its shared log has not ended.
      assert.strictEqual(yield* Effect.promise(() => redis.hget(`${prefix}:{alice}:logm:${responseId}`, "ended")), "0")
      const after = last(seen)["sequence_number"] as number
      yield* on1.send({ type: "loopwire.resume", loopwire_request_id: "lwr_scale_resume", starting_after: after })
      const rest = yield* on1.untilTerminal()

      const all = [...seen, ...rest]
      assert.deepStrictEqual(all.map((e) => e["sequence_number"]), all.map((_, i) => i), "no gap, no repeat")
      assert.strictEqual(rest[0]!["sequence_number"], after + 1)
      assert.strictEqual(completedText(last(rest)), slowText)
      assert.strictEqual(last(rest)["response"].id, responseId)
      const text = all.filter((e) => e["type"] === "response.output_text.delta").map((e) => e["delta"]).join("")
      assert.strictEqual(text, slowText)
      // One generation in all (on gw0); gw1 only replayed and followed the log.
      assert.strictEqual(yield* totalGenerations(gateways), before + 1)
      assert.strictEqual(yield* Gw.generations(gw1!), generated1)
    })))

  it.effect("retention: stored responses and finished resume logs expire after their configured time", () =>
    Effect.scoped(Effect.gen(function*() {
      const { gateways: [gw0, gw1, gw2], prefix, redis } = yield* Cluster
      // gw0 keeps the default (30 days).
      const on0 = yield* Gw.openSocket(gw0!.wsUrl, alice)
      const durable = (yield* turn(on0, { input: "keep", store: true }))["response"].id as string
      const durableTtl = yield* Effect.promise(() => redis.pttl(`${prefix}:{alice}:resp:${durable}`))
      assert.isAbove(durableTtl, 29 * 24 * 3600 * 1000)

      // gw2: --store-ttl 2 seconds, --resume-grace 1 second.
      const on2 = yield* Gw.openSocket(gw2!.wsUrl, alice)
      const short = (yield* turn(on2, { input: "brief", store: true, loopwire_request_id: "lwr_scale_ttl" }))["response"]
        .id as string
      const ttl = yield* Effect.promise(() => redis.pttl(`${prefix}:{alice}:resp:${short}`))
      assert.isTrue(ttl > 0 && ttl <= 2_000, `ttl ${ttl}`)
      assert.strictEqual((yield* getStored(gw0!, short, alice)).status, 200)

      // The finished response's log goes one grace period after its end (the connection is still open).
      const logGone = yield* eventually(
        Effect.map(Effect.promise(() => redis.exists(`${prefix}:{alice}:log:${short}`)), (n) => n === 0)
      )
      assert.isTrue(logGone, "the resume log expired")
      const storeGone = yield* eventually(Effect.map(getStored(gw0!, short, alice), (r) => r.status === 404))
      assert.isTrue(storeGone, "the stored response expired")
      const on1 = yield* Gw.openSocket(gw1!.wsUrl, alice)
      const expired = yield* turn(on1, { previous_response_id: short, input: "late", store: true })
      assert.strictEqual(expired["error"]?.code, "previous_response_not_found")
      // The other record is untouched.
      assert.strictEqual((yield* getStored(gw1!, durable, alice)).status, 200)
    })))
})
