/**
 * TLS for the WAN variant: a self-signed certificate for 127.0.0.1 made at run time with the system `openssl`
 * (node:crypto cannot issue X.509 certificates; nothing is downloaded), and a TLS terminator that forwards the
 * decrypted stream to a plain server — so any plain server (the floor server, the gateway) is reachable over
 * `https://` / `wss://` unchanged.
 *
 * @since 0.1.0
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as NodeTls from "node:tls"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { BenchError, fromUnknown } from "./BenchError.js"
import type { Endpoint } from "./TransportUnderTest.js"

/**
 * A PEM certificate and its private key.
 *
 * @since 0.1.0
 * @category models
 */
export interface Certificate {
  readonly cert: string
  readonly key: string
}

/**
 * Make a one-day self-signed P-256 certificate for `127.0.0.1` / `localhost` with `openssl` (path overridable).
 * Fails with reason `Certificate` when openssl is missing or fails, so callers can degrade to plain TCP.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCertificate = (options?: { readonly openssl?: string | undefined }): Effect.Effect<
  Certificate,
  BenchError
> =>
  Effect.scoped(Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => Fs.mkdtemp(Path.join(Os.tmpdir(), "loopwire-bench-tls-")),
        catch: fromUnknown("Certificate", "temp dir")
      }),
      (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
    )
    const keyPath = Path.join(dir, "key.pem")
    const certPath = Path.join(dir, "cert.pem")
    yield* Effect.async<void, BenchError>((resume) => {
      const child = ChildProcess.execFile(options?.openssl ?? "/usr/bin/openssl", [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1",
        "-keyout", keyPath, "-out", certPath
      ], { timeout: 30_000 }, (error, _stdout, stderr) =>
        resume(error === null ? Effect.void : Effect.fail(
          new BenchError({ reason: "Certificate", detail: `openssl failed: ${error.message} ${stderr}`.trim() })
        )))
      return Effect.sync(() => child.kill())
    })
    return yield* Effect.tryPromise({
      try: async () => ({ cert: await Fs.readFile(certPath, "utf8"), key: await Fs.readFile(keyPath, "utf8") }),
      catch: fromUnknown("Certificate", "read certificate")
    })
  }))

/**
 * Terminate TLS on 127.0.0.1 (ephemeral port) and forward the plain bytes to `target`; closed with the scope.
 * Returns the secure endpoint (with the certificate as the CA to trust).
 *
 * @since 0.1.0
 * @category constructors
 */
export const terminator = (
  target: Endpoint,
  certificate: Certificate
): Effect.Effect<Endpoint, BenchError, Scope.Scope> =>
  Effect.gen(function*() {
    const sockets = new Set<Net.Socket>()
    const server = NodeTls.createServer({ cert: certificate.cert, key: certificate.key }, (tls) => {
      const plain = Net.connect({ host: target.host, port: target.port, noDelay: true })
      sockets.add(tls)
      sockets.add(plain)
      const close = () => {
        tls.destroy()
        plain.destroy()
        sockets.delete(tls)
        sockets.delete(plain)
      }
      tls.setNoDelay(true)
      tls.pipe(plain)
      plain.pipe(tls)
      tls.on("error", close)
      plain.on("error", close)
      tls.on("close", close)
      plain.on("close", close)
    })
    server.on("tlsClientError", () => {})
    server.on("error", () => {})
    yield* Effect.acquireRelease(
      Effect.async<void, BenchError>((resume) => {
        server.once("error", (error) => resume(Effect.fail(fromUnknown("Listen", "TLS terminator")(error))))
        server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    const address = server.address() as Net.AddressInfo
    return { host: "127.0.0.1", port: address.port, secure: true, ca: certificate.cert }
  })
