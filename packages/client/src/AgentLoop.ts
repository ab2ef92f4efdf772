/**
 * The agent loop as a `Stream`: send the input, stream the model's text, reasoning and call arguments, run the
 * function calls it asks for through an `@effect/ai` toolkit, send their outputs as the next turn (a delta on the
 * warm socket), and repeat until the model answers without tool calls or a limit is reached.
 *
 * @since 0.1.0
 */
import type * as AiTool from "@effect/ai/Tool"
import type * as AiToolkit from "@effect/ai/Toolkit"
import type * as Items from "@loopwire/protocol/Items"
import type * as Response from "@loopwire/protocol/Response"
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as ConnectionPool from "./ConnectionPool.js"
import { ResponsesError } from "./ResponsesError.js"
import * as Session from "./Session.js"
import * as ToolRegistry from "./ToolRegistry.js"

/**
 * Why the agent loop stopped without an answer, apart from the transport's own `ResponsesError`s:
 * `MaxTurns` (the model still asked for tools at the turn limit) or `ToolNameCollision` (a tool of the toolkit
 * and a tool of `settings.tools` share a name, or a hosted type).
 *
 * @since 0.1.0
 * @category errors
 */
export class AgentError extends Schema.TaggedError<AgentError>("@loopwire/client/AgentError")("AgentError", {
  reason: Schema.Literal("MaxTurns", "ToolNameCollision"),
  message: Schema.String
}) {}

/**
 * What the loop emits. `ToolFinished.outcome` carries a failing handler's `Cause` (`Defect`); `ServerEvent` is every
 * raw server event, only with `rawEvents: true`.
 *
 * @since 0.1.0
 * @category models
 */
export type AgentEvent =
  | { readonly _tag: "TextDelta"; readonly turn: number; readonly delta: string }
  /** Reasoning as it streams: the summary (`response.reasoning_summary_text.delta`) or the raw text. */
  | {
    readonly _tag: "ReasoningDelta"
    readonly turn: number
    readonly itemId: string
    readonly kind: "summary" | "text"
    readonly delta: string
  }
  /** A function call's `arguments` as they stream (`callId`/`name` once the item was announced). */
  | {
    readonly _tag: "ToolArgumentsDelta"
    readonly turn: number
    readonly itemId: string
    readonly callId: string | undefined
    readonly name: string | undefined
    readonly delta: string
  }
  | { readonly _tag: "ServerEvent"; readonly turn: number; readonly event: ServerEvent.ServerEvent }
  /** The turn's response was lost mid-stream and is being re-issued: drop this turn's text so far. */
  | { readonly _tag: "TurnRestarted"; readonly turn: number; readonly reason: string }
  | {
    readonly _tag: "ToolStarted"
    readonly turn: number
    readonly callId: string
    readonly name: string
    readonly arguments: string
  }
  | {
    readonly _tag: "ToolFinished"
    readonly turn: number
    readonly callId: string
    readonly name: string
    readonly outcome: ToolRegistry.Outcome
    readonly output: string
    readonly replayed: boolean
  }
  | {
    readonly _tag: "TurnCompleted"
    readonly turn: number
    readonly responseId: string
    readonly status: string
    readonly usage: Response.Usage | undefined
    readonly toolCalls: number
  }
  | { readonly _tag: "FinalAnswer"; readonly turns: number; readonly text: string; readonly response: Response.Response }
  | { readonly _tag: "LimitReached"; readonly turns: number; readonly reason: "max_turns" }

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions<Tools extends Record<string, AiTool.Any>> {
  /** An `@effect/ai` toolkit; its handlers come from `toolkit.toLayer(…)`. */
  readonly toolkit: AiToolkit.Toolkit<Tools>
  /** Model turns at most (default 32). */
  readonly maxTurns?: number | undefined
  /**
   * Request settings (model, instructions, store, …). `tools` may hold hosted tools (`{ type: "web_search" }`)
   * or function tools the caller answers itself: they are sent after the toolkit's; a name shared with the
   * toolkit fails the run (`AgentError` `ToolNameCollision`).
   */
  readonly settings?: Session.Settings | undefined
  /** Session options (backoff, HTTP fallback, initial history). */
  readonly session?: Omit<Session.Options, "settings"> | undefined
  /** Tool dispatch options (concurrency, default timeout). */
  readonly tools?: ToolRegistry.Options | undefined
  /** Also emit every raw server event as a `ServerEvent` (default false). */
  readonly rawEvents?: boolean | undefined
}

/**
 * The text of a response's assistant messages.
 *
 * @since 0.1.0
 * @category utils
 */
export const outputText = (response: Response.Response): string =>
  response.output
    .flatMap((item: any) =>
      item.type === "message" && Array.isArray(item.content)
        ? item.content.filter((c: any) => c.type === "output_text").map((c: any) => c.text as string)
        : []
    )
    .join("")

/**
 * Normalises the loop's input: a string becomes one user message.
 *
 * @since 0.1.0
 * @category utils
 */
export const toItems = (input: string | ReadonlyArray<Items.InputItem>): ReadonlyArray<Items.InputItem> =>
  typeof input === "string"
    ? [{ type: "message", role: "user", content: [{ type: "input_text", text: input }] } as Items.InputItem]
    : input

const toolKey = (tool: { readonly type?: unknown; readonly name?: unknown }): string =>
  tool.type === "function" ? `function:${String(tool.name)}` : `hosted:${String(tool.type)}`

/**
 * The `tools` of a run: the toolkit's definitions, then those of `settings.tools`. A function name (or a hosted
 * tool type) that appears twice is an `AgentError` `ToolNameCollision`.
 *
 * @since 0.1.0
 * @category utils
 */
export const mergeTools = (
  toolkit: ReadonlyArray<ToolRegistry.ToolDefinition>,
  extra: ReadonlyArray<unknown> | undefined
): Effect.Effect<ReadonlyArray<unknown>, AgentError> => {
  const all = extra === undefined ? toolkit : [...toolkit, ...extra]
  const seen = new Set<string>()
  for (const tool of all as ReadonlyArray<{ readonly type?: unknown; readonly name?: unknown }>) {
    const key = toolKey(tool)
    if (seen.has(key)) {
      return Effect.fail(
        new AgentError({
          reason: "ToolNameCollision",
          message: `The tool ${key.replace(":", " '")}' is defined twice (toolkit and settings.tools).`
        })
      )
    }
    seen.add(key)
  }
  return Effect.succeed(all)
}

/**
 * Runs the loop on an existing session (its history continues).
 *
 * @since 0.1.0
 * @category constructors
 */
export const runWith = <Tools extends Record<string, AiTool.Any>>(
  session: Session.Session,
  input: string | ReadonlyArray<Items.InputItem>,
  options: RunOptions<Tools>
): Stream.Stream<AgentEvent, ResponsesError | AgentError, ToolRegistry.Requirements<Tools>> =>
  Stream.asyncPush<AgentEvent, ResponsesError | AgentError, ToolRegistry.Requirements<Tools>>((emit) =>
    Effect.gen(function*() {
      const registry = yield* ToolRegistry.make(options.toolkit, options.tools)
      const maxTurns = Math.max(1, options.maxTurns ?? 32)
      const raw = options.rawEvents === true
      // One settings object for the whole run: serialized once by the session.
      const tools = yield* mergeTools(registry.definitions, options.settings?.tools as ReadonlyArray<unknown> | undefined)
      const settings = { ...options.settings, tools } as Session.Settings
      let items = toItems(input)
      for (let turn = 1;; turn++) {
        if (turn > maxTurns) {
          emit.single({ _tag: "LimitReached", turns: turn - 1, reason: "max_turns" })
          return
        }
        // function_call item id → its call_id and name, for the argument deltas.
        const calls = new Map<string, { readonly callId: string; readonly name: string }>()
        // Events are followed with a callback (no stream per turn); the session returns the final response.
        const final: Response.Response = yield* session.turnWith(items, settings, (e) => {
          if (e._tag === "Discard") {
            emit.single({ _tag: "TurnRestarted", turn, reason: e.reason })
            return
          }
          const event = e.event as any
          if (raw) emit.single({ _tag: "ServerEvent", turn, event: e.event })
          switch (event.type) {
            case "response.output_text.delta":
              emit.single({ _tag: "TextDelta", turn, delta: event.delta })
              return
            case "response.reasoning_summary_text.delta":
            case "response.reasoning_text.delta":
              emit.single({
                _tag: "ReasoningDelta",
                turn,
                itemId: event.item_id,
                kind: event.type === "response.reasoning_text.delta" ? "text" : "summary",
                delta: event.delta
              })
              return
            case "response.output_item.added":
              if (event.item?.type === "function_call" && typeof event.item.id === "string") {
                calls.set(event.item.id, { callId: event.item.call_id, name: event.item.name })
              }
              return
            case "response.function_call_arguments.delta": {
              const call = calls.get(event.item_id)
              emit.single({
                _tag: "ToolArgumentsDelta",
                turn,
                itemId: event.item_id,
                callId: call?.callId,
                name: call?.name,
                delta: event.delta
              })
              return
            }
          }
        })
        const functionCalls = final.output.filter((item: any) => item.type === "function_call") as unknown as ReadonlyArray<
          ToolRegistry.FunctionCallLike
        >
        emit.single({
          _tag: "TurnCompleted",
          turn,
          responseId: final.id,
          status: final.status,
          usage: final.usage ?? undefined,
          toolCalls: functionCalls.length
        })
        if (final.status === "failed") {
          return yield* new ResponsesError({
            reason: "ResponseFailed",
            message: final.error?.message ?? "The response failed.",
            code: final.error?.code ?? null
          })
        }
        if (functionCalls.length === 0) {
          emit.single({ _tag: "FinalAnswer", turns: turn, text: outputText(final), response: final })
          return
        }
        const outputs = new Map<string, ToolRegistry.FunctionCallOutputItem>()
        yield* registry.dispatch(functionCalls).pipe(
          Stream.runForEach((event) =>
            Effect.sync(() => {
              if (event._tag === "ToolStarted") {
                emit.single({ _tag: "ToolStarted", turn, callId: event.callId, name: event.name, arguments: event.arguments })
              } else {
                const r = event.record
                outputs.set(r.callId, r.output)
                emit.single({
                  _tag: "ToolFinished",
                  turn,
                  callId: r.callId,
                  name: r.name,
                  outcome: r.outcome,
                  output: r.output.output,
                  replayed: r.replayed
                })
              }
            })
          )
        )
        // Outputs go back in call order.
        items = functionCalls.map((c) => outputs.get(c.call_id)! as unknown as Items.InputItem)
      }
    }).pipe(
      Effect.withSpan("AgentLoop.run", {
        captureStackTrace: false,
        attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": options.settings?.model }
      }),
      Effect.matchCause({ onSuccess: () => emit.end(), onFailure: (cause) => emit.halt(cause) }),
      Effect.forkScoped
    )
  )

/**
 * Runs the loop on a new session leased from the pool for the stream's life.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <Tools extends Record<string, AiTool.Any>>(
  input: string | ReadonlyArray<Items.InputItem>,
  options: RunOptions<Tools>
): Stream.Stream<
  AgentEvent,
  ResponsesError | AgentError,
  ConnectionPool.ConnectionPool | ToolRegistry.Requirements<Tools>
> =>
  Stream.unwrapScoped(
    Effect.map(
      Session.make({ ...options.session, settings: options.settings }),
      (session) => runWith(session, input, options)
    ) as Effect.Effect<
      Stream.Stream<AgentEvent, ResponsesError | AgentError, ToolRegistry.Requirements<Tools>>,
      ResponsesError,
      ConnectionPool.ConnectionPool | Scope.Scope
    >
  )

/**
 * An agent bound to the context it was made in: its methods need nothing, so a service (`Effect.Service`) can hold
 * one and hand out streams without `Effect.context` / `Stream.provideContext`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Agent {
  /** {@link run} with the agent's options. */
  readonly run: (input: string | ReadonlyArray<Items.InputItem>) => Stream.Stream<AgentEvent, ResponsesError | AgentError>
  /** {@link runWith} with the agent's options. */
  readonly runWith: (
    session: Session.Session,
    input: string | ReadonlyArray<Items.InputItem>
  ) => Stream.Stream<AgentEvent, ResponsesError | AgentError>
  /** {@link answer} with the agent's options. */
  readonly answer: (input: string | ReadonlyArray<Items.InputItem>) => Effect.Effect<string, ResponsesError | AgentError>
}

/**
 * Makes an {@link Agent}: the pool and the toolkit's handlers are taken from the context once, here.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Tools extends Record<string, AiTool.Any>>(
  options: RunOptions<Tools>
): Effect.Effect<Agent, never, ConnectionPool.ConnectionPool | ToolRegistry.Requirements<Tools>> =>
  Effect.map(
    Effect.context<ConnectionPool.ConnectionPool | ToolRegistry.Requirements<Tools>>(),
    (context): Agent => ({
      run: (input) => Stream.provideContext(run(input, options), context),
      runWith: (session, input) => Stream.provideContext(runWith(session, input, options), context),
      answer: (input) => Effect.provide(answer(input, options), context)
    })
  )

/**
 * Runs the loop to its end and returns the final answer; at the turn limit it fails with `AgentError`
 * `MaxTurns`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const answer = <Tools extends Record<string, AiTool.Any>>(
  input: string | ReadonlyArray<Items.InputItem>,
  options: RunOptions<Tools>
): Effect.Effect<
  string,
  ResponsesError | AgentError,
  ConnectionPool.ConnectionPool | ToolRegistry.Requirements<Tools>
> =>
  run(input, options).pipe(
    Stream.runFold(undefined as string | undefined, (acc, e) => e._tag === "FinalAnswer" ? e.text : acc),
    Effect.flatMap((text) =>
      text === undefined
        ? Effect.fail(
          new AgentError({
            reason: "MaxTurns",
            message: `The agent reached its turn limit (${Math.max(1, options.maxTurns ?? 32)}) without an answer.`
          })
        )
        : Effect.succeed(text)
    )
  )
