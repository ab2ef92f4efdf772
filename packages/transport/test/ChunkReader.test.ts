import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import * as Connection from "../src/Connection.js"
import * as FaultInjection from "../src/FaultInjection.js"
import * as Memory from "../src/Memory.js"

// Reads every frame through the chunk reader until the frames end.
const readAll = (reader: Connection.ChunkReader) =>
  Effect.gen(function*() {
    const out: Array<string> = []
    for (;;) {
      const [chunk, done] = yield* reader
      out.push(...Chunk.toReadonlyArray(chunk))
      if (done) return out
    }
  })

describe("Connection.chunkReader", () => {
  it.scoped("reads the frames in order, chunk by chunk, and ends with the close", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      const reader = Connection.chunkReader(client)
      assert.isDefined(reader)
      const frames = Array.from({ length: 500 }, (_, i) => `frame ${i}`)
      for (const frame of frames) yield* server.send(frame)
      yield* server.close(1000, "bye")
      assert.deepStrictEqual(yield* readAll(reader!), frames)
    }))

  it.scoped("fails as frames would on a drop", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      yield* server.send("one")
      yield* server.terminate
      const result = yield* Effect.either(readAll(Connection.chunkReader(client)!))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) assert.strictEqual(result.left.reason, "Dropped")
    }))

  it.scoped("mapFrames applies to the stream and to the chunk reader; a wrapper that replaces frames has none", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      const seen: Array<string> = []
      const mapped = Connection.mapFrames(client, (frame) => {
        seen.push(frame)
        return frame.toUpperCase()
      })
      yield* server.send("a")
      yield* server.send("b")
      yield* server.close()
      assert.deepStrictEqual(yield* readAll(Connection.chunkReader(mapped)!), ["A", "B"])
      assert.deepStrictEqual(seen, ["a", "b"])

      const [client2, server2] = yield* Memory.makePair()
      const viaStream = Connection.mapFrames(client2, (frame) => `${frame}!`)
      yield* server2.send("x")
      yield* server2.close()
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(viaStream.frames)), ["x!"])

      const [client3] = yield* Memory.makePair()
      const faulty = FaultInjection.wrapConnection(client3, {})
      assert.isUndefined(Connection.chunkReader(faulty))
    }))
})
