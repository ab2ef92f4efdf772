/**
 * A continuation's parent: from the connection cache first, then (when the request stores) the store; each lookup
 * timed and traced.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ResponseCreate } from "@loopwire/protocol/ClientEvent"
import type { InputItem } from "@loopwire/protocol/Items"
import * as Metrics from "../../Metrics.js"
import { type CachedResponse, makeEntry } from "../../StateCache.js"
import type { TurnEnv } from "../turn.js"

export const seconds = (fromNanos: bigint, toNanos: bigint) => Number(toNanos - fromNanos) / 1e9

export const lookupSeries = Metrics.series(Metrics.lookupDuration, "source", "result")

export const lookupMetric = (source: string, hit: boolean) => lookupSeries(source, hit ? "hit" : "miss")

// One lookup, timed into `loopwire_parent_lookup_duration_seconds` and traced.
export const timedLookup = <A>(source: string, lookup: Effect.Effect<Option.Option<A>>): Effect.Effect<Option.Option<A>> =>
  Effect.clockWith((clock) =>
    Effect.useSpan(`loopwire.${source}.get`, {
      attributes: { "loopwire.lookup.source": source },
      captureStackTrace: false
    }, (span) => {
      const started = clock.unsafeCurrentTimeNanos()
      return Effect.map(Effect.withParentSpan(lookup, span), (found) => {
        span.attribute("loopwire.lookup.hit", Option.isSome(found))
        Metrics.unsafeUpdate(lookupMetric(source, Option.isSome(found)), seconds(started, clock.unsafeCurrentTimeNanos()))
        return found
      })
    })
  )

/** The parent of a continuation, from the connection cache first, then (when the request stores) the store. */
export const findParent = (
  env: TurnEnv,
  request: ResponseCreate,
  parentId: string
): Effect.Effect<Option.Option<{ readonly entry: CachedResponse; readonly lane: string | undefined }>> =>
  Effect.gen(function*() {
    if (env.cache !== undefined) {
      const cached = yield* timedLookup("state_cache", env.cache.get(env.connectionId, parentId))
      if (Option.isSome(cached)) return Option.some({ entry: cached.value, lane: cached.value.lane })
    }
    if (request.store === false) return Option.none()
    // Hydration is the slow path (the stored context is measured once); an unavailable store is a miss, so the
    // client recovers with a full resend.
    const stored = yield* timedLookup(
      "response_store",
      env.store.get(env.tenant, parentId).pipe(
        Effect.catchAll((error) => Effect.as(Effect.logWarning("response store lookup failed", error), Option.none()))
      )
    )
    return Option.map(stored, (record) => ({ entry: makeEntry(record), lane: undefined }))
  })

export const usageOf = (parent: CachedResponse | undefined, newInput: ReadonlyArray<InputItem>) => {
  // A rough token estimate (4 bytes a token) for a prewarm, which the model never sees; O(new input).
  const parentBytes = parent === undefined ? 0 : parent.contextBytes + JSON.stringify(parent.response.output).length
  const input = Math.ceil((parentBytes + JSON.stringify(newInput).length) / 4)
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 0,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input
  }
}
