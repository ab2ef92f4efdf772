import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Serve from "../src/Serve.js"

/** Parses `args` with the real `serve` flags and returns what the handler would get. */
const parse = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    let parsed: Serve.ServeOptions | undefined
    const probe = Command.make("serve", Serve.options, (o) => Effect.sync(() => {
      parsed = o
    }))
    yield* Command.run(probe, { name: "loopwire", version: "0.0.0" })(["node", "serve", ...args])
    return parsed!
  }).pipe(Effect.provide(NodeContext.layer))

describe("loopwire serve flags", () => {
  it.effect("every limit flag becomes a GatewayConfig override; absent flags leave the environment in charge", () =>
    Effect.gen(function*() {
      const options = yield* parse([
        "--port",
        "0",
        "--host",
        "0.0.0.0",
        "--max-connection-age",
        "25 minutes",
        "--max-in-flight",
        "4",
        "--max-lanes",
        "8",
        "--max-queued",
        "10",
        "--max-pending-steers",
        "2",
        "--max-frame-bytes",
        "1024",
        "--reject-websocket",
        "--default-model",
        "gpt-x"
      ])
      const overrides = Serve.configOverrides(options)
      assert.strictEqual(overrides.port, 0)
      assert.strictEqual(overrides.host, "0.0.0.0")
      assert.strictEqual(Duration.toMinutes(overrides.maxConnectionAge!), 25)
      assert.deepStrictEqual(
        [overrides.maxInFlight, overrides.maxLanes, overrides.maxQueued, overrides.maxPendingSteers, overrides.maxFrameBytes],
        [4, 8, 10, 2, 1024]
      )
      assert.isTrue(overrides.rejectWebSocket)
      assert.strictEqual(overrides.defaultModel, "gpt-x")
      assert.deepStrictEqual(Serve.configOverrides(yield* parse([])), {})
    }))

  it.effect("backend selection, script and upstream flags", () =>
    Effect.gen(function*() {
      const scripted = yield* parse(["--script", "builtin:demo", "--api-keys", "k1:a,k2"])
      assert.strictEqual(scripted.backend, "scripted")
      assert.deepStrictEqual(scripted.script, Option.some("builtin:demo"))
      assert.strictEqual(Option.map(scripted.apiKeys, Redacted.value).pipe(Option.getOrThrow), "k1:a,k2")
      const upstream = yield* parse(["--backend", "upstream", "--upstream-url", "http://x/v1", "--upstream-key", "sk"])
      assert.strictEqual(upstream.backend, "upstream")
      assert.deepStrictEqual(upstream.upstreamUrl, Option.some("http://x/v1"))
    }))
})
