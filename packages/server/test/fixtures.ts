/**
 * Test fixtures for the gateway's protocol handler: a controllable model backend and an in-memory client.
 */
import * as Memory from "@loopwire/transport/Memory"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ConnectionHandler from "../src/ConnectionHandler.js"
import * as GatewayConfig from "../src/GatewayConfig.js"
import { ModelBackend, ModelBackendError, type ModelTurn, type ServerEventBody } from "../src/ModelBackend.js"
import * as ResponseStore from "../src/ResponseStore.js"
import * as StateCache from "../src/StateCache.js"

export type Json = { readonly [key: string]: any }

/** Text of the last user message among `items` (long or short form, string or parts content). */
export const lastUserText = (items: ReadonlyArray<Json>): string | undefined => {
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i]!
    if ((item.type === "message" || item.type === undefined) && item.role === "user") {
      if (typeof item.content === "string") return item.content
      const part = item.content.find((p: Json) => typeof p.text === "string")
      return part?.text
    }
  }
  return undefined
}

export interface BackendOptions {
  /** Each generation waits for a `release()` after `response.in_progress`. */
  readonly gated?: boolean
  readonly steering?: boolean
}

/**
 * A deterministic backend. A user message `call:NAME` yields a `function_call` (call_id `call_<response id>`),
 * `fail` makes the stream fail after `response.created`, `fail early` before any event (an upstream-like 404),
 * anything else yields the text `turn <n>`.
 */
export const makeBackend = (options: BackendOptions = {}) => {
  const permits = Effect.runSync(Queue.unbounded<void>())
  const turns: Array<ModelTurn> = []
  let running = 0
  let maxRunning = 0

  const generate = (turn: ModelTurn): Stream.Stream<ServerEventBody, ModelBackendError> => {
    const id = turn.response.id
    const user = lastUserText(turn.newInput as ReadonlyArray<Json>) ?? ""
    const callName = user.startsWith("call:") ? user.slice(5) : undefined
    const item: Json = callName !== undefined
      ? { type: "function_call", id: `fc_${id}`, call_id: `call_${id}`, name: callName, arguments: "{}", status: "completed" }
      : {
        type: "message",
        id: `msg_${id}`,
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: `turn ${turn.turn}`, annotations: [] }]
      }
    const head: Array<Json> = [
      { type: "response.created", response: turn.response },
      { type: "response.in_progress", response: turn.response }
    ]
    const body: Array<Json> = [
      { type: "response.output_item.added", output_index: 0, item: { ...item, status: "in_progress" } },
      { type: "response.output_item.done", output_index: 0, item },
      {
        type: "response.completed",
        response: {
          ...turn.response,
          status: "completed",
          output: [item],
          usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 }
        }
      }
    ]
    const start = Effect.sync(() => {
      turns.push(turn)
      running++
      maxRunning = Math.max(maxRunning, running)
    })
    const end = Effect.sync(() => {
      running--
    })
    const gate = options.gated ? Stream.execute(Queue.take(permits)) : Stream.empty
    const rest = user === "fail"
      ? Stream.fail(new ModelBackendError({ reason: "Internal", message: "scripted failure" }))
      : Stream.fromIterable(body)
    if (user === "fail early") {
      return Stream.fail(
        new ModelBackendError({
          reason: "HttpStatus",
          status: 404,
          code: "model_not_found",
          type: "invalid_request_error",
          param: "model",
          message: "The model 'nope' does not exist."
        })
      )
    }
    return Stream.fromEffect(start).pipe(
      Stream.drain,
      Stream.concat(Stream.fromIterable(head)),
      Stream.concat(gate),
      Stream.concat(rest),
      Stream.ensuring(end)
    ) as Stream.Stream<ServerEventBody, ModelBackendError>
  }

  return {
    layer: Layer.succeed(ModelBackend, { supportsSteering: options.steering ?? false, generate }),
    turns,
    get running() {
      return running
    },
    get maxRunning() {
      return maxRunning
    },
    /** Lets `n` gated generations continue. */
    release: (n = 1) => Queue.offerAll(permits, Array.from({ length: n }, () => undefined))
  }
}

/** Config, an in-memory store and a LatestPerLane cache, with `backend`. */
export const services = (
  backend: { readonly layer: Layer.Layer<ModelBackend> },
  config: Partial<GatewayConfig.GatewayConfigShape> = {}
): Layer.Layer<ConnectionHandler.Requirements> =>
  Layer.mergeAll(
    GatewayConfig.layer(config),
    StateCache.layer(),
    ResponseStore.layerMemory(),
    backend.layer
  )

export interface TestClient {
  readonly send: (event: Json) => Effect.Effect<void>
  readonly sendText: (text: string) => Effect.Effect<void>
  readonly next: Effect.Effect<Json>
  /** Events up to and including the next terminal event or `error` (of `streamId` when given). */
  readonly untilDone: (streamId?: string) => Effect.Effect<ReadonlyArray<Json>>
  readonly pending: Effect.Effect<number>
  readonly closed: Effect.Effect<{ readonly code: number; readonly reason: string }>
  /** Closes the client side (as a client going away would). */
  readonly close: Effect.Effect<void>
  /** Ends once the server-side handler has returned (its cleanup done). */
  readonly handled: Effect.Effect<void>
}

const terminal = new Set(["response.completed", "response.incomplete", "response.failed", "error"])

/** Opens an in-memory connection served by `ConnectionHandler.handle` as `tenant`. */
export const connect = (
  tenant = "tenant-a"
): Effect.Effect<TestClient, never, Scope.Scope | ConnectionHandler.Requirements> =>
  Effect.gen(function*() {
    const [client, server] = yield* Memory.makePair()
    const handler = yield* Effect.forkScoped(ConnectionHandler.handle(server, { tenant }))
    const inbox = yield* Queue.unbounded<Json>()
    yield* client.frames.pipe(
      Stream.runForEach((text) => Queue.offer(inbox, JSON.parse(text))),
      Effect.ignore,
      Effect.forkScoped
    )
    const stash: Array<Json> = []
    const untilDone = (streamId?: string) =>
      Effect.gen(function*() {
        const events: Array<Json> = []
        // Events of other lanes seen meanwhile are kept for their own reader.
        for (let i = 0; i < stash.length; i++) {
          const e = stash[i]!
          if (streamId === undefined || e.stream_id === streamId) {
            stash.splice(i--, 1)
            events.push(e)
            if (terminal.has(e.type)) return events
          }
        }
        while (true) {
          const e = yield* Queue.take(inbox)
          if (streamId !== undefined && e.stream_id !== streamId) {
            stash.push(e)
            continue
          }
          events.push(e)
          if (terminal.has(e.type)) return events
        }
      })
    return {
      send: (event) => Effect.orDie(client.send(JSON.stringify(event))),
      sendText: (text) => Effect.orDie(client.send(text)),
      next: Queue.take(inbox),
      untilDone,
      pending: Queue.size(inbox),
      closed: client.closed,
      close: client.close(1000),
      handled: Fiber.join(handler)
    }
  })

/** A user message item. */
export const user = (text: string): Json => ({ type: "message", role: "user", content: [{ type: "input_text", text }] })

/** The final response of a finished event list. */
export const finalResponse = (events: ReadonlyArray<Json>): Json => events[events.length - 1]!.response
