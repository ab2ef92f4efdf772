/**
 * Wires the OpenAI-like fake server to the in-memory transport and to a plain `ws` server on 127.0.0.1.
 */
import * as Memory from "@loopwire/transport/Memory"
import * as Upgrade from "@loopwire/transport/Upgrade"
import { Effect, Layer, Queue, Stream } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { WebSocketServer } from "ws"
import type { FakeServer } from "./openaiLike.js"

type Out = { readonly _tag: "frame"; readonly text: string } | { readonly _tag: "drop" } | {
  readonly _tag: "close"
  readonly code: number
  readonly reason: string
}

/** The fake server behind the in-memory transport. */
export const memoryTransport = (server: FakeServer) =>
  Memory.layer({
    onUpgrade: (request) =>
      Effect.sync(() => {
        const status = server.onUpgrade({ authorization: request.headers["authorization"] })
        return status === undefined ? Upgrade.accept() : Upgrade.reject(status, `refused with ${status}`)
      }),
    handle: (connection) =>
      Effect.gen(function*() {
        const out = yield* Queue.unbounded<Out>()
        const session = server.accept({
          send: (text) => void out.unsafeOffer({ _tag: "frame", text }),
          terminate: () => void out.unsafeOffer({ _tag: "drop" }),
          close: (code, reason) => void out.unsafeOffer({ _tag: "close", code, reason })
        })
        const writer = Effect.gen(function*() {
          for (;;) {
            const next = yield* Queue.take(out)
            if (next._tag === "frame") yield* Effect.ignore(connection.send(next.text))
            else if (next._tag === "drop") return yield* connection.terminate
            else return yield* connection.close(next.code, next.reason)
          }
        })
        yield* Effect.fork(writer)
        yield* connection.frames.pipe(
          Stream.runForEach((text) => Effect.sync(() => session.onMessage(text))),
          Effect.ignore
        )
        session.onClose()
      })
  })

/** The fake server on a real `ws` socket, 127.0.0.1, port 0. Refusals answer the upgrade with a plain HTTP status. */
export const wsServer = (server: FakeServer) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly close: () => void; readonly http: Http.Server }>((resume) => {
      const http = Http.createServer((req, res) => {
        if (req.method !== "POST" || !req.url?.startsWith("/v1/responses")) {
          res.statusCode = 404
          res.end()
          return
        }
        let text = ""
        req.setEncoding("utf8")
        req.on("data", (chunk) => (text += chunk))
        req.on("end", () => {
          const answer = server.httpCreate(text)
          res.statusCode = answer.status
          res.setHeader("content-type", answer.status === 200 ? "text/event-stream" : "application/json")
          res.end(answer.body)
        })
      })
      const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
      http.on("upgrade", (req, socket, head) => {
        const status = server.onUpgrade({ authorization: req.headers.authorization, "x-extra": req.headers["x-extra"] as string | undefined })
        if (status !== undefined) {
          const body = JSON.stringify({ error: { message: `refused with ${status}` } })
          socket.end(
            `HTTP/1.1 ${status} ${Http.STATUS_CODES[status] ?? "Error"}\r\nContent-Type: application/json\r\nContent-Length: ${
              Buffer.byteLength(body)
            }\r\nConnection: close\r\n\r\n${body}`
          )
          return
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          const session = server.accept({
            send: (text) => ws.send(text),
            terminate: () => ws.terminate(),
            close: (code, reason) => ws.close(code, reason)
          })
          ws.on("message", (data, isBinary) => {
            if (!isBinary) session.onMessage(data.toString())
          })
          ws.on("close", () => session.onClose())
          ws.on("error", () => undefined)
        })
      })
      http.listen(0, "127.0.0.1", () => {
        const port = (http.address() as AddressInfo).port
        resume(Effect.succeed({
          url: `ws://127.0.0.1:${port}/v1/responses`,
          http,
          close: () => {
            for (const c of wss.clients) c.terminate()
            wss.close()
            http.closeAllConnections()
            http.close()
          }
        }))
      })
    }),
    (s) => Effect.sync(() => s.close())
  )

export const asLayer = <A>(l: Layer.Layer<A>) => l
