/**
 * `loopwire bench`: the benchmark suite (`@loopwire/bench`), side by side across transports against the Loopwire
 * gateway. Every argument goes to the suite's own flag parser unchanged (`loopwire bench --help` lists them).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { runCli } from "@loopwire/bench/main"
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "bench",
  { flags: Args.text({ name: "flag" }).pipe(Args.repeated) },
  ({ flags }) =>
    Effect.flatMap(Effect.promise(() => runCli(flags)), (code) =>
      Effect.sync(() => {
        if (code !== 0) process.exitCode = code
      }))
).pipe(
  Command.withDescription(
    "Benchmarks: HTTP (full context, previous_response_id), Loopwire WebSocket mode, the openai SDK and a raw ws floor, side by side. Flags: see `loopwire bench -- --help`."
  )
)
