/**
 * The one error of the benchmark package.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A benchmark could not run: a server or proxy failed to listen, a connection failed or closed mid-rollout, a
 * response did not complete, a file could not be written. `reason` says which.
 *
 * @since 0.1.0
 * @category errors
 */
export class BenchError extends Schema.TaggedError<BenchError>()("BenchError", {
  reason: Schema.Literal("Listen", "Connect", "Protocol", "Closed", "Timeout", "Certificate", "Io", "Config"),
  detail: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

/**
 * Turn an unknown failure into a `BenchError` with the given reason.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromUnknown = (reason: BenchError["reason"], context: string) => (cause: unknown): BenchError =>
  new BenchError({ reason, detail: `${context}: ${cause instanceof Error ? cause.message : String(cause)}` })
