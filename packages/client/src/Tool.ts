/**
 * A tool the model may call: a name, a description, and `effect/Schema` schemas for its parameters, its
 * success value and its failure value. The shape follows `@effect/ai`'s `Tool` so definitions read the same.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as JSONSchema from "effect/JSONSchema"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@loopwire/client/Tool")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A tool definition. Parameters decode from the model's JSON `arguments`; the handler's success (or typed
 * failure) is encoded with `success` (or `failure`) into the `function_call_output` the model reads.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tool<
  Name extends string,
  Parameters extends Schema.Schema.All,
  Success extends Schema.Schema.All,
  Failure extends Schema.Schema.All
> {
  readonly [TypeId]: TypeId
  readonly name: Name
  readonly description: string | undefined
  readonly parameters: Parameters
  readonly success: Success
  readonly failure: Failure
  /** Per-tool timeout; the registry's default applies when undefined. */
  readonly timeout: Duration.DurationInput | undefined
  /** Sent as the function tool's `strict` flag (default false: Effect's optional fields are not strict-mode JSON Schema). */
  readonly strict: boolean
}

/**
 * Any tool, for collections.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly description: string | undefined
  readonly parameters: Schema.Schema.All
  readonly success: Schema.Schema.All
  readonly failure: Schema.Schema.All
  readonly timeout: Duration.DurationInput | undefined
  readonly strict: boolean
}

/**
 * The decoded parameters a tool's handler receives.
 *
 * @since 0.1.0
 * @category utility types
 */
export type Parameters<T extends Any> = Schema.Schema.Type<T["parameters"]>

/**
 * The value a tool's handler succeeds with.
 *
 * @since 0.1.0
 * @category utility types
 */
export type Success<T extends Any> = Schema.Schema.Type<T["success"]>

/**
 * The typed failure a tool's handler may fail with (reported to the model, not raised).
 *
 * @since 0.1.0
 * @category utility types
 */
export type Failure<T extends Any> = Schema.Schema.Type<T["failure"]>

/**
 * @since 0.1.0
 * @category guards
 */
export const isTool = (u: unknown): u is Any => Predicate.hasProperty(u, TypeId)

/**
 * Defines a tool. `parameters` is a `Schema.Struct` or its fields (default: no parameters); `success`
 * defaults to `Schema.Unknown`, `failure` to `Schema.Never`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  const Name extends string,
  Fields extends Schema.Struct.Fields = {},
  Success extends Schema.Schema.All = typeof Schema.Unknown,
  Failure extends Schema.Schema.All = typeof Schema.Never
>(
  name: Name,
  options?: {
    readonly description?: string | undefined
    readonly parameters?: Fields | undefined
    readonly success?: Success | undefined
    readonly failure?: Failure | undefined
    readonly timeout?: Duration.DurationInput | undefined
    readonly strict?: boolean | undefined
  }
): Tool<Name, Schema.Struct<Fields>, Success, Failure> => ({
  [TypeId]: TypeId,
  name,
  description: options?.description,
  parameters: Schema.Struct((options?.parameters ?? {}) as Fields) as Schema.Struct<Fields>,
  success: (options?.success ?? Schema.Unknown) as Success,
  failure: (options?.failure ?? Schema.Never) as Failure,
  timeout: options?.timeout,
  strict: options?.strict ?? false
})

/**
 * Defines a tool whose parameters are an arbitrary schema (e.g. a class schema or a union).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSchema = <
  const Name extends string,
  Parameters extends Schema.Schema.All,
  Success extends Schema.Schema.All = typeof Schema.Unknown,
  Failure extends Schema.Schema.All = typeof Schema.Never
>(
  name: Name,
  options: {
    readonly description?: string | undefined
    readonly parameters: Parameters
    readonly success?: Success | undefined
    readonly failure?: Failure | undefined
    readonly timeout?: Duration.DurationInput | undefined
    readonly strict?: boolean | undefined
  }
): Tool<Name, Parameters, Success, Failure> => ({
  [TypeId]: TypeId,
  name,
  description: options.description,
  parameters: options.parameters,
  success: (options.success ?? Schema.Unknown) as Success,
  failure: (options.failure ?? Schema.Never) as Failure,
  timeout: options.timeout,
  strict: options.strict ?? false
})

/**
 * The JSON Schema of a tool's parameters, as sent in a function tool's `parameters`.
 *
 * @since 0.1.0
 * @category json schema
 */
export const parametersJsonSchema = (schema: Schema.Schema.All): Record<string, unknown> => {
  const $defs: Record<string, JSONSchema.JsonSchema7> = {}
  const json = JSONSchema.fromAST(schema.ast, { definitions: $defs, topLevelReferenceStrategy: "skip" }) as unknown as Record<
    string,
    unknown
  >
  return Object.keys($defs).length === 0 ? json : { ...json, $defs }
}

/**
 * A Responses API function tool definition (`tools[]` entry).
 *
 * @since 0.1.0
 * @category models
 */
export interface FunctionToolDefinition {
  readonly type: "function"
  readonly name: string
  readonly description?: string
  readonly parameters: Record<string, unknown>
  readonly strict: boolean
}

/**
 * The `tools[]` entry for a tool. Computed once per toolkit and reused every turn.
 *
 * @since 0.1.0
 * @category json schema
 */
export const toDefinition = (tool: Any): FunctionToolDefinition => ({
  type: "function",
  name: tool.name,
  ...(tool.description !== undefined ? { description: tool.description } : {}),
  parameters: parametersJsonSchema(tool.parameters),
  strict: tool.strict
})
