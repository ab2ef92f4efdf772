/**
 * Bearer token → tenant. The gateway authenticates the upgrade (and every HTTP request) with this service and
 * answers a failure with a plain HTTP 401.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"

/**
 * The tenant a request acts for. Stored responses are scoped by it.
 *
 * @since 0.1.0
 * @category models
 */
export type Tenant = string

/**
 * The tenant every request gets under allow-all.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTenant: Tenant = "default"

/**
 * Why a request was not authenticated. The gateway answers every reason with HTTP 401.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthError extends Schema.TaggedError<AuthError>("@loopwire/server/AuthError")("AuthError", {
  reason: Schema.Literal("MissingCredentials", "MalformedHeader", "InvalidKey"),
  message: Schema.String
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  /** Authenticates the value of an `Authorization` header (undefined when the header is absent). */
  readonly authenticate: (authorization: string | undefined) => Effect.Effect<Tenant, AuthError>
  /** True when anyone gets in (`allowAll`): the gateway then also checks `Host` against DNS rebinding. */
  readonly open?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Auth extends Context.Tag("@loopwire/server/Auth")<Auth, Shape>() {}

// RFC 6750 §2.1: `Bearer` (case-insensitive scheme), one or more spaces, then a b64token.
const bearerPattern = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i

/**
 * Extracts the token of an `Authorization: Bearer <token>` header. Pure; exact about the syntax: a missing or
 * empty header is `MissingCredentials`, anything that is not one Bearer b64token is `MalformedHeader`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseBearer = (authorization: string | undefined): Either.Either<string, AuthError> => {
  if (authorization === undefined || authorization.trim() === "") {
    return Either.left(
      new AuthError({
        reason: "MissingCredentials",
        message: "Missing Authorization header (expected 'Bearer <key>')."
      })
    )
  }
  const match = bearerPattern.exec(authorization.trim())
  if (match === null) {
    return Either.left(
      new AuthError({
        reason: "MalformedHeader",
        message: "Malformed Authorization header: expected 'Bearer <key>' with a single token."
      })
    )
  }
  return Either.right(match[1]!)
}

const invalidKey = () =>
  new AuthError({ reason: "InvalidKey", message: "Incorrect API key provided." })

/**
 * Accepts every request, with or without a header, as one tenant. For local use; the default.
 *
 * @since 0.1.0
 * @category constructors
 */
export const allowAll = (tenant: Tenant = defaultTenant): Shape => {
  const result = Effect.succeed(tenant)
  return { authenticate: () => result, open: true }
}

// Keys are compared by digest so the lookup's timing does not depend on how much of a key matched.
const digest = (key: string): string => createHash("sha256").update(key).digest("hex")

/**
 * Accepts exactly the listed keys, each mapped to its tenant.
 *
 * @since 0.1.0
 * @category constructors
 */
export const staticKeys = (keys: Iterable<readonly [key: string, tenant: Tenant]>): Shape => {
  const byDigest = new Map<string, Tenant>()
  for (const [key, tenant] of keys) byDigest.set(digest(key), tenant)
  return {
    authenticate: (authorization) =>
      Either.match(parseBearer(authorization), {
        onLeft: Effect.fail,
        onRight: (token) => {
          const tenant = byDigest.get(digest(token))
          return tenant === undefined ? Effect.fail(invalidKey()) : Effect.succeed(tenant)
        }
      })
  }
}

/**
 * Parses the Bearer header, then asks `verify` for the token's tenant (e.g. a database lookup).
 *
 * @since 0.1.0
 * @category constructors
 */
export const custom = (verify: (token: string) => Effect.Effect<Tenant, AuthError>): Shape => ({
  authenticate: (authorization) =>
    Either.match(parseBearer(authorization), { onLeft: Effect.fail, onRight: verify })
})

/**
 * How to authenticate: allow-all (optionally naming the tenant), a static key list, or a custom verifier.
 *
 * @since 0.1.0
 * @category models
 */
export type Options =
  | { readonly _tag: "AllowAll"; readonly tenant?: Tenant | undefined }
  | { readonly _tag: "StaticKeys"; readonly keys: ReadonlyArray<readonly [key: string, tenant: Tenant]> }
  | { readonly _tag: "Custom"; readonly verify: (token: string) => Effect.Effect<Tenant, AuthError> }

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = { _tag: "AllowAll" }): Effect.Effect<Shape> =>
  Effect.sync(() => {
    switch (options._tag) {
      case "AllowAll":
        return allowAll(options.tenant ?? defaultTenant)
      case "StaticKeys":
        return staticKeys(options.keys)
      case "Custom":
        return custom(options.verify)
    }
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = { _tag: "AllowAll" }): Layer.Layer<Auth> => Layer.effect(Auth, make(options))

/**
 * Parses a key list `key1:tenantA,key2:tenantB`. A key without `:tenant` belongs to the `default` tenant.
 * Whitespace around entries is ignored; an empty entry, an empty tenant, a key that is not a Bearer token, or a
 * key listed twice is an error naming the entry.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseApiKeys = (
  text: string
): Either.Either<ReadonlyArray<readonly [key: string, tenant: Tenant]>, string> => {
  const result: Array<readonly [string, Tenant]> = []
  const seen = new Set<string>()
  const entries = text.split(",").map((entry) => entry.trim())
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!
    if (entry === "") return Either.left(`entry ${i + 1} is empty`)
    const colon = entry.indexOf(":")
    const key = (colon === -1 ? entry : entry.slice(0, colon)).trim()
    const tenant = (colon === -1 ? defaultTenant : entry.slice(colon + 1)).trim()
    if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(key)) {
      return Either.left(`entry ${i + 1}: the key is not a valid Bearer token`)
    }
    if (tenant === "") return Either.left(`entry ${i + 1}: the tenant is empty`)
    if (seen.has(key)) return Either.left(`entry ${i + 1}: the key is listed twice`)
    seen.add(key)
    result.push([key, tenant])
  }
  return Either.right(result)
}

/**
 * Options from configuration: `LOOPWIRE_API_KEYS` (`key1:tenantA,key2:tenantB`, redacted) selects static keys;
 * when it is unset or empty every request is allowed as tenant `default`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.option(Config.redacted("LOOPWIRE_API_KEYS")).pipe(
  Config.mapOrFail((keys): Either.Either<Options, ConfigError.ConfigError> => {
    if (Option.isNone(keys) || Redacted.value(keys.value).trim() === "") {
      return Either.right({ _tag: "AllowAll" })
    }
    return Either.match(parseApiKeys(Redacted.value(keys.value)), {
      onLeft: (message) => Either.left(ConfigError.InvalidData(["LOOPWIRE_API_KEYS"], message)),
      onRight: (parsed) => Either.right({ _tag: "StaticKeys", keys: parsed })
    })
  })
)

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: Config.Config<Options> = config): Layer.Layer<Auth, ConfigError.ConfigError> =>
  Layer.effect(Auth, Effect.flatMap(options, make))
