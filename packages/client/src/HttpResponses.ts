/**
 * The HTTP transport: `POST /v1/responses` with `stream: true`, read as Server-Sent Events through
 * `@effect/platform`'s `HttpClient`, yielding the same typed server events as the socket. Used by a Session
 * after a 426 on the upgrade (always with the full input: a delta body is never replayed over HTTP).
 *
 * @since 0.1.0
 */
import * as Codec from "@loopwire/protocol/Codec"
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import { isTerminal } from "@loopwire/protocol/ServerEvent"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { ClientConfig } from "./ClientConfig.js"
import type { CreateRequest } from "./ResponsesClient.js"
import { fromErrorFrame, ResponsesError, retryAfterMillis } from "./ResponsesError.js"

/**
 * Splits an SSE text stream into the `data` payloads of its events (multi-line data joined with `\n`).
 *
 * @since 0.1.0
 * @category decoding
 */
export const sseData = <E, R>(lines: Stream.Stream<string, E, R>): Stream.Stream<string, E, R> =>
  lines.pipe(
    Stream.mapAccum([] as Array<string>, (data, line): readonly [Array<string>, Option.Option<string>] => {
      if (line === "") return [[], data.length > 0 ? Option.some(data.join("\n")) : Option.none()]
      if (line.startsWith(":")) return [data, Option.none()]
      const colon = line.indexOf(":")
      const field = colon === -1 ? line : line.slice(0, colon)
      let value = colon === -1 ? "" : line.slice(colon + 1)
      if (value.startsWith(" ")) value = value.slice(1)
      return field === "data" ? [[...data, value], Option.none()] : [data, Option.none()]
    }),
    Stream.filterMap((x) => x)
  )

/**
 * The HTTP body for a create request: `stream: true`, and never the WebSocket-only `stream_id` / `generate`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const httpBody = (request: CreateRequest): string => {
  const { generate: _g, stream_id: _s, type: _t, ...rest } = request as Record<string, unknown>
  return JSON.stringify({ ...rest, stream: true })
}

/**
 * Streams one response over HTTP/SSE, ending after its terminal event.
 *
 * @since 0.1.0
 * @category constructors
 */
export const create = (
  config: ClientConfig,
  request: CreateRequest
): Stream.Stream<ServerEvent.ServerEvent, ResponsesError, HttpClient.HttpClient> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const httpRequest = HttpClientRequest.post(config.httpUrl).pipe(
      HttpClientRequest.setHeaders({ ...config.headers, accept: "text/event-stream" }),
      HttpClientRequest.bodyText(httpBody(request), "application/json")
    )
    const response = yield* client.execute(httpRequest).pipe(
      Effect.mapError((e) => new ResponsesError({ reason: "ConnectionLost", message: `HTTP request failed: ${e.message}` }))
    )
    if (response.status >= 300) {
      const text = yield* Effect.orElseSucceed(response.text, () => "")
      const now = yield* Clock.currentTimeMillis
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // not JSON: keep the text
      }
      const headers = response.headers as Record<string, string>
      const retryAfter = retryAfterMillis(headers, now)
      const fromBody = typeof body === "object" && body !== null
        ? fromErrorFrame({ ...(body as Record<string, unknown>), status: response.status }, now)
        : undefined
      return yield* new ResponsesError({
        reason: "Http",
        status: response.status,
        message: fromBody?.message ?? `HTTP ${response.status}`,
        code: fromBody?.code ?? null,
        param: fromBody?.param ?? null,
        ...(fromBody?.errorType !== undefined ? { errorType: fromBody.errorType } : {}),
        ...(retryAfter !== undefined ? { retryAfterMillis: retryAfter } : {}),
        body
      })
    }
    let ended = false
    return response.stream.pipe(
      Stream.mapError((e) => new ResponsesError({ reason: "ConnectionLost", message: `HTTP stream failed: ${e.message}` })),
      Stream.decodeText(),
      Stream.splitLines,
      sseData,
      Stream.filter((data) => data !== "[DONE]"),
      Stream.mapEffect((data) =>
        Effect.gen(function*() {
          const decoded = Codec.decodeServerEvent(data)
          if (Either.isLeft(decoded)) {
            return yield* new ResponsesError({ reason: "Protocol", message: decoded.left.message })
          }
          const event = decoded.right
          if (event.type === "error") {
            return yield* Effect.fail(fromErrorFrame(event as Record<string, unknown>, yield* Clock.currentTimeMillis))
          }
          return event
        })
      ),
      Stream.takeUntil((event) => (ended = isTerminal(event))),
      Stream.concat(Stream.suspend(() =>
        ended
          ? Stream.empty
          : Stream.fail(new ResponsesError({ reason: "ConnectionLost", message: "The HTTP stream ended before the response did." }))
      ))
    )
  }))
