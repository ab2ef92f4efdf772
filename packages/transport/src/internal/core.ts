import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Mailbox from "effect/Mailbox"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import {
  CloseInfo,
  ConnectionError,
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_INBOUND_HIGH_WATER_MARK,
  isSendableCloseCode,
  registerBatchSender,
  registerChunkReader,
  registerListen
} from "../Connection.js"
import type { Connection, FrameListener, Handshake } from "../Connection.js"

/**
 * What a concrete socket must offer the shared connection core. All calls are synchronous hand-offs.
 * @internal
 */
export interface Driver {
  readonly send: (frame: string, done: (error?: Error | null) => void) => void
  readonly close: (code: number, reason: string) => void
  readonly terminate: () => void
  readonly ping: () => void
  /** Stop / restart reading from the socket (inbound backpressure); optional. */
  readonly pause?: (() => void) | undefined
  readonly resume?: (() => void) | undefined
  /** Hold / flush writes (a batch of frames goes out in one write); optional. */
  readonly cork?: (() => void) | undefined
  readonly uncork?: (() => void) | undefined
}

/** @internal */
export interface Core {
  readonly connection: Connection
  readonly isClosed: () => boolean
  readonly onFrame: (frame: string) => void
  readonly onBinary: () => void
  readonly onActivity: () => void
  readonly onError: (reason: ConnectionError["reason"], message: string, code?: number) => void
  readonly onClose: (code: number, reason: string) => void
}

/** @internal */
export const makeConnectionId = (): string => `conn_${randomUUID().replace(/-/g, "")}`

/** @internal */
export const byteLength = (frame: string): number => Buffer.byteLength(frame, "utf8")

/** @internal */
export const truncateReason = (reason: string): string => {
  // Close reasons are limited to 123 bytes on the wire.
  if (byteLength(reason) <= 123) return reason
  let out = reason.slice(0, 123)
  while (byteLength(out) > 123) out = out.slice(0, -1)
  return out
}

/**
 * The state machine shared by every transport: inbound mailbox, close bookkeeping, bounded outbound buffering,
 * ping waiters. Built synchronously so socket listeners can be attached in the same tick the socket appears.
 * @internal
 */
export const unsafeMakeCore = (options: {
  readonly id?: string | undefined
  readonly side: "client" | "server"
  readonly handshake: Handshake
  readonly driver: Driver
  readonly highWaterMark?: number | undefined
  readonly inboundHighWaterMark?: number | undefined
}): Core => {
  const id = options.id ?? makeConnectionId()
  const driver = options.driver
  const highWaterMark = Math.max(1, options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK)
  const mailbox = Effect.runSync(Mailbox.make<string, ConnectionError>())
  const closedDeferred = Deferred.unsafeMake<CloseInfo>(FiberId.none)
  const pingWaiters = new Set<Deferred.Deferred<void, ConnectionError>>()
  let closing = false
  let closedInfo: CloseInfo | undefined
  let failure: ConnectionError | undefined
  // Inbound backpressure: bytes received but not yet taken by the consumer; reading pauses above the mark.
  const inboundHighWaterMark = Math.max(1, options.inboundHighWaterMark ?? DEFAULT_INBOUND_HIGH_WATER_MARK)
  let inboundBytes = 0
  let paused = false

  const closedError = () =>
    new ConnectionError({
      reason: "Closed",
      connectionId: id,
      ...(closedInfo ? { code: closedInfo.code } : {}),
      message: closedInfo
        ? `connection ${id} is closed (${closedInfo.code}${closedInfo.reason ? `: ${closedInfo.reason}` : ""})`
        : `connection ${id} is closing`
    })

  const wakePingers = () => {
    for (const waiter of pingWaiters) Deferred.unsafeDone(waiter, Exit.void)
    pingWaiters.clear()
  }

  // A synchronous listener (see `Connection.frameListener`): frames go to it directly unless it paused; held ones
  // wait in `held` (counted as inbound bytes) until it resumes.
  let listener: FrameListener | undefined
  let listenerPaused = false
  let held: Array<string> = []
  let ended: Exit.Exit<void, ConnectionError> | undefined
  const drainHeld = () => {
    while (listener !== undefined && !listenerPaused && held.length > 0) {
      const frame = held.shift()!
      onTaken([frame])
      listener.onFrame(frame)
    }
    if (listener !== undefined && !listenerPaused && held.length === 0 && ended !== undefined) {
      const end = ended
      ended = undefined
      const l = listener
      listener = undefined
      l.onEnd(end)
    }
  }

  const onFrame = (frame: string) => {
    if (closedInfo || failure) return
    wakePingers()
    if (listener !== undefined) {
      if (!listenerPaused && held.length === 0) return listener.onFrame(frame)
      inboundBytes += byteLength(frame)
      held.push(frame)
      if (!paused && inboundBytes > inboundHighWaterMark && driver.pause) {
        paused = true
        driver.pause()
      }
      return
    }
    inboundBytes += byteLength(frame)
    mailbox.unsafeOffer(frame)
    if (!paused && inboundBytes > inboundHighWaterMark && driver.pause) {
      paused = true
      driver.pause()
    }
  }

  const onTaken = (frames: ReadonlyArray<string>) => {
    for (const frame of frames) inboundBytes -= byteLength(frame)
    if (paused && inboundBytes <= inboundHighWaterMark / 2 && driver.resume) {
      paused = false
      driver.resume()
    }
  }

  const onError = (reason: ConnectionError["reason"], message: string, code?: number) => {
    if (closedInfo || failure) return
    failure = new ConnectionError({ reason, connectionId: id, ...(code !== undefined ? { code } : {}), message })
  }

  const onClose = (code: number, reason: string) => {
    if (closedInfo) return
    closing = true
    // ws closes with 1009 itself but reports 1006 locally (no close frame comes back): report what was sent.
    closedInfo = failure?.code !== undefined && code === 1006
      ? new CloseInfo({ code: failure.code, reason })
      : new CloseInfo({ code, reason })
    if (failure === undefined && code === 1006) {
      failure = new ConnectionError({
        reason: "Dropped",
        connectionId: id,
        code,
        message: `connection ${id} dropped without a close frame (1006)`
      })
    } else if (failure === undefined && code === 1009) {
      failure = new ConnectionError({
        reason: "MessageTooLarge",
        connectionId: id,
        code,
        message: `connection ${id} closed by the peer: a frame exceeded its maximum payload (1009)`
      })
    }
    mailbox.unsafeDone(failure ? Exit.fail(failure) : Exit.void)
    if (listener !== undefined) {
      ended = failure ? Exit.fail(failure) : Exit.void
      drainHeld()
    }
    const error = closedError()
    for (const waiter of pingWaiters) Deferred.unsafeDone(waiter, Exit.fail(error))
    pingWaiters.clear()
    Deferred.unsafeDone(closedDeferred, Exit.succeed(closedInfo))
  }

  const onBinary = () => {
    if (closedInfo || failure) return
    onError("BinaryFrame", `connection ${id}: the peer sent a binary frame; only text frames are supported`, 1003)
    closing = true
    driver.close(1003, "binary frames are not supported")
  }

  // Outbound accounting: bytes handed to the driver and not yet flushed. The fast path sends synchronously; only
  // a sender above the high-water mark waits (for a flush or for the end of the connection).
  let buffered = 0
  let drained: Deferred.Deferred<void> | undefined
  const release = (size: number) => {
    buffered -= size
    if (drained !== undefined && buffered < highWaterMark) {
      Deferred.unsafeDone(drained, Exit.void)
      drained = undefined
    }
  }

  // Hands one frame to the driver when it fits under the high-water mark: undefined when sent, "full" when the
  // caller must wait for a flush, or the send's failure.
  const trySend = (frame: string): ConnectionError | "full" | undefined => {
    const size = byteLength(frame)
    if (buffered !== 0 && buffered + size > highWaterMark) return "full"
    buffered += size
    let released = false
    try {
      driver.send(frame, () => {
        if (released) return
        released = true
        release(size)
      })
    } catch (cause) {
      if (!released) {
        released = true
        release(size)
      }
      return new ConnectionError({ reason: "Network", connectionId: id, message: `send failed: ${String(cause)}` })
    }
    return undefined
  }

  const awaitDrained = (): Effect.Effect<void, ConnectionError> => {
    drained ??= Deferred.unsafeMake<void>(FiberId.none)
    return Deferred.await(drained).pipe(
      Effect.raceFirst(Effect.zipRight(Deferred.await(closedDeferred), Effect.failSync(closedError)))
    )
  }

  const send = (frame: string): Effect.Effect<void, ConnectionError> =>
    Effect.suspend(() => {
      if (closing || closedInfo) return Effect.fail(closedError())
      const result = trySend(frame)
      if (result === undefined) return Effect.void
      if (result !== "full") return Effect.fail(result)
      return Effect.zipRight(awaitDrained(), send(frame))
    })

  // Frames `from` onwards, corked into one write while they fit; past the high-water mark the rest waits for a flush.
  const sendBatch = (frames: ReadonlyArray<string>, from: number): Effect.Effect<void, ConnectionError> =>
    Effect.suspend(() => {
      if (closing || closedInfo) return Effect.fail(closedError())
      let i = from
      let result: ConnectionError | "full" | undefined
      driver.cork?.()
      try {
        while (i < frames.length && (result = trySend(frames[i]!)) === undefined) i++
      } finally {
        driver.uncork?.()
      }
      if (result === undefined) return Effect.void
      if (result !== "full") return Effect.fail(result)
      return Effect.zipRight(awaitDrained(), sendBatch(frames, i))
    })

  const close = (code = 1000, reason = ""): Effect.Effect<void> =>
    Effect.sync(() => {
      if (closing || closedInfo) return
      closing = true
      try {
        driver.close(isSendableCloseCode(code) ? code : 1000, truncateReason(reason))
      } catch {
        driver.terminate()
      }
    })

  const terminate: Effect.Effect<void> = Effect.sync(() => {
    if (closedInfo) return
    closing = true
    driver.terminate()
  })

  const ping: Effect.Effect<void, ConnectionError> = Effect.suspend(() => {
    if (closing || closedInfo) return Effect.fail(closedError())
    const waiter = Deferred.unsafeMake<void, ConnectionError>(FiberId.none)
    pingWaiters.add(waiter)
    try {
      driver.ping()
    } catch {
      // A failing ping means the socket is going away; the close event settles the waiter.
    }
    return Deferred.await(waiter).pipe(Effect.ensuring(Effect.sync(() => pingWaiters.delete(waiter))))
  })

  const frames = Mailbox.toStream(mailbox).pipe(
    Stream.mapChunks((chunk) => {
      onTaken(Chunk.toReadonlyArray(chunk))
      return chunk
    })
  )
  registerChunkReader(
    frames,
    Effect.map(mailbox.takeAll, (taken) => {
      onTaken(Chunk.toReadonlyArray(taken[0]))
      return taken
    })
  )

  registerListen(frames, (l) => {
    if (listener !== undefined) throw new Error(`connection ${id} already has a frame listener`)
    // Frames that came before the listener attached are delivered first.
    const before = Effect.runSyncExit(mailbox.clear)
    if (Exit.isSuccess(before)) {
      const early = Chunk.toReadonlyArray(before.value)
      held = early.slice()
    }
    listener = l
    if (closedInfo !== undefined) ended = failure ? Exit.fail(failure) : Exit.void
    drainHeld()
    return {
      pause: () => {
        listenerPaused = true
      },
      resume: () => {
        if (!listenerPaused) return
        listenerPaused = false
        drainHeld()
      }
    }
  })

  registerBatchSender(send, (frames) => sendBatch(frames, 0))

  const connection: Connection = {
    id,
    side: options.side,
    handshake: options.handshake,
    send,
    frames,
    closed: Deferred.await(closedDeferred),
    close,
    terminate,
    ping
  }

  return {
    connection,
    isClosed: () => closedInfo !== undefined,
    onFrame,
    onBinary,
    onActivity: wakePingers,
    onError,
    onClose
  }
}
