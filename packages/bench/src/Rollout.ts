/**
 * The client side of one rollout, shared by every transport so they all count turns, bytes and time the same
 * way: build each turn's request (full context or delta), hand it to the transport's `exchange`, fold the
 * response, answer its tool call, repeat until the model answers with text.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { BenchError } from "./BenchError.js"
import type { TurnRecord } from "./TransportUnderTest.js"
import { Conversation, createBody, type JsonObject, type Scenario, settingsOf } from "./Workload.js"

/**
 * How a client continues a conversation:
 * - `full`: every turn carries the whole history, no `previous_response_id` (a stateless client);
 * - `previous`: `previous_response_id` + only the new items.
 *
 * @since 0.1.0
 * @category models
 */
export type Continuation = "full" | "previous"

/**
 * What a transport's exchange returns for one request: the completed response's id and output items, and the
 * payload byte counts it observed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Exchanged {
  readonly responseId: string
  readonly output: ReadonlyArray<JsonObject>
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly events: number
}

/**
 * Send one request body and wait for its response to complete.
 *
 * @since 0.1.0
 * @category models
 */
export type Exchange = (body: JsonObject) => Effect.Effect<Exchanged, BenchError>

/**
 * The current time in fractional milliseconds from the Effect `Clock` (high resolution with the live clock).
 *
 * @since 0.1.0
 * @category time
 */
export const nowMs: Effect.Effect<number> = Effect.map(Clock.currentTimeNanos, (ns) => Number(ns) / 1e6)

/**
 * Run one rollout: exactly `scenario.toolCalls + 1` turns (bounded; a server that never stops calling tools or
 * stops early fails the rollout with a `Protocol` error).
 *
 * @since 0.1.0
 * @category rollout
 */
export const run = (
  scenario: Scenario,
  options: {
    readonly continuation: Continuation
    readonly store: boolean
    /** `"response.create"` for WebSocket mode; absent for HTTP. */
    readonly eventType?: "response.create" | undefined
    /** HTTP `stream` flag; absent for WebSocket mode. */
    readonly stream?: boolean | undefined
  },
  exchange: Exchange
): Effect.Effect<ReadonlyArray<TurnRecord>, BenchError> =>
  Effect.gen(function*() {
    const conversation = new Conversation(scenario)
    const records: Array<TurnRecord> = []
    const maxTurns = scenario.toolCalls + 1
    for (let index = 0; index < maxTurns; index++) {
      const previous = options.continuation === "previous" ? conversation.previousResponseId : undefined
      const body = createBody(scenario, {
        input: previous === undefined ? conversation.fullInput : conversation.newInput,
        previousResponseId: previous,
        store: options.store,
        stream: options.stream
      })
      const request = options.eventType === undefined ? body : { type: options.eventType, ...body }
      const start = yield* nowMs
      const exchanged = yield* exchange(request)
      const end = yield* nowMs
      records.push({
        index,
        ms: end - start,
        bytesSent: exchanged.bytesSent,
        bytesReceived: exchanged.bytesReceived,
        events: exchanged.events,
        delta: previous !== undefined
      })
      const more = conversation.complete(exchanged.responseId, exchanged.output)
      if (!more) break
    }
    if (records.length !== maxTurns) {
      return yield* new BenchError({
        reason: "Protocol",
        detail: `rollout of ${scenario.toolCalls} tool calls ended after ${records.length} turns (expected ${maxTurns})`
      })
    }
    return records
  })

/**
 * One turn of a client that keeps the conversation itself (like Loopwire's `Session`, which decides delta or full
 * on its own): given only the new items and the request settings, run one model turn and report what it sent
 * (`delta`: whether it continued with `previous_response_id`).
 *
 * @since 0.1.0
 * @category models
 */
export type SessionTurn = (
  newItems: ReadonlyArray<JsonObject>,
  settings: JsonObject
) => Effect.Effect<Exchanged & { readonly delta: boolean }, BenchError>

/**
 * Run one rollout through a history-owning client: the same turns, tool outputs, bounds and records as `run`,
 * but the client decides how to continue. Settings are `Workload.settingsOf(scenario, store)` every turn.
 *
 * @since 0.1.0
 * @category rollout
 */
export const runSession = (
  scenario: Scenario,
  options: { readonly store: boolean },
  turn: SessionTurn
): Effect.Effect<ReadonlyArray<TurnRecord>, BenchError> =>
  Effect.gen(function*() {
    const conversation = new Conversation(scenario)
    const settings = settingsOf(scenario, options.store)
    const records: Array<TurnRecord> = []
    const maxTurns = scenario.toolCalls + 1
    for (let index = 0; index < maxTurns; index++) {
      const start = yield* nowMs
      const exchanged = yield* turn(conversation.newInput, settings)
      const end = yield* nowMs
      records.push({
        index,
        ms: end - start,
        bytesSent: exchanged.bytesSent,
        bytesReceived: exchanged.bytesReceived,
        events: exchanged.events,
        delta: exchanged.delta
      })
      if (!conversation.complete(exchanged.responseId, exchanged.output)) break
    }
    if (records.length !== maxTurns) {
      return yield* new BenchError({
        reason: "Protocol",
        detail: `rollout of ${scenario.toolCalls} tool calls ended after ${records.length} turns (expected ${maxTurns})`
      })
    }
    return records
  })

/**
 * Fold one parsed server event into an exchange in progress. Returns the completed response id at the terminal
 * `response.completed`, fails on any other terminal event, `undefined` while the response is still running.
 *
 * @since 0.1.0
 * @category rollout
 */
export const foldEvent = (
  event: JsonObject,
  output: Array<JsonObject>
): { readonly done: true; readonly responseId: string } | { readonly done: false } | BenchError => {
  switch (event.type) {
    case "response.output_item.done":
      output.push(event.item as JsonObject)
      return { done: false }
    case "response.completed": {
      const response = event.response as JsonObject | undefined
      return { done: true, responseId: String(response?.id ?? "") }
    }
    case "response.failed":
    case "response.incomplete":
    case "error":
      return new BenchError({ reason: "Protocol", detail: `server answered ${JSON.stringify(event).slice(0, 300)}` })
    default:
      return { done: false }
  }
}
