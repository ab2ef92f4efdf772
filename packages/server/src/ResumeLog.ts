/**
 * The numbered events of each response, kept so a reconnecting client can resume it (docs/resume.md), and the
 * resume sessions: which connection (named by its resume token) accepted which requests on which lanes, and the
 * exactly-once transfer of a dropped connection's session to the connection that resumes it.
 *
 * This module has the interface and the in-memory implementation (a ring per response with a byte budget);
 * `RedisResumeLog` implements the same interface on Redis Streams for several gateway processes.
 *
 * How the gateway uses it:
 * - on upgrade: `openSession({ tenant, token })`; with a presented token, `claim({ tenant, token, into })`;
 * - on the first frame of a connection whose upgrade claimed: `confirm(session)` (the client has its new token);
 * - when it accepts a `response.create` (before its first event, `response.queued` included):
 *   `begin({ session, responseId, lane, requestId })`, then `writer.append(sequenceNumber, frame)` for every
 *   frame it sends (the encoded text, exactly as written to the socket), and `writer.end` after the terminal event;
 * - on an unclean close: `suspend(session)`; when the grace period ends (or on a clean `1000` close):
 *   `release(session)`, which says whether another connection claimed the session meanwhile;
 * - on `loopwire.resume`: `findRequest(session, requestId)`, then `read(tenant, responseId, startingAfter)`.
 *
 * Longer than 300 lines because it holds the service contract every log implements (the interface, its errors,
 * budgets, metrics and configuration, about half the file, mostly documentation) together with the in-memory log;
 * per-frame work is `appendOne`, a few lines of plain code.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import type { Tenant } from "./Auth.js"
import * as Echo from "./internal/resumeEcho.js"
import * as Ring from "./internal/resumeRing.js"

/**
 * Why a resume-log operation failed.
 *
 * - `NotFound`: the response's log is unknown, expired or discarded.
 * - `Truncated`: the log no longer holds every event after `startingAfter` (its byte budget was exceeded).
 * - `InvalidAppend`: a sequence number that does not increase, or an append after `end` (a gateway bug).
 * - `Unavailable`: the shared store (Redis) could not be reached or answered with an error.
 * - `Abandoned`: the log will never end: the gateway process that runs the response is gone (Redis only: its
 *   lease expired). The gateway answers as for a log it does not have.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResumeLogError extends Schema.TaggedError<ResumeLogError>("@loopwire/server/ResumeLogError")(
  "ResumeLogError",
  {
    reason: Schema.Literal("NotFound", "Truncated", "InvalidAppend", "Unavailable", "Abandoned"),
    message: Schema.String
  }
) {}

/**
 * A resume session: one connection, named by its resume token and bound to the tenant that authenticated it.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionRef {
  readonly tenant: Tenant
  readonly token: string
}

/**
 * A request a session accepted: its `loopwire_request_id`, the response id the gateway gave it and its lane.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestRef {
  readonly requestId: string
  readonly responseId: string
  readonly lane: string
}

/**
 * What a successful claim hands to the resuming connection: the lost connection's lane names and its requests
 * (oldest first). They now also belong to the `into` session. `token` is the session that was transferred: the
 * presented one, or, when the presented token's last claim was never confirmed (that reconnect was cut inside its
 * 101), the session of that unconfirmed reconnect.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClaimedSession {
  readonly tenant: Tenant
  readonly token: string
  /** The token the client presented (equal to `token` unless an unconfirmed claim was followed). */
  readonly presented: string
  readonly lanes: ReadonlyArray<string>
  readonly requests: ReadonlyArray<RequestRef>
}

/**
 * The outcome of `release`: `Released` (the session and the logs of its responses are gone; the gateway
 * interrupts what still runs) or `Claimed` (another connection took it over, `into` names it: its responses keep
 * running and must be begun on `into` from now on).
 *
 * @since 0.1.0
 * @category models
 */
export type ReleaseResult =
  | { readonly _tag: "Released" }
  | { readonly _tag: "Claimed"; readonly into: string }

/**
 * What `begin` needs: the session that accepted the request, the response id, its lane (`stream_id`, or the
 * gateway's name for the default lane) and the client's `loopwire_request_id` when it sent one.
 *
 * @since 0.1.0
 * @category models
 */
export interface BeginParams {
  readonly session: SessionRef
  readonly responseId: string
  readonly lane: string
  readonly requestId?: string | undefined
}

/**
 * The writing side of one response's log, returned by `begin`. Appends to a log that was discarded meanwhile (its
 * session released) are ignored, so an interrupted response never fails because of the log.
 *
 * @since 0.1.0
 * @category models
 */
export interface Writer {
  readonly responseId: string
  /** Appends the encoded frame (exactly as sent) with its `sequence_number`; numbers must strictly increase. */
  readonly append: (sequenceNumber: number, frame: string) => Effect.Effect<void, ResumeLogError>
  /**
   * Appends a batch of frames in order, as `append` for each would (stopping at the first failure). Optional: a log
   * that has it spares its writer one effect per frame; without it, frames are appended one by one.
   */
  readonly appendAll?: (
    frames: ReadonlyArray<{ readonly seq: number; readonly text: string }>
  ) => Effect.Effect<void, ResumeLogError>
  /** Marks the log complete (after the terminal event); it is kept for the retention period, then dropped. */
  readonly end: Effect.Effect<void, ResumeLogError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  /** Registers a live session (at the upgrade). Idempotent. */
  readonly openSession: (session: SessionRef) => Effect.Effect<void, ResumeLogError>
  /** The session's connection dropped without a clean close: keep it for the grace period. No-op when unknown. */
  readonly suspend: (session: SessionRef) => Effect.Effect<void, ResumeLogError>
  /**
   * Atomically transfers a suspended session to the live session `into` (same tenant), exactly once: its lanes and
   * requests are merged into `into` and the token is spent. None for an unknown, live, expired, spent or other
   * tenant's token (and for `token === into`). Of two concurrent claims, at most one succeeds.
   *
   * A claim stays pending until `confirm(into)`: until then the client may never have received `into` (its 101 was
   * cut), so presenting the old token again follows the pending claim and claims `into`'s session instead (when it
   * is suspended in its turn): the same transfer, once, to the connection that did get through.
   */
  readonly claim: (
    params: { readonly tenant: Tenant; readonly token: string; readonly into: string }
  ) => Effect.Effect<Option.Option<ClaimedSession>, ResumeLogError>
  /**
   * The client of `session` has provably received its token (a frame arrived on its connection): the claim that
   * made it (if any) is final, and the token that claim spent can no longer be followed.
   */
  readonly confirm: (session: SessionRef) => Effect.Effect<void, ResumeLogError>
  /** Ends a session (grace period over, or clean close): drops it and its responses' logs unless it was claimed. */
  readonly release: (session: SessionRef) => Effect.Effect<ReleaseResult, ResumeLogError>
  /**
   * Starts a response's log when the request is accepted. Records the request (and its lane) in the session; if
   * the session was claimed meanwhile, in the session that claimed it.
   */
  readonly begin: (params: BeginParams) => Effect.Effect<Writer, ResumeLogError>
  /** The request with this `loopwire_request_id` accepted by this (live or suspended) session, if any. */
  readonly findRequest: (
    session: SessionRef,
    requestId: string
  ) => Effect.Effect<Option.Option<RequestRef>, ResumeLogError>
  /**
   * The response's frames with a sequence number greater than `startingAfter` (use -1 for all): the retained ones,
   * then live ones as they are appended, ending after the last frame once the log is ended. Fails with `NotFound`
   * (unknown, expired, or discarded while reading), `Truncated` (an event after `startingAfter` was dropped, also
   * when a slow reader falls behind the byte budget) or `Abandoned` (its producer is gone). Never a gap, never a
   * repeat.
   */
  readonly read: (tenant: Tenant, responseId: string, startingAfter: number) => Stream.Stream<string, ResumeLogError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ResumeLog extends Context.Tag("@loopwire/server/ResumeLog")<ResumeLog, Shape>() {}

/**
 * Default byte budget of one response's log: 8 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxBytes = 8 * 1024 * 1024

/**
 * Default byte budget of every in-memory log together: 256 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxTotalBytes = 256 * 1024 * 1024

/**
 * Default byte budget of one tenant's in-memory logs: 64 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxTenantBytes = 64 * 1024 * 1024

/**
 * The in-memory logs' budget: `loopwire_resume_log_bytes` (bytes held by every log), and what was given up to stay
 * within it: `loopwire_resume_sessions_evicted` (exposed as `_total`) (suspended sessions dropped before their grace ended),
 * `loopwire_resume_logs_evicted` (ended logs dropped before their retention ended) and
 * `loopwire_resume_log_trimmed_bytes` (frames dropped from a log still being written). The counters count the
 * Redis log's tenant budget too (each process counts what its own appends gave up); the gauge is the memory log's.
 *
 * @since 0.1.0
 * @category metrics
 */
export const budgetMetrics = {
  bytes: Metric.gauge("loopwire_resume_log_bytes", { description: "Bytes held by the in-memory resume logs." }),
  sessionsEvicted: Metric.counter("loopwire_resume_sessions_evicted", {
    description: "Suspended sessions dropped before their grace period ended, to stay within a resume log budget.",
    incremental: true
  }),
  logsEvicted: Metric.counter("loopwire_resume_logs_evicted", {
    description: "Ended resume logs dropped before their retention ended, to stay within a budget.",
    incremental: true
  }),
  trimmedBytes: Metric.counter("loopwire_resume_log_trimmed_bytes", {
    description: "Bytes of frames dropped from resume logs still being written, to stay within a budget.",
    incremental: true
  })
} as const

/**
 * Default grace period: 60 seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultGrace: Duration.Duration = Duration.seconds(60)

/**
 * Options shared by every implementation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Byte budget of one response's log (UTF-8 bytes of its frames). Default 8 MiB. */
  readonly maxBytes?: number | undefined
  /**
   * Byte budget of every log together (memory only). Past it, room is made in this order: the oldest suspended
   * sessions are dropped with their logs (presented later, their token gets `loopwire-resumed: 0`), then the oldest
   * ended logs (a `loopwire.resume` of them gets `resume_not_available`), then the log being appended loses its
   * oldest frames (a resume from before them gets `resume_log_truncated`). Default 256 MiB.
   */
  readonly maxTotalBytes?: number | undefined
  /**
   * The same budget per tenant, applied the same way within the tenant. Default 64 MiB. The Redis log applies this
   * one too (its keys are per tenant; the whole server is bounded by Redis's own `maxmemory`).
   */
  readonly maxTenantBytes?: number | undefined
  /**
   * The grace period: how long a suspended session is kept, how long a claimed token is remembered, and how long
   * a response's log is kept after it ended. Default 60 seconds; zero keeps nothing after a drop.
   */
  readonly grace?: Duration.DurationInput | undefined
}

/**
 * A fresh resume token (docs/resume.md §1): 32 random bytes from the system's secure generator, base64url.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeToken: Effect.Effect<string> = Effect.sync(() => randomBytes(32).toString("base64url"))

/**
 * Whether a read after `startingAfter` is refused because events after it were dropped: exactly when the highest
 * dropped sequence number is greater than `startingAfter` (-1 when nothing was dropped). Pure; the rule of every
 * implementation.
 *
 * @since 0.1.0
 * @category decisions
 */
export const isTruncated: (trimmedThrough: number, startingAfter: number) => boolean = Ring.isTruncated

/** @internal */
export const notFound = (responseId: string) =>
  new ResumeLogError({
    reason: "NotFound",
    message: `No resume log for response '${responseId}' (unknown, expired or discarded).`
  })

/** @internal */
export const truncated = (responseId: string, startingAfter: number) =>
  new ResumeLogError({
    reason: "Truncated",
    message: `The resume log of response '${responseId}' no longer holds the events after ${startingAfter}.`
  })

/** @internal */
export const invalidAppend = (responseId: string, sequenceNumber: number, detail: string) =>
  new ResumeLogError({
    reason: "InvalidAppend",
    message: `Cannot append event ${sequenceNumber} to the resume log of response '${responseId}': ${detail}.`
  })

/** @internal */
export const readBatch = 256

/** How many unconfirmed claims a presented token is followed through (each is one reconnect cut in its 101). @internal */
export const maxPendingHops = 16

interface Log {
  readonly key: string
  readonly tenant: Tenant
  readonly responseId: string
  readonly ring: Ring.Ring
  /** Bumped on every change; a waiting reader compares it to what it saw (no lost wake-up). */
  version: number
  discarded: boolean
  readonly waiters: Set<() => void>
}

interface Session {
  readonly tenant: Tenant
  state: "Live" | "Suspended" | "Claimed"
  until: number
  into: string | undefined
  /** Claimed, and `into` has not confirmed yet: presenting this token again follows the claim. */
  pending: boolean
  /** The token whose claim made this session and is not confirmed yet. */
  from: string | undefined
  readonly lanes: Set<string>
  readonly requests: Map<string, RequestRef>
  /** Log keys of every response begun on this session. */
  readonly responses: Set<string>
}

/**
 * The in-memory implementation: a byte-bounded ring per response, sessions in a map. Time (grace, retention) is
 * measured with `Clock`; expired entries are dropped as operations meet them (amortised O(1)).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: Options = {}): Effect.Effect<Shape> =>
  Effect.sync(() => {
    const maxBytes = options.maxBytes ?? defaultMaxBytes
    const maxTotalBytes = Math.max(0, options.maxTotalBytes ?? defaultMaxTotalBytes)
    const maxTenantBytes = Math.max(0, options.maxTenantBytes ?? defaultMaxTenantBytes)
    let totalBytes = 0
    const tenantBytes = new Map<Tenant, number>()
    const addBytes = (tenant: Tenant, delta: number) => {
      if (delta === 0) return
      totalBytes += delta
      const next = (tenantBytes.get(tenant) ?? 0) + delta
      if (next <= 0) tenantBytes.delete(tenant)
      else tenantBytes.set(tenant, next)
    }
    // What shedding gave up since the last report (metrics are written once per operation, not per drop).
    const shed = { sessions: 0, logs: 0, trimmed: 0 }
    const graceMillis = Duration.toMillis(Duration.decode(options.grace ?? defaultGrace))
    const logs = new Map<string, Log>()
    const sessions = new Map<string, Session>()
    // Insertion order is expiry order (one constant period per kind), so sweeps only look at the front.
    const endedLogs = new Map<string, number>()
    const timedSessions = new Map<string, number>()
    const logKey = (tenant: Tenant, responseId: string) => `${tenant}\u0000${responseId}`
    // The settings every response echoes, kept once for all the logs (replayed byte for byte).
    const echoes = Echo.makeDictionary()

    const touch = (log: Log) => {
      log.version++
      if (log.waiters.size === 0) return
      const waiters = [...log.waiters]
      log.waiters.clear()
      for (const wake of waiters) wake()
    }

    const discardLog = (key: string) => {
      const log = logs.get(key)
      if (log === undefined) return
      addBytes(log.tenant, -log.ring.bytes)
      logs.delete(key)
      endedLogs.delete(key)
      log.discarded = true
      touch(log)
    }

    const dropSession = (token: string) => {
      const session = sessions.get(token)
      sessions.delete(token)
      timedSessions.delete(token)
      if (session !== undefined && session.state !== "Claimed") {
        for (const key of session.responses) discardLog(key)
      }
    }

    const sweep = (now: number) => {
      for (const [key, expiresAt] of endedLogs) {
        if (expiresAt > now) break
        discardLog(key)
      }
      for (const [token, until] of timedSessions) {
        if (until > now) break
        dropSession(token)
      }
    }

    const overBudget = (tenant: Tenant | undefined) =>
      tenant === undefined ? totalBytes > maxTotalBytes : (tenantBytes.get(tenant) ?? 0) > maxTenantBytes

    // Makes room after `log` grew: suspended sessions (oldest first), then ended logs (oldest first), then `log`'s
    // own oldest frames; within the tenant for its budget, across tenants for the total.
    const makeRoom = (log: Log) => {
      for (const scope of [log.tenant, undefined]) {
        if (!overBudget(scope)) continue
        for (const [token] of timedSessions) {
          if (!overBudget(scope)) break
          const session = sessions.get(token)
          if (session === undefined || session.state !== "Suspended" || (scope !== undefined && session.tenant !== scope)) {
            continue
          }
          dropSession(token)
          shed.sessions++
        }
        for (const [key] of endedLogs) {
          if (!overBudget(scope)) break
          const ended = logs.get(key)
          if (ended === undefined || ended === log || (scope !== undefined && ended.tenant !== scope)) continue
          discardLog(key)
          shed.logs++
        }
        if (overBudget(scope)) {
          const excess = scope === undefined
            ? totalBytes - maxTotalBytes
            : (tenantBytes.get(scope) ?? 0) - maxTenantBytes
          const released = Ring.shrink(log.ring, Math.max(0, log.ring.bytes - excess))
          addBytes(log.tenant, -released)
          shed.trimmed += released
        }
      }
    }

    const report = Effect.suspend(() => {
      const effects: Array<Effect.Effect<void>> = [Metric.set(budgetMetrics.bytes, totalBytes)]
      if (shed.sessions > 0) effects.push(Metric.incrementBy(budgetMetrics.sessionsEvicted, shed.sessions))
      if (shed.logs > 0) effects.push(Metric.incrementBy(budgetMetrics.logsEvicted, shed.logs))
      if (shed.trimmed > 0) effects.push(Metric.incrementBy(budgetMetrics.trimmedBytes, shed.trimmed))
      shed.sessions = 0
      shed.logs = 0
      shed.trimmed = 0
      return Effect.all(effects, { discard: true })
    })

    const withNow = <A>(f: (now: number) => A): Effect.Effect<A> =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        sweep(now)
        return f(now)
      })

    const openSession = (ref: SessionRef) =>
      withNow(() => {
        if (sessions.has(ref.token)) return
        sessions.set(ref.token, {
          tenant: ref.tenant,
          state: "Live",
          until: Number.POSITIVE_INFINITY,
          into: undefined,
          pending: false,
          from: undefined,
          lanes: new Set(),
          requests: new Map(),
          responses: new Set()
        })
      })

    const suspend = (ref: SessionRef) =>
      withNow((now) => {
        const session = sessions.get(ref.token)
        if (session === undefined || session.tenant !== ref.tenant || session.state !== "Live") return
        session.state = "Suspended"
        session.until = now + graceMillis
        timedSessions.set(ref.token, session.until)
        if (graceMillis <= 0) dropSession(ref.token)
      })

    // The session a presented token stands for: itself, or along claims not confirmed yet (bounded hops).
    const pendingTarget = (token: string): string => {
      let current = token
      for (let hops = 0; hops < maxPendingHops; hops++) {
        const session = sessions.get(current)
        if (session === undefined || session.state !== "Claimed" || !session.pending || session.into === undefined) break
        current = session.into
      }
      return current
    }

    const claim = (params: { readonly tenant: Tenant; readonly token: string; readonly into: string }) =>
      withNow((now): Option.Option<ClaimedSession> => {
        const token = pendingTarget(params.token)
        const session = sessions.get(token)
        if (
          token === params.into || session === undefined || session.tenant !== params.tenant ||
          session.state !== "Suspended" || session.until <= now
        ) return Option.none()
        let target = sessions.get(params.into)
        if (target === undefined) {
          target = {
            tenant: params.tenant,
            state: "Live",
            until: Number.POSITIVE_INFINITY,
            into: undefined,
            pending: false,
            from: undefined,
            lanes: new Set(),
            requests: new Map(),
            responses: new Set()
          }
          sessions.set(params.into, target)
        } else if (target.tenant !== params.tenant || target.state === "Claimed") {
          return Option.none()
        }
        const claimed: ClaimedSession = {
          tenant: session.tenant,
          token,
          presented: params.token,
          lanes: [...session.lanes],
          requests: [...session.requests.values()]
        }
        for (const lane of session.lanes) target.lanes.add(lane)
        for (const request of session.requests.values()) target.requests.set(request.requestId, request)
        for (const key of session.responses) target.responses.add(key)
        session.lanes.clear()
        session.requests.clear()
        session.responses.clear()
        // The spent token is remembered for one grace period, so late `begin`s of the old connection follow it.
        session.state = "Claimed"
        session.into = params.into
        session.pending = true
        session.from = undefined
        session.until = now + graceMillis
        target.from = token
        timedSessions.delete(token)
        timedSessions.set(token, session.until)
        return Option.some(claimed)
      })

    const confirm = (ref: SessionRef) =>
      withNow(() => {
        const session = sessions.get(ref.token)
        if (session === undefined || session.tenant !== ref.tenant || session.from === undefined) return
        const from = sessions.get(session.from)
        if (from !== undefined && from.into === ref.token) from.pending = false
        session.from = undefined
      })

    const release = (ref: SessionRef) =>
      withNow((): ReleaseResult => {
        const session = sessions.get(ref.token)
        if (session === undefined || session.tenant !== ref.tenant) return { _tag: "Released" }
        if (session.state === "Claimed" && session.into !== undefined) {
          sessions.delete(ref.token)
          timedSessions.delete(ref.token)
          return { _tag: "Claimed", into: session.into }
        }
        dropSession(ref.token)
        return { _tag: "Released" }
      }).pipe(Effect.zipLeft(report))

    // Follows claims (bounded: a chain longer than the number of sessions would be a cycle).
    const resolveSession = (token: string, tenant: Tenant): Session | undefined => {
      let current = sessions.get(token)
      for (let hops = 0; current !== undefined && hops <= sessions.size; hops++) {
        if (current.tenant !== tenant) return undefined
        if (current.state !== "Claimed") return current
        current = current.into === undefined ? undefined : sessions.get(current.into)
      }
      return undefined
    }

    // One frame into the log: undefined when done, else the failure or the budget report to run.
    const appendOne = (log: Log, sequenceNumber: number, frame: string): Effect.Effect<void, ResumeLogError> | undefined => {
      if (log.discarded) return undefined
      const before = log.ring.bytes
      const result = Ring.append(log.ring, sequenceNumber, frame)
      addBytes(log.tenant, log.ring.bytes - before)
      if (result === "Ended") return Effect.fail(invalidAppend(log.responseId, sequenceNumber, "the log has ended"))
      if (result === "OutOfOrder") {
        return Effect.fail(
          invalidAppend(log.responseId, sequenceNumber, `sequence numbers must increase (last ${log.ring.last})`)
        )
      }
      touch(log)
      if (!overBudget(log.tenant) && !overBudget(undefined)) return undefined
      makeRoom(log)
      return report
    }

    const makeWriter = (log: Log): Writer => ({
      responseId: log.responseId,
      append: (sequenceNumber, frame) => Effect.suspend(() => appendOne(log, sequenceNumber, frame) ?? Effect.void),
      appendAll: (frames) =>
        Effect.suspend(() => {
          for (let i = 0; i < frames.length; i++) {
            const next = appendOne(log, frames[i]!.seq, frames[i]!.text)
            if (next !== undefined) {
              return i === frames.length - 1 ? next : Effect.zipRight(next, makeWriter(log).appendAll!(frames.slice(i + 1)))
            }
          }
          return Effect.void
        }),
      end: withNow((now) => {
        if (log.discarded || log.ring.ended) return
        log.ring.ended = true
        endedLogs.set(log.key, now + graceMillis)
        touch(log)
      }).pipe(Effect.zipLeft(report))
    })

    const begin = (params: BeginParams) =>
      withNow(() => {
        const key = logKey(params.session.tenant, params.responseId)
        discardLog(key) // a response id is begun once; a repeat replaces the old log
        const log: Log = {
          key,
          tenant: params.session.tenant,
          responseId: params.responseId,
          ring: Ring.make(maxBytes, echoes),
          version: 0,
          discarded: false,
          waiters: new Set()
        }
        logs.set(key, log)
        const session = resolveSession(params.session.token, params.session.tenant)
        if (session !== undefined) {
          session.lanes.add(params.lane)
          session.responses.add(key)
          if (params.requestId !== undefined) {
            session.requests.set(params.requestId, {
              requestId: params.requestId,
              responseId: params.responseId,
              lane: params.lane
            })
          }
        }
        return makeWriter(log)
      })

    const findRequest = (ref: SessionRef, requestId: string) =>
      withNow(() => {
        const session = sessions.get(ref.token)
        if (session === undefined || session.tenant !== ref.tenant || session.state === "Claimed") {
          return Option.none()
        }
        return Option.fromNullable(session.requests.get(requestId))
      })

    const waitForChange = (log: Log, seen: number) =>
      Effect.async<void>((resume) => {
        if (log.version !== seen) return resume(Effect.void)
        const wake = () => resume(Effect.void)
        log.waiters.add(wake)
        return Effect.sync(() => log.waiters.delete(wake))
      })

    const read = (tenant: Tenant, responseId: string, startingAfter: number) =>
      Stream.unwrap(withNow(() => {
        const log = logs.get(logKey(tenant, responseId))
        if (log === undefined) return Stream.fail(notFound(responseId))
        const step = (cursor: number): Effect.Effect<
          readonly [Chunk.Chunk<string>, Option.Option<number>],
          ResumeLogError
        > =>
          Effect.suspend(() => {
            if (log.discarded) return Effect.fail(notFound(responseId))
            const result = Ring.readAfter(log.ring, cursor, readBatch)
            if (result._tag === "Truncated") return Effect.fail(truncated(responseId, cursor))
            const done = log.ring.ended && result.last >= log.ring.last
            if (result.frames.length > 0 || done) {
              return Effect.succeed(
                [Chunk.unsafeFromArray(result.frames), done ? Option.none() : Option.some(result.last)] as const
              )
            }
            return Effect.zipRight(waitForChange(log, log.version), step(cursor))
          })
        return Stream.paginateChunkEffect(startingAfter, step)
      }))

    return ResumeLog.of({ openSession, suspend, claim, confirm, release, begin, findRequest, read })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: Options = {}): Layer.Layer<ResumeLog> =>
  Layer.effect(ResumeLog, makeMemory(options))

/**
 * Options from configuration: `LOOPWIRE_RESUME_GRACE` (duration, default `60 seconds`) and
 * `LOOPWIRE_RESUME_LOG_BYTES` (integer, default 8 MiB).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Required<Pick<Options, "maxBytes" | "grace">>> = Config.all({
  maxBytes: Config.withDefault(
    Config.integer("LOOPWIRE_RESUME_LOG_BYTES").pipe(
      Config.validate({ message: "must be a positive integer", validation: (n) => n > 0 })
    ),
    defaultMaxBytes
  ),
  grace: Config.withDefault(Config.duration("LOOPWIRE_RESUME_GRACE"), defaultGrace)
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemoryConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<ResumeLog, ConfigError.ConfigError> => Layer.effect(ResumeLog, Effect.flatMap(options, makeMemory))

/**
 * The default resume log: {@link makeMemory}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = makeMemory

/**
 * The default resume log's layer: {@link layerMemory}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = layerMemory

/**
 * The default resume log's layer from configuration: {@link layerMemoryConfig}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = layerMemoryConfig
