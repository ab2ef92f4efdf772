/**
 * Minimal hand-written clients (raw `ws`, raw `node:http`) as `Exchange`s for the rollout loop.
 *
 * @internal
 */
import * as Http from "node:http"
import * as Https from "node:https"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { WebSocket } from "ws"
import { BenchError, fromUnknown } from "../BenchError.js"
import { type Exchange, type Exchanged, foldEvent } from "../Rollout.js"
import { type Endpoint, httpUrl } from "../TransportUnderTest.js"
import type { JsonObject } from "../Workload.js"

/**
 * The client side of one exchange, shared by every hand-written and SDK client: counts received bytes and events,
 * folds each parsed event, and settles the exchange exactly once — at the terminal event, on a failed or error
 * event, or on a failure reported by the caller (`fail`). @internal
 */
export const exchangeFold = (bytesSent: number, settle: (effect: Effect.Effect<Exchanged, BenchError>) => void) => {
  const output: Array<JsonObject> = []
  let bytesReceived = 0
  let events = 0
  let settled = false
  const finish = (effect: Effect.Effect<Exchanged, BenchError>) => {
    if (settled) return
    settled = true
    settle(effect)
  }
  return {
    received: (bytes: number) => {
      bytesReceived += bytes
    },
    event: (event: JsonObject) => {
      events++
      const step = foldEvent(event, output)
      if (step instanceof BenchError) return finish(Effect.fail(step))
      if (step.done) finish(Effect.succeed({ responseId: step.responseId, output, bytesSent, bytesReceived, events }))
    },
    /** A whole non-streamed response (HTTP JSON): one event. */
    completed: (response: JsonObject) => {
      events++
      finish(Effect.succeed({
        responseId: String(response.id),
        output: (response.output ?? []) as Array<JsonObject>,
        bytesSent,
        bytesReceived,
        events
      }))
    },
    fail: (error: BenchError) => finish(Effect.fail(error)),
    /** The socket closed before the terminal event. */
    closed: (code: number) =>
      finish(Effect.fail(new BenchError({ reason: "Closed", detail: `socket closed mid-response (${code})` }))),
    /** Ignore whatever comes after (the exchange was interrupted). */
    abandon: () => {
      settled = true
    }
  }
}

/** Open a raw `ws` client and wait for it to be open; terminated when the scope closes. @internal */
export const openWebSocket = (
  url: string,
  endpoint: Endpoint
): Effect.Effect<WebSocket, BenchError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<WebSocket, BenchError>((resume) => {
      const ws = new WebSocket(url, {
        perMessageDeflate: false,
        maxPayload: 256 * 1024 * 1024,
        handshakeTimeout: 30_000,
        ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca })
      })
      const onError = (error: Error) => {
        ws.off("open", onOpen)
        resume(Effect.fail(fromUnknown("Connect", url)(error)))
      }
      const onOpen = () => {
        ws.off("error", onError)
        // Keep an error listener for the socket's lifetime so no error can crash the process.
        ws.on("error", () => {})
        resume(Effect.succeed(ws))
      }
      ws.once("open", onOpen)
      ws.once("error", onError)
      return Effect.sync(() => ws.terminate())
    }),
    (ws) => Effect.sync(() => ws.terminate())
  )

/** Send one create frame on a raw socket and fold its events until the terminal one. @internal */
export const wsExchange = (ws: WebSocket): Exchange => (body) =>
  Effect.async<Exchanged, BenchError>((resume) => {
    const text = JSON.stringify(body)
    const cleanup = () => {
      ws.off("message", onMessage)
      ws.off("close", onClose)
    }
    const fold = exchangeFold(Buffer.byteLength(text), (effect) => {
      cleanup()
      resume(effect)
    })
    const onMessage = (data: Buffer | ArrayBuffer | Array<Buffer>, isBinary: boolean) => {
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer)
      fold.received(buffer.length)
      let event: JsonObject
      try {
        if (isBinary) throw new Error("binary frame")
        event = JSON.parse(buffer.toString("utf8"))
      } catch (error) {
        return fold.fail(fromUnknown("Protocol", "unparsable server frame")(error))
      }
      fold.event(event)
    }
    const onClose = (code: number) => fold.closed(code)
    ws.on("message", onMessage)
    ws.on("close", onClose)
    ws.send(text)
    return Effect.sync(cleanup)
  })

/** A keep-alive HTTP(S) agent for one rollout (one client, reused connection), destroyed with the scope. @internal */
export const httpAgent = (endpoint: Endpoint): Effect.Effect<Http.Agent, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() =>
      endpoint.secure
        ? new Https.Agent({ keepAlive: true, maxSockets: 1, ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca }) })
        : new Http.Agent({ keepAlive: true, maxSockets: 1 })
    ),
    (agent) => Effect.sync(() => agent.destroy())
  )

/** POST one create body to `/v1/responses` (SSE when `stream`), fold the events until the terminal one. @internal */
export const httpExchange = (endpoint: Endpoint, agent: Http.Agent, apiKey = "bench"): Exchange => (body) =>
  Effect.async<Exchanged, BenchError>((resume) => {
    const text = JSON.stringify(body)
    const bytesSent = Buffer.byteLength(text)
    const fold = exchangeFold(bytesSent, resume)
    const request = (endpoint.secure ? Https : Http).request(httpUrl(endpoint, "/v1/responses"), {
      method: "POST",
      agent,
      headers: { "content-type": "application/json", "content-length": bytesSent, authorization: `Bearer ${apiKey}` }
    }, (response) => {
      const chunks: Array<Buffer> = []
      let buffered = ""
      const streaming = (response.headers["content-type"] ?? "").startsWith("text/event-stream")
      response.on("data", (chunk: Buffer) => {
        fold.received(chunk.length)
        if (!streaming || response.statusCode !== 200) {
          chunks.push(chunk)
          return
        }
        buffered += chunk.toString("utf8")
        let boundary = buffered.indexOf("\n\n")
        while (boundary !== -1) {
          const block = buffered.slice(0, boundary)
          buffered = buffered.slice(boundary + 2)
          boundary = buffered.indexOf("\n\n")
          const data = block.split("\n").filter((line) => line.startsWith("data:")).map((line) =>
            line.slice(line.charAt(5) === " " ? 6 : 5)
          ).join("\n")
          if (data === "" || data === "[DONE]") continue
          let event: JsonObject
          try {
            event = JSON.parse(data)
          } catch (error) {
            return fold.fail(fromUnknown("Protocol", "unparsable SSE event")(error))
          }
          fold.event(event)
        }
      })
      response.on("end", () => {
        if (response.statusCode !== 200) {
          return fold.fail(
            new BenchError({
              reason: "Protocol",
              detail: `HTTP ${response.statusCode}: ${Buffer.concat(chunks).toString("utf8").slice(0, 300)}`
            })
          )
        }
        if (!streaming) {
          let completed: JsonObject
          try {
            completed = JSON.parse(Buffer.concat(chunks).toString("utf8")) as JsonObject
          } catch (error) {
            return fold.fail(fromUnknown("Protocol", "unparsable JSON response")(error))
          }
          return fold.completed(completed)
        }
        fold.fail(new BenchError({ reason: "Protocol", detail: "SSE stream ended without a terminal event" }))
      })
      response.on("error", (error) => fold.fail(fromUnknown("Closed", "HTTP response")(error)))
    })
    request.on("error", (error) => fold.fail(fromUnknown("Connect", "HTTP request")(error)))
    request.end(text)
    return Effect.sync(() => {
      fold.abandon()
      request.destroy()
    })
  })
