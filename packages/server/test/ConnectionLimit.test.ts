/**
 * The gateway's socket caps over real sockets: past `maxTenantConnections` or `maxConnections` an upgrade, and a
 * `POST /v1/responses`, gets 503 `connection_limit_reached` with `Retry-After`; a closed socket gives its slot back.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as WS from "ws"
import * as ConnectionLimit from "../src/ConnectionLimit.js"
import * as Gateway from "../src/Gateway.js"

interface Opened {
  readonly status: number
  readonly body: string
  readonly retryAfter: string | undefined
  readonly ws: WS.WebSocket | undefined
}

const open = (url: string, key: string) =>
  Effect.acquireRelease(
    Effect.async<Opened>((resume) => {
      const ws = new WS.WebSocket(url, { headers: { authorization: `Bearer ${key}` } })
      ws.on("open", () => resume(Effect.succeed({ status: 101, body: "", retryAfter: undefined, ws })))
      ws.on("unexpected-response", (_request, response) => {
        let body = ""
        response.on("data", (chunk) => (body += String(chunk)))
        response.on("end", () =>
          resume(Effect.succeed({
            status: response.statusCode ?? 0,
            body,
            retryAfter: response.headers["retry-after"] as string | undefined,
            ws: undefined
          })))
      })
      ws.on("error", () => {})
    }),
    (opened) => Effect.sync(() => opened.ws?.terminate())
  )

const closeAndWait = (ws: WS.WebSocket) =>
  Effect.async<void>((resume) => {
    ws.once("close", () => resume(Effect.void))
    ws.close(1000)
  })

// The gateway sees the close a moment after the client: poll (bounded) until the slot is back.
const openOnceFree = (url: string, key: string) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 100; attempt++) {
      const opened = yield* open(url, key)
      if (opened.status !== 503) return opened
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.dieMessage("the slot never came back")
  })

const codeOf = (body: string) => (JSON.parse(body) as { error: { code: string } }).error.code

describe("connection caps over real sockets", () => {
  it.scopedLive("past the tenant's and the gateway's caps: 503 connection_limit_reached, Retry-After; slots come back", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Gateway.layerLocal({
        config: { port: 0, maxConnections: 3, maxTenantConnections: 2 },
        auth: { _tag: "StaticKeys", keys: [["ka", "acme"], ["kb", "globex"]] },
        scenario: { turns: [], fallback_text: "ok" }
      }))
      const base = yield* Effect.provide(Gateway.baseUrl, context)
      const url = base.replace(/^http/, "ws") + "/v1/responses"
      const refusedBefore = (yield* Metric.value(Metric.tagged(ConnectionLimit.metrics.refused, "limit", "tenant"))).count

      const a1 = yield* open(url, "ka")
      const a2 = yield* open(url, "ka")
      assert.deepStrictEqual([a1.status, a2.status], [101, 101])
      const a3 = yield* open(url, "ka")
      assert.strictEqual(a3.status, 503)
      assert.strictEqual(codeOf(a3.body), "connection_limit_reached")
      assert.strictEqual(a3.retryAfter, "1")
      const refusedAfter = (yield* Metric.value(Metric.tagged(ConnectionLimit.metrics.refused, "limit", "tenant"))).count
      assert.strictEqual(refusedAfter - refusedBefore, 1)

      const b1 = yield* open(url, "kb")
      assert.strictEqual(b1.status, 101)
      // Three sockets: the gateway's cap, for every tenant, and for HTTP requests too.
      const b2 = yield* open(url, "kb")
      assert.strictEqual(b2.status, 503)
      assert.match(JSON.parse(b2.body).error.message, /gateway/)
      const post = yield* Effect.promise(() =>
        fetch(`${base}/v1/responses`, {
          method: "POST",
          headers: { authorization: "Bearer kb", "content-type": "application/json" },
          body: JSON.stringify({ model: "m", input: "hi" })
        })
      )
      assert.strictEqual(post.status, 503)
      assert.strictEqual(post.headers.get("retry-after"), "1")
      assert.strictEqual(codeOf(yield* Effect.promise(() => post.text())), "connection_limit_reached")

      // A closed socket gives its slot back.
      yield* closeAndWait(a1.ws!)
      const again = yield* openOnceFree(url, "kb")
      assert.strictEqual(again.status, 101)
      yield* closeAndWait(again.ws!)
      yield* openOnceFree(url, "kb").pipe(Effect.flatMap((o) => closeAndWait(o.ws!)))
      const ok = yield* Effect.promise(() =>
        fetch(`${base}/v1/responses`, {
          method: "POST",
          headers: { authorization: "Bearer kb", "content-type": "application/json" },
          body: JSON.stringify({ model: "m", input: "hi" })
        })
      )
      assert.strictEqual(ok.status, 200)
      // The finished request gave its slot back as well.
      const last = yield* openOnceFree(url, "ka")
      assert.strictEqual(last.status, 101)
    }))
})
