/**
 * The seam every compared transport plugs into. A transport under test owns (or is handed) its server, dials it
 * through the run's `Network` (loopback or WAN), and runs whole rollouts, reporting one record per model turn.
 * The harness owns everything else: interleaving, warm-up, end-to-end timing, CPU, statistics.
 *
 * To add a transport (e.g. the Loopwire client against the gateway): write a value of this interface whose
 * `setup` acquires the client resources in the given scope and returns a `RolloutRunner`; pass it to the suite
 * (`Suite.run({ transports: [...] })`). Use `Rollout.run` for the turn loop so every transport counts turns,
 * bytes and time the same way.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { BenchError } from "./BenchError.js"
import type { Scenario } from "./Workload.js"

/**
 * Where a client connects: a loopback host and port, optionally TLS with the PEM CA to trust.
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoint {
  readonly host: string
  readonly port: number
  readonly secure: boolean
  /** PEM of the certificate (authority) to trust when `secure`. */
  readonly ca?: string | undefined
}

/**
 * `http(s)://host:port<path>` for an endpoint.
 *
 * @since 0.1.0
 * @category models
 */
export const httpUrl = (endpoint: Endpoint, path: string): string =>
  `${endpoint.secure ? "https" : "http"}://${endpoint.host}:${endpoint.port}${path}`

/**
 * `ws(s)://host:port<path>` for an endpoint.
 *
 * @since 0.1.0
 * @category models
 */
export const wsUrl = (endpoint: Endpoint, path: string): string =>
  `${endpoint.secure ? "wss" : "ws"}://${endpoint.host}:${endpoint.port}${path}`

/**
 * The network between client and server. `expose` puts whatever the run's network is (nothing on loopback; a
 * TLS terminator behind a delay proxy on the WAN variant) in front of a plain server endpoint and returns the
 * endpoint the client must dial.
 *
 * @since 0.1.0
 * @category models
 */
export interface Network {
  readonly name: string
  readonly rttMs: number
  readonly tls: boolean
  readonly expose: (server: Endpoint) => Effect.Effect<Endpoint, BenchError, Scope.Scope>
}

/**
 * What a transport gets when it is set up.
 *
 * @since 0.1.0
 * @category models
 */
export interface BenchContext {
  readonly network: Network
  /**
   * The scenario the runner will run. Transports are set up afresh for every scenario, so a server whose script
   * is fixed at start (the gateway's scripted backend) can be configured from it (`Workload.gatewayScenario`).
   */
  readonly scenario: Scenario
}

/**
 * One model turn of a rollout, as measured by the client: from handing the request to the transport to
 * receiving the response's terminal event.
 *
 * @since 0.1.0
 * @category models
 */
export interface TurnRecord {
  readonly index: number
  readonly ms: number
  /** Application payload bytes sent (frame payload or HTTP body), UTF-8. */
  readonly bytesSent: number
  /** Application payload bytes received (frame payloads or SSE/JSON body). */
  readonly bytesReceived: number
  readonly events: number
  /** Whether this turn continued with `previous_response_id` instead of a full context. */
  readonly delta: boolean
}

/**
 * One rollout's records. `connectMs` is the connection set-up paid inside the rollout (0 when it is folded into
 * the first turn, as with HTTP keep-alive).
 *
 * @since 0.1.0
 * @category models
 */
export interface RolloutResult {
  readonly turns: ReadonlyArray<TurnRecord>
  readonly connectMs: number
}

/**
 * CPU time in microseconds (as `process.cpuUsage`).
 *
 * @since 0.1.0
 * @category models
 */
export interface CpuSample {
  readonly user: number
  readonly system: number
}

/**
 * A set-up transport, ready to run rollouts (each rollout opens its own connection, so connection set-up is
 * part of what is measured).
 *
 * @since 0.1.0
 * @category models
 */
export interface RolloutRunner {
  /** What the client talks to, for the report (`floor-server`, `gateway`, ...). */
  readonly server: string
  readonly runRollout: (scenario: Scenario) => Effect.Effect<RolloutResult, BenchError>
  /**
   * Cumulative CPU of the server process when it runs out of process. Absent: the server runs in this process
   * and the harness measures this process's CPU (client + server together), and says so in the report.
   */
  readonly serverCpu?: Effect.Effect<CpuSample, BenchError> | undefined
}

/**
 * A transport under test.
 *
 * @since 0.1.0
 * @category models
 */
export interface TransportUnderTest {
  /** Short stable name used in results and flags (`floor`, `http-full`, `http-prev`, `loopwire-ws`, `openai-sdk-ws`). */
  readonly name: string
  readonly description: string
  readonly setup: (ctx: BenchContext) => Effect.Effect<RolloutRunner, BenchError, Scope.Scope>
}
