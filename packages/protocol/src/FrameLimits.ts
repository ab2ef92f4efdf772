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

// Where a violation was found: the container and the key in it; its path is worked out only then.
interface Found {
  readonly tag: "TooDeep" | "StringTooLong" | "KeyTooLong" | "ProtoKey"
  readonly container: object
  readonly key: string | number
  readonly actual: number
}

interface Node {
  readonly value: object
  readonly parent: Node | undefined
  readonly key: string | number
}

// Keys are shortened in a `param` so a path stays readable whatever the frame holds.
const shortKey = (key: string): string => (key.length > 64 ? `${key.slice(0, 61)}...` : key)

const render = (keys: ReadonlyArray<string | number>): string | null => {
  if (keys.length === 0) return null
  let out = ""
  for (let i = keys.length - 1; i >= 0; i--) {
    const key = keys[i]!
    out += typeof key === "number" ? `[${key}]` : out === "" ? shortKey(key) : `.${shortKey(key)}`
  }
  return out
}

// The path from `root` to `target` (a container inside it), by a second iterative walk that keeps parents: the
// slow path, taken only for a frame that is refused anyway.
const pathTo = (root: object, target: object): Array<string | number> => {
  const stack: Array<Node> = [{ value: root, parent: undefined, key: "" }]
  while (stack.length > 0) {
    const node = stack.pop()!
    if (node.value === target) {
      const keys: Array<string | number> = []
      for (let n: Node | undefined = node; n !== undefined && n.parent !== undefined; n = n.parent) keys.push(n.key)
      return keys
    }
    const current = node.value as Record<string, unknown>
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) {
        const child: unknown = current[i]
        if (typeof child === "object" && child !== null) stack.push({ value: child, parent: node, key: i })
      }
    } else {
      for (const key in current) {
        const child = current[key]
        if (typeof child === "object" && child !== null) stack.push({ value: child, parent: node, key })
      }
    }
  }
  return []
}

// The walk itself: plain loops over two parallel stacks (no allocation per container), first violation wins.
const scan = (
  root: object,
  maxDepth: number,
  maxStringLength: number,
  dropProto: boolean
): Found | undefined => {
  const values: Array<object> = [root]
  const depths: Array<number> = [1]
  while (values.length > 0) {
    const current = values.pop()!
    const depth = depths.pop()!
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) {
        const child: unknown = current[i]
        if (typeof child === "string") {
          if (child.length > maxStringLength) return { tag: "StringTooLong", container: current, key: i, actual: child.length }
        } else if (typeof child === "object" && child !== null) {
          if (depth >= maxDepth) return { tag: "TooDeep", container: current, key: i, actual: depth + 1 }
          values.push(child)
          depths.push(depth + 1)
        }
      }
      continue
    }
    const record = current as Record<string, unknown>
    // JSON.parse makes plain objects: `for…in` sees their own keys (and nothing inherited unless Object.prototype
    // itself was given enumerable keys, which would only be walked, never trusted).
    for (const key in record) {
      if (key === "__proto__" && Object.hasOwn(record, key)) {
        if (dropProto) {
          delete record[key]
          continue
        }
        return { tag: "ProtoKey", container: record, key, actual: 0 }
      }
      if (key.length > maxStringLength) return { tag: "KeyTooLong", container: record, key, actual: key.length }
      const child = record[key]
      if (typeof child === "string") {
        if (child.length > maxStringLength) return { tag: "StringTooLong", container: record, key, actual: child.length }
      } else if (typeof child === "object" && child !== null) {
        if (depth >= maxDepth) return { tag: "TooDeep", container: record, key, actual: depth + 1 }
        values.push(child)
        depths.push(depth + 1)
      }
    }
  }
  return undefined
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
  const found = scan(value, limits.maxDepth, limits.maxStringLength, dropProto)
  if (found === undefined) return undefined
  const container = pathTo(value, found.container)
  switch (found.tag) {
    case "KeyTooLong":
      return { _tag: "KeyTooLong", param: render(container), limit: limits.maxStringLength, actual: found.actual }
    case "ProtoKey":
      return { _tag: "ProtoKey", param: render([found.key, ...container])! }
    case "TooDeep":
      return { _tag: "TooDeep", param: render([found.key, ...container])!, limit: limits.maxDepth }
    case "StringTooLong":
      return { _tag: "StringTooLong", param: render([found.key, ...container])!, limit: limits.maxStringLength, actual: found.actual }
  }
}
