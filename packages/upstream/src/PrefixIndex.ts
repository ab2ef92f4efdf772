/**
 * Matching a full-context turn to the conversation it extends. Every conversation head the upstream backend holds
 * (the latest response of a chain, warm on an upstream socket) is registered under the digest of its context +
 * output; a turn that arrives with its whole context (an HTTP `POST`, a `response.create` without
 * `previous_response_id`, Codex's full resend after a reconnect) looks up the digests of its input's prefixes and
 * continues the longest registered one as a delta.
 *
 * Digests are a chain of SHA-256 over each item's canonical replay form (`Continuation.replayForm`, keys sorted),
 * so the digest of a context extended by new items costs O(new items), and equal digests mean equal contexts
 * under the continuation rule's leniency (ids and statuses of replayed items are ignored). Entries live in a
 * scope (the tenant and the upstream settings), so one tenant's conversation never continues another's. Two heads
 * with the same digest in one scope make that digest ambiguous: it matches nothing until it is forgotten.
 *
 * @since 0.1.0
 */
import * as Continuation from "@loopwire/protocol/Continuation"
import { createHash } from "node:crypto"

/**
 * A hex SHA-256 digest of a context (a sequence of items).
 *
 * @since 0.1.0
 * @category models
 */
export type Digest = string

/**
 * The digest of the empty context.
 *
 * @since 0.1.0
 * @category constants
 */
export const empty: Digest = ""

/**
 * JSON with object keys sorted (recursively) and `undefined` members left out: equal JSON values, equal text.
 *
 * @since 0.1.0
 * @category digests
 */
export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) {
    let s = "["
    for (let i = 0; i < value.length; i++) s += (i === 0 ? "" : ",") + canonicalJson(value[i] === undefined ? null : value[i])
    return s + "]"
  }
  const record = value as Record<string, unknown>
  const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort()
  let s = "{"
  for (let i = 0; i < keys.length; i++) {
    s += (i === 0 ? "" : ",") + JSON.stringify(keys[i]) + ":" + canonicalJson(record[keys[i]!])
  }
  return s + "}"
}

/**
 * The digest of `previous` extended by one item.
 *
 * @since 0.1.0
 * @category digests
 */
export const step = (previous: Digest, item: unknown): Digest =>
  createHash("sha256").update(previous).update("\n").update(canonicalJson(Continuation.replayForm(item))).digest("hex")

/**
 * The digest of `previous` extended by `items`.
 *
 * @since 0.1.0
 * @category digests
 */
export const extend = (previous: Digest, items: ReadonlyArray<unknown>): Digest => {
  let digest = previous
  for (const item of items) digest = step(digest, item)
  return digest
}

/**
 * The digests of every prefix of `items`: element `k - 1` is the digest of the first `k` items.
 *
 * @since 0.1.0
 * @category digests
 */
export const prefixes = (items: ReadonlyArray<unknown>): ReadonlyArray<Digest> => {
  const out: Array<Digest> = new Array(items.length)
  let digest = empty
  for (let i = 0; i < items.length; i++) out[i] = digest = step(digest, items[i])
  return out
}

/**
 * The scope of a head: its tenant and the settings (every non-input field, as the continuation rule compares them)
 * it was made with. Only a turn of the same tenant with the same settings may continue it.
 *
 * @since 0.1.0
 * @category digests
 */
export const scopeOf = (tenant: string, settings: Readonly<Record<string, unknown>>): string => {
  const compared: Record<string, unknown> = {}
  for (const key of Object.keys(settings)) {
    if (!Continuation.ignoredFields.has(key) && settings[key] !== undefined && settings[key] !== null) {
      compared[key] = settings[key]
    }
  }
  return createHash("sha256").update(tenant).update("\n").update(canonicalJson(compared)).digest("hex")
}

/**
 * The outcome of a lookup: the longest registered strict prefix (`length` items), none, or an ambiguous one
 * (then the turn goes out in full).
 *
 * @since 0.1.0
 * @category models
 */
export type Match<A> =
  | { readonly _tag: "Hit"; readonly value: A; readonly length: number }
  | { readonly _tag: "Miss" }
  | { readonly _tag: "Ambiguous"; readonly length: number }

/**
 * @since 0.1.0
 * @category models
 */
export interface PrefixIndex<A> {
  /** Registers `value` as the head whose context + output has `digest` (and `length` items) in `scope`. */
  readonly register: (scope: string, digest: Digest, length: number, value: A) => void
  /** Removes `value`'s registration under `digest` (no-op when another value holds it). */
  readonly remove: (scope: string, digest: Digest, value: A) => void
  /**
   * The longest strict prefix of an input of `digests.length` items (`digests` as from `prefixes`) registered in
   * `scope`. O(items) map lookups at most, from the longest prefix down.
   */
  readonly longest: (scope: string, digests: ReadonlyArray<Digest>) => Match<A>
  /** Registered heads. */
  readonly size: () => number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Ambiguous digests remembered (the oldest are forgotten first; default 4096). */
  readonly maxAmbiguous?: number | undefined
}

/**
 * A prefix index. Memory: one entry per registered head (the caller bounds the heads) plus at most
 * `maxAmbiguous` ambiguous digests.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A>(options: Options = {}): PrefixIndex<A> => {
  const maxAmbiguous = Math.max(1, options.maxAmbiguous ?? 4096)
  const entries = new Map<string, { readonly value: A; readonly length: number }>()
  const ambiguous = new Map<string, number>()
  const keyOf = (scope: string, digest: Digest) => `${scope}:${digest}`
  return {
    register: (scope, digest, length, value) => {
      const key = keyOf(scope, digest)
      if (ambiguous.has(key)) return
      const existing = entries.get(key)
      if (existing !== undefined && existing.value !== value) {
        // Two heads with one context: neither can be told from the other by a full-context turn.
        entries.delete(key)
        ambiguous.set(key, length)
        if (ambiguous.size > maxAmbiguous) ambiguous.delete(ambiguous.keys().next().value!)
        return
      }
      entries.set(key, { value, length })
    },
    remove: (scope, digest, value) => {
      const key = keyOf(scope, digest)
      if (entries.get(key)?.value === value) entries.delete(key)
    },
    longest: (scope, digests) => {
      for (let k = digests.length - 1; k >= 1; k--) {
        const key = keyOf(scope, digests[k - 1]!)
        if (ambiguous.has(key)) return { _tag: "Ambiguous", length: k }
        const entry = entries.get(key)
        if (entry !== undefined && entry.length === k) return { _tag: "Hit", value: entry.value, length: k }
      }
      return { _tag: "Miss" }
    },
    size: () => entries.size
  }
}
