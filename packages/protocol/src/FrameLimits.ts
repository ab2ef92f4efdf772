/**
 * Structural limits of a frame, checked by one iterative walk over the parsed JSON before anything recursive
 * (schema decoding, `JSON.stringify`, size estimates) touches it: nesting depth, `input` items, string length and
 * total size. The same walk finds `__proto__` keys (an own property after `JSON.parse`, however it was escaped),
 * so no frame reaches code that would turn one into a prototype.
 *
 * `JSON.parse` itself is iterative in V8 (a million levels parse); everything after it is bounded by `maxDepth`.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category models
 */
export interface FrameLimits {
  /** Deepest nesting of objects and arrays; the frame itself is level 1. */
  readonly maxDepth: number
  /** Longest `input` array of a `response.create` or `response.steer`. */
  readonly maxInputItems: number
  /** Longest string value or object key, in UTF-16 code units (JavaScript `length`). */
  readonly maxStringLength: number
  /** Largest frame (or HTTP body), in UTF-8 bytes. */
  readonly maxFrameBytes: number
}

/**
 * The client-frame defaults: 128 levels (a frame → `tools` → a JSON Schema 60 levels deep still fits; stacks
 * overflow in the thousands), 10,000 `input` items, strings of 10 MiB (10,485,760 code units), 16 MiB frames.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: FrameLimits = {
  maxDepth: 128,
  maxInputItems: 10_000,
  maxStringLength: 10_485_760,
  maxFrameBytes: 16 * 1024 * 1024
}

/**
 * The depth allowed in a server frame by default: a `response.*` event nests the request it echoes (`tools`,
 * `text.format`) one level deeper than the client sent it, plus room for a server's own envelope.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultServerMaxDepth = 256

/**
 * What a walk found first.
 *
 * @since 0.1.0
 * @category models
 */
export type Violation =
  | { readonly _tag: "TooDeep"; readonly param: string; readonly limit: number }
  | { readonly _tag: "TooManyItems"; readonly param: string; readonly limit: number; readonly actual: number }
  | { readonly _tag: "StringTooLong"; readonly param: string; readonly limit: number; readonly actual: number }
  | { readonly _tag: "KeyTooLong"; readonly param: string | null; readonly limit: number; readonly actual: number }
  | { readonly _tag: "TooLarge"; readonly limit: number; readonly actual: number }
  | { readonly _tag: "ProtoKey"; readonly param: string }

interface Node {
  readonly value: object
  readonly depth: number
  readonly parent: Node | undefined
  readonly key: string | number
}

// Keys are shortened in a `param` so a path stays readable whatever the frame holds.
const shortKey = (key: string): string => (key.length > 64 ? `${key.slice(0, 61)}...` : key)

const pathOf = (node: Node | undefined, last?: string | number): string | null => {
  const keys: Array<string | number> = last === undefined ? [] : [last]
  for (let n = node; n !== undefined && n.parent !== undefined; n = n.parent) keys.push(n.key)
  if (keys.length === 0) return null
  let out = ""
  for (let i = keys.length - 1; i >= 0; i--) {
    const key = keys[i]!
    out += typeof key === "number" ? `[${key}]` : out === "" ? shortKey(key) : `.${shortKey(key)}`
  }
  return out
}

/**
 * The UTF-8 length of `text` when it is over `limit`, else `undefined`. Counted only when the code-unit length
 * cannot decide it (each code unit is 1 to 3 bytes), so most frames cost nothing.
 *
 * @since 0.1.0
 * @category measuring
 */
export const utf8LengthOver = (text: string, limit: number): number | undefined => {
  if (text.length > limit) return text.length
  if (text.length * 3 <= limit) return undefined
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // A surrogate pair is 4 bytes: 2 for each half.
    bytes += c < 0x80 ? 1 : c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 2 : 3
  }
  return bytes > limit ? bytes : undefined
}

/**
 * Checks a parsed frame against the depth and string limits, iteratively (no recursion, whatever the nesting),
 * and finds `__proto__` keys. With `dropProto` they are deleted in place instead of reported (a client reading
 * server frames). Scalars and `null` pass (the caller says what a frame must be).
 *
 * @since 0.1.0
 * @category checking
 */
export const check = (
  value: unknown,
  limits: Pick<FrameLimits, "maxDepth" | "maxStringLength">,
  dropProto: boolean
): Violation | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  const { maxDepth, maxStringLength } = limits
  const stack: Array<Node> = [{ value, depth: 1, parent: undefined, key: "" }]
  while (stack.length > 0) {
    const node = stack.pop()!
    const current = node.value
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) {
        const child: unknown = current[i]
        if (typeof child === "string") {
          if (child.length > maxStringLength) {
            return { _tag: "StringTooLong", param: pathOf(node, i)!, limit: maxStringLength, actual: child.length }
          }
        } else if (typeof child === "object" && child !== null) {
          if (node.depth >= maxDepth) return { _tag: "TooDeep", param: pathOf(node, i)!, limit: maxDepth }
          stack.push({ value: child, depth: node.depth + 1, parent: node, key: i })
        }
      }
      continue
    }
    const record = current as Record<string, unknown>
    for (const key of Object.keys(record)) {
      if (key === "__proto__") {
        if (dropProto) {
          delete record[key]
          continue
        }
        return { _tag: "ProtoKey", param: pathOf(node, key)! }
      }
      if (key.length > maxStringLength) {
        return { _tag: "KeyTooLong", param: pathOf(node), limit: maxStringLength, actual: key.length }
      }
      const child = record[key]
      if (typeof child === "string") {
        if (child.length > maxStringLength) {
          return { _tag: "StringTooLong", param: pathOf(node, key)!, limit: maxStringLength, actual: child.length }
        }
      } else if (typeof child === "object" && child !== null) {
        if (node.depth >= maxDepth) return { _tag: "TooDeep", param: pathOf(node, key)!, limit: maxDepth }
        stack.push({ value: child, depth: node.depth + 1, parent: node, key })
      }
    }
  }
  return undefined
}
