/**
 * `loopwire conformance`: runs the testkit's conformance suite against any Responses WebSocket-mode URL and prints
 * the report (human-readable lines, or JSON with `--json`). The command fails (exit status 1 under
 * `NodeRuntime.runMain`) when a check fails.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Conformance from "@loopwire/testkit/Conformance"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * The suite ran and at least one check failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConformanceFailed extends Schema.TaggedError<ConformanceFailed>("@loopwire/cli/ConformanceFailed")(
  "ConformanceFailed",
  {
    reason: Schema.Literal("ChecksFailed"),
    failed: Schema.Number,
    message: Schema.String
  }
) {}

const url = Options.text("url").pipe(
  Options.withDescription("WebSocket URL of the server, e.g. ws://127.0.0.1:8080/v1/responses")
)
const apiKey = Options.redacted("api-key").pipe(
  Options.withDescription("API key, sent as 'Authorization: Bearer <key>' on every upgrade"),
  Options.optional
)
const model = Options.text("model").pipe(
  Options.withDescription("model of every response.create"),
  Options.withDefault(Conformance.defaultModel)
)
const json = Options.boolean("json").pipe(Options.withDescription("print the report as JSON"))
const check = Options.text("check").pipe(
  Options.withDescription(`run only this check (repeatable); one of: ${Conformance.checkIds.join(", ")}`),
  Options.repeated
)
const notApplicable = Options.text("not-applicable").pipe(
  Options.withDescription("declare a check not applicable to this server (repeatable; reported as N/A)"),
  Options.repeated
)
const requiresAuth = Options.boolean("requires-auth").pipe(
  Options.withDescription("the server requires an API key: also check that a missing or wrong key gets HTTP 401")
)
const rejectsWebSocket = Options.boolean("rejects-websocket").pipe(
  Options.withDescription("the server rejects WebSocket mode: check the 426 answer (every other check is N/A)")
)
const header = Options.keyValueMap("header").pipe(
  Options.withDescription("extra upgrade header NAME=VALUE (repeatable), e.g. OpenAI-Beta=responses_websockets=2026-02-06"),
  Options.optional
)
const timeout = Options.integer("timeout").pipe(
  Options.withDescription("seconds to wait for each frame"),
  Options.withDefault(30)
)

/**
 * `loopwire conformance --url ws://127.0.0.1:PORT/v1/responses [--api-key K] [--json] [--model M]
 * [--check ID]... [--not-applicable ID]... [--requires-auth] [--rejects-websocket] [--header NAME=VALUE]...
 * [--timeout SECONDS]`
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "conformance",
  { url, apiKey, model, json, check, notApplicable, requiresAuth, rejectsWebSocket, header, timeout },
  (options) =>
    Effect.gen(function*() {
      const report = yield* Conformance.run({
        url: options.url,
        apiKey: Option.getOrUndefined(Option.map(options.apiKey, Redacted.value)),
        model: options.model,
        checks: options.check.length === 0 ? undefined : options.check,
        notApplicable: options.notApplicable,
        requiresAuth: options.requiresAuth,
        rejectsWebSocket: options.rejectsWebSocket,
        timeout: Duration.seconds(options.timeout),
        headers: Option.getOrUndefined(Option.map(options.header, (map) => Object.fromEntries(HashMap.toEntries(map))))
      })
      yield* Console.log(options.json ? Conformance.formatJson(report) : Conformance.formatReport(report))
      if (!report.ok) {
        return yield* new ConformanceFailed({
          reason: "ChecksFailed",
          failed: report.failed,
          message: `${report.failed} conformance check(s) failed against ${report.url}`
        })
      }
    })
).pipe(Command.withDescription("Run the protocol conformance suite against any Responses WebSocket-mode URL"))
