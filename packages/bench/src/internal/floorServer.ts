/**
 * The floor server: plain `node:http` + `ws`, callbacks only, no framework. It answers WebSocket-mode
 * `response.create` frames and HTTP `POST /v1/responses` (SSE or JSON) with the scripted model's events, keeps
 * the latest response per connection lane (WebSocket) and a bounded store (HTTP `store: true`), and nothing
 * else. It is the cheapest server that still exchanges the frames of a real rollout.
 *
 * Plain promises on purpose: this file also runs alone in a child process (`floorServerProcess.ts`).
 *
 * @internal
 */
import * as Http from "node:http"
import type * as Net from "node:net"
import { WebSocketServer, type WebSocket } from "ws"
import { countToolOutputs, eventDelays, type JsonObject, modelEvents, type Script, scriptOf } from "../Workload.js"

/**
 * Pending connections the kernel may queue (capped by `net.core.somaxconn`): Node's default of 511 overflows when
 * 1,000 agent loops connect at once, and the kernel then retries SYNs after a second or more.
 */
const LISTEN_BACKLOG = 4096

/** @internal */
export interface FloorServerOptions {
  readonly host?: string | undefined
  readonly port?: number | undefined
  /** Largest accepted frame or body, bytes. */
  readonly maxPayload?: number | undefined
  /** Responses kept for HTTP `previous_response_id` (oldest evicted first). */
  readonly storeCapacity?: number | undefined
}

/** @internal */
export interface FloorServerHandle {
  readonly host: string
  readonly port: number
  readonly connections: () => number
  readonly cachedLanes: () => number
  readonly close: () => Promise<void>
}

interface Stored {
  readonly context: ReadonlyArray<unknown>
  readonly output: ReadonlyArray<unknown>
  readonly turn: number
}

interface Lane {
  readonly id: string
  readonly turn: number
  /** The effective context and the request (instructions, tools) of the cached response: a gateway's warm state. */
  readonly context: ReadonlyArray<unknown>
  readonly request: JsonObject
}

const errorFrame = (code: string, message: string, param: string | null, status = 400): JsonObject => ({
  type: "error",
  status,
  error: { type: "invalid_request_error", code, message, param }
})

const asArray = (input: unknown): ReadonlyArray<unknown> =>
  Array.isArray(input) ? input : typeof input === "string" ? [{ role: "user", content: input }] : []

/** Emit events on the script's schedule (`Workload.eventDelays`); stops when `alive()` turns false. */
const emit = (
  events: ReadonlyArray<JsonObject>,
  script: Script,
  write: (event: JsonObject) => void,
  alive: () => boolean,
  done: () => void
): void => {
  const delays = eventDelays(events, script)
  let i = 0
  const step = () => {
    // Write every event that is due now in one go; wait only where the script says so.
    while (i < events.length) {
      if (!alive()) return done()
      write(events[i]!)
      i++
      if (i < events.length && delays[i]! > 0) return void setTimeout(step, delays[i]!)
    }
    done()
  }
  if (events.length > 0 && delays[0]! > 0) setTimeout(step, delays[0]!)
  else step()
}

/** @internal */
export const startFloorServer = (options: FloorServerOptions = {}): Promise<FloorServerHandle> => {
  const host = options.host ?? "127.0.0.1"
  const maxPayload = options.maxPayload ?? 64 * 1024 * 1024
  const storeCapacity = options.storeCapacity ?? 10_000
  const prefix = Math.random().toString(36).slice(2, 8)
  let counter = 0
  const nextId = () => `resp_${prefix}${(counter++).toString(36)}`
  const store = new Map<string, Stored>()
  const remember = (id: string, stored: Stored) => {
    store.set(id, stored)
    if (store.size > storeCapacity) store.delete(store.keys().next().value!)
  }
  const sockets = new Set<Net.Socket>()
  let lanes = 0

  const server = Http.createServer((req, res) => {
    if (req.method !== "POST" || !(req.url ?? "").startsWith("/v1/responses")) {
      res.writeHead(404, { "content-type": "application/json" })
      res.end(JSON.stringify({ error: { type: "invalid_request_error", code: "not_found", message: "Not found" } }))
      return
    }
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxPayload) {
        res.writeHead(413).end()
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on("end", () => {
      if (res.writableEnded) return
      let body: JsonObject
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
      } catch {
        res.writeHead(400, { "content-type": "application/json" })
        res.end(JSON.stringify(errorFrame("invalid_json", "The body is not valid JSON.", null).error))
        return
      }
      const previousId = typeof body.previous_response_id === "string" ? body.previous_response_id : undefined
      const parent = previousId === undefined ? undefined : store.get(previousId)
      if (previousId !== undefined && parent === undefined) {
        res.writeHead(400, { "content-type": "application/json" })
        res.end(JSON.stringify({
          error: errorFrame(
            "previous_response_not_found",
            `Previous response with id '${previousId}' not found.`,
            "previous_response_id"
          ).error
        }))
        return
      }
      const input = asArray(body.input)
      // Hydration, as a stateful HTTP server does it: parent context + parent output + new input.
      const context = parent === undefined ? input : [...parent.context, ...parent.output, ...input]
      const turn = parent === undefined ? countToolOutputs(input) : parent.turn + 1
      const script = scriptOf(body)
      const id = nextId()
      const events = modelEvents(body, script, turn, id, Math.floor(Date.now() / 1000))
      const completed = events[events.length - 1]!.response as JsonObject
      if (body.store !== false) remember(id, { context, output: completed.output as Array<unknown>, turn })
      let alive = true
      res.on("close", () => {
        alive = false
      })
      if (body.stream === true) {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
        let seq = 0
        emit(
          events,
          script,
          (event) => res.write(`event: ${event.type}\ndata: ${JSON.stringify({ ...event, sequence_number: seq++ })}\n\n`),
          () => alive,
          () => res.end()
        )
      } else {
        const total = eventDelays(events, script).reduce((a, b) => a + b, 0)
        setTimeout(() => {
          if (!alive) return
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify(completed))
        }, total)
      }
    })
  })
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  server.on("clientError", (_err, socket) => socket.destroy())

  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload })
  wss.on("connection", (ws: WebSocket) => {
    const latest = new Map<string, Lane>()
    // One response in flight per connection: later creates queue behind it (FIFO), as the protocol says.
    const queue: Array<string> = []
    let busy = false
    const send = (event: JsonObject) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(event))
    }
    const pump = () => {
      if (busy) return
      const text = queue.shift()
      if (text === undefined) return
      busy = true
      const finish = () => {
        busy = false
        pump()
      }
      let body: JsonObject
      try {
        body = JSON.parse(text)
      } catch {
        send(errorFrame("invalid_json", "The frame is not valid JSON.", null))
        return finish()
      }
      if (body.type !== "response.create") {
        send(errorFrame("unknown_event_type", `Unsupported event type '${String(body.type)}'.`, "type"))
        return finish()
      }
      const lane = typeof body.stream_id === "string" ? body.stream_id : ""
      const tag = lane === "" ? {} : { stream_id: lane }
      const previousId = typeof body.previous_response_id === "string" ? body.previous_response_id : undefined
      const cached = latest.get(lane)
      if (previousId !== undefined && cached?.id !== previousId) {
        send({
          ...errorFrame(
            "previous_response_not_found",
            `Previous response with id '${previousId}' not found.`,
            "previous_response_id"
          ),
          ...tag
        })
        return finish()
      }
      const input = asArray(body.input)
      const turn = cached !== undefined && previousId !== undefined ? cached.turn + 1 : countToolOutputs(input)
      const script = scriptOf(body)
      const id = nextId()
      const events = modelEvents(body, script, turn, id, Math.floor(Date.now() / 1000))
      const completed = events[events.length - 1]!.response as JsonObject
      let seq = 0
      emit(events, script, (event) => send({ ...event, sequence_number: seq++, ...tag }), () =>
        ws.readyState === ws.OPEN, () => {
        if (!latest.has(lane)) lanes++
        const context = cached !== undefined && previousId !== undefined ? [...cached.context, ...input] : input
        latest.set(lane, { id, turn, request: body, context: [...context, ...(completed.output as Array<unknown>)] })
        finish()
      })
    }
    ws.on("message", (data, isBinary) => {
      if (isBinary) {
        send(errorFrame("invalid_frame", "Binary frames are not part of the protocol.", null))
        return
      }
      queue.push(data.toString())
      pump()
    })
    ws.on("close", () => {
      lanes -= latest.size
      latest.clear()
      queue.length = 0
    })
    ws.on("error", () => ws.terminate())
  })
  wss.on("error", () => {})

  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen({ port: options.port ?? 0, host, backlog: LISTEN_BACKLOG }, () => {
      server.off("error", reject)
      const address = server.address() as Net.AddressInfo
      resolve({
        host,
        port: address.port,
        connections: () => wss.clients.size,
        cachedLanes: () => lanes,
        close: () =>
          new Promise<void>((done) => {
            for (const client of wss.clients) client.terminate()
            for (const socket of sockets) socket.destroy()
            wss.close()
            server.close(() => done())
          })
      })
    })
  })
}
