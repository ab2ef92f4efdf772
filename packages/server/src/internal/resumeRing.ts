/**
 * The pure core of the in-memory resume log: one response's encoded frames in a ring bounded by bytes. Plain
 * functions over a small mutable record (appends happen once per streamed event, so no copying), deterministic
 * and free of effects, so they are property-tested alone against a naive model. The budget counts the frames' wire
 * bytes; with a dictionary (`resumeEcho`), what is held is less: the echoed settings are kept once.
 *
 * @internal
 */
import { Buffer } from "node:buffer"
import * as Echo from "./resumeEcho.js"

/** @internal */
export interface Ring {
  readonly budget: number
  /** Retained frames from index `head` on (older slots are garbage, compacted now and then). */
  readonly seqs: Array<number>
  /** As stored: with a dictionary, large `response.*` frames keep their echoed settings as shared chunks. */
  readonly frames: Array<Echo.Stored>
  readonly sizes: Array<number>
  head: number
  bytes: number
  /** The highest sequence number ever dropped to honour the budget; -1 while nothing was dropped. */
  trimmedThrough: number
  /** The last appended sequence number; -1 before the first append. */
  last: number
  ended: boolean
  /** Where echoed settings are shared (absent: frames are kept as they are). */
  readonly dictionary: Echo.Dictionary | undefined
}

/** @internal */
export const make = (budget: number, dictionary?: Echo.Dictionary): Ring => ({
  budget: Math.max(0, Math.floor(budget)),
  dictionary,
  seqs: [],
  frames: [],
  sizes: [],
  head: 0,
  bytes: 0,
  trimmedThrough: -1,
  last: -1,
  ended: false
})

/** The byte size counted against the budget: the frame's UTF-8 length (what goes on the wire). @internal */
export const frameBytes = (frame: string): number => Buffer.byteLength(frame, "utf8")

/** @internal */
export type AppendResult = "Appended" | "Ended" | "OutOfOrder"

/**
 * Appends one frame. Sequence numbers must strictly increase and the ring must not be ended. Then the oldest
 * frames are dropped until the retained bytes fit the budget, except the newest frame, which is always kept
 * (a live reader waits for it; a single frame larger than the budget is kept alone).
 *
 * @internal
 */
export const append = (ring: Ring, seq: number, frame: string, size: number = frameBytes(frame)): AppendResult => {
  if (ring.ended) return "Ended"
  if (!Number.isSafeInteger(seq) || seq <= ring.last) return "OutOfOrder"
  ring.seqs.push(seq)
  ring.frames.push(ring.dictionary === undefined ? frame : Echo.compact(ring.dictionary, frame))
  ring.sizes.push(size)
  ring.bytes += size
  ring.last = seq
  while (ring.bytes > ring.budget && ring.seqs.length - ring.head > 1) {
    ring.bytes -= ring.sizes[ring.head]!
    ring.trimmedThrough = ring.seqs[ring.head]!
    ring.frames[ring.head] = "" // release the string now; the slot is compacted later
    ring.head++
  }
  // Compact once the dead prefix is at least half the arrays: amortised O(1) per append.
  if (ring.head > 32 && ring.head * 2 >= ring.seqs.length) {
    ring.seqs.splice(0, ring.head)
    ring.frames.splice(0, ring.head)
    ring.sizes.splice(0, ring.head)
    ring.head = 0
  }
  return "Appended"
}

/**
 * Drops the oldest frames until at most `bytes` are retained, always keeping the newest (a live reader waits for
 * it). Returns how many bytes were released. @internal
 */
export const shrink = (ring: Ring, bytes: number): number => {
  const before = ring.bytes
  while (ring.bytes > bytes && ring.seqs.length - ring.head > 1) {
    ring.bytes -= ring.sizes[ring.head]!
    ring.trimmedThrough = ring.seqs[ring.head]!
    ring.frames[ring.head] = ""
    ring.head++
  }
  return before - ring.bytes
}

/**
 * Whether the events after `startingAfter` are all still retained: exactly when nothing with a greater sequence
 * number was dropped, i.e. `startingAfter >= trimmedThrough`. Shared by every ResumeLog implementation.
 *
 * @internal
 */
export const isTruncated = (trimmedThrough: number, startingAfter: number): boolean => startingAfter < trimmedThrough

/** @internal */
export type ReadResult =
  | { readonly _tag: "Truncated" }
  | { readonly _tag: "Frames"; readonly frames: Array<string>; readonly last: number }

/**
 * The retained frames with a sequence number greater than `startingAfter`, in order (at most `max`), and the
 * sequence number of the last one returned (`startingAfter` when none). Truncated when some of them were dropped.
 *
 * @internal
 */
export const readAfter = (ring: Ring, startingAfter: number, max: number = Number.POSITIVE_INFINITY): ReadResult => {
  if (isTruncated(ring.trimmedThrough, startingAfter)) return { _tag: "Truncated" }
  // Binary search for the first retained seq > startingAfter.
  let lo = ring.head
  let hi = ring.seqs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (ring.seqs[mid]! <= startingAfter) lo = mid + 1
    else hi = mid
  }
  const end = Math.min(ring.seqs.length, lo + Math.max(0, max))
  if (lo >= end) return { _tag: "Frames", frames: [], last: startingAfter }
  const frames = new Array<string>(end - lo)
  for (let i = lo; i < end; i++) frames[i - lo] = Echo.expand(ring.frames[i]!)
  return { _tag: "Frames", frames, last: ring.seqs[end - 1]! }
}

/** Number of retained frames. @internal */
export const size = (ring: Ring): number => ring.seqs.length - ring.head
