import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@loopwire/transport/Connection"
import * as FaultInjection from "@loopwire/transport/FaultInjection"
import * as Memory from "@loopwire/transport/Memory"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

const collect = (connection: Connection.Connection) => {
  const seen: Array<string> = []
  const end = Deferred.unsafeMake<Exit.Exit<void, Connection.ConnectionError>>(undefined as any)
  const listening = Connection.frameListener(connection)!({
    onFrame: (frame) => seen.push(frame),
    onEnd: (exit) => Deferred.unsafeDone(end, Exit.succeed(exit))
  })
  return { seen, end: Deferred.await(end), listening }
}

describe("Connection.frameListener", () => {
  it.scoped("delivers frames sent before and after it attached, in order, then ends with the close", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      yield* server.send("early 1")
      yield* server.send("early 2")
      const { end, seen } = collect(client)
      yield* server.send("late 1")
      yield* server.send("late 2")
      yield* server.close(1000, "bye")
      const exit = yield* end
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(seen, ["early 1", "early 2", "late 1", "late 2"])
    }))

  it.scoped("holds frames while paused and delivers them on resume; the end waits for them", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      const { end, listening, seen } = collect(client)
      yield* server.send("a")
      yield* Effect.yieldNow()
      listening.pause()
      yield* server.send("b")
      yield* server.send("c")
      yield* server.close()
      yield* Effect.yieldNow()
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      assert.deepStrictEqual(seen, ["a"])
      listening.resume()
      assert.deepStrictEqual(seen, ["a", "b", "c"])
      assert.isTrue(Exit.isSuccess(yield* end))
    }))

  it.scoped("fails as frames would on a drop", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      const { end } = collect(client)
      yield* server.terminate
      const exit = yield* end
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.strictEqual(Cause.squash(exit.cause) instanceof Connection.ConnectionError && (Cause.squash(exit.cause) as Connection.ConnectionError).reason, "Dropped")
    }))

  it.scoped("mapFrames carries it; a wrapper that replaces frames has none", () =>
    Effect.gen(function*() {
      const [client, server] = yield* Memory.makePair()
      const { end, seen } = collect(Connection.mapFrames(client, (frame) => frame.toUpperCase()))
      yield* server.send("x")
      yield* server.close()
      yield* end
      assert.deepStrictEqual(seen, ["X"])
      const [client2] = yield* Memory.makePair()
      assert.isUndefined(Connection.frameListener(FaultInjection.wrapConnection(client2, {})))
    }))
})
