/**
 * One connection's inbound flood must not stall the others (issue 16, item 5), over real sockets: a connection
 * pipelining 50,000 invalid frames is closed with 1008 `too_many_errors` once its error budget is spent. (That
 * another connection is served during a flood with no budget is shown against a separate gateway process in
 * `test/fault-suite.test.ts`: in one process the measuring client shares the event loop it measures.)
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as WS from "ws"
import * as ConnectionHandler from "../src/ConnectionHandler.js"
import * as Gateway from "../src/Gateway.js"
import type { GatewayConfigShape } from "../src/GatewayConfig.js"

const floodFrames = 50_000

const start = (config: Partial<GatewayConfigShape>) =>
  Effect.flatMap(
    Layer.build(Gateway.layerLocal({ config: { port: 0, ...config } })),
    (context) => Effect.provide(Effect.map(Gateway.baseUrl, (url) => url.replace(/^http/, "ws") + "/v1/responses"), context)
  )

interface Socket {
  readonly ws: WS.WebSocket
  readonly received: Array<{ readonly type: string; readonly code?: string }>
  readonly closed: Deferred.Deferred<number>
}

const open = (url: string, onMessage?: (event: { readonly type: string }) => void) =>
  Effect.acquireRelease(
    Effect.async<Socket>((resume) => {
      const ws = new WS.WebSocket(url)
      const received: Socket["received"] = []
      const closed = Deferred.unsafeMake<number>(undefined as never)
      ws.on("message", (data) => {
        const event = JSON.parse(String(data))
        received.push({ type: event.type, code: event.error?.code })
        onMessage?.(event)
      })
      ws.on("close", (code) => Deferred.unsafeDone(closed, Effect.succeed(code)))
      ws.on("error", () => {})
      ws.on("open", () => resume(Effect.succeed({ ws, received, closed })))
    }),
    (socket) => Effect.sync(() => socket.ws.terminate())
  )

describe("fair scheduling over real sockets", () => {
  it.scopedLive("a pipelined flood of invalid frames gets its error budget, then too_many_errors and 1008", () =>
    Effect.gen(function*() {
      const url = yield* start({ errorBurst: 100, errorRate: 10 })
      const flood = yield* open(url)
      for (let i = 0; i < floodFrames; i++) flood.ws.send("x")
      const code = yield* Deferred.await(flood.closed)
      assert.strictEqual(code, ConnectionHandler.tooManyErrorsCloseCode)
      const invalid = flood.received.filter((event) => event.code === "invalid_json").length
      assert.isAtLeast(invalid, 100)
      assert.isBelow(invalid, 200, "far fewer answers than frames")
      assert.strictEqual(flood.received.at(-1)?.code, "too_many_errors")
      // The gateway keeps serving.
      const other = yield* open(url)
      const done = yield* Deferred.make<void>()
      other.ws.on("message", (data) => {
        if (JSON.parse(String(data)).type === "response.completed") Deferred.unsafeDone(done, Effect.void)
      })
      other.ws.send(JSON.stringify({ type: "response.create", model: "m", input: "hi" }))
      yield* Deferred.await(done)
    }))
})

describe("the error budget (pure)", () => {
  it("a burst, then the refill rate", () => {
    let bucket: { readonly tokens: number; readonly at: number } | undefined = { tokens: 3, at: 0 }
    for (let i = 0; i < 3; i++) bucket = ConnectionHandler.chargeError(bucket!, 0, 3, 10)
    assert.isDefined(bucket)
    assert.isUndefined(ConnectionHandler.chargeError(bucket!, 0, 3, 10), "burst spent")
    assert.isDefined(ConnectionHandler.chargeError(bucket!, 100, 3, 10), "one earned back after 100 ms at 10/s")
    assert.isUndefined(ConnectionHandler.chargeError(bucket!, 100, 3, 0), "rate 0: never")
  })
})
