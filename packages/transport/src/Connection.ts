/**
 * One open, message-oriented, text-frame duplex: the same value on the client (dial), on the server (upgrade)
 * and in memory.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/**
 * WebSocket close codes this package names (RFC 6455 §7.4.1 and the IANA registry).
 *
 * @since 0.1.0
 * @category constants
 */
export const CloseCodes = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  TlsHandshake: 1015
} as const

/**
 * How a connection ended: the close code and reason (1006 with an empty reason when the connection was lost
 * without a close frame).
 *
 * @since 0.1.0
 * @category models
 */
export class CloseInfo extends Schema.Class<CloseInfo>("@loopwire/transport/CloseInfo")({
  code: Schema.Number,
  reason: Schema.String
}) {}

/**
 * Default outbound high-water mark in bytes: `send` suspends while more than this many bytes are handed to the
 * socket but not yet flushed. A single larger frame is still accepted (alone).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024

/**
 * Default inbound high-water mark in bytes: when more than this many received bytes wait for the consumer of
 * `frames`, the transport stops reading from the socket (TCP then slows the peer down) until half is consumed.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_INBOUND_HIGH_WATER_MARK = 4 * 1024 * 1024

/**
 * The failures of an open connection.
 *
 * - `Closed`: `send` or `ping` after the connection closed (carries the close code).
 * - `BinaryFrame`: the peer sent a binary frame; the connection is closed with 1003.
 * - `MessageTooLarge`: an inbound frame exceeded `maxPayload`; the connection is closed with 1009.
 * - `Dropped`: the connection was lost without a close frame (1006).
 * - `Network`: a socket error (the connection is closed).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionError extends Schema.TaggedError<ConnectionError>("@loopwire/transport/ConnectionError")(
  "ConnectionError",
  {
    reason: Schema.Literal("Closed", "BinaryFrame", "MessageTooLarge", "Dropped", "Network"),
    connectionId: Schema.String,
    code: Schema.optional(Schema.Number),
    message: Schema.String
  }
) {}

/**
 * What is known about the opening handshake.
 *
 * - On the client: `requestHeaders` are the headers sent, `responseHeaders` those of the 101 response (e.g. a
 *   resume token).
 * - On the server: `requestHeaders` are the upgrade request's headers, `responseHeaders` the extra headers added
 *   to the 101 response, `remoteAddress` the peer's address.
 *
 * Header names are lower case; repeated headers are joined with ", ".
 *
 * @since 0.1.0
 * @category models
 */
export interface Handshake {
  readonly url: string
  readonly protocol: string
  readonly requestHeaders: Readonly<Record<string, string>>
  readonly responseHeaders: Readonly<Record<string, string>>
  readonly remoteAddress?: string | undefined
}

/**
 * An open connection.
 *
 * - `send`: hands one text frame to the socket; suspends while the outbound buffer is above its high-water mark;
 *   fails with `ConnectionError` (`Closed`) once the connection is closed.
 * - `frames`: the inbound text frames in order. Single consumer. Ends when a close frame arrives (any code);
 *   fails with `ConnectionError` on a binary frame, an oversized frame, a drop (1006) or a socket error.
 * - `closed`: waits for the end of the connection and yields its close code and reason.
 * - `close`: starts the closing handshake (default 1000); idempotent; does not wait (await `closed`).
 * - `terminate`: drops the connection at once without a close frame; both sides see 1006 (a network cut).
 * - `ping`: sends a ping and completes on the next sign of life from the peer (a pong or any frame).
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  readonly id: string
  readonly side: "client" | "server"
  readonly handshake: Handshake
  readonly send: (frame: string) => Effect.Effect<void, ConnectionError>
  readonly frames: Stream.Stream<string, ConnectionError>
  readonly closed: Effect.Effect<CloseInfo>
  readonly close: (code?: number, reason?: string) => Effect.Effect<void>
  readonly terminate: Effect.Effect<void>
  readonly ping: Effect.Effect<void, ConnectionError>
}

/**
 * Whether a close code may be sent in a close frame (1000–1014 except 1004/1005/1006, and 3000–4999).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isSendableCloseCode = (code: number): boolean =>
  (Number.isInteger(code) && code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
  (Number.isInteger(code) && code >= 3000 && code <= 4999)

/**
 * One read of a connection's inbound frames without a `Stream`: every frame that arrived since the last read (it
 * waits while there is none), and whether the frames ended (a close frame came). Fails as `frames` fails. Same
 * single-consumer rule as `frames` (use one or the other), same inbound back-pressure.
 *
 * @since 0.1.0
 * @category models
 */
export type ChunkReader = Effect.Effect<readonly [Chunk.Chunk<string>, boolean], ConnectionError>

// Registered by the transport that made a `frames` stream, keyed by that stream: a wrapper that replaces `frames`
// (fault injection, a counting tap) has none unless it says how to read through it (`mapFrames`).
const readers = new WeakMap<object, ChunkReader>()

/**
 * Registers the chunk reader behind a `frames` stream (for transports).
 *
 * @since 0.1.0
 * @category constructors
 */
export const registerChunkReader = (frames: Stream.Stream<string, ConnectionError>, reader: ChunkReader): void => {
  readers.set(frames, reader)
}

/**
 * The chunk reader of a connection's `frames`, when its transport offers one and no wrapper replaced the stream
 * without one: the cheap way to read frames (one effect per chunk, no stream step). Undefined: read `frames`.
 *
 * @since 0.1.0
 * @category utils
 */
export const chunkReader = (connection: Connection): ChunkReader | undefined => readers.get(connection.frames)

/**
 * A synchronous consumer of a connection's inbound frames: the socket's `message` event calls `onFrame` directly
 * (no mailbox, no fiber wake-up). `onEnd` runs once, after the last frame: success when a close frame came, a
 * failure as `frames` would fail.
 *
 * @since 0.1.0
 * @category models
 */
export interface FrameListener {
  readonly onFrame: (frame: string) => void
  readonly onEnd: (exit: Exit.Exit<void, ConnectionError>) => void
}

/**
 * The handle of an attached listener. `pause` holds later frames in the connection's buffer (they count toward the
 * inbound high-water mark, so reading from the socket stops as with `frames`); `resume` delivers what was held, in
 * order, then goes on directly. `onEnd` waits for the held frames.
 *
 * @since 0.1.0
 * @category models
 */
export interface FrameListening {
  readonly pause: () => void
  readonly resume: () => void
}

/**
 * Attaches a listener (for transports that offer one; see `frameListener`).
 *
 * @since 0.1.0
 * @category models
 */
export type Listen = (listener: FrameListener) => FrameListening

const listeners = new WeakMap<object, Listen>()

/**
 * Registers the listener attachment behind a `frames` stream (for transports).
 *
 * @since 0.1.0
 * @category constructors
 */
export const registerListen = (frames: Stream.Stream<string, ConnectionError>, listen: Listen): void => {
  listeners.set(frames, listen)
}

/**
 * How to attach a synchronous frame listener to `connection`, when its transport offers one and no wrapper
 * replaced `frames` without one. Same single-consumer rule as `frames` and the chunk reader: use one of the three.
 * Frames that arrived before the listener attached are delivered first, in order.
 *
 * @since 0.1.0
 * @category utils
 */
export const frameListener = (connection: Connection): Listen | undefined => listeners.get(connection.frames)

/**
 * Sends several text frames in order as one write when the transport can (a socket corked around them: one
 * `writev` for the batch instead of one per frame). Same rules as `send` frame by frame: suspends while the outbound
 * buffer is above its high-water mark, fails with `ConnectionError` (`Closed`) once closed.
 *
 * @since 0.1.0
 * @category models
 */
export type BatchSender = (frames: ReadonlyArray<string>) => Effect.Effect<void, ConnectionError>

// Registered by the transport that made a `send`, keyed by that function: a wrapper that replaces `send` (fault
// injection) has none, and its frames go through its own `send` one by one.
const batchSenders = new WeakMap<object, BatchSender>()

/**
 * Registers the batch sender behind a connection's `send` (for transports).
 *
 * @since 0.1.0
 * @category constructors
 */
export const registerBatchSender = (send: Connection["send"], sender: BatchSender): void => {
  batchSenders.set(send, sender)
}

/**
 * Sends `frames` in order: in one write when the connection's transport has a batch sender for its `send`, else
 * with `send` frame by frame.
 *
 * @since 0.1.0
 * @category utils
 */
export const sendAll = (connection: Connection, frames: ReadonlyArray<string>): Effect.Effect<void, ConnectionError> => {
  if (frames.length === 1) return connection.send(frames[0]!)
  const sender = batchSenders.get(connection.send)
  return sender !== undefined ? sender(frames) : Effect.forEach(frames, connection.send, { discard: true })
}

/**
 * The connection with `f` applied to every inbound frame (e.g. counting bytes), on `frames`, on its chunk reader
 * and on its frame listener alike.
 *
 * @since 0.1.0
 * @category combinators
 */
export const mapFrames = (connection: Connection, f: (frame: string) => string): Connection => {
  const frames = Stream.map(connection.frames, f)
  const reader = chunkReader(connection)
  if (reader !== undefined) {
    registerChunkReader(frames, Effect.map(reader, ([chunk, done]) => [Chunk.map(chunk, f), done] as const))
  }
  const listen = frameListener(connection)
  if (listen !== undefined) {
    registerListen(frames, (l) => listen({ onFrame: (frame) => l.onFrame(f(frame)), onEnd: l.onEnd }))
  }
  return { ...connection, frames }
}
