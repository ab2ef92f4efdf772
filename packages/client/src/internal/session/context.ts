/**
 * What one session's parts share: its lease, history, frame builder, counters, the recovery settings, and the
 * two pieces of state the recovery ladder changes (the warm anchor and the transport).
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Duration from "effect/Duration"
import type * as Option from "effect/Option"
import type { ClientConfig } from "../../ClientConfig.js"
import type * as ConnectionPool from "../../ConnectionPool.js"
import type * as Recovery from "../../Recovery.js"
import type { Anchor } from "../../Session.js"
import type * as Mux from "../mux.js"
import type * as Counters from "./counters.js"
import type * as Frame from "./frame.js"
import type * as History from "./history.js"

/** @internal */
export interface Context {
  readonly lease: ConnectionPool.Lease
  readonly config: ClientConfig
  readonly http: Option.Option<HttpClient.HttpClient>
  readonly history: History.History
  readonly frames: Frame.Frames
  readonly counters: Counters.Counters
  readonly backoff: Recovery.BackoffPolicy
  /** Switch to HTTP/SSE on a 426 (needs `http`). */
  readonly httpFallback: boolean
  readonly idleTimeout: Duration.Duration
  readonly idle: Mux.Idle
  /** What the server holds warm for this session. */
  anchor: Anchor | undefined
  mode: "websocket" | "http"
}
