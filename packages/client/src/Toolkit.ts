/**
 * A group of tools whose handlers a Layer provides. The `tools` JSON (`definitions`) is generated once, when
 * the toolkit is made, and reused on every turn. `fromEffectAi` accepts an `@effect/ai` Toolkit as is.
 *
 * @since 0.1.0
 */
import type * as AiTool from "@effect/ai/Tool"
import type * as AiToolkit from "@effect/ai/Toolkit"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Tool from "./Tool.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@loopwire/client/Toolkit")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The context entry holding one tool's handler (keyed by tool name).
 *
 * @since 0.1.0
 * @category models
 */
export interface Handler<Name extends string> {
  readonly _: unique symbol
  readonly name: Name
}

/**
 * The handler entries a toolkit's tools need.
 *
 * @since 0.1.0
 * @category utility types
 */
export type HandlersFor<Tools extends Record<string, Tool.Any>> = {
  [K in keyof Tools]: Handler<Tools[K]["name"]>
}[keyof Tools]

/**
 * Handler functions, one per tool: decoded parameters in, success or typed failure out.
 *
 * @since 0.1.0
 * @category utility types
 */
export type HandlersFrom<Tools extends Record<string, Tool.Any>> = {
  readonly [K in keyof Tools]: (
    params: Tool.Parameters<Tools[K]>
  ) => Effect.Effect<Tool.Success<Tools[K]>, Tool.Failure<Tools[K]>, any>
}

/**
 * The outcome of one call, already encoded for the model. Never an error: bad arguments and typed failures
 * are answers the model reads.
 *
 * @since 0.1.0
 * @category models
 */
export type CallResult =
  | { readonly _tag: "Success"; readonly value: unknown }
  | { readonly _tag: "Failure"; readonly error: unknown }
  | { readonly _tag: "InvalidArguments"; readonly message: string }
  | { readonly _tag: "UnknownTool"; readonly message: string }

/**
 * A toolkit with its handlers resolved from the context.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly definitions: ReadonlyArray<Tool.FunctionToolDefinition>
  readonly tools: Readonly<Record<string, Tool.Any>>
  /** `args` is the parsed JSON of the call's `arguments`. */
  readonly call: (name: string, args: unknown) => Effect.Effect<CallResult>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Toolkit<Tools extends Record<string, Tool.Any>, R> {
  readonly [TypeId]: TypeId
  readonly tools: Tools
  /** The Responses `tools[]` entries, computed once. */
  readonly definitions: ReadonlyArray<Tool.FunctionToolDefinition>
  /** Resolves the handlers from the context. */
  readonly resolve: Effect.Effect<Resolved, never, R>
}

/**
 * Any toolkit (handlers requirement erased to `any`).
 *
 * @since 0.1.0
 * @category models
 */
export type Any = Toolkit<Record<string, Tool.Any>, any>

/**
 * The handler requirement of a toolkit.
 *
 * @since 0.1.0
 * @category utility types
 */
export type Requirements<T> = T extends Toolkit<infer _Tools, infer R> ? R : never

/**
 * A toolkit of native tools, with helpers to provide their handlers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Native<Tools extends Record<string, Tool.Any>> extends Toolkit<Tools, HandlersFor<Tools>> {
  /** Type-checks a handler record. */
  of<H extends HandlersFrom<Tools>>(handlers: H): H
  /** A Layer providing the handlers (the build may use services; they are captured here). */
  toLayer<EX = never, RX = never>(
    build: HandlersFrom<Tools> | Effect.Effect<HandlersFrom<Tools>, EX, RX>
  ): Layer.Layer<HandlersFor<Tools>, EX, Exclude<RX, Scope.Scope>>
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isToolkit = (u: unknown): u is Any => Predicate.hasProperty(u, TypeId)

interface HandlerEntry {
  readonly handler: (params: any) => Effect.Effect<any, any, any>
  readonly context: Context.Context<never>
}

const handlerTag = (name: string) => Context.GenericTag<Handler<any>, HandlerEntry>(`@loopwire/client/Tool/${name}`)

// Tool schemas carry no requirements; `All` only widens for `Schema.Never`.
const asSchema = (schema: Schema.Schema.All) => schema as unknown as Schema.Schema<any, any, never>

const formatParseError = (error: ParseResult.ParseError): string =>
  ParseResult.TreeFormatter.formatErrorSync(error)

/**
 * Makes a toolkit from tools (names must be unique).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Tools extends ReadonlyArray<Tool.Any>>(
  ...tools: Tools
): Native<{ readonly [T in Tools[number] as T["name"]]: T }> => {
  type Record_ = { readonly [T in Tools[number] as T["name"]]: T }
  const byName: Record<string, Tool.Any> = {}
  for (const tool of tools) {
    if (byName[tool.name] !== undefined) throw new Error(`Toolkit: duplicate tool name '${tool.name}'`)
    byName[tool.name] = tool
  }
  const definitions = tools.map(Tool.toDefinition)
  const codecs = new Map(
    tools.map((tool) => [tool.name, {
      decode: Schema.decodeUnknown(asSchema(tool.parameters)),
      encodeSuccess: Schema.encode(asSchema(tool.success)),
      encodeFailure: Schema.encode(asSchema(tool.failure))
    }] as const)
  )
  const resolve = Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const entries = new Map<string, HandlerEntry>()
    for (const tool of tools) {
      entries.set(tool.name, Context.unsafeGet(context, handlerTag(tool.name)))
    }
    const call = (name: string, args: unknown): Effect.Effect<CallResult> => {
      const entry = entries.get(name)
      const codec = codecs.get(name)
      if (entry === undefined || codec === undefined) {
        return Effect.succeed({ _tag: "UnknownTool", message: `No tool named '${name}'.` })
      }
      return codec.decode(args).pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            Effect.succeed<CallResult>({ _tag: "InvalidArguments", message: formatParseError(error) }),
          onSuccess: (params) =>
            entry.handler(params).pipe(
              Effect.provide(entry.context),
              Effect.matchEffect({
                onFailure: (error) =>
                  codec.encodeFailure(error).pipe(
                    Effect.map((encoded): CallResult => ({ _tag: "Failure", error: encoded })),
                    Effect.orDie
                  ),
                onSuccess: (value) =>
                  codec.encodeSuccess(value).pipe(
                    Effect.map((encoded): CallResult => ({ _tag: "Success", value: encoded })),
                    Effect.orDie
                  )
              })
            ) as Effect.Effect<CallResult>
        })
      )
    }
    return { definitions, tools: byName, call } satisfies Resolved
  }) as Effect.Effect<Resolved, never, HandlersFor<Record_>>

  const toLayer = (build: any) =>
    Layer.effectContext(Effect.gen(function*() {
      const context = yield* Effect.context<never>()
      const handlers: Record<string, (params: any) => Effect.Effect<any, any, any>> = Effect.isEffect(build)
        ? yield* (build as Effect.Effect<any>)
        : build
      let out = Context.empty() as Context.Context<never>
      for (const tool of tools) {
        const handler = handlers[tool.name]
        if (handler === undefined) return yield* Effect.dieMessage(`Toolkit: missing handler for '${tool.name}'`)
        out = Context.add(out, handlerTag(tool.name), { handler, context }) as Context.Context<never>
      }
      return out
    }))

  return {
    [TypeId]: TypeId,
    tools: byName as Record_,
    definitions,
    resolve,
    of: (handlers: any) => handlers,
    toLayer
  } as unknown as Native<Record_>
}

/**
 * Adapts an `@effect/ai` Toolkit: its tools' schemas give the `tools` JSON and argument validation, and the
 * handlers its own `toLayer` provides run the calls (`failureMode: "return"` failures are reported too).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEffectAi = <Tools extends Record<string, AiTool.Any>>(
  toolkit: AiToolkit.Toolkit<Tools>
): Toolkit<Record<string, Tool.Any>, AiTool.HandlersFor<Tools>> => {
  const tools: Record<string, Tool.Any> = {}
  for (const aiTool of Object.values(toolkit.tools)) {
    tools[aiTool.name] = Tool.fromSchema(aiTool.name, {
      description: aiTool.description,
      parameters: aiTool.parametersSchema as unknown as Schema.Schema.All,
      success: aiTool.successSchema as Schema.Schema.All,
      failure: aiTool.failureSchema as Schema.Schema.All
    })
  }
  const definitions = Object.values(tools).map(Tool.toDefinition)
  const resolve = Effect.map(
    toolkit as unknown as Effect.Effect<AiToolkit.WithHandler<Tools>, never, AiTool.HandlersFor<Tools>>,
    (withHandler): Resolved => ({
      definitions,
      tools,
      call: (name, args) => {
        const tool = tools[name]
        if (tool === undefined) return Effect.succeed({ _tag: "UnknownTool", message: `No tool named '${name}'.` })
        return Schema.decodeUnknown(asSchema(tool.parameters))(args).pipe(
          Effect.matchEffect({
            onFailure: (error) =>
              Effect.succeed<CallResult>({ _tag: "InvalidArguments", message: formatParseError(error) }),
            onSuccess: () =>
              (withHandler.handle(name as keyof Tools, args as any) as Effect.Effect<
                AiTool.HandlerResult<any>,
                unknown
              >).pipe(
                Effect.matchEffect({
                  onSuccess: (result): Effect.Effect<CallResult> =>
                    Effect.succeed(
                      result.isFailure
                        ? { _tag: "Failure", error: result.encodedResult }
                        : { _tag: "Success", value: result.encodedResult }
                    ),
                  onFailure: (error) =>
                    Schema.encode(asSchema(tool.failure))(error).pipe(
                      Effect.map((encoded): CallResult => ({ _tag: "Failure", error: encoded })),
                      Effect.orDie
                    )
                })
              )
          })
        )
      }
    })
  )
  return { [TypeId]: TypeId, tools, definitions, resolve }
}
