/**
 * The gateway's access log: one structured line per turn (`response`) and per WebSocket connection open and close
 * (`connection.open`, `connection.close` with its close code), through the Effect logger at level Info, so the
 * process's logger decides the format (`loopwire serve --log-format json|pretty`). Off unless {@link AccessLog} is
 * true in the context: `loopwire serve` turns it on; gateways built in code (tests, benchmarks) stay quiet.
 *
 * Every field is documented in docs/server.md ("Operating").
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"

/**
 * Whether the access log is written. Default false.
 *
 * @since 0.1.0
 * @category tags
 */
export class AccessLog extends Context.Reference<AccessLog>()("@loopwire/server/AccessLog", {
  defaultValue: () => false
}) {}

/**
 * The fields of one turn's line.
 *
 * @since 0.1.0
 * @category models
 */
export interface TurnLine {
  readonly mode: "websocket" | "http"
  readonly connection: string
  readonly tenant: string
  readonly response_id: string
  readonly lane: string
  readonly kind: "delta" | "full"
  readonly model: string
  /** `completed`, `incomplete`, `failed`, or `rejected` (an error frame, no response). */
  readonly status: string
  /** The error code of a rejected or failed request. */
  readonly error_code?: string | undefined
  readonly duration_ms: number
  readonly first_event_ms?: number | undefined
  readonly input_tokens?: number | undefined
  readonly output_tokens?: number | undefined
}

const write = (message: string, fields: object): Effect.Effect<void> =>
  Effect.flatMap(AccessLog, (on) => {
    if (!on) return Effect.void
    const annotations: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(fields)) if (value !== undefined) annotations[key] = value
    return Effect.annotateLogs(Effect.logInfo(message), annotations)
  })

/**
 * Logs one turn (when the access log is on).
 *
 * @since 0.1.0
 * @category logging
 */
export const turn = (line: TurnLine): Effect.Effect<void> => write("response", line)

/**
 * Logs a WebSocket connection's open (when the access log is on).
 *
 * @since 0.1.0
 * @category logging
 */
export const connectionOpen = (line: {
  readonly connection: string
  readonly tenant: string
  readonly resumed?: boolean | undefined
}): Effect.Effect<void> => write("connection.open", line)

/**
 * Logs a WebSocket connection's close with its code (when the access log is on).
 *
 * @since 0.1.0
 * @category logging
 */
export const connectionClose = (line: {
  readonly connection: string
  readonly tenant: string
  readonly code: number
  readonly reason?: string | undefined
  readonly duration_ms: number
}): Effect.Effect<void> => write("connection.close", line)
