/**
 * The `ResumeLog` on Redis, for several gateway processes: a socket dropped on one process can resume on another
 * while the first still runs the response. Same semantics as the in-memory log (see `ResumeLog`):
 *
 * - a response's log is a Redis Stream, one entry per frame with the id `<sequence_number>-1` (so `XRANGE` after
 *   N is a range query), plus a meta hash (byte count, highest trimmed sequence number, ended flag). Appends run
 *   as one Lua script that also trims the oldest entries to the byte budget, so trimming and the truncation
 *   decision are exact and atomic. `end` adds a marker entry; live readers wait with `XREAD BLOCK` on a dedicated
 *   connection;
 * - a session is a hash (state `live` | `suspended` | `claimed`) with its requests, lanes and responses beside it;
 *   `claim` is one Lua script, so of two gateway processes claiming one token at most one succeeds.
 *
 * - a byte budget per tenant (`maxTenantBytes`, default 64 MiB, as in memory): a counter of the bytes of the
 *   tenant's logs, kept by the scripts. An append past it makes room as the in-memory log does: the oldest
 *   suspended sessions go with their logs (their token then claims nothing: `loopwire-resumed: 0`), then the oldest
 *   ended logs (`resume_not_available`), then the appended log's own oldest frames (`resume_log_truncated`); what
 *   it gave up is counted on `ResumeLog.budgetMetrics`. Logs that expire by TTL (a process that died) leave the
 *   count when the budget is next reached.
 *
 * Every key of a tenant shares one Redis Cluster hash tag (`<prefix>:{<tenant>}:...`); the scripts touch only
 * keys of that one tenant.
 *
 * Longer than 300 lines because the Lua scripts that make each operation atomic in Redis (claim, append with
 * budgets, end, read) are in it, beside the calls that run them.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import type { Tenant } from "./Auth.js"
import * as Redis from "./Redis.js"
import {
  type BeginParams,
  budgetMetrics,
  type ClaimedSession,
  config as memoryConfig,
  defaultGrace,
  defaultMaxBytes,
  defaultMaxTenantBytes,
  invalidAppend,
  maxPendingHops,
  notFound,
  type Options as BaseOptions,
  readBatch,
  type ReleaseResult,
  type RequestRef,
  ResumeLog,
  ResumeLogError,
  type SessionRef,
  truncated,
  type Writer
} from "./ResumeLog.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends BaseOptions {
  /**
   * How long a live session and a running response's log are kept without activity (each `begin` or `append`
   * renews it); a safety net for a process that died without releasing them. Default 65 minutes (the 60-minute
   * connection limit plus a margin).
   */
  readonly liveTtl?: Duration.DurationInput | undefined
  /** How long one `XREAD BLOCK` of a live reader waits before it re-checks the log. Default 1 second. */
  readonly blockTime?: Duration.DurationInput | undefined
  /**
   * The producer lease: this process renews a key every third of it while it runs, and every log it begins names
   * it. A live reader that waits on a log whose producer's lease has expired fails with `Abandoned` instead of
   * waiting forever (a process that died after its client resumed elsewhere). Default 15 seconds.
   */
  readonly leaseTime?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultLiveTtl: Duration.Duration = Duration.minutes(65)

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultLeaseTime: Duration.Duration = Duration.seconds(15)

const prelude = `
local B = KEYS[1]
local function sk(tok) return B .. ':sess:' .. tok end
local function expireSession(s, ms)
  for _, k in ipairs({ s, s .. ':req', s .. ':order', s .. ':lanes', s .. ':resps' }) do
    redis.call('PEXPIRE', k, ms)
  end
end
local function delSession(s)
  redis.call('DEL', s, s .. ':req', s .. ':order', s .. ':lanes', s .. ':resps')
end
-- The tenant's byte budget: ':bytes' is the sum of ':sizes' (bytes per log id); ':ended' holds ended logs and
-- ':susp' suspended sessions, each scored by the time they entered that state (oldest go first).
local function forgetLog(id)
  local n = tonumber(redis.call('HGET', B .. ':sizes', id) or '0')
  if n ~= 0 then redis.call('DECRBY', B .. ':bytes', n) end
  redis.call('HDEL', B .. ':sizes', id)
  redis.call('ZREM', B .. ':ended', id)
  redis.call('DEL', B .. ':log:' .. id, B .. ':logm:' .. id)
end
local function discardLogs(s)
  for _, id in ipairs(redis.call('SMEMBERS', s .. ':resps')) do forgetLog(id) end
end
local function tenantBytes() return tonumber(redis.call('GET', B .. ':bytes') or '0') end
local function keepBudgetKeys(ms)
  for _, k in ipairs({ B .. ':bytes', B .. ':sizes', B .. ':ended', B .. ':susp' }) do redis.call('PEXPIRE', k, ms) end
end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- A suspended session's keys outlive its grace period by this margin, so the owner's release still finds (and
-- discards) its logs; claims compare the recorded deadline instead.
local releaseMargin = 60000
local function addLane(s, lane)
  if not redis.call('LPOS', s .. ':lanes', lane) then redis.call('RPUSH', s .. ':lanes', lane) end
end
`

const script = (name: string, body: string): Redis.Script => ({
  name: `loopwireResume${name}`,
  lua: prelude + body,
  numberOfKeys: 1
})

// ARGV: token, liveTtl
const OPEN = script(
  "Open",
  `
local s = sk(ARGV[1])
if redis.call('EXISTS', s) == 1 then return 0 end
redis.call('HSET', s, 'state', 'live')
redis.call('PEXPIRE', s, ARGV[2])
return 1
`
)

// ARGV: token, grace, liveTtl
const SUSPEND = script(
  "Suspend",
  `
local s = sk(ARGV[1])
if redis.call('HGET', s, 'state') ~= 'live' then return 0 end
local grace = tonumber(ARGV[2])
if grace <= 0 then
  discardLogs(s)
  delSession(s)
  return 1
end
local now = nowMs()
redis.call('HSET', s, 'state', 'suspended', 'until', now + grace)
expireSession(s, grace + releaseMargin)
redis.call('ZADD', B .. ':susp', now, ARGV[1])
-- Entries of sessions long gone (their process died before releasing them) are dropped a few at a time.
for _, old in ipairs(redis.call('ZRANGEBYSCORE', B .. ':susp', '-inf', now - grace - releaseMargin, 'LIMIT', 0, 16)) do
  if redis.call('HGET', sk(old), 'state') ~= 'suspended' then redis.call('ZREM', B .. ':susp', old) end
end
keepBudgetKeys(ARGV[3])
return 1
`
)

// ARGV: token, into, grace, liveTtl, maxHops → nil | { lanes, { requestId, value, ... }, claimed token }
// A presented token whose claim is still pending (its reconnect never confirmed) stands for that reconnect's session.
const CLAIM = script(
  "Claim",
  `
local tok = ARGV[1]
local hops = 0
while hops < tonumber(ARGV[5]) and redis.call('HGET', sk(tok), 'state') == 'claimed'
  and redis.call('HGET', sk(tok), 'pending') == '1' do
  tok = redis.call('HGET', sk(tok), 'into')
  hops = hops + 1
end
if tok == ARGV[2] then return false end
local s = sk(tok)
local t = sk(ARGV[2])
if redis.call('HGET', s, 'state') ~= 'suspended' then return false end
if tonumber(redis.call('HGET', s, 'until')) <= nowMs() then return false end
local ts = redis.call('HGET', t, 'state')
if ts == 'claimed' then return false end
if not ts then redis.call('HSET', t, 'state', 'live') end
local requests = {}
for _, q in ipairs(redis.call('LRANGE', s .. ':order', 0, -1)) do
  local v = redis.call('HGET', s .. ':req', q)
  if v then
    table.insert(requests, q)
    table.insert(requests, v)
    if redis.call('HSET', t .. ':req', q, v) == 1 then redis.call('RPUSH', t .. ':order', q) end
  end
end
local lanes = redis.call('LRANGE', s .. ':lanes', 0, -1)
for _, lane in ipairs(lanes) do addLane(t, lane) end
for _, id in ipairs(redis.call('SMEMBERS', s .. ':resps')) do redis.call('SADD', t .. ':resps', id) end
delSession(s)
redis.call('ZREM', B .. ':susp', tok)
redis.call('HSET', s, 'state', 'claimed', 'into', ARGV[2], 'pending', 1)
redis.call('HSET', t, 'from', tok)
redis.call('PEXPIRE', s, ARGV[3])
expireSession(t, ARGV[4])
return { lanes, requests, tok }
`
)

// ARGV: token
const CONFIRM = script(
  "Confirm",
  `
local t = sk(ARGV[1])
local from = redis.call('HGET', t, 'from')
if not from then return 0 end
if redis.call('HGET', sk(from), 'into') == ARGV[1] then redis.call('HSET', sk(from), 'pending', 0) end
redis.call('HDEL', t, 'from')
return 1
`
)

// ARGV: token → { 'released' } | { 'claimed', into }
const RELEASE = script(
  "Release",
  `
local s = sk(ARGV[1])
local st = redis.call('HGET', s, 'state')
if st == 'claimed' then
  local into = redis.call('HGET', s, 'into')
  redis.call('DEL', s)
  return { 'claimed', into }
end
if st then
  discardLogs(s)
  delSession(s)
end
redis.call('ZREM', B .. ':susp', ARGV[1])
return { 'released' }
`
)

// ARGV: token, responseId, lane, requestId ('' for none), request value, budget, liveTtl, owner
const BEGIN = script(
  "Begin",
  `
local s = sk(ARGV[1])
local st = redis.call('HGET', s, 'state')
local hops = 0
while st == 'claimed' and hops < 16 do
  s = sk(redis.call('HGET', s, 'into'))
  st = redis.call('HGET', s, 'state')
  hops = hops + 1
end
local id = ARGV[2]
local m = B .. ':logm:' .. id
forgetLog(id)
redis.call('HSET', m, 'bytes', 0, 'trimmed', -1, 'last', -1, 'ended', 0, 'budget', ARGV[6], 'owner', ARGV[8])
redis.call('PEXPIRE', m, ARGV[7])
if st == 'live' or st == 'suspended' then
  local ttl = redis.call('PTTL', s)
  if st == 'live' then ttl = tonumber(ARGV[7]) end
  addLane(s, ARGV[3])
  redis.call('SADD', s .. ':resps', id)
  if ARGV[4] ~= '' then
    if redis.call('HSET', s .. ':req', ARGV[4], ARGV[5]) == 1 then redis.call('RPUSH', s .. ':order', ARGV[4]) end
  end
  if ttl > 0 then expireSession(s, ttl) end
end
return 1
`
)

// ARGV: responseId, sequenceNumber, frame, liveTtl, tenant budget
//   → { 1, sessions evicted, logs evicted, bytes trimmed } | { 0 } (discarded) | { -1 } (ended) | { -2, last }
// Past the tenant's budget, room is made as in memory: the oldest suspended sessions go with their logs, then the
// oldest ended logs, then (after dropping the sizes of logs that expired meanwhile) this log's oldest frames.
const APPEND = script(
  "Append",
  `
local id = ARGV[1]
local m = B .. ':logm:' .. id
local x = B .. ':log:' .. id
if redis.call('EXISTS', m) == 0 then return { 0 } end
if redis.call('HGET', m, 'ended') == '1' then return { -1 } end
local last = redis.call('HGET', m, 'last')
if tonumber(ARGV[2]) <= tonumber(last) then return { -2, last } end
redis.call('XADD', x, ARGV[2] .. '-1', 'f', ARGV[3])
redis.call('HSET', m, 'last', ARGV[2])
local bytes = redis.call('HINCRBY', m, 'bytes', string.len(ARGV[3]))
local trimTo = function(limit)
  local released = 0
  while bytes > limit and redis.call('XLEN', x) > 1 do
    local first = redis.call('XRANGE', x, '-', '+', 'COUNT', 1)[1]
    redis.call('XDEL', x, first[1])
    local n = string.len(first[2][2])
    released = released + n
    bytes = redis.call('HINCRBY', m, 'bytes', -n)
    redis.call('HSET', m, 'trimmed', string.match(first[1], '^(%d+)'))
  end
  return released
end
trimTo(tonumber(redis.call('HGET', m, 'budget')))
local recorded = tonumber(redis.call('HGET', B .. ':sizes', id) or '0')
redis.call('HSET', B .. ':sizes', id, bytes)
local total = tonumber(redis.call('INCRBY', B .. ':bytes', bytes - recorded))
local limit = tonumber(ARGV[5])
local sessions, logs, trimmed = 0, 0, 0
if total > limit then
  while total > limit do
    local oldest = redis.call('ZRANGE', B .. ':susp', 0, 0)[1]
    if not oldest then break end
    redis.call('ZREM', B .. ':susp', oldest)
    local s = sk(oldest)
    if redis.call('HGET', s, 'state') == 'suspended' then
      discardLogs(s)
      delSession(s)
      sessions = sessions + 1
    end
    total = tenantBytes()
  end
  while total > limit do
    local oldest = redis.call('ZRANGE', B .. ':ended', 0, 0)[1]
    if not oldest then break end
    if redis.call('EXISTS', B .. ':logm:' .. oldest) == 1 then logs = logs + 1 end
    forgetLog(oldest)
    total = tenantBytes()
  end
  if total > limit then
    local sizes = redis.call('HGETALL', B .. ':sizes')
    for i = 1, #sizes, 2 do
      if redis.call('EXISTS', B .. ':logm:' .. sizes[i]) == 0 then forgetLog(sizes[i]) end
    end
    total = tenantBytes()
  end
  if total > limit and redis.call('EXISTS', m) == 1 then
    local before = bytes
    trimmed = trimTo(math.max(0, bytes - (total - limit)))
    redis.call('HSET', B .. ':sizes', id, bytes)
    redis.call('DECRBY', B .. ':bytes', before - bytes)
  end
end
if redis.call('EXISTS', m) == 1 then
  redis.call('PEXPIRE', m, ARGV[4])
  redis.call('PEXPIRE', x, ARGV[4])
end
keepBudgetKeys(ARGV[4])
return { 1, sessions, logs, trimmed }
`
)

// ARGV: responseId, grace
const END = script(
  "End",
  `
local m = B .. ':logm:' .. ARGV[1]
local x = B .. ':log:' .. ARGV[1]
if redis.call('EXISTS', m) == 0 or redis.call('HGET', m, 'ended') == '1' then return 0 end
redis.call('HSET', m, 'ended', 1)
local last = redis.call('HGET', m, 'last')
local marker = '0-2'
if last ~= '-1' then marker = last .. '-2' end
redis.call('XADD', x, marker, 'e', '1')
local grace = tonumber(ARGV[2])
if grace <= 0 then
  forgetLog(ARGV[1])
  return 1
end
redis.call('PEXPIRE', m, grace)
redis.call('PEXPIRE', x, grace)
local now = nowMs()
redis.call('ZADD', B .. ':ended', now, ARGV[1])
-- Ended logs past their retention have expired: their bytes leave the count, a few at a time.
for _, old in ipairs(redis.call('ZRANGEBYSCORE', B .. ':ended', '-inf', now - grace, 'LIMIT', 0, 16)) do
  forgetLog(old)
end
return 1
`
)

// ARGV: responseId, startingAfter, count → { 'notfound' } | { 'truncated' } | { 'ok', ended, entries, owner }
const READ = script(
  "Read",
  `
local m = B .. ':logm:' .. ARGV[1]
if redis.call('EXISTS', m) == 0 then return { 'notfound' } end
local cursor = tonumber(ARGV[2])
if cursor < tonumber(redis.call('HGET', m, 'trimmed')) then return { 'truncated' } end
local start = '-'
if cursor >= 0 then start = '(' .. ARGV[2] .. '-1' end
local entries = redis.call('XRANGE', B .. ':log:' .. ARGV[1], start, '+', 'COUNT', ARGV[3])
return { 'ok', redis.call('HGET', m, 'ended'), entries, redis.call('HGET', m, 'owner') }
`
)

// ARGV: token, requestId → value | nil
const FIND = script(
  "Find",
  `
local s = sk(ARGV[1])
local st = redis.call('HGET', s, 'state')
if st ~= 'live' and st ~= 'suspended' then return false end
if st == 'suspended' and tonumber(redis.call('HGET', s, 'until')) <= nowMs() then return false end
return redis.call('HGET', s .. ':req', ARGV[2])
`
)

const unavailable = (error: Redis.RedisError) =>
  new ResumeLogError({ reason: "Unavailable", message: `Resume log: ${error.message}` })

const ms = (input: Duration.DurationInput) => Math.max(0, Math.round(Duration.toMillis(Duration.decode(input))))

// Request values are JSON `{ r: responseId, l: lane }`, kept opaque by the scripts.
const encodeRequest = (responseId: string, lane: string) => JSON.stringify({ r: responseId, l: lane })
const decodeRequest = (requestId: string, value: unknown): RequestRef | undefined => {
  if (typeof value !== "string") return undefined
  try {
    const parsed: unknown = JSON.parse(value)
    if (typeof parsed !== "object" || parsed === null) return undefined
    const { l, r } = parsed as { r?: unknown; l?: unknown }
    return typeof r === "string" && typeof l === "string" ? { requestId, responseId: r, lane: l } : undefined
  } catch {
    return undefined
  }
}

// Stream ids need an integer: a fractional cursor means the same as its floor, anything below -1 as -1.
const normalizeCursor = (n: number) =>
  Number.isNaN(n) ? -1 : Math.min(Number.MAX_SAFE_INTEGER, Math.max(-1, Math.floor(n)))

const strings = (value: unknown): Array<string> =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []

/**
 * Needs the shared `Redis` connection and a scope (the producer lease is renewed until it closes); a live reader
 * opens one dedicated connection for its `XREAD BLOCK`s.
 * While Redis is down every operation fails with reason `Unavailable` (a live reader too).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const budget = Math.max(0, Math.floor(options.maxBytes ?? defaultMaxBytes))
    const tenantBudget = Math.max(0, Math.floor(options.maxTenantBytes ?? defaultMaxTenantBytes))
    const grace = ms(options.grace ?? defaultGrace)
    const liveTtl = Math.max(1, ms(options.liveTtl ?? defaultLiveTtl))
    const blockTime = Math.max(1, ms(options.blockTime ?? "1 second"))
    const leaseTime = Math.max(3, ms(options.leaseTime ?? defaultLeaseTime))
    const base = (tenant: Tenant) => Redis.tenantBase(redis.prefix, tenant)
    const ownerKey = (owner: string) => `${redis.prefix}:owner:${owner}`
    const owner = randomUUID()

    // The producer lease: renewed in the background (a failure while Redis is down is retried at the next tick),
    // removed on a clean shutdown so readers learn at once.
    const renew = Effect.ignore(redis.use((c) => c.set(ownerKey(owner), "1", "PX", leaseTime)))
    yield* renew
    yield* Effect.forkScoped(Effect.repeat(renew, Schedule.spaced(Duration.millis(Math.floor(leaseTime / 3)))))
    yield* Effect.addFinalizer(() => Effect.ignore(redis.use((c) => c.del(ownerKey(owner)))))
    const run = (tenant: Tenant, s: Redis.Script, args: ReadonlyArray<string | number>) =>
      Effect.mapError(redis.eval(s, [base(tenant)], args), unavailable)

    const openSession = (ref: SessionRef) => Effect.asVoid(run(ref.tenant, OPEN, [ref.token, liveTtl]))

    const suspend = (ref: SessionRef) => Effect.asVoid(run(ref.tenant, SUSPEND, [ref.token, grace, liveTtl]))

    const claim = (params: { readonly tenant: Tenant; readonly token: string; readonly into: string }) =>
      Effect.map(
        run(params.tenant, CLAIM, [params.token, params.into, grace, liveTtl, maxPendingHops]),
        (reply): Option.Option<ClaimedSession> => {
          if (!Array.isArray(reply)) return Option.none()
          const flat = strings(reply[1])
          const requests: Array<RequestRef> = []
          for (let i = 0; i + 1 < flat.length; i += 2) {
            const request = decodeRequest(flat[i]!, flat[i + 1])
            if (request !== undefined) requests.push(request)
          }
          const token = typeof reply[2] === "string" ? reply[2] : params.token
          return Option.some({ tenant: params.tenant, token, presented: params.token, lanes: strings(reply[0]), requests })
        }
      )

    const confirm = (ref: SessionRef) => Effect.asVoid(run(ref.tenant, CONFIRM, [ref.token]))

    const release = (ref: SessionRef) =>
      Effect.map(run(ref.tenant, RELEASE, [ref.token]), (reply): ReleaseResult => {
        const [tag, into] = strings(reply)
        return tag === "claimed" && into !== undefined ? { _tag: "Claimed", into } : { _tag: "Released" }
      })

    // What an append gave up to stay within the tenant's budget, on the same counters as the in-memory log.
    const reportShed = (reply: ReadonlyArray<unknown>): Effect.Effect<void> => {
      const [, sessions, logs, trimmed] = reply.map((n) => Number(n) || 0)
      if (sessions === 0 && logs === 0 && trimmed === 0) return Effect.void
      return Effect.all([
        Metric.incrementBy(budgetMetrics.sessionsEvicted, sessions!),
        Metric.incrementBy(budgetMetrics.logsEvicted, logs!),
        Metric.incrementBy(budgetMetrics.trimmedBytes, trimmed!)
      ], { discard: true })
    }

    const makeWriter = (tenant: Tenant, responseId: string): Writer => {
      const append = (sequenceNumber: number, frame: string) => {
        if (!Number.isSafeInteger(sequenceNumber) || sequenceNumber < 0) {
          return Effect.fail(invalidAppend(responseId, sequenceNumber, "a sequence number is a non-negative integer"))
        }
        return Effect.flatMap(run(tenant, APPEND, [responseId, sequenceNumber, frame, liveTtl, tenantBudget]), (reply) => {
          const code = Array.isArray(reply) ? reply[0] : undefined
          if (code === 1) return reportShed(reply as ReadonlyArray<unknown>)
          if (code === -1) return Effect.fail(invalidAppend(responseId, sequenceNumber, "the log has ended"))
          if (code === -2) {
            const last = Array.isArray(reply) ? String(reply[1]) : "?"
            return Effect.fail(
              invalidAppend(responseId, sequenceNumber, `sequence numbers must increase (last ${last})`)
            )
          }
          return Effect.void
        })
      }
      return { responseId, append, end: Effect.asVoid(run(tenant, END, [responseId, grace])) }
    }

    const begin = (params: BeginParams) =>
      Effect.as(
        run(params.session.tenant, BEGIN, [
          params.session.token,
          params.responseId,
          params.lane,
          params.requestId ?? "",
          encodeRequest(params.responseId, params.lane),
          budget,
          liveTtl,
          owner
        ]),
        makeWriter(params.session.tenant, params.responseId)
      )

    const findRequest = (ref: SessionRef, requestId: string) =>
      Effect.map(
        run(ref.tenant, FIND, [ref.token, requestId]),
        (value) => Option.fromNullable(decodeRequest(requestId, value))
      )

    type Page = readonly [Chunk.Chunk<string>, Option.Option<number>]
    const abandoned = (responseId: string) =>
      new ResumeLogError({
        reason: "Abandoned",
        message: `The response '${responseId}' will not continue: the gateway process that ran it is gone.`
      })

    const read = (tenant: Tenant, responseId: string, after: number) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const startingAfter = normalizeCursor(after)
        const scope = yield* Effect.scope
        // Opened on the first wait only: a replay of an ended log never needs it.
        const waiter = yield* Effect.cached(Effect.mapError(Scope.extend(redis.dedicated, scope), unavailable))
        const streamKey = `${base(tenant)}:log:${responseId}`

        // Either a page, or the producer to watch while waiting.
        const attempt = (cursor: number): Effect.Effect<Either.Either<Page, string>, ResumeLogError> =>
          Effect.flatMap(run(tenant, READ, [responseId, cursor, readBatch]), (
            reply
          ): Effect.Effect<Either.Either<Page, string>, ResumeLogError> => {
            const tag = Array.isArray(reply) ? reply[0] : undefined
            if (tag === "notfound" || !Array.isArray(reply)) return Effect.fail(notFound(responseId))
            if (tag === "truncated") return Effect.fail(truncated(responseId, cursor))
            const ended = reply[1] === "1"
            const entries: Array<unknown> = Array.isArray(reply[2]) ? reply[2] : []
            const frames: Array<string> = []
            let last = cursor
            let done = ended && entries.length === 0
            for (const entry of entries) {
              const [id, fields] = Array.isArray(entry) ? entry : []
              const [field, value] = strings(fields)
              if (field === "e") {
                done = true
                break
              }
              if (field === "f" && value !== undefined && typeof id === "string") {
                frames.push(value)
                last = Number(id.slice(0, id.indexOf("-")))
              }
            }
            if (frames.length === 0 && !done) return Effect.succeed(Either.left(String(reply[3])))
            const page: Page = [Chunk.unsafeFromArray(frames), done ? Option.none() : Option.some(last)]
            return Effect.succeed(Either.right(page))
          })

        // Waits for a new entry; after a quiet block, fails when the producer's lease is gone.
        const wait = (cursor: number, producer: string) =>
          Effect.flatMap(waiter, (connection) =>
            Effect.tryPromise({
              try: () =>
                connection.xread("BLOCK", blockTime, "STREAMS", streamKey, cursor < 0 ? "0-0" : `${cursor}-1`),
              catch: (cause) => unavailable(Redis.toRedisError(cause))
            })).pipe(
              Effect.flatMap((entries) =>
                entries !== null ? Effect.void : Effect.flatMap(
                  Effect.mapError(redis.use((c) => c.exists(ownerKey(producer))), unavailable),
                  (alive) => alive === 1 ? Effect.void : Effect.fail(abandoned(responseId))
                )
              )
            )

        // Tail-recursive through flatMap: constant stack however long a reader waits. After an `Abandoned` check
        // the log is read once more, so an end that raced with the producer's exit is still delivered.
        const step = (cursor: number): Effect.Effect<Page, ResumeLogError> =>
          Effect.flatMap(attempt(cursor), (page) =>
            Either.isRight(page)
              ? Effect.succeed(page.right)
              : Effect.flatMap(wait(cursor, page.left), () => step(cursor)))

        return Stream.paginateChunkEffect(startingAfter, step)
      }))

    return ResumeLog.of({ openSession, suspend, claim, confirm, release, begin, findRequest, read })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<ResumeLog, never, Redis.Redis> =>
  Layer.scoped(ResumeLog, make(options))

/**
 * Options from configuration: those of `ResumeLog.config` (`LOOPWIRE_RESUME_GRACE`, `LOOPWIRE_RESUME_LOG_BYTES`)
 * , `LOOPWIRE_RESUME_LIVE_TTL` (duration, default `65 minutes`) and `LOOPWIRE_RESUME_LEASE` (duration, default
 * `15 seconds`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  base: memoryConfig,
  liveTtl: Config.withDefault(Config.duration("LOOPWIRE_RESUME_LIVE_TTL"), defaultLiveTtl),
  leaseTime: Config.withDefault(Config.duration("LOOPWIRE_RESUME_LEASE"), defaultLeaseTime)
}).pipe(Config.map(({ base, leaseTime, liveTtl }) => ({ ...base, leaseTime, liveTtl })))

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<ResumeLog, ConfigError.ConfigError, Redis.Redis> =>
  Layer.scoped(ResumeLog, Effect.flatMap(options, make))
