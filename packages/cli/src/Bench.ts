/**
 * `loopwire bench`: the benchmark suite (`@loopwire/bench`), side by side across transports against the Loopwire
 * gateway. Every argument goes to the suite's own flag parser unchanged (`loopwire bench --help` lists them).
 *
 * The suite is not a dependency of `@loopwire/cli` (it brings the `openai` SDK and the comparison clients): it is
 * imported when the command runs, and when it is not installed the command fails with `BenchUnavailable`, whose
 * message says how to get it.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * `@loopwire/bench` could not be loaded: `NotInstalled` when the package is not resolvable from the CLI, `Load`
 * when it is but importing it failed (e.g. one of its own dependencies is missing).
 *
 * @since 0.1.0
 * @category errors
 */
export class BenchUnavailable extends Schema.TaggedError<BenchUnavailable>()("BenchUnavailable", {
  reason: Schema.Literal("NotInstalled", "Load"),
  detail: Schema.String
}) {
  override get message(): string {
    return this.reason === "NotInstalled"
      ? "`loopwire bench` needs @loopwire/bench, which is not installed. It is not published: clone the Loopwire " +
        "repository and run `npm ci && npm run bench` there (flags after `npm run bench --`)."
      : `cannot load @loopwire/bench: ${this.detail}`
  }
}

/** The part of `@loopwire/bench/main` the command uses (kept local: the CLI's types never refer to the bench). */
interface BenchMain {
  readonly runCli: (argv: ReadonlyArray<string>) => Promise<number>
}

const benchModule = "@loopwire/bench/main"

/**
 * Imports the suite's entry point; classifies a failure (Node names the missing package in `ERR_MODULE_NOT_FOUND`).
 *
 * @since 0.1.0
 * @category loading
 */
export const load: Effect.Effect<BenchMain, BenchUnavailable> = Effect.tryPromise({
  try: (): Promise<BenchMain> => import(benchModule),
  catch: (error) => {
    const detail = error instanceof Error ? error.message : String(error)
    const code = (error as { readonly code?: unknown } | null)?.code
    const notInstalled = code === "ERR_MODULE_NOT_FOUND" && detail.includes("'@loopwire/bench'")
    return new BenchUnavailable({ reason: notInstalled ? "NotInstalled" : "Load", detail })
  }
})

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "bench",
  { flags: Args.text({ name: "flag" }).pipe(Args.repeated) },
  ({ flags }) =>
    load.pipe(
      Effect.flatMap((bench) => Effect.promise(() => bench.runCli(flags))),
      Effect.flatMap((code) =>
        Effect.sync(() => {
          if (code !== 0) process.exitCode = code
        })
      )
    )
).pipe(
  Command.withDescription(
    "Benchmarks: HTTP (full context, previous_response_id), Loopwire WebSocket mode, the openai SDK and a raw ws floor, side by side (needs @loopwire/bench, part of the repository). Flags: see `loopwire bench -- --help`."
  )
)
