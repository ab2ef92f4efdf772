/**
 * Loopwire's own client (AgentLoop, Session, resume) against three `loopwire serve --redis URL` PROCESSES behind a
 * round-robin TCP load balancer without stickiness (issue 8): a connection cut mid-response resumes on another
 * process while the first keeps generating (no model turn generated twice); a process killed with SIGKILL
 * mid-rollout costs at most the one response it was running, and no tool call runs twice. Generations are counted
 * by each process's scripted backend (`GET /metrics`); tool executions by the test's toolkit.
 */
import { assert } from "@effect/vitest"
import * as AgentLoop from "@loopwire/client/AgentLoop"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ResponsesClient from "@loopwire/client/ResponsesClient"
import * as Session from "@loopwire/client/Session"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { Chunk, Context, Effect, Fiber, Layer, Ref, Schema, Stream } from "effect"
import * as TestRedis from "../packages/server/test/helpers/redisServer.js"
import * as Gw from "./helpers/gateways.js"

const apiKey = "sk-scale"
const toolTurns = 6
const slowTurn = 3

// Turns 0-5 each call `step({ n })` at once, except turn 3, which waits 1.5 s before its call (the window in which
// the tests cut or kill); turn 6 answers.
const scenario = {
  name: "failover",
  turns: [
    ...Array.from({ length: toolTurns }, (_, n) => ({
      ...(n === slowTurn ? { latency: { time_to_first_token_ms: 1_500 } } : {}),
      output: [{ type: "function_call", name: "step", arguments: { n } }]
    })),
    { output: [{ type: "message", text: "all steps done", phase: "final_answer" }] }
  ]
}

const Step = Tool.make("step", {
  parameters: { n: Schema.Number },
  success: Schema.Struct({ n: Schema.Number })
})
const kit = Toolkit.make(Step)

interface ClusterShape {
  readonly gateways: ReadonlyArray<Gw.GatewayProcess>
  readonly balancer: Gw.Balancer
}
class Cluster extends Context.Tag("test/FailoverCluster")<Cluster, ClusterShape>() {}

const ClusterLive = Layer.scoped(
  Cluster,
  Effect.gen(function*() {
    const server = yield* TestRedis.start
    const script = yield* Gw.tempJson("scenario.json", scenario)
    const prefix = TestRedis.uniquePrefix("scale-failover")
    const gateways = yield* Gw.spawnGateways(3, (i) => ({
      name: `gw${i}`,
      args: [
        "--port", "0", "--redis", server.url, "--redis-prefix", prefix,
        "--script", script, "--api-keys", `${apiKey}:acme`
      ]
    }))
    const balancer = yield* Gw.balancer(gateways)
    return { gateways, balancer }
  })
)

/** The generation counter of every process (a dead one keeps its last reading). */
const makeCounts = (gateways: ReadonlyArray<Gw.GatewayProcess>) =>
  Effect.gen(function*() {
    const last = new Map<Gw.GatewayProcess, number>()
    const read = Effect.forEach(gateways, (g) =>
      g.alive()
        ? Effect.tap(Gw.generations(g), (n) => Effect.sync(() => last.set(g, n)))
        : Effect.succeed(last.get(g) ?? 0))
    const total = Effect.map(read, (counts) => counts.reduce((a, b) => a + b, 0))
    const base = yield* total
    return { since: Effect.map(total, (n) => n - base), read }
  })

/** Polls until `count` reaches `target` (bounded: 300 × 20 ms). */
const waitFor = (count: Effect.Effect<number, Error>, target: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 300; i++) {
      if ((yield* count) >= target) return
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.fail(new Error(`the count did not reach ${target}`))
  })

const config = (balancer: Gw.Balancer) =>
  ClientConfig.make({
    baseUrl: `${balancer.url}/v1`,
    apiKey,
    resume: { initialMillis: 100, maxMillis: 500, refusedRetries: 8 }
  })

const rollout = (balancer: Gw.Balancer, runs: Ref.Ref<ReadonlyArray<number>>) =>
  Effect.gen(function*() {
    const session = yield* Session.make({
      settings: { model: "scripted", store: true },
      backoff: { initialMillis: 20, maxMillis: 200, maxRetries: 8 }
    })
    const events = yield* AgentLoop.runWith(session, "go", { toolkit: kit, settings: { model: "scripted", store: true } }).pipe(
      Stream.runCollect,
      Effect.map(Chunk.toArray)
    )
    return { events, metrics: yield* session.metrics }
  }).pipe(
    Effect.provide(Layer.mergeAll(
      // A resume can reach another process before the first has seen the drop (it answers `loopwire-resumed: 0`
      // until then): a few more refused attempts than the default absorb a loaded machine.
      ResponsesClient.layer(config(balancer), { size: 1 }).pipe(
        Layer.provide(WebSocket.layer())
      ),
      kit.toLayer({ step: ({ n }) => Effect.as(Ref.update(runs, (all) => [...all, n]), { n }) })
    )),
    Effect.scoped
  )

const steps = Array.from({ length: toolTurns }, (_, n) => n)

TestRedis.layer(ClusterLive, { excludeTestServices: true, timeout: 90_000 })("three gateway processes behind a load balancer", (it) => {
  it.effect("a connection cut mid-response resumes on another process; no turn is generated twice", () =>
    Effect.gen(function*() {
      const { balancer, gateways } = yield* Cluster
      const counts = yield* makeCounts(gateways)
      const runs = yield* Ref.make<ReadonlyArray<number>>([])
      const fiber = yield* Effect.fork(rollout(balancer, runs))

      // Turn 3 has started (its 1.5 s wait is running): take its process out of rotation (it keeps running) and
      // cut the TCP connection between client and gateway.
      yield* waitFor(counts.since, slowTurn + 1)
      const before = balancer.open()
      assert.strictEqual(before.length, 1)
      const connections = balancer.routed().length
      balancer.setInRotation(before[0]!, false)
      balancer.cutAll()
      const { events, metrics } = yield* Fiber.join(fiber).pipe(
        Effect.ensuring(Effect.sync(() => balancer.setInRotation(before[0]!, true)))
      )

      const final = events.at(-1)!
      assert.strictEqual(final._tag, "FinalAnswer")
      assert.strictEqual((final as any).text, "all steps done")
      // The response kept running on the first process; the client resumed it on another one.
      const after = balancer.routed().slice(connections)
      assert.isAtLeast(after.length, 1)
      assert.isTrue(after.every((target) => target !== before[0]), "reconnected to other processes only")
      assert.include(balancer.heads()[connections], "loopwire-resume-token: ", "the reconnect presented its token")
      assert.isAtLeast(metrics.resumes, 1)
      assert.isAbove(metrics.resumedEvents, 0)
      assert.isFalse(events.some((e) => e._tag === "TurnRestarted"))
      assert.strictEqual(yield* counts.since, toolTurns + 1, "every turn generated exactly once")
      assert.deepStrictEqual(yield* Ref.get(runs), steps, "every tool call ran exactly once")
    }))

  it.effect("a process killed with SIGKILL mid-rollout: the client continues on another, one response re-run at most", () =>
    Effect.gen(function*() {
      const { balancer, gateways } = yield* Cluster
      const counts = yield* makeCounts(gateways)
      const runs = yield* Ref.make<ReadonlyArray<number>>([])
      const fiber = yield* Effect.fork(rollout(balancer, runs))

      yield* waitFor(counts.since, slowTurn + 1)
      const open = balancer.open()
      assert.strictEqual(open.length, 1)
      const victim = gateways[open[0]!]!
      yield* counts.read // the victim's last reading: it cannot generate anything after the kill
      yield* victim.kill9
      assert.isFalse(victim.alive())
      const { events, metrics } = yield* Fiber.join(fiber)

      const final = events.at(-1)!
      assert.strictEqual(final._tag, "FinalAnswer")
      assert.strictEqual((final as any).text, "all steps done")
      // Only the response that was in flight on the dead process was generated again.
      const generated = yield* counts.since
      assert.isAtMost(generated, toolTurns + 2)
      assert.strictEqual(generated, toolTurns + 2, "the in-flight turn was re-run once")
      assert.isTrue(events.some((e) => e._tag === "TurnRestarted"))
      assert.strictEqual(metrics.resumes, 0)
      // The re-issued turn continued from the last completed response, hydrated from Redis by a surviving
      // process: no full resend.
      assert.strictEqual(metrics.fullResends, 0)
      assert.deepStrictEqual(yield* Ref.get(runs), steps, "every tool call ran exactly once")
      // The continuation after the failover was hydrated from Redis by a surviving process.
      assert.isTrue(balancer.routed().slice(-1).every((target) => target !== open[0]))
    }))
})
