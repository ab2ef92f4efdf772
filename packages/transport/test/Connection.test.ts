import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { isSendableCloseCode } from "../src/Connection.js"
import { unsafeMakeCore } from "../src/internal/core.js"

/** A core whose socket never flushes until told to: the outbound buffer is observable. */
const stalledCore = (highWaterMark: number) => {
  const pending: Array<() => void> = []
  const sent: Array<string> = []
  const core = unsafeMakeCore({
    side: "client",
    handshake: { url: "test://", protocol: "", requestHeaders: {}, responseHeaders: {} },
    highWaterMark,
    driver: {
      send: (frame, done) => {
        sent.push(frame)
        pending.push(() => done())
      },
      close: (code, reason) => core.onClose(code, reason),
      terminate: () => core.onClose(1006, ""),
      ping: () => {}
    }
  })
  const flush = () => pending.splice(0).forEach((done) => done())
  return { core, sent, flush }
}

describe("Connection", () => {
  it.effect("send suspends above the high-water mark and resumes when the socket flushes", () =>
    Effect.gen(function*() {
      const { core, flush, sent } = stalledCore(10)
      yield* core.connection.send("12345")
      yield* core.connection.send("12345")
      const third = yield* Effect.fork(core.connection.send("abc"))
      yield* Effect.yieldNow()
      assert.isTrue(Option.isNone(yield* Fiber.poll(third)))
      assert.deepStrictEqual(sent, ["12345", "12345"])
      flush()
      yield* Fiber.join(third)
      assert.deepStrictEqual(sent, ["12345", "12345", "abc"])
      // A frame larger than the mark is accepted alone.
      flush()
      yield* core.connection.send("x".repeat(100))
      assert.strictEqual(sent.length, 4)
    }))

  it.effect("a send waiting for buffer space fails with Closed when the connection closes", () =>
    Effect.gen(function*() {
      const { core } = stalledCore(4)
      yield* core.connection.send("1234")
      const waiting = yield* Effect.fork(core.connection.send("5678"))
      yield* Effect.yieldNow()
      core.onClose(1006, "")
      const error = yield* Effect.flip(Fiber.join(waiting))
      assert.strictEqual(error.reason, "Closed")
      assert.strictEqual(error.code, 1006)
    }))

  it.effect("close codes that may not be sent are replaced by 1000", () =>
    Effect.gen(function*() {
      const closes: Array<number> = []
      const core = unsafeMakeCore({
        side: "server",
        handshake: { url: "test://", protocol: "", requestHeaders: {}, responseHeaders: {} },
        driver: {
          send: (_frame, done) => done(),
          close: (code) => closes.push(code),
          terminate: () => {},
          ping: () => {}
        }
      })
      yield* core.connection.close(1006, "x".repeat(500))
      assert.deepStrictEqual(closes, [1000])
      assert.isFalse(isSendableCloseCode(1005))
      assert.isTrue(isSendableCloseCode(4000))
      assert.isTrue(isSendableCloseCode(1011))
    }))
})
