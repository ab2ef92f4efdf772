/**
 * The effective context of a response as a persistent chain of segments: a continuation's context is its parent's
 * context plus one new segment (the parent's output + the new items), built in O(new input) and sharing every older
 * segment by reference. Sizes (item count, estimated JSON bytes) are kept per segment so nothing walks the history
 * to measure it; {@link toArray} materialises the full list only where it is truly needed (a full resend upstream,
 * a stored record) and caches it.
 *
 * @since 0.1.0
 */
import { InputItem } from "@loopwire/protocol/Items"
import * as Schema from "effect/Schema"

const TypeId: unique symbol = Symbol.for("@loopwire/server/ChainContext")

/**
 * @since 0.1.0
 * @category models
 */
export interface ChainContext {
  readonly [TypeId]: typeof TypeId
  /** The older part of the context, shared by reference; undefined for the first segment. */
  readonly parent: ChainContext | undefined
  /** This segment's items (the parent's output, then the turn's new items). */
  readonly items: ReadonlyArray<InputItem>
  /** Items in the whole context. */
  readonly length: number
  /** Estimated JSON size of the whole context's items, in UTF-16 code units (the sum over segments). */
  readonly bytes: number
  /** Segments in the chain (1 for a one-segment context, 0 for the empty one). */
  readonly depth: number
}

interface Mutable extends ChainContext {
  materialised?: ReadonlyArray<InputItem>
}

// Recursion is bounded: client items passed the codec's depth limit (FrameLimits, 128 by default), model
// output items the server-frame limit (256) or came from the gateway's own backend.
const jsonSize = (items: ReadonlyArray<unknown>): number => {
  let size = 0
  for (const item of items) size += JSON.stringify(item).length
  return size
}

/**
 * Whether a value is a `ChainContext`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isChainContext = (value: unknown): value is ChainContext =>
  typeof value === "object" && value !== null && TypeId in value

/**
 * The empty context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: ChainContext = { [TypeId]: TypeId, parent: undefined, items: [], length: 0, bytes: 0, depth: 0 }

/**
 * A one-segment context holding `items` (measured once: O(items)).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromArray = (items: ReadonlyArray<InputItem>): ChainContext => {
  const context: Mutable = { [TypeId]: TypeId, parent: undefined, items, length: items.length, bytes: jsonSize(items), depth: 1 }
  context.materialised = items
  return context
}

/**
 * `parent` extended by `items`: one new segment, O(items); the parent is shared, not copied. A non-empty parent always
 * gets a new (possibly empty) segment, so `context.parent` is exactly the parent's context (what a stored delta
 * record relies on).
 *
 * @since 0.1.0
 * @category constructors
 */
export const append = (parent: ChainContext, items: ReadonlyArray<InputItem>): ChainContext => {
  if (parent.length === 0) return items.length === 0 ? parent : fromArray(items)
  return {
    [TypeId]: TypeId,
    parent,
    items,
    length: parent.length + items.length,
    bytes: parent.bytes + jsonSize(items),
    depth: parent.depth + 1
  }
}

/**
 * The segments from the oldest to the newest.
 *
 * @since 0.1.0
 * @category getters
 */
export const segments = (context: ChainContext): ReadonlyArray<ReadonlyArray<InputItem>> => {
  const out: Array<ReadonlyArray<InputItem>> = []
  for (let c: ChainContext | undefined = context; c !== undefined; c = c.parent) {
    if (c.items.length > 0) out.push(c.items)
  }
  return out.reverse()
}

/**
 * The whole context as one array: O(history). Not cached (a cached array per turn would make memory quadratic
 * again); only for consumers that need the full list anyway (an upstream resend, an encoded record).
 *
 * @since 0.1.0
 * @category getters
 */
export const toArray = (context: ChainContext): ReadonlyArray<InputItem> => {
  const m = context as Mutable
  if (m.materialised !== undefined) return m.materialised
  const out: Array<InputItem> = []
  for (const segment of segments(context)) {
    for (const item of segment) out.push(item)
  }
  return out
}

/**
 * A `ChainContext` encoded as its item array (a stored record's wire shape).
 *
 * @since 0.1.0
 * @category schemas
 */
export const FromItems: Schema.Schema<ChainContext, ReadonlyArray<typeof InputItem.Encoded>> = Schema.transform(
  Schema.Array(InputItem),
  Schema.declare(isChainContext),
  { strict: true, decode: (items) => fromArray(items), encode: (context) => toArray(context) }
)
