/**
 * Loopwire itself in the suite: the gateway as the server target of transports 1–4 (in this process, or alone in
 * a child process so its CPU per turn is measured apart from the client's), the gateway as a memory-at-scale
 * target, and `loopwire-ws` — Loopwire's client (`Session` over `ConnectionPool` and the `ws` transport, WebSocket
 * mode, delta continuation decided by the session itself) as a transport under test.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ConnectionPool from "@loopwire/client/ConnectionPool"
import * as Session from "@loopwire/client/Session"
import type * as Items from "@loopwire/protocol/Items"
import * as Connection from "@loopwire/transport/Connection"
import * as Transport from "@loopwire/transport/Transport"
import * as WebSocket from "@loopwire/transport/WebSocket"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { BenchError, fromUnknown } from "./BenchError.js"
import * as ChildServer from "./ChildServer.js"
import { type GatewayHandle, startGateway } from "./internal/gatewayServer.js"
import * as Rollout from "./Rollout.js"
import type * as Scale from "./Scale.js"
import { httpUrl, type TransportUnderTest } from "./TransportUnderTest.js"
import type * as Transports from "./Transports.js"
import { gatewayScenario, type JsonObject, type Scenario } from "./Workload.js"

/**
 * Where the gateway runs: in this process (CPU per turn is client + gateway), or alone in a child process (the
 * default: CPU per turn is the gateway's alone).
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "in-process" | "child"

const childEntry = ChildServer.entryBeside(import.meta.url, "./internal/gatewayServerProcess")

// Room for 10,000 cached lanes of a Codex-sized context in the child.
const childExecArgv = ["--max-old-space-size=8192"]

/**
 * The script as a file for the child (removed with the scope): a streaming script (50,000 deltas) is far larger
 * than one command-line argument may be (E2BIG).
 */
const scriptFile = (script: JsonObject): Effect.Effect<string, BenchError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "loopwire-bench-gateway-"))
        const file = Path.join(dir, "script.json")
        await Fs.writeFile(file, JSON.stringify(script))
        return file
      },
      catch: fromUnknown("Io", "gateway script file")
    }),
    (file) => Effect.promise(() => Fs.rm(Path.dirname(file), { recursive: true, force: true }))
  )

/**
 * The gateway with the scripted backend on `script`, alone in a child process (its CPU measured apart); `env`
 * adds variables (e.g. `LOOPWIRE_SCRIPTED_INPUT_COST_US_PER_KB`, the scripted backend's cost model).
 *
 * @since 0.1.0
 * @category servers
 */
export const forkGateway = (
  script: JsonObject,
  options?: { readonly env?: Readonly<Record<string, string>> | undefined }
): Effect.Effect<ChildServer.ChildServer, BenchError, Scope.Scope> =>
  Effect.flatMap(scriptFile(script), (file) =>
    ChildServer.fork(childEntry, {
      args: [file],
      execArgv: childExecArgv,
      ...(options?.env === undefined ? {} : { env: { ...process.env, ...options.env } })
    }))

const inProcess = (script: JsonObject): Effect.Effect<GatewayHandle, BenchError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => startGateway(script), catch: fromUnknown("Listen", "gateway") }),
    (server) => Effect.promise(() => server.close())
  )

/**
 * The Loopwire gateway as the server of the HTTP and SDK transports, started afresh for every scenario with its
 * scripted backend loaded from `Workload.gatewayScenario(scenario)`.
 *
 * @since 0.1.0
 * @category targets
 */
export const gatewayTarget = (mode: Mode = "child"): Transports.ServerTarget => ({
  name: mode === "child" ? "gateway(child)" : "gateway",
  start: (scenario) =>
    mode === "child"
      ? Effect.map(
        forkGateway(gatewayScenario(scenario)),
        (server) => ({ endpoint: server.endpoint, cpu: Effect.map(server.stats(), (s) => s.cpu) })
      )
      : Effect.map(inProcess(gatewayScenario(scenario)), (server) => ({
        endpoint: { host: server.host, port: server.port, secure: false }
      }))
})

/**
 * The gateway as the memory-at-scale target (idle connections, then one cached lane per connection).
 *
 * @since 0.1.0
 * @category targets
 */
export const gatewayScaleTarget = (mode: Mode = "child"): Scale.ScaleTarget => {
  // The scale test sends one full create per connection; the scripted backend answers it with its first turn.
  const script = { name: "loopwire-bench scale", turns: [{ output: [{ type: "message", text: "ok" }] }] }
  return {
    name: "gateway",
    mode,
    start: mode === "child"
      ? Effect.map(
        forkGateway(script),
        (server) => ({ endpoint: server.endpoint, stats: (gc: boolean) => server.stats({ gc }) })
      )
      : Effect.map(inProcess(script), (server) => ({
        endpoint: { host: server.host, port: server.port, secure: false },
        stats: (gc: boolean) =>
          Effect.sync(() =>
            ChildServer.localStats({ connections: server.connections, lanes: server.cachedLanes }, gc)
          )
      }))
  }
}

/**
 * A `Transport` that counts the UTF-8 bytes of every inbound frame (the client's `Session.metrics` counts only
 * what it sends).
 */
const countingTransport = (
  inner: Transport.TransportShape,
  counter: { received: number }
): Transport.TransportShape => ({
  open: (url, options) =>
    Effect.map(inner.open(url, options), (connection) =>
      Connection.mapFrames(connection, (frame) => {
        counter.received += Buffer.byteLength(frame, "utf8")
        return frame
      }))
})

interface Folded {
  events: number
  output: Array<JsonObject>
  responseId: string
  failed: string | undefined
}

/**
 * How `loopwire-ws` follows a turn's events:
 * - `callback`: `session.turnWith(newItems, settings, onEvent)`, the form `AgentLoop` runs on (no stream per turn);
 * - `stream`: `session.send(newItems, settings)`, the `Stream` of turn events, folded with `Stream.runFold`.
 *
 * @since 0.1.0
 * @category models
 */
export type Follow = "callback" | "stream"

/**
 * Loopwire's client over WebSocket mode: per rollout a fresh `ConnectionPool` (one socket, dialled before the
 * first turn so `connectMs` is measured apart, as for the other WebSocket transports) and one `Session` that
 * keeps the history and decides delta or full itself; every turn is `session.turnWith(newItems, settings, onEvent)`
 * (`loopwire-ws`, the agent loop's form) or `session.send(newItems, settings)` folded to its terminal event
 * (`loopwire-ws-stream`, the `Stream` form). Bytes sent come from `Session.metrics`, bytes received from the
 * transport. Over the WAN variant's TLS the socket trusts the run-time certificate through the transport's `tls.ca`.
 *
 * @since 0.1.0
 * @category transports
 */
export const loopwireWs = (
  target: Transports.ServerTarget = gatewayTarget(),
  follow: Follow = "callback"
): TransportUnderTest => ({
  name: follow === "callback" ? "loopwire-ws" : "loopwire-ws-stream",
  description: follow === "callback"
    ? "Loopwire client (Session.turnWith) over WebSocket mode, delta continuation"
    : "Loopwire client (Session.send, a Stream per turn) over WebSocket mode, delta continuation",
  setup: (ctx) =>
    Effect.gen(function*() {
      const server = yield* target.start(ctx.scenario)
      const endpoint = yield* ctx.network.expose(server.endpoint)
      const config = ClientConfig.make({ baseUrl: httpUrl(endpoint, "/v1"), apiKey: server.apiKey ?? "bench" })
      // A generous handshake bound (the SDK sets none, the floor client 30 s): the transport's 10 s default failed
      // a 1,000-loop run whose client was saturated (the handshake answer waited in its queue), and the rollout
      // itself is bounded by the harness's timeout anyway.
      const webSocket = WebSocket.make({
        openTimeout: Duration.minutes(5),
        ...(endpoint.ca === undefined ? {} : { tls: { ca: endpoint.ca } })
      })
      return {
        server: target.name,
        serverCpu: server.cpu,
        runRollout: (scenario: Scenario) =>
          Effect.scoped(Effect.gen(function*() {
            const counter = { received: 0 }
            const start = yield* Rollout.nowMs
            const pool = yield* Layer.build(ConnectionPool.layer(config)).pipe(
              Effect.provideService(Transport.Transport, countingTransport(webSocket, counter))
            )
            const session = yield* Effect.provide(Session.make({ httpFallback: false }), pool).pipe(
              Effect.mapError(fromUnknown("Connect", "session"))
            )
            // Dial now (the pool dials lazily, on the first request), so the connect is not inside turn 0.
            yield* Effect.mapError(session.lease.slot.get, fromUnknown("Connect", "loopwire-ws"))
            const connectMs = (yield* Rollout.nowMs) - start
            const empty = (): Folded => ({ events: 0, output: [], responseId: "", failed: undefined })
            const fold = (acc: Folded, e: Session.TurnEvent): Folded => {
              // A re-issued turn (recovery) starts over; its discarded events are not this turn's.
              if (e._tag === "Discard") return empty()
              acc.events++
              const step = Rollout.foldEvent(e.event as unknown as JsonObject, acc.output)
              if (step instanceof BenchError) acc.failed = step.detail
              else if (step.done) acc.responseId = step.responseId
              return acc
            }
            const runTurn = (newItems: ReadonlyArray<Items.InputItem>, settings: Session.Settings) =>
              follow === "stream"
                ? Stream.runFold(session.send(newItems, settings), empty(), fold)
                : Effect.suspend(() => {
                  let acc = empty()
                  return Effect.map(session.turnWith(newItems, settings, (e) => {
                    acc = fold(acc, e)
                  }), () => acc)
                })
            const turns = yield* Rollout.runSession(scenario, { store: false }, (newItems, settings) =>
              Effect.gen(function*() {
                const before = yield* session.metrics
                const receivedBefore = counter.received
                const folded = yield* runTurn(
                  newItems as ReadonlyArray<Items.InputItem>,
                  settings as Session.Settings
                ).pipe(Effect.mapError(fromUnknown("Protocol", "loopwire-ws turn")))
                if (folded.failed !== undefined) {
                  return yield* new BenchError({ reason: "Protocol", detail: folded.failed })
                }
                const after = yield* session.metrics
                return {
                  responseId: folded.responseId,
                  output: folded.output,
                  bytesSent: after.bytesSent - before.bytesSent,
                  bytesReceived: counter.received - receivedBefore,
                  events: folded.events,
                  delta: after.deltaRequests > before.deltaRequests
                }
              }))
            return { turns, connectMs }
          }))
      }
    })
})
