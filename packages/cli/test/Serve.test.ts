import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Auth from "@loopwire/server/Auth"
import * as GatewayConfig from "@loopwire/server/GatewayConfig"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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
        "--max-connections",
        "300",
        "--max-tenant-connections",
        "100",
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
      assert.deepStrictEqual([overrides.maxConnections, overrides.maxTenantConnections], [300, 100])
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

describe("loopwire serve safe defaults and clear errors", () => {
  it.effect("ignored or conflicting flags are reported by name; consistent flags have no problem", () =>
    Effect.gen(function*() {
      const problems = (args: ReadonlyArray<string>, redis = false) =>
        Effect.map(parse(args), (o) => Serve.flagProblems(o, redis))
      assert.deepStrictEqual(yield* problems(["--upstream-url", "http://x/v1", "--upstream-model", "m"]), [
        "--upstream-url is only used with --backend upstream",
        "--upstream-model is only used with --backend upstream"
      ])
      assert.deepStrictEqual(yield* problems(["--backend", "upstream", "--upstream-url", "http://x/v1", "--script", "a.json"]), [
        "--script is only used with --backend scripted (the default)"
      ])
      assert.deepStrictEqual(yield* problems(["--no-resume", "--resume-grace", "5 seconds", "--resume-log-bytes", "9"]), [
        "--resume-grace has no effect with --no-resume",
        "--resume-log-bytes has no effect with --no-resume"
      ])
      assert.deepStrictEqual(yield* problems(["--redis-prefix", "blue"]), [
        "--redis-prefix is only used with --redis (or LOOPWIRE_REDIS_URL)"
      ])
      assert.deepStrictEqual(yield* problems(["--redis-prefix", "blue"], true), [])
      assert.deepStrictEqual(yield* problems(["--allow-anonymous", "--api-keys", "k:t"]), [
        "--allow-anonymous conflicts with --api-keys"
      ])
      assert.deepStrictEqual(yield* problems(["--backend", "upstream", "--upstream-url", "http://x/v1", "--port", "0"]), [])
    }))

  it.effect("allow-all auth is refused on a non-loopback address unless --allow-anonymous; keys or loopback are fine", () =>
    Effect.sync(() => {
      const allowAll: Auth.Options = { _tag: "AllowAll" }
      const keys: Auth.Options = { _tag: "StaticKeys", keys: [["k", "t"]] }
      const refusal = (host: string, auth: Auth.Options, allowAnonymous = false, backend: "scripted" | "upstream" = "scripted") =>
        Serve.anonymousRefusal({ host, auth, allowAnonymous, backend })
      assert.include(refusal("0.0.0.0", allowAll)!, "refusing to serve without API keys on 0.0.0.0")
      assert.include(refusal("0.0.0.0", allowAll, false, "upstream")!, "spend the upstream API key")
      assert.include(refusal("10.1.2.3", allowAll)!, "--allow-anonymous")
      assert.include(refusal("::", allowAll)!, "on ::")
      assert.isUndefined(refusal("0.0.0.0", allowAll, true))
      assert.isUndefined(refusal("0.0.0.0", keys))
      for (const host of ["127.0.0.1", "127.8.9.10", "localhost", "::1", "[::1]"]) {
        assert.isTrue(Serve.isLoopback(host), host)
        assert.isUndefined(refusal(host, allowAll), host)
      }
      assert.isFalse(Serve.isLoopback("128.0.0.1"))
    }))

  it.effect("a limit out of range names its flag and variable, not the internal key", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(GatewayConfig.layerConfig({ maxLanes: -1 })))
      const message = Serve.describeConfigError(error)
      assert.isTrue(message.startsWith("--max-lanes (or LOOPWIRE_MAX_LANES): must be an integer from 0 to"), message)
      assert.notInclude(message, "maxLanes")
    }).pipe(Effect.scoped, Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))))

  it.effect("a bind failure names the code and the address", () =>
    Effect.sync(() => {
      const inUse = Object.assign(new Error("listen EADDRINUSE: address already in use 127.0.0.1:8080"), {
        code: "EADDRINUSE"
      })
      assert.include(Serve.describeBindError(inUse, "127.0.0.1", 8080), "EADDRINUSE 127.0.0.1:8080")
      assert.include(Serve.describeBindError({ code: "EACCES" }, "::1", 80), "EACCES [::1]:80")
    }))
})
