/**
 * The networks a run can use between client and server: plain loopback, or the WAN variant (a TLS terminator in
 * front of the server, a delay proxy in front of that, so the client's TCP, TLS and upgrade handshakes and every
 * turn pay the configured round-trip time).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { BenchError } from "./BenchError.js"
import * as DelayProxy from "./DelayProxy.js"
import * as Tls from "./Tls.js"
import type { Network } from "./TransportUnderTest.js"

/**
 * Loopback: the client dials the server directly.
 *
 * @since 0.1.0
 * @category networks
 */
export const loopback: Network = { name: "loopback", rttMs: 0, tls: false, expose: Effect.succeed }

/**
 * The WAN variant: `rttMs` of added round-trip time and (by default) TLS with a certificate made now. When the
 * certificate cannot be made (no openssl) and `tls` is `"auto"`, the network degrades to plain TCP and says so
 * through `onDegrade`.
 *
 * @since 0.1.0
 * @category networks
 */
export const wan = (options: {
  readonly rttMs: number
  readonly tls?: boolean | "auto" | undefined
  readonly onDegrade?: ((reason: string) => void) | undefined
  /** Path of the openssl binary (default `/usr/bin/openssl`). */
  readonly openssl?: string | undefined
}): Effect.Effect<Network, BenchError> =>
  Effect.gen(function*() {
    const wantTls = options.tls ?? "auto"
    const make: Effect.Effect<Tls.Certificate | undefined, BenchError> = Tls.makeCertificate({ openssl: options.openssl })
    const certificate = wantTls === false
      ? undefined
      : yield* (wantTls === "auto"
        ? Effect.catchAll(make, (error) =>
          Effect.sync(() => {
            options.onDegrade?.(`TLS disabled: ${error.message}`)
            return undefined
          }))
        : make)
    return {
      name: `wan-${options.rttMs}ms${certificate === undefined ? "" : "-tls"}`,
      rttMs: options.rttMs,
      tls: certificate !== undefined,
      expose: (server) =>
        Effect.gen(function*() {
          const front = certificate === undefined ? server : yield* Tls.terminator(server, certificate)
          const proxy = yield* DelayProxy.make({ target: front, rttMs: options.rttMs })
          return { host: proxy.host, port: proxy.port, secure: front.secure, ca: front.ca }
        })
    } satisfies Network
  })
