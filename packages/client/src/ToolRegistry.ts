/**
 * Runs the model's `function_call` items against an `@effect/ai` toolkit: arguments decoded with the tool's
 * parameters schema (bad arguments become a structured error output, never a crash), bounded concurrency, a
 * per-tool timeout, results encoded as `function_call_output`, and a ledger keyed by `call_id` so a replayed call
 * never runs twice.
 *
 * Tools are `@effect/ai` `Tool`s and handlers come from the toolkit's own `toLayer`, so the handlers' requirements
 * are in the types. Loopwire's per-tool settings are `@effect/ai` tool annotations: {@link Timeout} and
 * {@link Strict}.
 *
 * @since 0.1.0
 */
import * as AiError from "@effect/ai/AiError"
import * as AiTool from "@effect/ai/Tool"
import type * as AiToolkit from "@effect/ai/Toolkit"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/**
 * A tool's timeout, as an `@effect/ai` tool annotation: `Tool.make(…).annotate(ToolRegistry.Timeout, "5 seconds")`.
 * Unset, the registry's `defaultTimeout` applies.
 *
 * @since 0.1.0
 * @category annotations
 */
export class Timeout extends Context.Reference<Timeout>()("@loopwire/client/ToolRegistry/Timeout", {
  defaultValue: (): Duration.DurationInput | undefined => undefined
}) {}

/**
 * The function tool's `strict` flag, as an `@effect/ai` tool annotation (default `false`: Effect's optional fields
 * are not strict-mode JSON Schema).
 *
 * @since 0.1.0
 * @category annotations
 */
export class Strict extends Context.Reference<Strict>()("@loopwire/client/ToolRegistry/Strict", {
  defaultValue: () => false
}) {}

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
 * A `tools[]` entry: a function tool, or a hosted tool (`{ type: "web_search", … }`) run by the provider.
 *
 * @since 0.1.0
 * @category models
 */
export type ToolDefinition = FunctionToolDefinition | { readonly type: string; readonly [key: string]: unknown }

/**
 * The `tools[]` entry for an `@effect/ai` tool: a user-defined tool becomes a function tool (its parameters'
 * JSON Schema, its description, the {@link Strict} annotation); a provider-defined tool becomes the hosted tool
 * `{ ...args, type: providerName }`.
 *
 * @since 0.1.0
 * @category json schema
 */
export const toDefinition = (tool: AiTool.Any): ToolDefinition => {
  if (AiTool.isProviderDefined(tool)) {
    return { ...(tool.args as Record<string, unknown>), type: tool.providerName }
  }
  const description = AiTool.getDescription(tool as any)
  return {
    type: "function",
    name: tool.name,
    ...(description !== undefined ? { description } : {}),
    parameters: AiTool.getJsonSchema(tool as any) as unknown as Record<string, unknown>,
    strict: Context.get(tool.annotations as Context.Context<Strict>, Strict)
  }
}

/**
 * The fields of a `function_call` output item the registry reads.
 *
 * @since 0.1.0
 * @category models
 */
export interface FunctionCallLike {
  readonly call_id: string
  readonly name: string
  readonly arguments: string
}

/**
 * A `function_call_output` input item.
 *
 * @since 0.1.0
 * @category models
 */
export interface FunctionCallOutputItem {
  readonly type: "function_call_output"
  readonly call_id: string
  readonly output: string
}

/**
 * How a call ended. `Success`/`Failure` come from the handler (encoded with the tool's success / failure schema;
 * `Failure` is a typed failure, `failureMode` either way); the others are produced by the registry and reported to
 * the model as `{"error":{"type":…,"message":…}}` (see {@link encodeOutcome}). `Defect` carries the cause: a
 * handler that died, failed with something that is not its typed failure, or returned a value its schema rejects.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | { readonly _tag: "Success"; readonly value: unknown }
  | { readonly _tag: "Failure"; readonly error: unknown }
  | { readonly _tag: "InvalidArguments"; readonly message: string }
  | { readonly _tag: "UnknownTool"; readonly message: string }
  | { readonly _tag: "Timeout"; readonly message: string }
  | { readonly _tag: "Defect"; readonly message: string; readonly cause: Cause.Cause<unknown> }

/**
 * One finished call.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallRecord {
  readonly callId: string
  readonly name: string
  readonly outcome: Outcome
  readonly output: FunctionCallOutputItem
  /** True when the ledger answered (the call had already run or was running). */
  readonly replayed: boolean
}

/**
 * Events of a dispatch.
 *
 * @since 0.1.0
 * @category models
 */
export type DispatchEvent =
  | { readonly _tag: "ToolStarted"; readonly callId: string; readonly name: string; readonly arguments: string }
  | { readonly _tag: "ToolFinished"; readonly record: CallRecord }

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Calls running at once (default 8). */
  readonly concurrency?: number | undefined
  /** Timeout for tools without a {@link Timeout} annotation (default 60 seconds). */
  readonly defaultTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  /** The `tools[]` entries, generated once with the registry. */
  readonly definitions: ReadonlyArray<ToolDefinition>
  /** Runs one call (through the ledger). */
  readonly call: (call: FunctionCallLike) => Effect.Effect<CallRecord>
  /** Runs calls with bounded concurrency, emitting started/finished events as they happen. */
  readonly dispatch: (calls: ReadonlyArray<FunctionCallLike>) => Stream.Stream<DispatchEvent>
  /** Runs calls and returns their outputs in call order. */
  readonly dispatchAll: (calls: ReadonlyArray<FunctionCallLike>) => Effect.Effect<ReadonlyArray<CallRecord>>
  /** How many handler executions completed (success or typed failure; replays excluded). */
  readonly executions: Effect.Effect<number>
  /** Whether the ledger holds a call. */
  readonly hasRun: (callId: string) => Effect.Effect<boolean>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ToolRegistry extends Context.Tag("@loopwire/client/ToolRegistry")<ToolRegistry, Shape>() {}

/**
 * What running a toolkit's calls needs: the handlers its `toLayer` provides, and what its tools declare with
 * `dependencies` (as in `@effect/ai`).
 *
 * @since 0.1.0
 * @category utility types
 */
export type Requirements<Tools extends Record<string, AiTool.Any>> =
  | AiTool.HandlersFor<Tools>
  | AiTool.Requirements<Tools[keyof Tools]>

/**
 * The text a call's outcome becomes in its `function_call_output`. A success is its encoded value (a string as
 * is, else JSON); everything else is `{"error": …}`: the encoded typed failure, or
 * `{"type":"invalid_arguments"|"unknown_tool"|"timeout"|"tool_error","message":…}`. A `tool_error` never shows the
 * cause to the model (it goes to the log and the agent events).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeOutcome = (outcome: Outcome): string => {
  switch (outcome._tag) {
    case "Success":
      return typeof outcome.value === "string" ? outcome.value : JSON.stringify(outcome.value ?? null)
    case "Failure":
      return JSON.stringify({ error: outcome.error ?? null })
    case "InvalidArguments":
      return JSON.stringify({ error: { type: "invalid_arguments", message: outcome.message } })
    case "UnknownTool":
      return JSON.stringify({ error: { type: "unknown_tool", message: outcome.message } })
    case "Timeout":
      return JSON.stringify({ error: { type: "timeout", message: outcome.message } })
    case "Defect":
      return JSON.stringify({ error: { type: "tool_error", message: outcome.message } })
  }
}

const parseArguments = (text: string): Option.Option<unknown> => {
  if (text.trim() === "") return Option.some({})
  try {
    return Option.some(AiTool.unsafeSecureJsonParse(text))
  } catch {
    return Option.none()
  }
}

interface Entry {
  readonly tool: AiTool.Any
  readonly decode: (u: unknown) => Effect.Effect<unknown, ParseResult.ParseError>
  readonly isFailure: (u: unknown) => boolean
  readonly encodeFailure: (u: unknown) => Effect.Effect<unknown, ParseResult.ParseError>
  readonly timeout: Duration.Duration
}

// Tool schemas carry no requirements the registry cannot see; `All` only widens for `Schema.Never`.
const asSchema = (schema: Schema.Schema.All) => schema as unknown as Schema.Schema<any, any, never>

/**
 * Builds a registry over an `@effect/ai` toolkit whose handlers (its `toLayer`) are in the context. Each registry
 * has its own ledger: use one per conversation.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Tools extends Record<string, AiTool.Any>>(
  toolkit: AiToolkit.Toolkit<Tools>,
  options?: Options
): Effect.Effect<Shape, never, Requirements<Tools>> =>
  Effect.gen(function*() {
    const withHandler = yield* (toolkit as unknown as Effect.Effect<AiToolkit.WithHandler<Record<string, AiTool.Any>>>)
    // What the tools declare (`dependencies`) is captured here, so every call runs in it.
    const context = yield* Effect.context<never>()
    const concurrency = Math.max(1, options?.concurrency ?? 8)
    const defaultTimeout = Duration.decode(options?.defaultTimeout ?? Duration.seconds(60))
    const definitions = Object.values(toolkit.tools).map(toDefinition)
    const entries = new Map<string, Entry>()
    for (const tool of Object.values(toolkit.tools)) {
      if (AiTool.isProviderDefined(tool)) continue
      const timeout = Context.get(tool.annotations as Context.Context<Timeout>, Timeout)
      entries.set(tool.name, {
        tool,
        decode: Schema.decodeUnknown(asSchema(tool.parametersSchema)),
        isFailure: Schema.is(asSchema(tool.failureSchema)),
        encodeFailure: Schema.encodeUnknown(asSchema(tool.failureSchema)),
        timeout: timeout !== undefined ? Duration.decode(timeout) : defaultTimeout
      })
    }
    const ledger = new Map<string, Deferred.Deferred<CallRecord>>()
    let executions = 0

    const defect = (call: FunctionCallLike, message: string, cause: Cause.Cause<unknown>): Effect.Effect<Outcome> =>
      Effect.logError(message, cause).pipe(
        Effect.annotateLogs({ module: "ToolRegistry", tool: call.name, call_id: call.call_id }),
        Effect.as<Outcome>({ _tag: "Defect", message, cause })
      )

    const run = (call: FunctionCallLike, entry: Entry, args: unknown): Effect.Effect<Outcome> =>
      withHandler.handle(call.name, args as never).pipe(
        Effect.provide(context),
        Effect.tap(() =>
          Effect.sync(() => {
            executions++
          })
        ),
        Effect.timeoutOption(entry.timeout),
        Effect.exit,
        Effect.flatMap((exit): Effect.Effect<Outcome> => {
          if (Exit.isSuccess(exit)) {
            if (Option.isNone(exit.value)) {
              return Effect.succeed({
                _tag: "Timeout",
                message: `Tool '${call.name}' timed out after ${Duration.format(entry.timeout)}.`
              })
            }
            const result = exit.value.value
            return Effect.succeed(
              result.isFailure
                ? { _tag: "Failure", error: result.encodedResult }
                : { _tag: "Success", value: result.encodedResult }
            )
          }
          // Interruption from outside propagates; a crashing handler is reported to the model and logged.
          if (Cause.isInterruptedOnly(exit.cause)) return Effect.interrupt
          const failure = Cause.failureOption(exit.cause as Cause.Cause<unknown>)
          if (Option.isSome(failure) && entry.isFailure(failure.value)) {
            executions++
            return entry.encodeFailure(failure.value).pipe(
              Effect.map((error): Outcome => ({ _tag: "Failure", error })),
              Effect.catchAll((error) =>
                defect(call, `Tool '${call.name}' failed with a value its failure schema cannot encode.`, Cause.fail(error))
              )
            )
          }
          if (Option.isSome(failure) && AiError.isAiError(failure.value) && failure.value._tag === "MalformedInput") {
            return defect(call, `Tool '${call.name}' returned a result its schema rejects.`, exit.cause)
          }
          return defect(call, `Tool '${call.name}' failed unexpectedly.`, exit.cause)
        })
      )

    const execute = (call: FunctionCallLike): Effect.Effect<Outcome> => {
      const entry = entries.get(call.name)
      if (entry === undefined) {
        return Effect.succeed({ _tag: "UnknownTool", message: `No tool named '${call.name}'.` })
      }
      const args = parseArguments(call.arguments)
      if (Option.isNone(args)) {
        return Effect.succeed({ _tag: "InvalidArguments", message: "The arguments are not valid JSON." })
      }
      return entry.decode(args.value).pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            Effect.succeed<Outcome>({
              _tag: "InvalidArguments",
              message: ParseResult.TreeFormatter.formatErrorSync(error)
            }),
          onSuccess: () => run(call, entry, args.value)
        })
      )
    }

    const call = (fc: FunctionCallLike): Effect.Effect<CallRecord> =>
      Effect.suspend(() => {
        const existing = ledger.get(fc.call_id)
        if (existing !== undefined) {
          return Effect.map(Deferred.await(existing), (record) => ({ ...record, replayed: true }))
        }
        const deferred = Deferred.unsafeMake<CallRecord>(undefined as never)
        ledger.set(fc.call_id, deferred)
        return execute(fc).pipe(
          Effect.map((outcome): CallRecord => ({
            callId: fc.call_id,
            name: fc.name,
            outcome,
            output: { type: "function_call_output", call_id: fc.call_id, output: encodeOutcome(outcome) },
            replayed: false
          })),
          Effect.tap((record) => Deferred.succeed(deferred, record)),
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              // An interrupted call did not finish: forget it so a later replay runs it.
              ledger.delete(fc.call_id)
            }).pipe(Effect.zipRight(Deferred.interrupt(deferred)))
          ),
          Effect.withSpan("ToolRegistry.call", {
            captureStackTrace: false,
            attributes: { "gen_ai.tool.name": fc.name, "gen_ai.tool.call.id": fc.call_id }
          })
        )
      })

    const dispatch = (calls: ReadonlyArray<FunctionCallLike>): Stream.Stream<DispatchEvent> =>
      Stream.fromIterable(calls).pipe(
        Stream.flatMap(
          (fc) =>
            Stream.concat(
              Stream.succeed<DispatchEvent>({
                _tag: "ToolStarted",
                callId: fc.call_id,
                name: fc.name,
                arguments: fc.arguments
              }),
              Stream.fromEffect(Effect.map(call(fc), (record): DispatchEvent => ({ _tag: "ToolFinished", record })))
            ),
          { concurrency }
        )
      )

    const dispatchAll = (calls: ReadonlyArray<FunctionCallLike>) => Effect.forEach(calls, call, { concurrency })

    return {
      definitions,
      call,
      dispatch,
      dispatchAll,
      executions: Effect.sync(() => executions),
      hasRun: (callId: string) => Effect.sync(() => ledger.has(callId))
    } satisfies Shape
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = <Tools extends Record<string, AiTool.Any>>(
  toolkit: AiToolkit.Toolkit<Tools>,
  options?: Options
): Layer.Layer<ToolRegistry, never, Requirements<Tools>> => Layer.effect(ToolRegistry, make(toolkit, options))
