import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as WebSocketServer from "../src/WebSocketServer.js"

/** A Node http.Server on 127.0.0.1, port 0, with a WebSocket route; yields the ws:// URL of the route. */
export const serve = <R>(
  options: WebSocketServer.Options<R>
): Effect.Effect<{ readonly url: string; readonly server: Http.Server }, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.async<Http.Server>((resume) => {
        const server = Http.createServer((_req, res) => {
          res.statusCode = 404
          res.end("not found")
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    yield* WebSocketServer.attach(server, options)
    const port = (server.address() as AddressInfo).port
    return { url: `ws://127.0.0.1:${port}${options.path}`, server }
  })
