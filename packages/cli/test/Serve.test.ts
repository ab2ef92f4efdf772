import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
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

describe("loopwire serve resume and Redis flags", () => {
  it.effect("--no-resume, --resume-grace, --resume-log-bytes become overrides; absent flags leave them alone", () =>
    Effect.gen(function*() {
      const overrides = Serve.configOverrides(
        yield* parse(["--no-resume", "--resume-grace", "90 seconds", "--resume-log-bytes", "4096"])
      )
      assert.strictEqual(overrides.resume, false)
      assert.strictEqual(Duration.toMillis(overrides.resumeGrace!), 90_000)
      assert.strictEqual(overrides.resumeLogBytes, 4096)
      const zero = Serve.configOverrides(yield* parse(["--resume-grace", "0"]))
      assert.strictEqual(Duration.toMillis(zero.resumeGrace!), 0)
      const none = Serve.configOverrides(yield* parse([]))
      assert.isFalse("resume" in none || "resumeGrace" in none || "resumeLogBytes" in none)
    }))

  it.effect("--http-keep-alive-timeout becomes an override; a bad value is rejected", () =>
    Effect.gen(function*() {
      const overrides = Serve.configOverrides(yield* parse(["--http-keep-alive-timeout", "2 minutes"]))
      assert.strictEqual(Duration.toMillis(overrides.httpKeepAliveTimeout!), 120_000)
      assert.isFalse("httpKeepAliveTimeout" in Serve.configOverrides(yield* parse([])))
      const error = yield* Effect.flip(parse(["--http-keep-alive-timeout", "0"]))
      assert.include(JSON.stringify(error), "--http-keep-alive-timeout")
    }))

  it.effect("--heartbeat-interval and --heartbeat-timeout become overrides (0 turns the heartbeat off)", () =>
    Effect.gen(function*() {
      const overrides = Serve.configOverrides(
        yield* parse(["--heartbeat-interval", "15 seconds", "--heartbeat-timeout", "3 seconds"])
      )
      assert.strictEqual(Duration.toMillis(overrides.heartbeatInterval!), 15_000)
      assert.strictEqual(Duration.toMillis(overrides.heartbeatTimeout!), 3_000)
      const off = Serve.configOverrides(yield* parse(["--heartbeat-interval", "0"]))
      assert.strictEqual(Duration.toMillis(off.heartbeatInterval!), 0)
      const none = Serve.configOverrides(yield* parse([]))
      assert.isFalse("heartbeatInterval" in none || "heartbeatTimeout" in none)
      const error = yield* Effect.flip(parse(["--heartbeat-timeout", "soon"]))
      assert.include(JSON.stringify(error), "--heartbeat-timeout")
    }))

  it.effect("a bad --resume-grace is refused with a readable message", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(parse(["--resume-grace", "soon"]))
      assert.include(JSON.stringify(error), "--resume-grace")
    }))

  it.effect("--redis selects Redis (the flag wins over LOOPWIRE_REDIS_URL); nothing set = memory", () =>
    Effect.gen(function*() {
      const flagged = yield* parse(["--redis", "redis://127.0.0.1:6390"])
      const url = yield* Serve.redisUrl(flagged)
      assert.strictEqual(Option.map(url, Redacted.value).pipe(Option.getOrThrow), "redis://127.0.0.1:6390")
      const plain = yield* parse([])
      const fromEnv = yield* Serve.redisUrl(plain).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["LOOPWIRE_REDIS_URL", "redis://env:1"]])))
      )
      assert.strictEqual(Option.map(fromEnv, Redacted.value).pipe(Option.getOrThrow), "redis://env:1")
      const unset = yield* Serve.redisUrl(plain).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      assert.isTrue(Option.isNone(unset))
    }))

  it.effect("--store-ttl, --resume-live-ttl and --redis-prefix parse; a bad or zero duration is refused by name", () =>
    Effect.gen(function*() {
      const parsed = yield* parse(["--store-ttl", "2 seconds", "--resume-live-ttl", "5 minutes", "--redis-prefix", "blue"])
      assert.strictEqual(Duration.toMillis(Option.getOrThrow(parsed.storeTtl)), 2_000)
      assert.strictEqual(Duration.toMillis(Option.getOrThrow(parsed.resumeLiveTtl)), 300_000)
      assert.strictEqual(Option.getOrThrow(parsed.redisPrefix), "blue")
      const none = yield* parse([])
      assert.isTrue(Option.isNone(none.storeTtl) && Option.isNone(none.resumeLiveTtl) && Option.isNone(none.redisPrefix))
      for (const [flag, value] of [["--store-ttl", "soon"], ["--store-ttl", "0 seconds"], ["--resume-live-ttl", "x"]]) {
        const error = yield* Effect.flip(parse([flag!, value!]))
        assert.include(JSON.stringify(error), flag!)
      }
    }))
})
