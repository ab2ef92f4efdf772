import { assert, describe, it } from "@effect/vitest"
import * as Memory from "@loopwire/transport/Memory"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Auth from "../src/Auth.js"
import * as Gateway from "../src/Gateway.js"
import type { GatewayConfigShape } from "../src/GatewayConfig.js"
import { type Json, makeBackend, services } from "./fixtures.js"

const withGateway = (config: Partial<GatewayConfigShape> = {}) =>
  Layer.merge(
    services(makeBackend(), config),
    Auth.layer({ _tag: "StaticKeys", keys: [["sk-a", "tenant-a"]] })
  )

const open = (headers: Record<string, string>) =>
  Effect.gen(function*() {
    const handler = yield* Gateway.upgradeHandler
    const transport = yield* Memory.makeServer(handler)
    return yield* transport.open("ws://gateway.test/v1/responses", { headers })
  })

describe("Gateway.upgradeHandler over the in-memory transport", () => {
  it.scoped("authenticates before the upgrade: a bad or missing key is refused with 401", () =>
    Effect.gen(function*() {
      for (const headers of [{ authorization: "Bearer sk-wrong" }, {}]) {
        const refused = yield* Effect.flip(open(headers))
        assert.strictEqual(refused.reason, "Refused")
        assert.strictEqual(refused.status, 401)
        assert.strictEqual(JSON.parse(refused.body!).error.code, "invalid_api_key")
      }
    }).pipe(Effect.provide(withGateway())))

  it.scoped("426 mode refuses authenticated upgrades too", () =>
    Effect.gen(function*() {
      const refused = yield* Effect.flip(open({ authorization: "Bearer sk-a" }))
      assert.strictEqual(refused.status, 426)
    }).pipe(Effect.provide(withGateway({ rejectWebSocket: true }))))

  it.scoped("an accepted connection is served by the protocol handler", () =>
    Effect.gen(function*() {
      const connection = yield* open({ authorization: "Bearer sk-a" })
      yield* connection.send(JSON.stringify({ type: "response.create", input: "hi" }))
      const events = yield* connection.frames.pipe(
        Stream.map((text) => JSON.parse(text) as Json),
        Stream.takeUntil((event) => event.type === "response.completed"),
        Stream.runCollect
      )
      assert.strictEqual(Array.from(events).at(-1)!.type, "response.completed")
    }).pipe(Effect.provide(withGateway())))
})
