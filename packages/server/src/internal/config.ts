/**
 * Configuration readers shared by the gateway's services.
 *
 * @internal
 */
import * as Config from "effect/Config"

/** A non-negative integer variable `name`, `fallback` when unset (a budget or a count; `0` is allowed). */
export const nonNegative = (name: string, fallback: number): Config.Config<number> =>
  Config.withDefault(nonNegativeRequired(name), fallback)

/** A non-negative integer variable `name`, with no default. */
export const nonNegativeRequired = (name: string): Config.Config<number> =>
  Config.integer(name).pipe(Config.validate({ message: "must be a non-negative integer", validation: (n) => n >= 0 }))
