/**
 * Every HTTP limit answers with its documented status and a JSON error body, over real sockets (issue 16, item
 * 9): bodies over `maxFrameBytes` (declared or chunked), far over it, deeply nested ones (with and without
 * `stream: true`), and prototype keys validated as in WebSocket mode.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import * as Auth from "../src/Auth.js"
import * as Gateway from "../src/Gateway.js"
import type { GatewayConfigShape } from "../src/GatewayConfig.js"
import { makeBackend, services } from "./fixtures.js"

const start = (config: Partial<GatewayConfigShape> = {}) =>
  Effect.gen(function*() {
    const backend = makeBackend()
    const context = yield* Layer.build(
      Gateway.layer.pipe(Layer.provide(Layer.merge(services(backend, { port: 0, ...config }), Auth.layer())))
    )
    const url = new URL(yield* Effect.provide(Gateway.baseUrl, context))
    return { port: Number(url.port), backend }
  })

interface Answer {
  readonly status: number
  readonly body: string
  readonly contentType: string | undefined
}

/**
 * POSTs `size` bytes of body (a JSON object padded with spaces, so it is valid JSON whatever its size), written in
 * 1 MiB chunks (`chunked`: without a Content-Length); resolves with the answer, or fails if the socket was reset
 * before an answer arrived.
 */
const postSized = (port: number, size: number, chunked = false) =>
  Effect.async<Answer, Error>((resume) => {
    const head = "{\"input\":\"x\""
    const tail = "}"
    const headers: Record<string, string> = { "content-type": "application/json" }
    if (!chunked) headers["content-length"] = String(size)
    const request = Http.request({ host: "127.0.0.1", port, path: "/v1/responses", method: "POST", headers, agent: false })
    let settled = false
    request.on("response", (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => {
        settled = true
        resume(Effect.succeed({
          status: response.statusCode!,
          body: Buffer.concat(chunks).toString(),
          contentType: response.headers["content-type"]
        }))
      })
    })
    request.on("error", (error) => {
      if (!settled) resume(Effect.fail(error))
    })
    const pad = Buffer.alloc(1024 * 1024, 0x20)
    let written = 0
    const write = () => {
      request.write(head)
      written = head.length
      const pump = () => {
        while (written < size - tail.length) {
          const n = Math.min(pad.length, size - tail.length - written)
          written += n
          if (!request.write(pad.subarray(0, n))) return void request.once("drain", pump)
        }
        request.end(tail)
      }
      pump()
    }
    write()
  })

const post = (port: number, body: string) => Effect.promise(() =>
  fetch(`http://127.0.0.1:${port}/v1/responses`, { method: "POST", headers: { "content-type": "application/json" }, body })
    .then(async (response) => ({ status: response.status, body: await response.text(), contentType: response.headers.get("content-type") ?? undefined }))
)

const errorOf = (answer: { readonly body: string }) => JSON.parse(answer.body).error

const nested = (depth: number) => `${"{\"a\":".repeat(depth)}1${"}".repeat(depth)}`

describe("HTTP limits over real sockets", () => {
  it.live("a body of maxFrameBytes + 1 gets 413 request_too_large with a JSON body (declared and chunked)", () =>
    Effect.scoped(Effect.gen(function*() {
      const { backend, port } = yield* start()
      const limit = 16 * 1024 * 1024
      const declared = yield* postSized(port, limit + 1)
      assert.strictEqual(declared.status, 413)
      assert.strictEqual(errorOf(declared).code, "request_too_large")
      assert.match(declared.contentType ?? "", /application\/json/)
      const chunked = yield* postSized(port, limit + 1, true)
      assert.strictEqual(chunked.status, 413)
      assert.strictEqual(errorOf(chunked).code, "request_too_large")
      // Exactly at the limit: served.
      assert.strictEqual((yield* postSized(port, limit)).status, 200)
      assert.strictEqual(backend.turns.length, 1)
    })))

  it.live("a 50 MB body gets the same 413 answer before any reset", () =>
    Effect.scoped(Effect.gen(function*() {
      const { port } = yield* start()
      const answer = yield* postSized(port, 50 * 1000 * 1000)
      assert.strictEqual(answer.status, 413)
      assert.strictEqual(errorOf(answer).code, "request_too_large")
    })))

  it.live("a deeply nested body gets 400 nesting_above_max_depth with a JSON body (also with stream: true)", () =>
    Effect.scoped(Effect.gen(function*() {
      const { port } = yield* start()
      for (const stream of [false, true]) {
        const answer = yield* post(port, `{"model":"m","stream":${stream},"input":"hi","text":${nested(5000)}}`)
        assert.strictEqual(answer.status, 400, `stream ${stream}`)
        assert.strictEqual(errorOf(answer).code, "nesting_above_max_depth")
      }
      assert.strictEqual((yield* post(port, "{\"model\":\"m\",\"input\":\"hi\"}")).status, 200)
    })))

  it.live("__proto__ keys are validated as in WebSocket mode", () =>
    Effect.scoped(Effect.gen(function*() {
      const { backend, port } = yield* start()
      const streamId = yield* post(port, "{\"input\":\"x\",\"__proto__\":{\"stream_id\":\"bad id!\"}}")
      assert.strictEqual(streamId.status, 400)
      const input = yield* post(port, "{\"__proto__\":{\"input\":{\"length\":3}}}")
      assert.strictEqual(input.status, 400)
      assert.isString(errorOf(input).message)
      assert.strictEqual(backend.turns.length, 0)
    })))
})
