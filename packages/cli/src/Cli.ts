/**
 * The `loopwire` command and its subcommands.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import { readFileSync } from "node:fs"
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
 * The package's version, as `loopwire --version` prints it: read from `@loopwire/cli`'s package.json, which is one
 * folder above this module from the sources (`src/`), the compiled files and the bundle (`dist/`) alike.
 *
 * @since 0.1.0
 * @category constants
 */
export const version: string = (JSON.parse(
  readFileSync(new URL("../package.json", import.meta.url), "utf8")
) as { readonly version: string }).version

/**
 * Runs the CLI on `process.argv`-style arguments.
 *
 * @since 0.1.0
 * @category run
 */
export const run = Command.run(command, { name: "loopwire", version })
