import { assert, describe, it } from "@effect/vitest"
import { ResponsesError } from "@loopwire/client/ResponsesError"
import * as Upstream from "@loopwire/upstream/Upstream"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"

describe("Upstream settings", () => {
  it.effect("--upstream-header 'Name: value': parsed, a bad one named", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(
        Upstream.parseHeaders(["OpenAI-Project: proj_1", "api-key:  k: with colon "]),
        Either.right({ "OpenAI-Project": "proj_1", "api-key": "k: with colon" })
      )
      const bad = Upstream.parseHeaders(["no colon here"])
      assert.isTrue(Either.isLeft(bad))
      assert.match(Either.isLeft(bad) ? bad.left : "", /expected 'Name: value', got 'no colon here'/)
      assert.isTrue(Either.isLeft(Upstream.parseHeader("Bad Name: x")))
    }))

  it.effect("from configuration, overridden field by field", () =>
    Effect.gen(function*() {
      const env = ConfigProvider.fromMap(
        new Map([
          ["LOOPWIRE_UPSTREAM_URL", "https://api.openai.com/v1"],
          ["LOOPWIRE_UPSTREAM_TRANSPORT", "websocket"],
          ["LOOPWIRE_UPSTREAM_POOL_SIZE", "8"],
          ["LOOPWIRE_UPSTREAM_HEADERS", "OpenAI-Organization: org_1\nOpenAI-Project: proj_1"]
        ])
      )
      const fromEnv = yield* Effect.withConfigProvider(Upstream.config, env)
      assert.strictEqual(fromEnv.baseUrl, "https://api.openai.com/v1")
      assert.strictEqual(fromEnv.transport, "websocket")
      assert.strictEqual(fromEnv.poolSize, 8)
      assert.deepStrictEqual(fromEnv.headers, { "OpenAI-Organization": "org_1", "OpenAI-Project": "proj_1" })
      assert.isTrue(Duration.equals(Duration.decode(fromEnv.maxAge!), Duration.minutes(55)))

      const flags = yield* Effect.withConfigProvider(
        Upstream.configWith({ baseUrl: "http://127.0.0.1:9/v1", transport: "http", headers: { "OpenAI-Project": "p2" } }),
        ConfigProvider.fromMap(new Map([["LOOPWIRE_UPSTREAM_HEADERS", "OpenAI-Project: proj_1"]]))
      )
      assert.strictEqual(flags.baseUrl, "http://127.0.0.1:9/v1")
      assert.strictEqual(flags.transport, "http")
      assert.strictEqual(flags.poolSize, Upstream.defaultPoolSize)
      assert.deepStrictEqual(flags.headers, { "OpenAI-Project": "p2" })

      const bad = yield* Effect.either(
        Effect.withConfigProvider(
          Upstream.config,
          ConfigProvider.fromMap(new Map([["LOOPWIRE_UPSTREAM_URL", "http://x/v1"], ["LOOPWIRE_UPSTREAM_TRANSPORT", "tcp"]]))
        )
      )
      assert.isTrue(Either.isLeft(bad))
    }))

  it.effect("upstream session failures map to backend errors with their status and code", () =>
    Effect.sync(() => {
      const refused = Upstream.backendError(new ResponsesError({ reason: "Connect", status: 401, message: "no" }))
      assert.strictEqual(refused.reason, "HttpStatus")
      assert.strictEqual(refused.status, 401)
      assert.strictEqual(Upstream.backendError(new ResponsesError({ reason: "Connect", message: "ECONNREFUSED" })).reason, "Network")
      const frame = Upstream.backendError(
        new ResponsesError({ reason: "ErrorFrame", status: 400, code: "invalid_value", param: "model", message: "bad" })
      )
      assert.deepStrictEqual([frame.reason, frame.status, frame.code, frame.param], ["Upstream", 400, "invalid_value", "model"])
      assert.strictEqual(Upstream.backendError(new ResponsesError({ reason: "ConnectionLost", message: "x" })).reason, "Network")
      assert.strictEqual(Upstream.backendError(new ResponsesError({ reason: "Protocol", message: "x" })).reason, "Protocol")
    }))
})
