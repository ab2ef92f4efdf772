/**
 * The conformance suite: protocol checks runnable against ANY server URL that speaks the Responses API WebSocket
 * mode (our gateway, OpenAI, a proxy). Each check cites the section of `protocol.md` it verifies, opens its own
 * connection with a raw client (the transport's WebSocket + the protocol codec, no Loopwire client logic), and
 * reports passed / failed (with the exact difference) / not applicable (only when declared so), with its duration.
 *
 * @since 0.1.0
 */
import type { TransportShape } from "@loopwire/transport/Transport"
import * as WebSocket from "@loopwire/transport/WebSocket"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as internal from "./internal/checks.js"
import * as Probe from "./internal/probe.js"

/**
 * The ids of every check, in the order they run.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkIds: ReadonlyArray<string> = internal.all.map((check) => check.id)

/**
 * What a check needs from the server beyond WebSocket mode:
 * - `websocket`: nothing more;
 * - `cooperative-model`: a model that emits a function call when `tool_choice` forces one;
 * - `auth-mode`: runs only when the suite is told the server requires an API key (`requiresAuth`);
 * - `reject-mode`: runs only when the suite is told the server rejects WebSocket mode (`rejectsWebSocket`).
 *
 * @since 0.1.0
 * @category models
 */
export const Requirement = Schema.Literal("websocket", "cooperative-model", "auth-mode", "reject-mode")

/**
 * @since 0.1.0
 * @category models
 */
export type Requirement = typeof Requirement.Type

/**
 * A check as listed by {@link checks}: id, one-line title, the `protocol.md` sections it verifies, its requirement.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckInfo {
  readonly id: string
  readonly title: string
  readonly sections: string
  readonly requires: Requirement
}

/**
 * Every check, in the order they run.
 *
 * @since 0.1.0
 * @category checks
 */
export const checks: ReadonlyArray<CheckInfo> = internal.all.map(({ id, requires, sections, title }) => ({
  id,
  title,
  sections,
  requires
}))

/**
 * The outcome of one check.
 *
 * @since 0.1.0
 * @category models
 */
export const CheckResult = Schema.Struct({
  id: Schema.String,
  title: Schema.String,
  sections: Schema.String,
  requires: Requirement,
  status: Schema.Literal("passed", "failed", "not_applicable"),
  /** Why it failed, or why it does not apply; absent when it passed. */
  reason: Schema.optional(Schema.String),
  durationMs: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type CheckResult = typeof CheckResult.Type

/**
 * A run of the suite. `ok` is true when no check failed.
 *
 * @since 0.1.0
 * @category models
 */
export const Report = Schema.Struct({
  url: Schema.String,
  model: Schema.String,
  ok: Schema.Boolean,
  passed: Schema.Number,
  failed: Schema.Number,
  notApplicable: Schema.Number,
  durationMs: Schema.Number,
  results: Schema.Array(CheckResult)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Report = typeof Report.Type

/**
 * Options of {@link run}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The WebSocket URL, e.g. `ws://127.0.0.1:8080/v1/responses` or `wss://api.openai.com/v1/responses`. */
  readonly url: string
  /** Sent as `Authorization: Bearer <apiKey>` on every upgrade. */
  readonly apiKey?: string | undefined
  /** `model` of every create (default `gpt-5.6`). */
  readonly model?: string | undefined
  /** Run only these checks (by id; default: all). Unknown ids fail with a `ConformanceError`. */
  readonly checks?: ReadonlyArray<string> | undefined
  /**
   * Checks declared not applicable to this server (e.g. `function-call-round-trip` when its model cannot be made
   * to call a tool). They are reported as `not_applicable` with the reason, never silently dropped.
   */
  readonly notApplicable?: ReadonlyArray<string> | undefined
  /** The server requires an API key: enables `auth-rejected` (401 without or with a wrong key). */
  readonly requiresAuth?: boolean | undefined
  /** The server rejects WebSocket mode: enables `upgrade-required` (426); every other check does not apply. */
  readonly rejectsWebSocket?: boolean | undefined
  /** How long to wait for each frame (default 30 seconds). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Extra upgrade headers (e.g. `OpenAI-Beta`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** How connections are opened (default: the WebSocket transport on `ws`). */
  readonly transport?: TransportShape | undefined
}

/**
 * A run that could not start (bad options).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConformanceError extends Schema.TaggedError<ConformanceError>("@loopwire/testkit/ConformanceError")(
  "ConformanceError",
  {
    reason: Schema.Literal("UnknownCheck", "InvalidUrl"),
    message: Schema.String
  }
) {}

/**
 * The default `model` of every create.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultModel = "gpt-5.6"

/**
 * The default wait for each frame.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTimeout: Duration.Duration = Duration.seconds(30)

/**
 * Why a check does not run, or `undefined` when it does.
 *
 * @since 0.1.0
 * @category checks
 */
export const notApplicableReason = (check: CheckInfo, options: Options): string | undefined => {
  if (options.notApplicable?.includes(check.id)) {
    return check.requires === "cooperative-model" ?
      "declared not applicable: this server's model is not expected to emit a function call" :
      "declared not applicable for this server"
  }
  switch (check.requires) {
    case "auth-mode":
      return options.requiresAuth === true ? undefined : "the server was not declared to require an API key (--requires-auth)"
    case "reject-mode":
      return options.rejectsWebSocket === true ?
        undefined :
        "the server was not declared to reject WebSocket mode (--rejects-websocket)"
    default:
      return options.rejectsWebSocket === true ? "the server was declared to reject WebSocket mode" : undefined
  }
}

const validateOptions = (options: Options): Effect.Effect<ReadonlyArray<internal.Definition>, ConformanceError> =>
  Effect.gen(function*() {
    let url: URL
    try {
      url = new URL(options.url)
    } catch {
      return yield* new ConformanceError({ reason: "InvalidUrl", message: `not a URL: ${options.url}` })
    }
    if (url.protocol !== "ws:" && url.protocol !== "wss:") {
      return yield* new ConformanceError({
        reason: "InvalidUrl",
        message: `the URL must be ws:// or wss:// (got ${url.protocol}//), e.g. ws://127.0.0.1:8080/v1/responses`
      })
    }
    const known = new Set(checkIds)
    const unknown = [...(options.checks ?? []), ...(options.notApplicable ?? [])].filter((id) => !known.has(id))
    if (unknown.length > 0) {
      return yield* new ConformanceError({
        reason: "UnknownCheck",
        message: `unknown check id(s): ${unknown.join(", ")}; known: ${checkIds.join(", ")}`
      })
    }
    return options.checks === undefined ? internal.all : internal.all.filter((check) => options.checks!.includes(check.id))
  })

/**
 * Runs the suite against `options.url` and yields the report. A failing check never fails the effect: it is a
 * `failed` result (see `Report.ok`). Checks run one after another, each on its own connection(s).
 *
 * @since 0.1.0
 * @category running
 */
export const run = (options: Options): Effect.Effect<Report, ConformanceError> =>
  Effect.gen(function*() {
    const selected = yield* validateOptions(options)
    const transport = options.transport ?? WebSocket.make()
    const timeout = options.timeout ?? defaultTimeout
    const model = options.model ?? defaultModel
    const headers: Record<string, string> = {
      ...options.headers,
      ...(options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` })
    }
    const runId = (yield* Clock.currentTimeMillis).toString(36)
    let counter = 0
    const env: internal.Env = {
      open: Probe.open(transport, options.url, { headers, timeout }),
      tryUpgrade: (upgradeHeaders) =>
        transport.open(options.url, { headers: { ...options.headers, ...upgradeHeaders } }).pipe(
          Effect.as(undefined),
          Effect.catchAll((error) => Effect.succeed(error))
        ),
      model,
      unique: (prefix) => `${prefix}-${runId}-${++counter}`
    }
    const started = yield* Clock.currentTimeMillis
    const results: Array<CheckResult> = []
    for (const check of selected) {
      const info = { id: check.id, title: check.title, sections: check.sections, requires: check.requires }
      const skip = notApplicableReason(info, options)
      if (skip !== undefined) {
        results.push({ ...info, status: "not_applicable", reason: skip, durationMs: 0 })
        continue
      }
      const begin = yield* Clock.currentTimeMillis
      const outcome = yield* check.run(env).pipe(
        Effect.scoped,
        Effect.as(undefined),
        Effect.catchAll((failure) => Effect.succeed(failure.message)),
        Effect.catchAllDefect((defect) => Effect.succeed(`the check crashed: ${String(defect)}`))
      )
      const durationMs = (yield* Clock.currentTimeMillis) - begin
      results.push(
        outcome === undefined ?
          { ...info, status: "passed", durationMs } :
          { ...info, status: "failed", reason: outcome, durationMs }
      )
    }
    const count = (status: CheckResult["status"]) => results.filter((r) => r.status === status).length
    return {
      url: options.url,
      model,
      ok: count("failed") === 0,
      passed: count("passed"),
      failed: count("failed"),
      notApplicable: count("not_applicable"),
      durationMs: (yield* Clock.currentTimeMillis) - started,
      results
    }
  })

const label: Record<CheckResult["status"], string> = { passed: "PASS", failed: "FAIL", not_applicable: "N/A " }

/**
 * The report as human-readable lines: one per check (`PASS|FAIL|N/A`, id, sections, duration, reason), then a
 * summary line.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatReport = (report: Report): string => {
  const width = Math.max(...report.results.map((r) => r.id.length), 10)
  const lines = [`conformance: ${report.url} (model ${report.model})`]
  for (const result of report.results) {
    const head = `${label[result.status]}  ${result.id.padEnd(width)}  ${result.sections.padEnd(22)} ${
      String(result.durationMs).padStart(6)
    } ms`
    lines.push(result.reason === undefined ? head : `${head}\n      ${result.reason}`)
  }
  lines.push(
    `${report.passed} passed, ${report.failed} failed, ${report.notApplicable} not applicable in ${report.durationMs} ms: ${
      report.ok ? "CONFORMS" : "DOES NOT CONFORM"
    }`
  )
  return lines.join("\n")
}

/**
 * The report as JSON text (the `Report` schema's shape).
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatJson = (report: Report): string => JSON.stringify(Schema.encodeSync(Report)(report), null, 2)
