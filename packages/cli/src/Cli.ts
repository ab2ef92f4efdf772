/**
 * The `loopwire` command and its subcommands.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Bench from "./Bench.js"
import * as Conformance from "./Conformance.js"
import * as Demo from "./Demo.js"
import * as Serve from "./Serve.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("loopwire").pipe(
  Command.withDescription("OpenAI Responses API WebSocket mode: gateway, demo, benchmarks, conformance."),
  Command.withSubcommands([Serve.command, Demo.command, Bench.command, Conformance.command])
)

/**
 * Runs the CLI on `process.argv`-style arguments.
 *
 * @since 0.1.0
 * @category run
 */
export const run = Command.run(command, { name: "loopwire", version: "0.1.0" })
