/**
 * Runs the model's `function_call` items against a toolkit: arguments decoded with the tool's schema (bad
 * arguments become a structured error output, never a crash), bounded concurrency, a per-tool timeout,
 * results encoded as `function_call_output`, and a ledger keyed by `call_id` so a replayed call never runs
 * twice.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as Tool from "./Tool.js"
import type * as Toolkit from "./Toolkit.js"

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
 * How a call ended. `Success`/`Failure` come from the handler; the others are produced by the registry and
 * reported to the model as `{"error":{"type":...,"message":...}}`.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | Toolkit.CallResult
  | { readonly _tag: "Timeout"; readonly message: string }
  | { readonly _tag: "Defect"; readonly message: string }

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
  /** Timeout for tools without their own (default 60 seconds). */
  readonly defaultTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  /** The `tools[]` entries, generated once with the toolkit. */
  readonly definitions: ReadonlyArray<Tool.FunctionToolDefinition>
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
 * The text a call's outcome becomes in its `function_call_output`.
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
    return Option.some(JSON.parse(text))
  } catch {
    return Option.none()
  }
}

/**
 * Builds a registry over a toolkit whose handlers are in the context. Each registry has its own ledger: use
 * one per conversation.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <T extends Toolkit.Any>(
  toolkit: T,
  options?: Options
): Effect.Effect<Shape, never, Toolkit.Requirements<T>> =>
  Effect.gen(function*() {
    const resolved = yield* (toolkit.resolve as Effect.Effect<Toolkit.Resolved, never, Toolkit.Requirements<T>>)
    const concurrency = Math.max(1, options?.concurrency ?? 8)
    const defaultTimeout = Duration.decode(options?.defaultTimeout ?? Duration.seconds(60))
    const ledger = new Map<string, Deferred.Deferred<CallRecord>>()
    let executions = 0

    const execute = (call: FunctionCallLike): Effect.Effect<Outcome> => {
      const tool = resolved.tools[call.name]
      if (tool === undefined) {
        return Effect.succeed({ _tag: "UnknownTool", message: `No tool named '${call.name}'.` })
      }
      const args = parseArguments(call.arguments)
      if (Option.isNone(args)) {
        return Effect.succeed({ _tag: "InvalidArguments", message: "The arguments are not valid JSON." })
      }
      const timeout = tool.timeout !== undefined ? Duration.decode(tool.timeout) : defaultTimeout
      return resolved.call(call.name, args.value).pipe(
        Effect.tap((result) =>
          Effect.sync(() => {
            if (result._tag === "Success" || result._tag === "Failure") executions++
          })
        ),
        Effect.timeoutOption(timeout),
        Effect.exit,
        Effect.flatMap((exit): Effect.Effect<Outcome> => {
          if (Exit.isSuccess(exit)) {
            return Effect.succeed(
              Option.isSome(exit.value)
                ? exit.value.value
                : { _tag: "Timeout", message: `Tool '${call.name}' timed out after ${Duration.format(timeout)}.` }
            )
          }
          // Interruption from outside propagates; a crashing handler is reported to the model.
          if (Exit.isInterrupted(exit)) return Effect.interrupt
          return Effect.succeed({ _tag: "Defect", message: `Tool '${call.name}' failed unexpectedly.` })
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
          )
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
      definitions: resolved.definitions,
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
export const layer = <T extends Toolkit.Any>(
  toolkit: T,
  options?: Options
): Layer.Layer<ToolRegistry, never, Toolkit.Requirements<T>> => Layer.effect(ToolRegistry, make(toolkit, options))
