import { assert, describe, it } from "@effect/vitest"
import * as Auth from "@loopwire/server/Auth"
import { ConfigProvider, Effect, Either, Exit, Layer } from "effect"

const reasonOf = (result: Either.Either<string, Auth.AuthError>) =>
  Either.match(result, { onLeft: (e) => e.reason, onRight: () => "ok" })

describe("parseBearer", () => {
  it("extracts exactly one Bearer token", () => {
    assert.deepStrictEqual(Auth.parseBearer("Bearer sk-test_123"), Either.right("sk-test_123"))
    assert.deepStrictEqual(Auth.parseBearer("bearer abc.def~+/=="), Either.right("abc.def~+/=="))
    assert.deepStrictEqual(Auth.parseBearer("BEARER   key"), Either.right("key"))
  })

  it("reports a missing header", () => {
    assert.strictEqual(reasonOf(Auth.parseBearer(undefined)), "MissingCredentials")
    assert.strictEqual(reasonOf(Auth.parseBearer("")), "MissingCredentials")
    assert.strictEqual(reasonOf(Auth.parseBearer("   ")), "MissingCredentials")
  })

  it("reports a malformed header", () => {
    const headers = ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b", "Bearerkey", "Token key", "Bearer k=y", "Bearer ké"]
    for (const header of headers) {
      assert.strictEqual(reasonOf(Auth.parseBearer(header)), "MalformedHeader", header)
    }
  })
})

describe("Auth", () => {
  it.effect("allow-all accepts anything as the default tenant", () =>
    Effect.gen(function*() {
      const auth = yield* Auth.make()
      assert.strictEqual(yield* auth.authenticate(undefined), "default")
      assert.strictEqual(yield* auth.authenticate("Bearer whatever"), "default")
      assert.strictEqual(yield* auth.authenticate("garbage"), "default")
      const named = yield* Auth.make({ _tag: "AllowAll", tenant: "local" })
      assert.strictEqual(yield* named.authenticate(undefined), "local")
    }))

  it.effect("static keys map each key to its tenant and reject missing, malformed and wrong keys", () =>
    Effect.gen(function*() {
      const auth = yield* Auth.make({ _tag: "StaticKeys", keys: [["key1", "tenantA"], ["key2", "tenantB"]] })
      assert.strictEqual(yield* auth.authenticate("Bearer key1"), "tenantA")
      assert.strictEqual(yield* auth.authenticate("Bearer key2"), "tenantB")
      const failures = yield* Effect.forEach(
        [undefined, "key1", "Bearer key3", "Bearer key1x", "Bearer KEY1"],
        (header) => Effect.flip(auth.authenticate(header))
      )
      assert.deepStrictEqual(failures.map((e) => e.reason), [
        "MissingCredentials",
        "MalformedHeader",
        "InvalidKey",
        "InvalidKey",
        "InvalidKey"
      ])
      assert.strictEqual(failures[2]!.message, "Incorrect API key provided.")
    }))

  it.effect("a custom verifier receives the parsed token", () =>
    Effect.gen(function*() {
      const auth = yield* Auth.make({
        _tag: "Custom",
        verify: (token) =>
          token.startsWith("t-")
            ? Effect.succeed(token.slice(2))
            : Effect.fail(new Auth.AuthError({ reason: "InvalidKey", message: "unknown token" }))
      })
      assert.strictEqual(yield* auth.authenticate("Bearer t-acme"), "acme")
      assert.strictEqual((yield* Effect.flip(auth.authenticate("Bearer nope"))).reason, "InvalidKey")
      assert.strictEqual((yield* Effect.flip(auth.authenticate(undefined))).reason, "MissingCredentials")
    }))
})

describe("Auth configuration", () => {
  it("parses LOOPWIRE_API_KEYS entries", () => {
    assert.deepStrictEqual(
      Auth.parseApiKeys("key1:tenantA, key2:tenantB,key3"),
      Either.right([["key1", "tenantA"], ["key2", "tenantB"], ["key3", "default"]])
    )
    assert.deepStrictEqual(Auth.parseApiKeys("key1:a,,key2:b"), Either.left("entry 2 is empty"))
    assert.deepStrictEqual(Auth.parseApiKeys("key1:"), Either.left("entry 1: the tenant is empty"))
    assert.deepStrictEqual(Auth.parseApiKeys("bad key:a"), Either.left("entry 1: the key is not a valid Bearer token"))
    assert.deepStrictEqual(Auth.parseApiKeys("k:a,k:b"), Either.left("entry 2: the key is listed twice"))
  })

  const withEnv = (env: Record<string, string>) =>
    Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

  it.effect("layerConfig: static keys from LOOPWIRE_API_KEYS, allow-all when unset", () =>
    Effect.gen(function*() {
      const keyed = yield* Effect.provide(
        Effect.flatMap(Auth.Auth, (auth) => Effect.either(auth.authenticate("Bearer nope"))),
        Auth.layerConfig().pipe(Layer.provide(withEnv({ LOOPWIRE_API_KEYS: "key1:tenantA" })))
      )
      assert.isTrue(Either.isLeft(keyed))
      const ok = yield* Effect.provide(
        Effect.flatMap(Auth.Auth, (auth) => auth.authenticate("Bearer key1")),
        Auth.layerConfig().pipe(Layer.provide(withEnv({ LOOPWIRE_API_KEYS: "key1:tenantA" })))
      )
      assert.strictEqual(ok, "tenantA")
      const open = yield* Effect.provide(
        Effect.flatMap(Auth.Auth, (auth) => auth.authenticate(undefined)),
        Auth.layerConfig().pipe(Layer.provide(withEnv({})))
      )
      assert.strictEqual(open, "default")
      const bad = yield* Effect.exit(Effect.provide(
        Auth.Auth,
        Auth.layerConfig().pipe(Layer.provide(withEnv({ LOOPWIRE_API_KEYS: "a:b,a:c" })))
      ))
      assert.isTrue(Exit.isFailure(bad))
      assert.include(String(Exit.isFailure(bad) ? bad.cause : ""), "listed twice")
    }))
})
