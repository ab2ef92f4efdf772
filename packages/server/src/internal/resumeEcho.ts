/**
 * The settings a response echoes, kept once. `response.created`, `response.in_progress` and the terminal event each
 * carry the request's `instructions` and `tools` (tens of KB with real agents); a resume log that kept every frame
 * as sent would hold them three times per response, and once more for every turn of the same conversation. Here a
 * large `response.*` frame is stored as chunks: the text around those values (copied, so the sent frame can go)
 * and the values themselves as one shared string per distinct value (a few most recent per key, shared by every
 * log of the process). `expand` joins the chunks: the very bytes that were sent, whatever the match (a chunk is
 * only ever text of the frame, compared in full).
 *
 * Plain code on the append path: a small frame (every delta) costs one length check; a large one a few `indexOf`
 * and one full comparison per echoed value, and a scan of the value only the first time it is seen.
 *
 * @internal
 */

/** A frame as stored: the text itself, or chunks to join. @internal */
export type Stored = string | ReadonlyArray<string>

/** The shared values, most recent first per key. @internal */
export interface Dictionary {
  readonly recent: Map<string, Array<string>>
}

/** @internal */
export const makeDictionary = (): Dictionary => ({ recent: new Map() })

/** Frames smaller than this are stored as they are. @internal */
export const minFrameChars = 2048

/** Values smaller than this are not worth a chunk. @internal */
export const minValueChars = 512

/** Distinct values remembered per key (e.g. a few agents with different tool sets on one gateway). @internal */
export const valuesPerKey = 8

const keys: ReadonlyArray<string> = ["instructions", "tools"]
const needles = keys.map((key) => `"${key}":`)
const maxTries = 4

// A flat copy: a slice of a frame would keep the whole frame alive (V8 sliced strings point into their parent).
const copy = (text: string): string => text.length < 13 ? text : (text + " ").slice(0, -1)

// The end (exclusive) of the JSON string, array or object starting at `start`, or -1 (anything else, or malformed).
const valueEnd = (text: string, start: number): number => {
  const first = text.charCodeAt(start)
  if (first === 34 /* " */) return stringEnd(text, start)
  if (first !== 91 /* [ */ && first !== 123 /* { */) return -1
  let depth = 0
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34) {
      const end = stringEnd(text, i)
      if (end < 0) return -1
      i = end - 1
    } else if (c === 91 || c === 123) {
      depth++
    } else if (c === 93 || c === 125) {
      if (--depth === 0) return i + 1
    }
  }
  return -1
}

const stringEnd = (text: string, start: number): number => {
  let i = start + 1
  for (;;) {
    const quote = text.indexOf("\"", i)
    if (quote < 0) return -1
    let backslashes = 0
    for (let j = quote - 1; j > start && text.charCodeAt(j) === 92; j--) backslashes++
    if (backslashes % 2 === 0) return quote + 1
    i = quote + 1
  }
}

// The shared value of `key` found at `start` of `frame`: a remembered one that the frame holds there, else the
// value scanned there (remembered from now on), or undefined.
const valueAt = (dictionary: Dictionary, key: string, frame: string, start: number): string | undefined => {
  let values = dictionary.recent.get(key)
  if (values !== undefined) {
    for (let i = 0; i < values.length; i++) {
      const value = values[i]!
      // A slice compared whole, not `startsWith`: on a concatenated (cons) frame V8's `startsWith` reads char by
      // char through the tree, about 7x slower for a 40 KB value; the slice is a view, dropped at once.
      if (frame.slice(start, start + value.length) === value) {
        if (i > 0) {
          values.splice(i, 1)
          values.unshift(value)
        }
        return value
      }
    }
  }
  const end = valueEnd(frame, start)
  if (end < 0 || end - start < minValueChars) return undefined
  const value = copy(frame.slice(start, end))
  if (values === undefined) {
    values = []
    dictionary.recent.set(key, values)
  }
  values.unshift(value)
  if (values.length > valuesPerKey) values.pop()
  return value
}

/**
 * The frame as it is kept: chunks around its echoed settings when it has any worth sharing, else the frame itself.
 *
 * @internal
 */
export const compact = (dictionary: Dictionary, frame: string): Stored => {
  if (frame.length < minFrameChars || !frame.startsWith("{\"type\":\"response.")) return frame
  const found: Array<readonly [number, string]> = []
  for (let k = 0; k < keys.length; k++) {
    const needle = needles[k]!
    let at = frame.indexOf(needle)
    for (let tries = 0; at >= 0 && tries < maxTries; tries++) {
      const start = at + needle.length
      const value = valueAt(dictionary, keys[k]!, frame, start)
      if (value !== undefined) {
        found.push([start, value])
        break
      }
      at = frame.indexOf(needle, start)
    }
  }
  if (found.length === 0) return frame
  found.sort((a, b) => a[0] - b[0])
  const chunks: Array<string> = []
  let cursor = 0
  for (const [start, value] of found) {
    if (start < cursor) continue // overlapping (one value inside the other): keep the first
    chunks.push(copy(frame.slice(cursor, start)), value)
    cursor = start + value.length
  }
  chunks.push(copy(frame.slice(cursor)))
  return chunks
}

/** The frame exactly as it was sent. @internal */
export const expand = (stored: Stored): string => typeof stored === "string" ? stored : stored.join("")
