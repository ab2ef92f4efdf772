/**
 * The transports compared by the suite, each a `TransportUnderTest`:
 *
 * 1. `http-full`: HTTP, the full context every turn (a stateless client), SSE;
 * 2. `http-prev`: HTTP with `previous_response_id` (`store: true`, the server hydrates), SSE;
 * 3. `loopwire-ws`: Loopwire's client over WebSocket mode — in `Loopwire.ts`, with the gateway target;
 * 4. `openai-sdk-ws`: the official `openai` SDK's `ResponsesWS` driving the same turns;
 * 5. `floor`: a minimal hand-written `ws` client and the floor server, no framework at all.
 *
 * 1–4 take a `ServerTarget` (the suite points them at the Loopwire gateway, `Loopwire.gatewayTarget`; the floor
 * server works too, and the report says which). 5 always uses the floor server.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import OpenAI from "openai"
import { ResponsesWS } from "openai/resources/responses/ws"
import { BenchError, fromUnknown } from "./BenchError.js"
import * as ChildServer from "./ChildServer.js"
import * as FloorServer from "./FloorServer.js"
import { exchangeFold, httpAgent, httpExchange, openWebSocket, wsExchange } from "./internal/clients.js"
import * as Rollout from "./Rollout.js"
import {
  type BenchContext,
  type CpuSample,
  type Endpoint,
  httpUrl,
  type RolloutRunner,
  type TransportUnderTest,
  wsUrl
} from "./TransportUnderTest.js"
import type { JsonObject, Scenario } from "./Workload.js"

/**
 * A server the transports can be pointed at. `start(scenario)` runs it (or connects to it) for the scope, scripted
 * for that scenario, and returns its plain (loopback, no TLS) endpoint; the run's network is put in front of it by
 * the transport. `cpu`, when given, is the server process's cumulative CPU (server-only CPU per turn).
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerTarget {
  readonly name: string
  readonly start: (scenario: Scenario) => Effect.Effect<
    {
      readonly endpoint: Endpoint
      readonly cpu?: Effect.Effect<CpuSample, BenchError> | undefined
      /** The bearer token clients send (default `"bench"`). */
      readonly apiKey?: string | undefined
    },
    BenchError,
    Scope.Scope
  >
}

/**
 * One server per scenario for every transport pointed at `target`: the first transport set up for a scenario
 * starts it, the others (set up in the same scope) reuse it, so transports 1–4 talk to the very same gateway
 * process, and a run forks one gateway per scenario instead of one per transport.
 *
 * @since 0.1.0
 * @category targets
 */
export const shared = (target: ServerTarget): ServerTarget => {
  type Started = Effect.Effect.Success<ReturnType<ServerTarget["start"]>>
  const running = new WeakMap<Scenario, Started>()
  return {
    name: target.name,
    start: (scenario) =>
      Effect.suspend(() => {
        const existing = running.get(scenario)
        if (existing !== undefined) return Effect.succeed(existing)
        return Effect.tap(target.start(scenario), (started) =>
          Effect.zipRight(
            Effect.sync(() => running.set(scenario, started)),
            Effect.addFinalizer(() => Effect.sync(() => running.delete(scenario)))
          ))
      })
  }
}

/**
 * The floor server as a target (`in-process` by default; `child` measures server CPU alone).
 *
 * @since 0.1.0
 * @category targets
 */
export const floorTarget = (mode: FloorServer.Mode = "in-process"): ServerTarget => ({
  name: mode === "child" ? "floor-server(child)" : "floor-server",
  // The floor server reads each request's script from its metadata, so it ignores the scenario.
  start: () => Effect.map(FloorServer.make({ mode }), (server) => ({
    endpoint: server.endpoint,
    cpu: mode === "child" ? Effect.map(server.stats(), (s) => s.cpu) : undefined
  }))
})

/**
 * Any server entry that calls `ChildServer.serve` (e.g. a gateway entry), forked afresh for every scenario with
 * `argsFor(scenario)` as its arguments (e.g. `[JSON.stringify(Workload.gatewayScenario(scenario))]`); its CPU is
 * reported as the server's alone.
 *
 * @since 0.1.0
 * @category targets
 */
export const childTarget = (
  name: string,
  entry: string,
  argsFor: (scenario: Scenario) => ReadonlyArray<string> = () => [],
  options?: { readonly execArgv?: ReadonlyArray<string> | undefined }
): ServerTarget => ({
  name,
  start: (scenario) =>
    Effect.map(
      ChildServer.fork(entry, { args: argsFor(scenario), execArgv: options?.execArgv }),
      (server) => ({ endpoint: server.endpoint, cpu: Effect.map(server.stats(), (s) => s.cpu) })
    )
})

const withTarget = (
  target: ServerTarget,
  ctx: BenchContext,
  make: (endpoint: Endpoint, apiKey: string) => RolloutRunner["runRollout"]
): Effect.Effect<RolloutRunner, BenchError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* target.start(ctx.scenario)
    const endpoint = yield* ctx.network.expose(server.endpoint)
    return { server: target.name, serverCpu: server.cpu, runRollout: make(endpoint, server.apiKey ?? "bench") }
  })

/**
 * The floor: a minimal hand-written `ws` client against the floor server, delta continuation, `store: false`.
 *
 * @since 0.1.0
 * @category transports
 */
export const floor = (options?: { readonly mode?: FloorServer.Mode | undefined }): TransportUnderTest => ({
  name: "floor",
  description: "hand-written ws client + ws server, no framework (the floor)",
  setup: (ctx) =>
    withTarget(floorTarget(options?.mode), ctx, (endpoint) => (scenario) =>
      Effect.scoped(Effect.gen(function*() {
        const start = yield* Rollout.nowMs
        const ws = yield* openWebSocket(wsUrl(endpoint, "/v1/responses"), endpoint)
        const connectMs = (yield* Rollout.nowMs) - start
        const turns = yield* Rollout.run(
          scenario,
          { continuation: "previous", store: false, eventType: "response.create" },
          wsExchange(ws)
        )
        return { turns, connectMs }
      })))
})

// One HTTP/SSE client over a keep-alive connection per rollout; `continuation` and `store` make the two variants.
const http = (
  target: ServerTarget,
  name: string,
  description: string,
  options: { readonly continuation: Rollout.Continuation; readonly store: boolean }
): TransportUnderTest => ({
  name,
  description,
  setup: (ctx) =>
    withTarget(target, ctx, (endpoint, apiKey) => (scenario) =>
      Effect.scoped(Effect.gen(function*() {
        const agent = yield* httpAgent(endpoint)
        const turns = yield* Rollout.run(scenario, { ...options, stream: true }, httpExchange(endpoint, agent, apiKey))
        return { turns, connectMs: 0 }
      })))
})

/**
 * HTTP with the full context every turn (stateless client), streaming SSE, keep-alive connection per rollout.
 *
 * @since 0.1.0
 * @category transports
 */
export const httpFull = (target: ServerTarget = floorTarget()): TransportUnderTest =>
  http(target, "http-full", "HTTP POST /v1/responses, full context every turn, SSE", {
    continuation: "full",
    store: false
  })

/**
 * HTTP with `previous_response_id` and `store: true` (the server hydrates from its store), streaming SSE.
 *
 * @since 0.1.0
 * @category transports
 */
export const httpPrevious = (target: ServerTarget = floorTarget()): TransportUnderTest =>
  http(target, "http-prev", "HTTP POST /v1/responses, previous_response_id + store:true, SSE", {
    continuation: "previous",
    store: true
  })

const openSdk = (endpoint: Endpoint, apiKey: string): Effect.Effect<ResponsesWS, BenchError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<ResponsesWS, BenchError>((resume) => {
      const client = new OpenAI({ apiKey, baseURL: httpUrl(endpoint, "/v1"), maxRetries: 0 })
      let ws: ResponsesWS
      try {
        ws = new ResponsesWS(client, endpoint.ca === undefined ? {} : { ca: endpoint.ca })
      } catch (error) {
        return resume(Effect.fail(fromUnknown("Connect", "ResponsesWS")(error)))
      }
      const raw = ws.socket.platformSocket
      const onOpen = () => {
        raw.off("error", onError)
        resume(Effect.succeed(ws))
      }
      const onError = (error: Error) => {
        raw.off("open", onOpen)
        resume(Effect.fail(fromUnknown("Connect", "ResponsesWS")(error)))
      }
      raw.once("open", onOpen)
      raw.once("error", onError)
      // The SDK reports protocol errors as "error" events; the exchange handles them, this keeps them from throwing.
      ws.on("error", () => {})
      return Effect.sync(() => ws.close())
    }),
    (ws) => Effect.sync(() => ws.socket.platformSocket.terminate())
  )

const sdkExchange = (ws: ResponsesWS): Rollout.Exchange => (body) =>
  Effect.async((resume) => {
    const raw = ws.socket.platformSocket
    const cleanup = () => {
      ws.off("event", onEvent)
      ws.off("error", onError)
      raw.off("message", onRaw)
      raw.off("close", onClose)
    }
    // Counted the way the SDK serialises it (one JSON text frame per event).
    const fold = exchangeFold(Buffer.byteLength(JSON.stringify(body)), (effect) => {
      cleanup()
      resume(effect)
    })
    const onRaw = (data: Buffer) => fold.received(data.length)
    const onEvent = (event: unknown) => fold.event(event as JsonObject)
    const onError = (error: Error) => fold.fail(fromUnknown("Protocol", "ResponsesWS error event")(error))
    const onClose = (code: number) => fold.closed(code)
    // First in line, so the frame that completes the response is counted before the SDK's listener resolves it.
    raw.prependListener("message", onRaw)
    raw.on("close", onClose)
    ws.on("event", onEvent)
    ws.on("error", onError)
    ws.send(body as any)
    return Effect.sync(cleanup)
  })

/**
 * The official `openai` SDK's `ResponsesWS` driving the same turns (delta continuation, `store: false`).
 *
 * @since 0.1.0
 * @category transports
 */
export const openAiSdkWs = (target: ServerTarget = floorTarget()): TransportUnderTest => ({
  name: "openai-sdk-ws",
  description: "official openai SDK ResponsesWS, previous_response_id + new items",
  setup: (ctx) =>
    withTarget(target, ctx, (endpoint, apiKey) => (scenario) =>
      Effect.scoped(Effect.gen(function*() {
        const start = yield* Rollout.nowMs
        const ws = yield* openSdk(endpoint, apiKey)
        const connectMs = (yield* Rollout.nowMs) - start
        const turns = yield* Rollout.run(
          scenario,
          { continuation: "previous", store: false, eventType: "response.create" },
          sdkExchange(ws)
        )
        return { turns, connectMs }
      })))
})

/**
 * The transports that exist without the Loopwire client and gateway, all against the given target (the floor
 * transport always uses its own floor server, in this process or a child).
 *
 * @since 0.1.0
 * @category transports
 */
export const available = (
  target: ServerTarget = floorTarget(),
  floorMode: FloorServer.Mode = "in-process"
): ReadonlyArray<TransportUnderTest> => [
  httpFull(target),
  httpPrevious(target),
  openAiSdkWs(target),
  floor({ mode: floorMode })
]
