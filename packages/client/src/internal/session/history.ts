/**
 * A session's history: the source of truth of the conversation. Every item is serialized once, when it enters,
 * and the size of a full resend is kept as a running sum, so a turn costs O(new input).
 *
 * @internal
 */
import type * as Items from "@loopwire/protocol/Items"

const utf8 = (s: string) => Buffer.byteLength(s, "utf8")

/** @internal */
export interface History {
  readonly length: () => number
  readonly append: (item: Items.InputItem) => void
  /** Every item, as a new array. */
  readonly items: () => ReadonlyArray<Items.InputItem>
  /** The items from index `from` on. */
  readonly window: (from: number) => ReadonlyArray<Items.InputItem>
  /** The JSON array of the items from index `from` on, from their kept serializations. */
  readonly json: (from?: number) => string
  /** The UTF-8 size of `json(0)`. */
  readonly fullBytes: () => number
}

/** @internal */
export const make = (initial: ReadonlyArray<Items.InputItem> = []): History => {
  const items: Array<Items.InputItem> = []
  const json: Array<string> = []
  let bytes = 0 // sum of the items' UTF-8 sizes
  const append = (item: Items.InputItem) => {
    const text = JSON.stringify(item)
    items.push(item)
    json.push(text)
    bytes += utf8(text)
  }
  for (const item of initial) append(item)
  return {
    length: () => items.length,
    append,
    items: () => items.slice(),
    window: (from) => items.slice(from),
    json: (from = 0) => {
      let s = "["
      for (let i = from; i < json.length; i++) s += (i === from ? "" : ",") + json[i]
      return s + "]"
    },
    fullBytes: () => bytes + Math.max(0, items.length - 1) + 2
  }
}
