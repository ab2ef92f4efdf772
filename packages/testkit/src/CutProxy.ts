/**
 * A loopback TCP proxy that cuts connections at chosen byte offsets of the server's answer: the fault behind the
 * "cut inside the 101" reproductions (a reconnect whose upgrade response is cut after N bytes never learns its new
 * resume token). Each accepted connection asks `plan` for the number of server bytes it may forward; after those
 * the proxy destroys both sides (a reset, as a network cut looks to both ends). `undefined` forwards everything.
 *
 * Bounded: at most `maxConnections` at once (more are closed at once); closed with its scope.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The TCP endpoint to forward to. */
  readonly target: { readonly host: string; readonly port: number }
  /**
   * Server bytes forwarded on the `index`-th accepted connection (from 0) before both sides are cut; `undefined`
   * forwards everything.
   */
  readonly plan: (index: number) => number | undefined
  /** Connections at once (default 256). */
  readonly maxConnections?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CutProxy {
  /** The proxy's own port on 127.0.0.1. */
  readonly port: number
  /** Connections accepted so far. */
  readonly accepted: () => number
  /** Connections cut so far (those whose plan was reached). */
  readonly cut: () => number
}

/**
 * Starts the proxy on a free port of 127.0.0.1 for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<CutProxy, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const sockets = new Set<Net.Socket>()
    const maxConnections = options.maxConnections ?? 256
    let accepted = 0
    let cut = 0
    const server = Net.createServer((client) => {
      const index = accepted++
      if (sockets.size >= maxConnections * 2) {
        client.destroy()
        return
      }
      let budget = options.plan(index)
      const upstream = Net.connect(options.target.port, options.target.host)
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => {
          sockets.delete(socket)
          client.destroy()
          upstream.destroy()
        })
      }
      client.on("data", (chunk: Buffer) => {
        if (!upstream.destroyed) upstream.write(chunk)
      })
      upstream.on("data", (chunk: Buffer) => {
        if (budget === undefined) {
          client.write(chunk)
          return
        }
        const allowed = Math.min(budget, chunk.length)
        budget -= allowed
        if (allowed > 0) client.write(chunk.subarray(0, allowed))
        if (budget > 0) return
        cut++
        upstream.removeAllListeners("data")
        upstream.pause()
        // Let the allowed bytes leave, then reset both ends.
        client.end(() => {
          client.destroy()
          upstream.destroy()
        })
      })
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number, Error>((resume) => {
        server.once("error", (error) => resume(Effect.fail(error)))
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    return { port, accepted: () => accepted, cut: () => cut }
  })
