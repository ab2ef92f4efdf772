/**
 * The pure core of the state cache: an immutable state and plain functions over it, so the policies can be
 * property-tested against a naive model. The service in `StateCache.ts` wraps this in a `Ref`.
 *
 * Every operation is O(log n) at worst (persistent hash maps and red-black trees); a lookup never touches
 * other entries except to drop already-expired ones (amortised O(1): each entry expires once).
 *
 * Longer than 300 lines because every index the policies need (per connection, per lane, per tenant, expiry order)
 * is kept here in one place, each operation O(1) or amortised O(1).
 *
 * @internal
 */
import * as HashMap from "effect/HashMap"
import * as HashSet from "effect/HashSet"
import * as Option from "effect/Option"
import * as Order from "effect/Order"
import * as SortedMap from "effect/SortedMap"

/** @internal */
export interface Policy {
  readonly latestPerLane: boolean
  readonly maxEntries: number | undefined
  readonly maxBytes: number | undefined
  readonly maxTenantBytes: number | undefined
  readonly ttlMillis: number | undefined
}

/** @internal */
export type EvictionReason =
  | "superseded" // LatestPerLane: a newer response was put on the same lane
  | "replaced" // the same response id was put again on the same connection
  | "lru" // the entry budget was exceeded
  | "bytes" // the byte budget was exceeded
  | "tenant_bytes" // the tenant's byte budget was exceeded (its own least recently used go first)
  | "too_large" // the entry alone exceeds the byte budget (or the entry budget is 0): never stored
  | "ttl" // the entry outlived its time to live
  | "explicit" // evict() was called
  | "closed" // its connection was closed

/** @internal */
export interface Eviction {
  readonly connectionId: string
  readonly lane: string
  readonly responseId: string
  readonly bytes: number
  readonly reason: EvictionReason
}

/** @internal */
export interface Entry<V> {
  readonly connectionId: string
  readonly tenant: string
  readonly lane: string
  readonly responseId: string
  readonly value: V
  readonly bytes: number
  readonly putAt: number
  readonly putSeq: number
  readonly useSeq: number
}

/** @internal */
export interface CacheState<V> {
  readonly entries: HashMap.HashMap<string, Entry<V>>
  readonly lanes: HashMap.HashMap<string, HashSet.HashSet<string>>
  readonly connections: HashMap.HashMap<string, HashSet.HashSet<string>>
  readonly byUse: SortedMap.SortedMap<number, string>
  readonly byPut: SortedMap.SortedMap<number, string>
  /** Per tenant: its bytes and its entries by recency (for the tenant budget). */
  readonly tenants: HashMap.HashMap<string, TenantState>
  readonly seq: number
  readonly bytes: number
}

/** @internal */
export interface TenantState {
  readonly bytes: number
  readonly byUse: SortedMap.SortedMap<number, string>
}

/** @internal */
export interface Result<V, A> {
  readonly state: CacheState<V>
  readonly value: A
  readonly evicted: ReadonlyArray<Eviction>
}

// NUL cannot appear in ids the gateway generates or in a valid stream_id, so the composite keys are unambiguous.
const entryKey = (connectionId: string, responseId: string): string => `${connectionId}\u0000${responseId}`
const laneKey = (connectionId: string, lane: string): string => `${connectionId}\u0000${lane}`

/** @internal */
export const empty = <V>(): CacheState<V> => ({
  entries: HashMap.empty(),
  lanes: HashMap.empty(),
  connections: HashMap.empty(),
  byUse: SortedMap.empty(Order.number),
  byPut: SortedMap.empty(Order.number),
  tenants: HashMap.empty(),
  seq: 0,
  bytes: 0
})

const emptyTenant: TenantState = { bytes: 0, byUse: SortedMap.empty(Order.number) }

const updateTenant = (
  tenants: HashMap.HashMap<string, TenantState>,
  tenant: string,
  f: (state: TenantState) => TenantState
): HashMap.HashMap<string, TenantState> => {
  const next = f(Option.getOrElse(HashMap.get(tenants, tenant), () => emptyTenant))
  return SortedMap.size(next.byUse) === 0 ? HashMap.remove(tenants, tenant) : HashMap.set(tenants, tenant, next)
}

const isExpired = (policy: Policy, entry: Entry<unknown>, now: number): boolean =>
  policy.ttlMillis !== undefined && now - entry.putAt >= policy.ttlMillis

const removeFromIndex = (
  index: HashMap.HashMap<string, HashSet.HashSet<string>>,
  key: string,
  member: string
): HashMap.HashMap<string, HashSet.HashSet<string>> => {
  const set = HashMap.get(index, key)
  if (Option.isNone(set)) return index
  const next = HashSet.remove(set.value, member)
  return HashSet.size(next) === 0 ? HashMap.remove(index, key) : HashMap.set(index, key, next)
}

const addToIndex = (
  index: HashMap.HashMap<string, HashSet.HashSet<string>>,
  key: string,
  member: string
): HashMap.HashMap<string, HashSet.HashSet<string>> => {
  const set = HashMap.get(index, key)
  return HashMap.set(index, key, HashSet.add(Option.getOrElse(set, () => HashSet.empty<string>()), member))
}

const removeEntry = <V>(state: CacheState<V>, entry: Entry<V>): CacheState<V> => {
  const key = entryKey(entry.connectionId, entry.responseId)
  return {
    entries: HashMap.remove(state.entries, key),
    lanes: removeFromIndex(state.lanes, laneKey(entry.connectionId, entry.lane), key),
    connections: removeFromIndex(state.connections, entry.connectionId, key),
    byUse: SortedMap.remove(state.byUse, entry.useSeq),
    byPut: SortedMap.remove(state.byPut, entry.putSeq),
    tenants: updateTenant(state.tenants, entry.tenant, (t) => ({
      bytes: t.bytes - entry.bytes,
      byUse: SortedMap.remove(t.byUse, entry.useSeq)
    })),
    seq: state.seq,
    bytes: state.bytes - entry.bytes
  }
}

const evictionOf = (entry: Entry<unknown>, reason: EvictionReason): Eviction => ({
  connectionId: entry.connectionId,
  lane: entry.lane,
  responseId: entry.responseId,
  bytes: entry.bytes,
  reason
})

/**
 * Drops every expired entry. Entries are visited in put order and the sweep stops at the first live one, so the
 * cost is proportional to what expires.
 *
 * @internal
 */
export const sweep = <V>(
  state: CacheState<V>,
  policy: Policy,
  now: number,
  evicted: Array<Eviction>
): CacheState<V> => {
  if (policy.ttlMillis === undefined) return state
  let current = state
  for (;;) {
    const head = SortedMap.headOption(current.byPut)
    if (Option.isNone(head)) return current
    const entry = HashMap.unsafeGet(current.entries, head.value[1])
    if (!isExpired(policy, entry, now)) return current
    current = removeEntry(current, entry)
    evicted.push(evictionOf(entry, "ttl"))
  }
}

/**
 * Looks a response up on a connection and marks it as recently used. An expired entry is dropped and not found.
 *
 * @internal
 */
export const get = <V>(
  state: CacheState<V>,
  policy: Policy,
  connectionId: string,
  responseId: string,
  now: number
): Result<V, Option.Option<Entry<V>>> => {
  const evicted: Array<Eviction> = []
  let current = sweep(state, policy, now, evicted)
  const key = entryKey(connectionId, responseId)
  const found = HashMap.get(current.entries, key)
  if (Option.isNone(found)) return { state: current, value: Option.none(), evicted }
  const entry = found.value
  if (isExpired(policy, entry, now)) {
    // Only reachable when the wall clock went backwards relative to put order; the exact check still applies.
    current = removeEntry(current, entry)
    evicted.push(evictionOf(entry, "ttl"))
    return { state: current, value: Option.none(), evicted }
  }
  // Recency only matters to the budgets; without them a hit leaves the state untouched (a pure hash lookup).
  if (policy.maxEntries === undefined && policy.maxBytes === undefined && policy.maxTenantBytes === undefined) {
    return { state: current, value: Option.some(entry), evicted }
  }
  const useSeq = current.seq + 1
  const touched: Entry<V> = { ...entry, useSeq }
  current = {
    ...current,
    entries: HashMap.set(current.entries, key, touched),
    byUse: SortedMap.set(SortedMap.remove(current.byUse, entry.useSeq), useSeq, key),
    tenants: updateTenant(current.tenants, entry.tenant, (t) => ({
      bytes: t.bytes,
      byUse: SortedMap.set(SortedMap.remove(t.byUse, entry.useSeq), useSeq, key)
    })),
    seq: useSeq
  }
  return { state: current, value: Option.some(touched), evicted }
}

/** @internal */
export interface PutInput<V> {
  readonly connectionId: string
  /** The tenant the entry counts against (its byte budget). */
  readonly tenant: string
  readonly lane: string
  readonly responseId: string
  readonly value: V
  readonly bytes: number
}

/**
 * Stores a response as the newest entry of its lane, then applies the policy: LatestPerLane drops the lane's
 * older entries; an entry larger than the whole byte budget is not stored; then least recently used entries are
 * evicted until the entry count and byte budgets hold.
 *
 * @internal
 */
export const put = <V>(
  state: CacheState<V>,
  policy: Policy,
  input: PutInput<V>,
  now: number
): Result<V, boolean> => {
  const evicted: Array<Eviction> = []
  let current = sweep(state, policy, now, evicted)
  const key = entryKey(input.connectionId, input.responseId)
  const existing = HashMap.get(current.entries, key)
  if (Option.isSome(existing)) {
    current = removeEntry(current, existing.value)
    evicted.push(evictionOf(existing.value, "replaced"))
  }
  if (policy.latestPerLane) {
    const lane = HashMap.get(current.lanes, laneKey(input.connectionId, input.lane))
    if (Option.isSome(lane)) {
      for (const other of lane.value) {
        const entry = HashMap.unsafeGet(current.entries, other)
        current = removeEntry(current, entry)
        evicted.push(evictionOf(entry, "superseded"))
      }
    }
  }
  const seq = current.seq + 1
  const entry: Entry<V> = {
    connectionId: input.connectionId,
    tenant: input.tenant,
    lane: input.lane,
    responseId: input.responseId,
    value: input.value,
    bytes: input.bytes,
    putAt: now,
    putSeq: seq,
    useSeq: seq
  }
  if (
    (policy.maxBytes !== undefined && input.bytes > policy.maxBytes) ||
    (policy.maxTenantBytes !== undefined && input.bytes > policy.maxTenantBytes) ||
    policy.maxEntries === 0
  ) {
    evicted.push(evictionOf(entry, "too_large"))
    return { state: { ...current, seq }, value: false, evicted }
  }
  current = {
    entries: HashMap.set(current.entries, key, entry),
    lanes: addToIndex(current.lanes, laneKey(input.connectionId, input.lane), key),
    connections: addToIndex(current.connections, input.connectionId, key),
    byUse: SortedMap.set(current.byUse, seq, key),
    byPut: SortedMap.set(current.byPut, seq, key),
    tenants: updateTenant(current.tenants, input.tenant, (t) => ({
      bytes: t.bytes + input.bytes,
      byUse: SortedMap.set(t.byUse, seq, key)
    })),
    seq,
    bytes: current.bytes + input.bytes
  }
  // The tenant's budget first (only its own entries go), then the cache's.
  if (policy.maxTenantBytes !== undefined) {
    for (;;) {
      const tenant = HashMap.get(current.tenants, input.tenant)
      if (Option.isNone(tenant) || tenant.value.bytes <= policy.maxTenantBytes) break
      const head = SortedMap.headOption(tenant.value.byUse)
      if (Option.isNone(head)) break
      const victim = HashMap.unsafeGet(current.entries, head.value[1])
      current = removeEntry(current, victim)
      evicted.push(evictionOf(victim, "tenant_bytes"))
    }
  }
  for (;;) {
    const overEntries = policy.maxEntries !== undefined && HashMap.size(current.entries) > policy.maxEntries
    const overBytes = policy.maxBytes !== undefined && current.bytes > policy.maxBytes
    if (!overEntries && !overBytes) break
    // The new entry is the most recently used and fits both budgets alone, so it is never the one chosen here.
    const head = SortedMap.headOption(current.byUse)
    if (Option.isNone(head)) break
    const victim = HashMap.unsafeGet(current.entries, head.value[1])
    current = removeEntry(current, victim)
    evicted.push(evictionOf(victim, overEntries ? "lru" : "bytes"))
  }
  return { state: current, value: true, evicted }
}

/** @internal */
export const evict = <V>(
  state: CacheState<V>,
  policy: Policy,
  connectionId: string,
  responseId: string,
  now: number
): Result<V, boolean> => {
  const evicted: Array<Eviction> = []
  let current = sweep(state, policy, now, evicted)
  const found = HashMap.get(current.entries, entryKey(connectionId, responseId))
  if (Option.isNone(found)) return { state: current, value: false, evicted }
  current = removeEntry(current, found.value)
  evicted.push(evictionOf(found.value, "explicit"))
  return { state: current, value: true, evicted }
}

/** @internal */
export const closeConnection = <V>(
  state: CacheState<V>,
  policy: Policy,
  connectionId: string,
  now: number
): Result<V, number> => {
  const evicted: Array<Eviction> = []
  let current = sweep(state, policy, now, evicted)
  const keys = HashMap.get(current.connections, connectionId)
  if (Option.isNone(keys)) return { state: current, value: 0, evicted }
  let count = 0
  for (const key of keys.value) {
    const entry = HashMap.unsafeGet(current.entries, key)
    current = removeEntry(current, entry)
    evicted.push(evictionOf(entry, "closed"))
    count++
  }
  return { state: current, value: count, evicted }
}

/** @internal */
export const size = (state: CacheState<unknown>): number => HashMap.size(state.entries)

/** @internal */
export const connectionCount = (state: CacheState<unknown>): number => HashMap.size(state.connections)

/** @internal */
export const tenantBytes = (state: CacheState<unknown>, tenant: string): number =>
  Option.match(HashMap.get(state.tenants, tenant), { onNone: () => 0, onSome: (t) => t.bytes })
