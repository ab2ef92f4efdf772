import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as Gateway from "../src/Gateway.js"
import * as GatewayConfig from "../src/GatewayConfig.js"

describe("Gateway.makeHttpServer", () => {
  it("sets the keep-alive timeout, and headers and request timeouts that allow it", () => {
    const server = Gateway.makeHttpServer({ httpKeepAliveTimeout: Duration.minutes(2) })
    assert.strictEqual(server.keepAliveTimeout, 120_000)
    assert.isAbove(server.headersTimeout, 120_000)
    const long = Gateway.makeHttpServer({ httpKeepAliveTimeout: Duration.minutes(10) })
    assert.isAtLeast(long.requestTimeout, long.headersTimeout)
  })

  it.live("a keep-alive connection idle past Node's default 5 s is still open, and is reused", () =>
    Effect.promise(async () => {
      const server = Gateway.makeHttpServer(GatewayConfig.defaults)
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
