/**
 * The conformance suite's raw client: one connection, every inbound frame validated (text, one JSON object, a
 * `type`, decodable by the protocol codec) before a check sees it, and waits bounded by a timeout.
 *
 * @internal
 */
import * as Codec from "@loopwire/protocol/Codec"
import type { ServerEvent } from "@loopwire/protocol/ServerEvent"
import { isTerminal } from "@loopwire/protocol/ServerEvent"
import type { Connection, ConnectionError } from "@loopwire/transport/Connection"
import type { TransportShape } from "@loopwire/transport/Transport"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

// Creates go through the protocol's one create encoder; other frames (and text sent as is) as given.
const encodeFrame = (frame: unknown): string =>
  typeof frame === "string"
    ? frame
    : typeof frame === "object" && frame !== null && (frame as { type?: unknown }).type === "response.create"
    ? Codec.encodeCreate(frame)
    : JSON.stringify(frame)
import * as Stream from "effect/Stream"

/**
 * Why a check failed: a sentence a server author can act on.
 *
 * @internal
 */
export class CheckFailure extends Schema.TaggedError<CheckFailure>()("CheckFailure", {
  message: Schema.String
}) {}

/** @internal */
export const fail = (message: string): Effect.Effect<never, CheckFailure> => Effect.fail(new CheckFailure({ message }))

/** @internal */
export const ensure = (condition: boolean, message: () => string): Effect.Effect<void, CheckFailure> =>
  condition ? Effect.void : fail(message())

/**
 * One inbound frame: its text, its JSON object and the decoded event, plus its position on the connection.
 *
 * @internal
 */
export interface Frame {
  readonly index: number
  readonly text: string
  readonly json: Record<string, unknown>
  readonly event: ServerEvent
}

type Inbound =
  | { readonly _tag: "Frame"; readonly text: string }
  | { readonly _tag: "End" }
  | { readonly _tag: "Failed"; readonly error: ConnectionError }

/** @internal */
export interface Probe {
  readonly connection: Connection
  /** Sends a value as JSON, or a string verbatim. */
  readonly send: (frame: unknown) => Effect.Effect<void, CheckFailure>
  /** The next valid frame; fails on a bad frame, a close, or no frame within the timeout. */
  readonly next: (waitingFor: string) => Effect.Effect<Frame, CheckFailure>
  /** Frames up to and including the first terminal one (`response.completed|incomplete|failed`, `error`). */
  readonly untilTerminal: (waitingFor: string) => Effect.Effect<ReadonlyArray<Frame>, CheckFailure>
  /** Frames until `count` terminal frames arrived (any lane). */
  readonly untilTerminals: (count: number, waitingFor: string) => Effect.Effect<ReadonlyArray<Frame>, CheckFailure>
}

const describeClose = (error: ConnectionError): string =>
  error.reason === "BinaryFrame" ?
    "the server sent a binary frame; every frame must be a text frame carrying one JSON object (§1.5)" :
    `the connection failed (${error.reason}${error.code === undefined ? "" : ` ${error.code}`}): ${error.message}`

const preview = (text: string): string => (text.length > 120 ? `${text.slice(0, 120)}…` : text)

/**
 * Opens a connection and starts reading it into a queue for the life of the scope.
 *
 * @internal
 */
export const open = (
  transport: TransportShape,
  url: string,
  options: { readonly headers: Readonly<Record<string, string>>; readonly timeout: Duration.DurationInput }
): Effect.Effect<Probe, CheckFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const connection = yield* transport.open(url, { headers: options.headers }).pipe(
      Effect.mapError((error) =>
        new CheckFailure({
          message: error.status === undefined ?
            `cannot open a WebSocket to ${url}: ${error.message}` :
            `the upgrade to ${url} was refused with HTTP ${error.status}${error.body ? `: ${preview(error.body)}` : ""}`
        })
      )
    )
    const inbound = yield* Queue.unbounded<Inbound>()
    yield* connection.frames.pipe(
      Stream.runForEach((text) => Queue.offer(inbound, { _tag: "Frame", text })),
      Effect.matchEffect({
        onFailure: (error) => Queue.offer(inbound, { _tag: "Failed", error }),
        onSuccess: () => Queue.offer(inbound, { _tag: "End" })
      }),
      Effect.forkScoped
    )
    let index = 0
    let ended: string | undefined
    const next = (waitingFor: string): Effect.Effect<Frame, CheckFailure> =>
      Effect.suspend(() => {
        if (ended !== undefined) return fail(`${ended} while waiting for ${waitingFor}`)
        return Queue.take(inbound).pipe(
          Effect.timeoutFail({
            duration: options.timeout,
            onTimeout: () => new CheckFailure({ message: `no frame arrived in time while waiting for ${waitingFor}` })
          }),
          Effect.flatMap((item): Effect.Effect<Frame, CheckFailure> => {
            if (item._tag === "End") {
              ended = "the server closed the connection"
              return Effect.flatMap(connection.closed, (info) => {
                ended = `the server closed the connection (${info.code}${info.reason ? ` ${info.reason}` : ""})`
                return fail(`${ended} while waiting for ${waitingFor}`)
              })
            }
            if (item._tag === "Failed") {
              ended = describeClose(item.error)
              return fail(`${ended} while waiting for ${waitingFor}`)
            }
            const position = index++
            const frame = item.text
            let json: unknown
            try {
              json = JSON.parse(frame)
            } catch {
              return fail(`frame #${position} is not JSON (§1.5 requires one JSON object per text frame): ${preview(frame)}`)
            }
            if (typeof json !== "object" || json === null || Array.isArray(json)) {
              return fail(`frame #${position} is JSON but not an object (§1.5): ${preview(frame)}`)
            }
            const decoded = Codec.decodeServerEventUnknown(json)
            if (Either.isLeft(decoded)) {
              const problem = decoded.left
              return fail(
                `frame #${position} is not a valid server event${
                  problem.eventType ? ` '${problem.eventType}'` : ""
                }${problem.param ? ` at ${problem.param}` : ""}: ${problem.message} (${preview(frame)})`
              )
            }
            return Effect.succeed({ index: position, text: frame, json: json as Record<string, unknown>, event: decoded.right })
          })
        )
      })
    const untilTerminals = (count: number, waitingFor: string) =>
      Effect.gen(function*() {
        const frames: Array<Frame> = []
        let terminals = 0
        while (terminals < count) {
          const frame = yield* next(waitingFor)
          frames.push(frame)
          if (isTerminal(frame.event)) terminals++
        }
        return frames as ReadonlyArray<Frame>
      })
    return {
      connection,
      send: (frame: unknown) =>
        connection.send(encodeFrame(frame)).pipe(
          Effect.mapError((error) => new CheckFailure({ message: `cannot send: ${describeClose(error)}` }))
        ),
      next,
      untilTerminal: (waitingFor: string) => untilTerminals(1, waitingFor),
      untilTerminals
    }
  })
