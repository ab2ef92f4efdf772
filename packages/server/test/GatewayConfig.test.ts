import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as GatewayConfig from "../src/GatewayConfig.js"

const fromEnv = (env: Record<string, string>, overrides: Partial<GatewayConfig.GatewayConfigShape> = {}) =>
  Effect.provide(
    GatewayConfig.GatewayConfig,
    GatewayConfig.layerConfig(overrides).pipe(
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
    )
  )

describe("GatewayConfig", () => {
  it.effect("defaults are the documented limits", () =>
    Effect.gen(function*() {
      const config = yield* fromEnv({})
      assert.deepStrictEqual(config, GatewayConfig.defaults)
      assert.strictEqual(Duration.toMinutes(config.maxConnectionAge), 60)
      assert.strictEqual(config.maxInFlight, 16)
      assert.strictEqual(config.maxLanes, 32)
      assert.strictEqual(config.maxPendingSteers, 8)
      assert.strictEqual(config.maxFrameBytes, 16 * 1024 * 1024)
    }))

  it.effect("reads the environment, and overrides win over it", () =>
    Effect.gen(function*() {
      const config = yield* fromEnv({
        LOOPWIRE_PORT: "9000",
        LOOPWIRE_MAX_CONNECTION_AGE: "25 minutes",
        LOOPWIRE_MAX_IN_FLIGHT: "1",
        LOOPWIRE_REJECT_WEBSOCKET: "true"
      }, { port: 0 })
      assert.strictEqual(config.port, 0)
      assert.strictEqual(Duration.toMinutes(config.maxConnectionAge), 25)
      assert.strictEqual(config.maxInFlight, 1)
      assert.isTrue(config.rejectWebSocket)
    }))

  it.effect("a malformed or out-of-range value (from env or overrides) is a ConfigError", () =>
    Effect.gen(function*() {
      assert.isTrue(Exit.isFailure(yield* Effect.exit(fromEnv({ LOOPWIRE_MAX_LANES: "many" }))))
      assert.isTrue(Exit.isFailure(yield* Effect.exit(fromEnv({ LOOPWIRE_MAX_IN_FLIGHT: "0" }))))
      assert.isTrue(Exit.isFailure(yield* Effect.exit(fromEnv({}, { maxFrameBytes: 0 }))))
      assert.isTrue(Exit.isFailure(yield* Effect.exit(fromEnv({}, { port: 70000 }))))
    }))

  it.effect("the HTTP keep-alive timeout: 65 s by default (not Node's 5 s), from the environment", () =>
    Effect.gen(function*() {
      assert.strictEqual(Duration.toSeconds(GatewayConfig.defaults.httpKeepAliveTimeout), 65)
      const config = yield* fromEnv({ LOOPWIRE_HTTP_KEEP_ALIVE_TIMEOUT: "2 minutes" })
      assert.strictEqual(Duration.toSeconds(config.httpKeepAliveTimeout), 120)
      assert.isTrue(Exit.isFailure(yield* Effect.exit(fromEnv({ LOOPWIRE_HTTP_KEEP_ALIVE_TIMEOUT: "soon" }))))
    }))
})
