/**
 * Against a minimal server that behaves like OpenAI without any extension (plain `ws` on 127.0.0.1), the
 * standard recovery ladder completes rollouts. Real sockets, so the live clock with short backoffs.
 */
import { NodeHttpClient } from "@effect/platform-node"
import * as WebSocket from "@loopwire/transport/WebSocket"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Ref, Schema, type Scope, Stream } from "effect"
import * as AgentLoop from "../src/AgentLoop.js"
import * as ClientConfig from "../src/ClientConfig.js"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as Session from "../src/Session.js"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { makeServer } from "./helpers/openaiLike.js"
import { wsServer } from "./helpers/servers.js"

const Step = Tool.make("step", {
  parameters: { n: Schema.Number, tag: Schema.String },
  success: Schema.Struct({ n: Schema.Number })
})
const kit = Toolkit.make(Step)
const backoff = { initialMillis: 5, maxMillis: 20, maxRetries: 5 }

const withServer = <A, E>(
  toolCalls: number,
  body: (
    server: ReturnType<typeof makeServer>,
    runs: Ref.Ref<number>
  ) => Effect.Effect<A, E, ConnectionPool.ConnectionPool | Tool.HandlersFor<typeof kit.tools> | Scope.Scope>
) =>
  Effect.gen(function*() {
    const server = makeServer({ toolCalls })
    const { url } = yield* wsServer(server)
    const config = ClientConfig.make({ url, apiKey: "sk-live", headers: { "x-extra": "1" } })
    const runs = yield* Ref.make(0)
    const handlers = kit.toLayer({ step: ({ n }) => Ref.update(runs, (x) => x + 1).pipe(Effect.as({ n })) })
    return yield* body(server, runs).pipe(
      Effect.provide(Layer.mergeAll(
        ConnectionPool.layer(config).pipe(Layer.provide(WebSocket.layer())),
        handlers,
        NodeHttpClient.layerUndici
      ))
    )
  })

describe("against a minimal OpenAI-like server over real sockets", () => {
  it.scopedLive("the standard recovery ladder completes a 20-tool-call rollout", () =>
    withServer(20, (server, runs) =>
      Effect.gen(function*() {
        let turns = 0
        const faults: Record<number, () => void> = {
          3: () => server.forgetAll(), // previous_response_not_found → one full resend
          6: () => (server.faults.dropAfterEvents = 2), // drop mid-response → reconnect, full resend
          9: () => (server.faults.limitNext = true), // connection limit → rotate, full resend
          12: () => (server.faults.errorNext = { status: 500, code: "server_error" }), // 5xx → backoff
          15: () => (server.faults.errorNext = { status: 429, code: "rate_limit_exceeded", headers: { "retry-after": "0" } })
        }
        const events = Chunk.toArray(
          yield* AgentLoop.run("rollout", { toolkit: kit, settings: { model: "m", store: false }, session: { backoff } }).pipe(
            Stream.tap((e) => Effect.sync(() => e._tag === "TurnCompleted" && faults[++turns]?.())),
            Stream.runCollect
          )
        )
        const final = events.at(-1) as any
        assert.strictEqual(final._tag, "FinalAnswer")
        assert.strictEqual(final.text, "done after 20 tool calls for rollout")
        assert.strictEqual(yield* Ref.get(runs), 20)
        assert.isTrue(events.some((e) => e._tag === "TurnRestarted"))
        const outcomes = server.creates.map((c) => c.outcome)
        assert.deepStrictEqual(outcomes.filter((o) => o !== "ok"), ["not_found", "dropped", "error", "error", "error"])
        assert.strictEqual(server.stats().connections, 3)
        // Every successful turn was a delta except the first and the recovery resends.
        const fullOk = server.creates.filter((c) => c.outcome === "ok" && c.previousResponseId === undefined).length
        // first, then resends after: not found, drop, limit, failed delta (500), failed delta (429)
        assert.strictEqual(fullOk, 6)
        assert.strictEqual(server.upgrades[0]!.authorization, "Bearer sk-live")
        assert.strictEqual(server.upgrades[0]!["x-extra"], "1")
      })
    ))

  it.scopedLive("426 on the upgrade: HTTP/SSE for the session, always full input, no WebSocket-only fields", () =>
    withServer(3, (server, runs) =>
      Effect.gen(function*() {
        server.faults.refuseUpgrade = 426
        server.faults.refuseCount = 100
        const session = yield* Session.make({ settings: { model: "m", store: false }, backoff })
        const events = Chunk.toArray(
          yield* AgentLoop.runWith(session, "http", { toolkit: kit, settings: { model: "m", store: false } }).pipe(Stream.runCollect)
        )
        assert.strictEqual((events.at(-1) as any).text, "done after 3 tool calls for http")
        assert.strictEqual(yield* session.transport, "http")
        assert.isTrue((yield* session.metrics).httpFallback)
        const requests = server.httpRequests()
        assert.strictEqual(requests.length, 4)
        requests.forEach((r, i) => {
          assert.isUndefined(r.body.previous_response_id)
          assert.isUndefined(r.body.stream_id)
          assert.isUndefined(r.body.generate)
          assert.isTrue(r.body.stream)
          assert.strictEqual(r.body.input.length, 1 + 2 * i)
        })
        assert.strictEqual(server.upgrades.length, 1)
        assert.strictEqual(yield* Ref.get(runs), 3)
      })
    ))

  it.scopedLive("426 after a drop mid-chain: the delta is rebuilt as a full HTTP request", () =>
    withServer(3, (server) =>
      Effect.gen(function*() {
        const session = yield* Session.make({ settings: { model: "m", store: false }, backoff })
        const r1 = yield* session.turn([{ type: "message", role: "user", content: [{ type: "input_text", text: "x" }] } as any])
        server.faults.dropAfterEvents = 1
        server.faults.refuseUpgrade = 426
        server.faults.refuseCount = 100
        const call = r1.output[0] as any
        const r2 = yield* session.turn([{ type: "function_call_output", call_id: call.call_id, output: "{}" } as any])
        assert.strictEqual(r2.status, "completed")
        const [request] = server.httpRequests()
        assert.isUndefined(request!.body.previous_response_id)
        assert.strictEqual(request!.body.input.length, 3)
        const delta = server.creates.at(-1)!
        assert.strictEqual(delta.outcome, "dropped")
        assert.isDefined(delta.previousResponseId)
      })
    ))
})
