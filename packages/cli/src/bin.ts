/**
 * Entry point of the `loopwire` binary (bin/loopwire.mjs imports its compiled form; the repository runs it from
 * source with tsx and the `@loopwire/source` condition).
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Cli from "./Cli.js"

const exit1 = Effect.sync(() => {
  process.exitCode = 1
})

Cli.run(process.argv).pipe(
  Effect.catchAll((error) =>
    // Usage errors were already printed with the help text; other failures get one readable line.
    ValidationError.isValidationError(error)
      ? exit1
      : Effect.zipRight(Console.error(`loopwire: ${error instanceof Error ? error.message : String(error)}`), exit1)
  ),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)
