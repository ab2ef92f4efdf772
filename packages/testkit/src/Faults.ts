/**
 * The fault-injection suite: reproductions of the ways a client, a network or a load once took the gateway down
 * or degraded it for everyone (issue 16), runnable against any gateway URL, each returning what it measured so a
 * test (or `loopwire`'s operators) can check that it stays fixed:
 *
 * - {@link pipelinedFlood}: one connection pipelines tens of thousands of tiny invalid frames while another runs
 *   turns and `/healthz` is polled; reports the other connection's turn latency during the flood and how the
 *   flooding connection ended;
 * - {@link storeFlood}: `store: true` creates of a large input, one after the other on one connection, far past
 *   the gateway's store budget; reports how many were stored, refused, or lost;
 * - {@link connectionChurn}: thousands of connections, each opened, served one turn and closed (or cut); reports
 *   how many completed or were refused (and the gateway's memory can be read before and after);
 * - {@link foreignOrigin}: a WebSocket upgrade and a `text/plain` POST from a foreign `Origin`, and a POST with a
 *   foreign `Host` (DNS rebinding); reports the statuses.
 *
 * The cut inside a reconnect's 101 is reproduced with {@link CutProxy} (see `test/resume-gateway.test.ts`).
 *
 * @since 0.1.0
 */
import * as Codec from "@loopwire/protocol/Codec"
import { isTerminal } from "@loopwire/protocol/ServerEvent"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as WS from "ws"

/**
 * Options shared by every reproduction.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string
  /** Sent as `Authorization: Bearer <apiKey>` when given. */
  readonly apiKey?: string | undefined
}

const wsUrl = (target: Target) => `${target.baseUrl.replace(/^http/, "ws")}/v1/responses`
const authHeaders = (target: Target): Record<string, string> =>
  target.apiKey === undefined ? {} : { authorization: `Bearer ${target.apiKey}` }

interface Socket {
  readonly ws: WS.WebSocket
  /** Adds a listener; returns its removal. */
  readonly onEvent: (
    listener: (event: { readonly type: string; readonly error?: { readonly code?: string } }) => void
  ) => () => void
  readonly closed: Effect.Effect<number>
}

const openSocket = (target: Target, parse = true): Effect.Effect<Socket, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Socket, Error>((resume) => {
      const ws = new WS.WebSocket(wsUrl(target), { headers: authHeaders(target) })
      const listeners = new Set<(event: any) => void>()
      let closeCode: number | undefined
      const closeWaiters: Array<(code: number) => void> = []
      ws.on("message", (data) => {
        if (!parse) return
        const event = JSON.parse(String(data))
        for (const listener of listeners) listener(event)
      })
      ws.on("close", (code) => {
        closeCode = code
        for (const waiter of closeWaiters.splice(0)) waiter(code)
      })
      ws.on("error", (error) => {
        if (ws.readyState === WS.WebSocket.CONNECTING) resume(Effect.fail(error))
      })
      ws.on("open", () =>
        resume(Effect.succeed({
          ws,
          onEvent: (listener) => {
            listeners.add(listener)
            return () => listeners.delete(listener)
          },
          closed: Effect.async<number>((done) => {
            if (closeCode !== undefined) return done(Effect.succeed(closeCode))
            closeWaiters.push((code) => done(Effect.succeed(code)))
          })
        })))
    }),
    (socket) => Effect.sync(() => socket.ws.terminate())
  )

// One `response.create` on `socket`, timed from send to its terminal event (milliseconds, by the Effect clock).
const timedTurn = (socket: Socket, input: string): Effect.Effect<number> =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    yield* Effect.async<void>((resume) => {
      const off = socket.onEvent((event) => {
        if (isTerminal(event)) {
          off()
          resume(Effect.void)
        }
      })
      socket.ws.send(Codec.encodeCreate({ model: "m", input, store: false }))
    })
    return (yield* Clock.currentTimeMillis) - startedAt
  })

const timedHealth = (target: Target): Effect.Effect<number> =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    yield* Effect.promise(() => fetch(`${target.baseUrl}/healthz`).then((response) => response.text()))
    return (yield* Clock.currentTimeMillis) - startedAt
  })

/**
 * @since 0.1.0
 * @category models
 */
export interface FloodReport {
  /** Frames the flooding connection sent. */
  readonly frames: number
  /** Error answers it received before it was closed (or before the measurement ended). */
  readonly answers: number
  /** Its close code (undefined while still open). */
  readonly closeCode: number | undefined
  /** The other connection's turn latency before the flood, ms. */
  readonly turnBefore: number
  /** Its turn latencies during the flood, ms (one turn after another until the flood is answered or closed). */
  readonly turnsDuring: ReadonlyArray<number>
  /** `/healthz` latencies during the flood, ms. */
  readonly healthDuring: ReadonlyArray<number>
}

/**
 * One connection sends `frames` one-byte invalid frames at once; meanwhile another connection runs turns one after
 * another and `/healthz` is polled, until the flooding connection is closed or all its answers arrived.
 *
 * @since 0.1.0
 * @category reproductions
 */
export const pipelinedFlood = (
  target: Target & { readonly frames?: number | undefined }
): Effect.Effect<FloodReport, Error> =>
  Effect.scoped(Effect.gen(function*() {
    const frames = target.frames ?? 50_000
    const other = yield* openSocket(target)
    yield* timedTurn(other, "warm up")
    const turnBefore = yield* timedTurn(other, "before")
    const flood = yield* openSocket(target, false)
    let answers = 0
    let closeCode: number | undefined
    // Counted, not parsed: the measuring process must not become the bottleneck it measures.
    flood.ws.on("message", () => {
      answers++
    })
    const floodOver = Effect.race(
      Effect.map(flood.closed, (code) => {
        closeCode = code
      }),
      Effect.repeat(Effect.sleep("5 millis"), { until: () => answers >= frames })
    )
    for (let i = 0; i < frames; i++) flood.ws.send("x")
    const turnsDuring: Array<number> = []
    const healthDuring: Array<number> = []
    const measure = Effect.gen(function*() {
      // Until the flood is answered or closed (the race below); the bound only keeps a broken gateway from looping.
      for (let i = 0; i < 100_000; i++) {
        const [turn, health] = yield* Effect.all([timedTurn(other, `during ${i}`), timedHealth(target)], {
          concurrency: 2
        })
        turnsDuring.push(turn)
        healthDuring.push(health)
      }
    })
    yield* Effect.raceFirst(Effect.zipRight(floodOver, Effect.void), measure)
    return { frames, answers, closeCode, turnBefore, turnsDuring, healthDuring }
  }))

/**
 * @since 0.1.0
 * @category models
 */
export interface StoreFloodReport {
  readonly creates: number
  /** Creates answered with a completed response. */
  readonly stored: number
  /** Creates refused with an `error` frame, by its code. */
  readonly refused: Readonly<Record<string, number>>
  /** Whether the connection was still open at the end (a dead gateway closes it). */
  readonly alive: boolean
}

/**
 * `creates` `store: true` creates with an input of `inputBytes` bytes, one after the other on one connection (e.g.
 * 268 of 15 MiB: about 4 GB).
 *
 * @since 0.1.0
 * @category reproductions
 */
export const storeFlood = (
  target: Target & {
    readonly creates: number
    readonly inputBytes: number
    /** `store` of every create (default true). */
    readonly store?: boolean | undefined
  }
): Effect.Effect<StoreFloodReport, Error> =>
  Effect.scoped(Effect.gen(function*() {
    const socket = yield* openSocket(target)
    const refused: Record<string, number> = {}
    let stored = 0
    let alive = true
    // The input as messages of at most 1 MiB of text each (a single string that long would meet the gateway's
    // string limit, not its memory budgets).
    const chunk = 1024 * 1024
    const parts = Array.from(
      { length: Math.max(1, Math.ceil(target.inputBytes / chunk)) },
      (_, k) => "x".repeat(Math.max(1, Math.min(chunk, target.inputBytes - k * chunk)))
    )
    const input = (i: number) =>
      parts.map((text, k) => ({ type: "message", role: "user", content: k === 0 ? `${i} ${text}` : text }))
    for (let i = 0; i < target.creates && alive; i++) {
      const outcome = yield* Effect.async<string>((resume) => {
        const finish = (result: string) => {
          off()
          socket.ws.off("close", onClose)
          resume(Effect.succeed(result))
        }
        const onClose = () => finish("closed")
        const off = socket.onEvent((event) => {
          if (event.type === "response.completed") finish("stored")
          else if (event.type === "error" || event.type === "response.failed") finish(event.error?.code ?? event.type)
        })
        socket.ws.once("close", onClose)
        socket.ws.send(Codec.encodeCreate({ model: "m", input: input(i), store: target.store ?? true }))
      })
      if (outcome === "stored") stored++
      else if (outcome === "closed") alive = false
      else refused[outcome] = (refused[outcome] ?? 0) + 1
    }
    return { creates: target.creates, stored, refused, alive }
  }))

/**
 * @since 0.1.0
 * @category models
 */
export interface ForeignOriginReport {
  /** Status of a WebSocket upgrade with `Origin: <origin>` (101 = accepted). */
  readonly upgrade: number
  /** Status of a `text/plain` POST with that `Origin`. */
  readonly post: number
  /** Status of a POST with `Host: <host>` and no `Origin`. */
  readonly rebound: number
}

const rawRequest = (
  baseUrl: string,
  method: string,
  headers: Record<string, string>,
  body?: string
): Effect.Effect<number, Error> =>
  Effect.async<number, Error>((resume) => {
    const url = new URL(baseUrl)
    const request = Http.request({
      host: url.hostname,
      port: url.port,
      path: "/v1/responses",
      method,
      headers,
      agent: false
    })
    request.on("response", (response) => {
      response.resume()
      response.on("end", () => resume(Effect.succeed(response.statusCode ?? 0)))
    })
    request.on("upgrade", (response, socket) => {
      socket.destroy()
      resume(Effect.succeed(response.statusCode ?? 0))
    })
    request.on("error", (error) => resume(Effect.fail(error)))
    request.end(body)
  })

/**
 * A foreign page's requests: an upgrade and a `text/plain` POST with `Origin: origin`, and a POST whose `Host` is a
 * foreign name (as after DNS rebinding).
 *
 * @since 0.1.0
 * @category reproductions
 */
export const foreignOrigin = (
  target: Target & { readonly origin?: string | undefined; readonly host?: string | undefined }
): Effect.Effect<ForeignOriginReport, Error> =>
  Effect.gen(function*() {
    const origin = target.origin ?? "https://evil.example"
    const body = JSON.stringify({ model: "m", input: "hi" })
    const upgrade = yield* rawRequest(target.baseUrl, "GET", {
      ...authHeaders(target),
      origin,
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": Buffer.from("loopwire-faults!").toString("base64")
    })
    const post = yield* rawRequest(target.baseUrl, "POST", { ...authHeaders(target), origin, "content-type": "text/plain" }, body)
    const rebound = yield* rawRequest(target.baseUrl, "POST", {
      ...authHeaders(target),
      host: target.host ?? "evil.example",
      "content-type": "application/json"
    }, body)
    return { upgrade, post, rebound }
  })

/**
 * @since 0.1.0
 * @category models
 */
export interface ChurnReport {
  readonly connections: number
  /** Connections whose turn completed. */
  readonly completed: number
  /** Upgrades refused, by HTTP status (e.g. 503 past the gateway's connection cap). */
  readonly refused: Readonly<Record<string, number>>
  /** Connections that failed otherwise (socket errors, a turn without a terminal event). */
  readonly failed: number
}

/**
 * `connections` WebSocket connections, `concurrency` at a time, each opened, served one turn (of `inputBytes` of
 * text, `store: false`) and then closed with 1000, or cut without a close frame when `drop` (so the gateway keeps
 * its session for the resume grace period).
 *
 * @since 0.1.0
 * @category reproductions
 */
export const connectionChurn = (
  target: Target & {
    readonly connections: number
    readonly concurrency?: number | undefined
    readonly inputBytes?: number | undefined
    readonly drop?: boolean | undefined
  }
): Effect.Effect<ChurnReport> =>
  Effect.gen(function*() {
    const refused: Record<string, number> = {}
    let completed = 0
    let failed = 0
    const text = "x".repeat(Math.max(1, target.inputBytes ?? 1024))
    const one = (i: number) =>
      Effect.async<void>((resume) => {
        const ws = new WS.WebSocket(wsUrl(target), { headers: authHeaders(target) })
        let settled = false
        const settle = (outcome: () => void) => {
          if (settled) return
          settled = true
          outcome()
          if (target.drop === true) ws.terminate()
          else ws.close(1000)
          resume(Effect.void)
        }
        ws.on("unexpected-response", (_request, response) => {
          response.resume()
          settle(() => {
            const status = String(response.statusCode ?? 0)
            refused[status] = (refused[status] ?? 0) + 1
          })
        })
        ws.on("error", () => settle(() => failed++))
        ws.on("close", () => settle(() => failed++))
        ws.on("open", () => ws.send(JSON.stringify({ type: "response.create", model: "m", input: `${i} ${text}`, store: false })))
        ws.on("message", (data) => {
          const type = (JSON.parse(String(data)) as { readonly type?: string }).type
          if (type === "response.completed") settle(() => completed++)
          else if (type === "error" || type === "response.failed") settle(() => failed++)
        })
        return Effect.sync(() => ws.terminate())
      })
    yield* Effect.forEach(Array.from({ length: target.connections }, (_, i) => i), one, {
      concurrency: Math.max(1, target.concurrency ?? 100),
      discard: true
    })
    return { connections: target.connections, completed, refused, failed }
  })
