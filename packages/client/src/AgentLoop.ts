/**
 * The agent loop as a `Stream`: send the input, stream the model's text, run the function calls it asks for
 * through the toolkit, send their outputs as the next turn (a delta on the warm socket), and repeat until the
 * model answers without tool calls or a limit is reached.
 *
 * @since 0.1.0
 */
import type * as Items from "@loopwire/protocol/Items"
import type * as Response from "@loopwire/protocol/Response"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as ConnectionPool from "./ConnectionPool.js"
import { ResponsesError } from "./ResponsesError.js"
import * as Session from "./Session.js"
import type * as Toolkit from "./Toolkit.js"
import * as ToolRegistry from "./ToolRegistry.js"

/**
 * @since 0.1.0
 * @category models
 */
export type AgentEvent =
  | { readonly _tag: "TextDelta"; readonly turn: number; readonly delta: string }
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
export interface RunOptions<T extends Toolkit.Any> {
  readonly toolkit: T
  /** Model turns at most (default 32). */
  readonly maxTurns?: number | undefined
  /** Request settings (model, instructions, store, …); `tools` is the toolkit's, generated once. */
  readonly settings?: Session.Settings | undefined
  /** Session options (backoff, HTTP fallback, initial history). */
  readonly session?: Omit<Session.Options, "settings"> | undefined
  /** Tool dispatch options (concurrency, default timeout). */
  readonly tools?: ToolRegistry.Options | undefined
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

/**
 * Runs the loop on an existing session (its history continues).
 *
 * @since 0.1.0
 * @category constructors
 */
export const runWith = <T extends Toolkit.Any>(
  session: Session.Session,
  input: string | ReadonlyArray<Items.InputItem>,
  options: RunOptions<T>
): Stream.Stream<AgentEvent, ResponsesError, Toolkit.Requirements<T>> =>
  Stream.asyncPush<AgentEvent, ResponsesError, Toolkit.Requirements<T>>((emit) =>
    Effect.gen(function*() {
      const registry = yield* ToolRegistry.make(options.toolkit, options.tools)
      const maxTurns = Math.max(1, options.maxTurns ?? 32)
      // One settings object for the whole run: serialized once by the session.
      const settings: Session.Settings = { ...options.settings, tools: registry.definitions }
      let items = toItems(input)
      for (let turn = 1;; turn++) {
        if (turn > maxTurns) {
          emit.single({ _tag: "LimitReached", turns: turn - 1, reason: "max_turns" })
          return
        }
        // Events are followed with a callback (no stream per turn); the session returns the final response.
        const final: Response.Response = yield* session.turnWith(items, settings, (e) => {
          if (e._tag === "Discard") {
            emit.single({ _tag: "TurnRestarted", turn, reason: e.reason })
          } else if (e.event.type === "response.output_text.delta") {
            emit.single({ _tag: "TextDelta", turn, delta: (e.event as any).delta })
          }
        })
        const calls = final.output.filter((item: any) => item.type === "function_call") as unknown as ReadonlyArray<
          ToolRegistry.FunctionCallLike
        >
        emit.single({
          _tag: "TurnCompleted",
          turn,
          responseId: final.id,
          status: final.status,
          usage: final.usage ?? undefined,
          toolCalls: calls.length
        })
        if (final.status === "failed") {
          return yield* new ResponsesError({
            reason: "ResponseFailed",
            message: final.error?.message ?? "The response failed.",
            code: final.error?.code ?? null
          })
        }
        if (calls.length === 0) {
          emit.single({ _tag: "FinalAnswer", turns: turn, text: outputText(final), response: final })
          return
        }
        const outputs = new Map<string, ToolRegistry.FunctionCallOutputItem>()
        yield* registry.dispatch(calls).pipe(
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
        items = calls.map((c) => outputs.get(c.call_id)! as unknown as Items.InputItem)
      }
    }).pipe(
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
export const run = <T extends Toolkit.Any>(
  input: string | ReadonlyArray<Items.InputItem>,
  options: RunOptions<T>
): Stream.Stream<AgentEvent, ResponsesError, ConnectionPool.ConnectionPool | Toolkit.Requirements<T>> =>
  Stream.unwrapScoped(
    Effect.map(
      Session.make({ ...options.session, settings: options.settings }),
      (session) => runWith(session, input, options)
    ) as Effect.Effect<
      Stream.Stream<AgentEvent, ResponsesError, Toolkit.Requirements<T>>,
      ResponsesError,
      ConnectionPool.ConnectionPool | Scope.Scope
    >
  )

/**
 * Runs the loop to its end and returns the final answer (or fails when a limit was reached first).
 *
 * @since 0.1.0
 * @category constructors
 */
export const answer = <T extends Toolkit.Any>(
  input: string | ReadonlyArray<Items.InputItem>,
  options: RunOptions<T>
): Effect.Effect<string, ResponsesError, ConnectionPool.ConnectionPool | Toolkit.Requirements<T>> =>
  run(input, options).pipe(
    Stream.runFold(undefined as string | undefined, (acc, e) => e._tag === "FinalAnswer" ? e.text : acc),
    Effect.flatMap((text) =>
      text === undefined
        ? Effect.fail(new ResponsesError({ reason: "RetriesExhausted", message: "The agent reached its turn limit." }))
        : Effect.succeed(text)
    )
  )
