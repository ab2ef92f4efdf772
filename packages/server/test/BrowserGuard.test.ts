import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import * as Auth from "../src/Auth.js"
import * as BrowserGuard from "../src/BrowserGuard.js"
import * as Gateway from "../src/Gateway.js"
import type { GatewayConfigShape } from "../src/GatewayConfig.js"
import { makeBackend, services } from "./fixtures.js"

const start = (config: Partial<GatewayConfigShape> = {}, auth: Auth.Options = { _tag: "AllowAll" }) =>
  Effect.gen(function*() {
    const backend = makeBackend()
    const context = yield* Layer.build(
      Gateway.layer.pipe(Layer.provide(Layer.merge(services(backend, { port: 0, ...config }), Auth.layer(auth))))
    )
    const url = new URL(yield* Effect.provide(Gateway.baseUrl, context))
    return { port: Number(url.port), backend }
  })

interface Answer {
  readonly status: number
  readonly body: string
}

/** One raw HTTP exchange (node:http, so `Host` and `Origin` are sent as given). */
const exchange = (
  port: number,
  options: { readonly method: string; readonly headers: Record<string, string>; readonly body?: string }
): Effect.Effect<Answer> =>
  Effect.async<Answer>((resume) => {
    const request = Http.request({ host: "127.0.0.1", port, path: "/v1/responses", method: options.method, headers: options.headers })
    request.on("response", (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode!, body: Buffer.concat(chunks).toString() })))
    })
    request.on("upgrade", (response, socket) => {
      socket.destroy()
      resume(Effect.succeed({ status: response.statusCode!, body: "" }))
    })
    request.on("error", (error) => resume(Effect.die(error)))
    request.end(options.body)
  })

const upgrade = (port: number, headers: Record<string, string> = {}) =>
  exchange(port, {
    method: "GET",
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": Buffer.from("0123456789abcdef").toString("base64"),
      ...headers
    }
  })

const postText = (port: number, headers: Record<string, string> = {}) =>
  exchange(port, {
    method: "POST",
    headers: { "content-type": "text/plain", ...headers },
    body: JSON.stringify({ model: "m", input: "hi" })
  })

const code = (answer: Answer) => JSON.parse(answer.body).error.code

describe("BrowserGuard decisions", () => {
  const policy: BrowserGuard.Policy = { allowedOrigins: [], allowedHosts: [], listenHost: "127.0.0.1", openAuth: true }
  it("no Origin passes; any Origin is refused by default; listed ones pass", () => {
    assert.isTrue(BrowserGuard.originAllowed(policy, undefined))
    assert.isFalse(BrowserGuard.originAllowed(policy, "https://evil.example"))
    assert.isFalse(BrowserGuard.originAllowed(policy, "null"))
    const listed = { allowedOrigins: ["https://app.example/"] }
    assert.isTrue(BrowserGuard.originAllowed(listed, "HTTPS://APP.EXAMPLE"))
    assert.isFalse(BrowserGuard.originAllowed(listed, "https://app.example:8443"))
    assert.isTrue(BrowserGuard.originAllowed({ allowedOrigins: ["*"] }, "https://any.example"))
  })
  it("Host: IP literals, localhost and the listening host pass; names need listing while auth is open", () => {
    for (const host of ["127.0.0.1:8080", "[::1]:8080", "localhost:8080", "app.localhost", "10.0.0.7"]) {
      assert.isTrue(BrowserGuard.hostAllowed(policy, host), host)
    }
    assert.isFalse(BrowserGuard.hostAllowed(policy, "evil.example:8080"))
    assert.isTrue(BrowserGuard.hostAllowed({ ...policy, listenHost: "gw.internal" }, "GW.INTERNAL.:80"))
    assert.isTrue(BrowserGuard.hostAllowed({ ...policy, allowedHosts: [".example.com"] }, "a.example.com"))
    assert.isTrue(BrowserGuard.hostAllowed({ ...policy, allowedHosts: ["gw.example.com"] }, "gw.example.com:443"))
    assert.isFalse(BrowserGuard.hostAllowed({ ...policy, allowedHosts: ["gw.example.com"] }, "evil.example"))
    assert.isTrue(BrowserGuard.hostAllowed({ ...policy, openAuth: false }, "evil.example"), "keys required: not checked")
    assert.isFalse(BrowserGuard.hostAllowed({ ...policy, openAuth: false, allowedHosts: ["a.b"] }, "evil.example"))
  })
})

describe("BrowserGuard over real sockets", () => {
  it.live("a foreign Origin gets 403 origin_not_allowed on the upgrade and on a text/plain POST; nothing runs", () =>
    Effect.scoped(Effect.gen(function*() {
      const { backend, port } = yield* start()
      const refusedUpgrade = yield* upgrade(port, { origin: "https://evil.example" })
      assert.strictEqual(refusedUpgrade.status, 403)
      assert.strictEqual(code(refusedUpgrade), "origin_not_allowed")
      const refusedPost = yield* postText(port, { origin: "https://evil.example" })
      assert.strictEqual(refusedPost.status, 403)
      assert.strictEqual(code(refusedPost), "origin_not_allowed")
      assert.strictEqual(backend.turns.length, 0)
      // Without Origin (SDKs, curl): unaffected.
      assert.strictEqual((yield* upgrade(port)).status, 101)
      assert.strictEqual((yield* postText(port)).status, 200)
    })))

  it.live("--allowed-origins lets the listed origin in", () =>
    Effect.scoped(Effect.gen(function*() {
      const { port } = yield* start({ allowedOrigins: ["https://app.example"] })
      assert.strictEqual((yield* upgrade(port, { origin: "https://app.example" })).status, 101)
      assert.strictEqual((yield* postText(port, { origin: "https://app.example" })).status, 200)
      assert.strictEqual((yield* postText(port, { origin: "https://evil.example" })).status, 403)
    })))

  it.live("DNS rebinding: Host evil.example gets 403 host_not_allowed while auth is allow-all", () =>
    Effect.scoped(Effect.gen(function*() {
      const { backend, port } = yield* start()
      const refusedPost = yield* postText(port, { host: "evil.example" })
      assert.strictEqual(refusedPost.status, 403)
      assert.strictEqual(code(refusedPost), "host_not_allowed")
      const refusedUpgrade = yield* upgrade(port, { host: `evil.example:${port}` })
      assert.strictEqual(refusedUpgrade.status, 403)
      assert.strictEqual(backend.turns.length, 0)
      assert.strictEqual((yield* postText(port, { host: `localhost:${port}` })).status, 200)
      const named = yield* start({ allowedHosts: ["gw.example"] })
      assert.strictEqual((yield* postText(named.port, { host: "gw.example" })).status, 200)
      // With API keys the page has no key anyway: Host is not checked unless names are configured.
      const keyed = yield* start({}, { _tag: "StaticKeys", keys: [["sk-1", "t"]] })
      assert.strictEqual((yield* postText(keyed.port, { host: "evil.example", authorization: "Bearer sk-1" })).status, 200)
    })))
})
