import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import type * as Net from "node:net"
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

  it.effect("the HTTP keep-alive timeout: 65 s by default (not Node's 5 s), from the environment, on the server", () =>
    Effect.gen(function*() {
      assert.strictEqual(Duration.toSeconds(GatewayConfig.defaults.httpKeepAliveTimeout), 65)
      const config = yield* fromEnv({ LOOPWIRE_HTTP_KEEP_ALIVE_TIMEOUT: "2 minutes" })
      assert.strictEqual(Duration.toSeconds(config.httpKeepAliveTimeout), 120)
      const server = GatewayConfig.makeHttpServer(config)
      assert.strictEqual(server.keepAliveTimeout, 120_000)
      assert.isAbove(server.headersTimeout, 120_000)
      assert.isTrue(Exit.isFailure(yield* Effect.exit(fromEnv({ LOOPWIRE_HTTP_KEEP_ALIVE_TIMEOUT: "soon" }))))
    }))

  it.live("a keep-alive connection idle past Node's default 5 s is still open, and is reused", () =>
    Effect.promise(async () => {
      const server = GatewayConfig.makeHttpServer(GatewayConfig.defaults)
      server.on("request", (_req, res) => res.end("ok"))
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const port = (server.address() as Net.AddressInfo).port
      const agent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
      const get = () =>
        new Promise<Net.Socket>((resolve, reject) => {
          const req = Http.get({ host: "127.0.0.1", port, agent, path: "/" }, (res) => {
            res.resume()
            res.on("end", () => resolve(req.socket!))
          })
          req.on("error", reject)
        })
      try {
        const first = await get()
        let closed = false
        first.once("close", () => {
          closed = true
        })
        await new Promise((resolve) => setTimeout(resolve, 5_600))
        assert.isFalse(closed)
        assert.strictEqual(await get(), first)
      } finally {
        agent.destroy()
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      }
    }), 15_000)
})
