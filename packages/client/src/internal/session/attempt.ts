/**
 * One attempt at a turn: over the leased socket (a delta or a full `response.create`, by the continuation rule),
 * or over HTTP/SSE (the full history, stateless). Each counts and publishes what it sends and hands every event to
 * the caller's callback as it arrives.
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as HttpResponses from "../../HttpResponses.js"
import type { CreateRequest } from "../../ResponsesClient.js"
import { ResponsesError } from "../../ResponsesError.js"
import { plan, type Settings } from "../../Session.js"
import { failWhenIdle } from "../idle.js"
import type * as Mux from "../mux.js"
import type { Context } from "./context.js"

/** @internal */
export interface Attempt {
  /** The socket generation the request went out on (-1 over HTTP). */
  readonly generation: number
  /** Sends the request and hands each event to `onEvent`; succeeds once the terminal event was handed over. */
  readonly run: (onEvent: (event: ServerEvent.ServerEvent) => void) => Effect.Effect<void, ResponsesError>
  readonly wasDelta: boolean
}

// What happened to a request across a drop, as metrics and session events.
const noticeHandler = (ctx: Context, generation: number) => (notice: Mux.Notice) => {
  const counts = ctx.counters.counts
  const socket = ctx.lease.socket
  switch (notice._tag) {
    case "Resumed":
      counts.resumes++
      return ctx.counters.publish({ _tag: "Resumed", socket, generation, startingAfter: notice.startingAfter })
    case "Resent":
      counts.resent++
      return ctx.counters.publish({ _tag: "RequestResent", socket, generation })
    case "ResumeRefused":
      counts.resumeRefusals++
      return ctx.counters.publish({ _tag: "ResumeRefused", socket, generation, reason: notice.reason })
    case "ResumedEvent":
      counts.resumedEvents++
      return
    case "Duplicate":
      counts.duplicatesDropped++
      return
  }
}

/**
 * Over the leased socket. The multiplexer's reader hands each event straight to `onEvent` (no per-event hop), and
 * the idle timeout is watched by the socket's one watchdog (answered pings keep a silent turn alive: a model may
 * think for minutes before its first event).
 *
 * @internal
 */
export const webSocket = (
  ctx: Context,
  settings: Settings,
  settingsJson: string,
  forceFull: boolean,
  generate: boolean
): Effect.Effect<Attempt, ResponsesError> =>
  Effect.map(ctx.lease.slot.get, (mux) => {
    const history = ctx.history
    const decision = plan(ctx.anchor, {
      settings,
      window: history.window,
      historyLength: history.length(),
      generation: mux.generation,
      store: settings.store === true,
      forceFull
    })
    const built = ctx.frames.create(settingsJson, settings, generate, decision, history)
    const counts = ctx.counters.counts
    if (decision._tag === "Delta") counts.deltaRequests++
    else counts.fullRequests++
    counts.bytesSent += built.bytes
    counts.bytesFullResend += built.fullBytes
    ctx.counters.publish({
      _tag: "RequestSent",
      mode: decision._tag === "Delta" ? "delta" : "full",
      transport: "websocket",
      bytes: built.bytes,
      fullBytes: built.fullBytes,
      socket: ctx.lease.socket,
      generation: mux.generation
    })
    const notify = noticeHandler(ctx, mux.generation)
    return {
      generation: mux.generation,
      run: (onEvent) => mux.run(built.frame, ctx.lease.lane, onEvent, notify, ctx.idle),
      wasDelta: decision._tag === "Delta"
    }
  })

/**
 * Over HTTP/SSE (after a 426, or `transport: "http"`): the full history every time; one watchdog per attempt
 * (events alone count).
 *
 * @internal
 */
export const http = (ctx: Context, settingsJson: string): Effect.Effect<Attempt, ResponsesError> =>
  Effect.suspend(() => {
    if (Option.isNone(ctx.http)) {
      return Effect.fail(new ResponsesError({ reason: "Connect", status: 426, message: "HTTP fallback needs an HttpClient." }))
    }
    const client = ctx.http.value
    const body = ctx.frames.httpBody(settingsJson, ctx.history)
    const bytes = Buffer.byteLength(body, "utf8")
    const counts = ctx.counters.counts
    counts.fullRequests++
    counts.bytesSent += bytes
    counts.bytesFullResend += bytes
    ctx.counters.publish({
      _tag: "RequestSent",
      mode: "full",
      transport: "http",
      bytes,
      fullBytes: bytes,
      socket: ctx.lease.socket,
      generation: 0
    })
    const request = JSON.parse(body) as CreateRequest
    return Effect.succeed<Attempt>({
      generation: -1,
      run: (onEvent) =>
        failWhenIdle(
          (touch) =>
            HttpResponses.create(ctx.config, request).pipe(
              Stream.provideService(HttpClient.HttpClient, client),
              Stream.runForEach((event) =>
                Effect.sync(() => {
                  touch()
                  onEvent(event)
                })
              )
            ),
          ctx.idle.error,
          ctx.idleTimeout
        ),
      wasDelta: false
    })
  })
