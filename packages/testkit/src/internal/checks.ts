/**
 * The conformance checks. Each opens its own connection(s), drives one behaviour of `protocol.md` and fails with a
 * `CheckFailure` naming the section and the exact difference.
 *
 * @internal
 */
import * as Codec from "@loopwire/protocol/Codec"
import type { FunctionCall, InputItem } from "@loopwire/protocol/Items"
import { functionCallOutput, isFunctionCall, userText } from "@loopwire/protocol/Items"
import type { Response } from "@loopwire/protocol/Response"
import { invalidStreamIdMessage } from "@loopwire/protocol/ClientEvent"
import { isTerminal } from "@loopwire/protocol/ServerEvent"
import type { TransportError } from "@loopwire/transport/Transport"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Frame, Probe } from "./probe.js"
import { CheckFailure, ensure, fail } from "./probe.js"
import * as V from "./validate.js"

/** What a check needs before it can run. @internal */
export type Requirement = "websocket" | "cooperative-model" | "auth-mode" | "reject-mode"

/** @internal */
export interface Env {
  /** Opens a probe with the suite's headers (Authorization when an API key is given). */
  readonly open: Effect.Effect<Probe, CheckFailure, Scope.Scope>
  /** Tries an upgrade with exactly these headers; yields the refusal, or undefined when it was accepted. */
  readonly tryUpgrade: (headers: Readonly<Record<string, string>>) => Effect.Effect<TransportError | undefined, never, Scope.Scope>
  readonly model: string
  /** A name unique to this run, for lanes and ids. */
  readonly unique: (prefix: string) => string
}

/** @internal */
export interface Definition {
  readonly id: string
  readonly title: string
  readonly sections: string
  readonly requires: Requirement
  readonly run: (env: Env) => Effect.Effect<void, CheckFailure, Scope.Scope>
}

const check = (result: string | undefined): Effect.Effect<void, CheckFailure> =>
  result === undefined ? Effect.void : fail(result)

const create = (env: Env, fields: Record<string, unknown>): Record<string, unknown> => ({
  type: "response.create",
  model: env.model,
  store: false,
  input: [userText("Reply with the single word OK.")],
  ...fields
})

/** Sends a create and reads its frames to the terminal event; the response must finish (not an error frame). */
const roundTrip = (probe: Probe, request: Record<string, unknown>, what: string) =>
  Effect.gen(function*() {
    yield* probe.send(request)
    const frames = yield* probe.untilTerminal(`the terminal event of ${what}`)
    yield* check(V.responseStream(frames, { success: true, what }))
    return { frames, response: V.finalResponse(frames)! }
  })

/** The next turn's input after `response`: an output for each of its function calls, then a user message. */
const followUp = (response: Response, text: string): Array<InputItem> => [
  ...response.output.filter(isFunctionCall).map((call) =>
    functionCallOutput(call.call_id, JSON.stringify({ value: "conformance" }))
  ),
  userText(text)
]

/** The next frame must start a new response: proves nothing else belonged to the previous request. */
const nextStartsResponse = (probe: Probe, what: string) =>
  Effect.gen(function*() {
    const frame = yield* probe.next(what)
    yield* ensure(
      frame.event.type === "response.created" || frame.event.type === "response.queued",
      () => `${what}: expected 'response.created', got '${frame.event.type}' (frame #${frame.index}): ${frame.text}`
    )
    const rest = yield* probe.untilTerminal(`the terminal event of ${what}`)
    yield* check(V.responseStream([frame, ...rest], { success: true, what }))
  })

const usable = (probe: Probe, env: Env, after: string) =>
  Effect.asVoid(roundTrip(probe, create(env, {}), `a normal create after ${after} (the connection must stay usable)`))

const basicCreate: Definition = {
  id: "basic-create",
  title: "a create streams response.created … exactly one terminal event",
  sections: "§3.1, §3.3",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      const first = yield* roundTrip(probe, create(env, {}), "the first response")
      const created = first.frames.find((f) => f.event.type === "response.created")!
      const status = (created.event as { response: Response }).response.status
      yield* ensure(
        status === "in_progress" || status === "queued",
        () => `response.created carries status '${status}', expected 'in_progress' or 'queued' (§3.2)`
      )
      // A second request on the same lane: its response.created must be the very next frame, which proves that
      // nothing followed the first response's terminal event.
      yield* probe.send(create(env, { input: followUp(first.response, "Reply with OK again."), previous_response_id: first.response.id }))
      yield* nextStartsResponse(probe, "the second response")
    })
}

const framing: Definition = {
  id: "framing",
  title: "text frames, one JSON object each, decodable server events",
  sections: "§1.5, §3.2",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      // Every frame read by the probe is checked: text, JSON, an object with a string `type`, a valid event.
      const { frames } = yield* roundTrip(probe, create(env, {}), "a create")
      yield* ensure(frames.every((f) => typeof f.json.type === "string"), () => "a frame has no string 'type'")
    })
}

const sequenceNumbers: Definition = {
  id: "sequence-numbers",
  title: "sequence_number on every event, strictly increasing within a response",
  sections: "§3.3",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      const first = yield* roundTrip(probe, create(env, {}), "a default-lane response")
      yield* check(V.sequenceNumbers(first.frames, "a default-lane response"))
      const lane = env.unique("seq")
      const second = yield* roundTrip(probe, create(env, { stream_id: lane }), "a named-lane response")
      yield* check(V.sequenceNumbers(second.frames, "a named-lane response"))
    })
}

const streamConsistency: Definition = {
  id: "stream-consistency",
  title: "deltas and done events add up to the terminal response",
  sections: "§3.2, §3.3",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      const { frames } = yield* roundTrip(probe, create(env, {}), "a create")
      yield* check(V.accumulates(frames, "a create"))
    })
}

const chain: Definition = {
  id: "previous-response-chain",
  title: "previous_response_id chains with only the new input",
  sections: "§2.1, §4.1, §4.2, §4.4",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      let parent = (yield* roundTrip(probe, create(env, { input: [userText("Remember the word 'loopwire'. Reply OK.")] }), "turn 1")).response
      for (const turn of [2, 3]) {
        const what = `turn ${turn} (previous_response_id ${parent.id})`
        const next = yield* roundTrip(
          probe,
          create(env, { previous_response_id: parent.id, input: followUp(parent, "Reply with OK.") }),
          what
        )
        yield* ensure(next.response.id !== parent.id, () => `${what}: the continuation reused its parent's id ${parent.id}`)
        const linked = next.response.previous_response_id
        yield* ensure(
          linked === undefined || linked === parent.id,
          () => `${what}: the response says previous_response_id ${JSON.stringify(linked)}, expected ${JSON.stringify(parent.id)}`
        )
        parent = next.response
      }
    })
}

const notFound: Definition = {
  id: "previous-response-not-found",
  title: "an unknown previous_response_id gets exactly the documented error frame",
  sections: "§4.2, §6.1, §3.4",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      for (const lane of [undefined, env.unique("pnf")]) {
        const missing = env.unique("resp_conformance_missing")
        const what = lane === undefined ? "a default-lane continuation of an unknown id" : `a continuation of an unknown id on lane '${lane}'`
        yield* probe.send(create(env, { previous_response_id: missing, ...(lane === undefined ? {} : { stream_id: lane }) }))
        const frame = yield* probe.next(`the error frame for ${what}`)
        yield* check(V.errorFrame(frame, {
          status: 400,
          type: "invalid_request_error",
          code: "previous_response_not_found",
          param: "previous_response_id",
          message: `Previous response with id '${missing}' not found.`,
          streamId: lane ?? null
        }, what))
        // The error is the request's only frame: the next request's response.created comes next.
        yield* probe.send(create(env, lane === undefined ? {} : { stream_id: lane }))
        yield* nextStartsResponse(probe, `a full create after ${what}`)
      }
    })
}

const invalidStreamId: Definition = {
  id: "invalid-stream-id",
  title: "empty, too long or badly named stream_id gets invalid_stream_id",
  sections: "§2.1, §6.1",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["an empty stream_id", ""],
        ["a 257-character stream_id", "a".repeat(257)],
        ["a stream_id with a space and '!'", "bad lane!"],
        ["a stream_id with a slash", "lane/1"]
      ]
      for (const [what, streamId] of cases) {
        yield* probe.send(create(env, { stream_id: streamId }))
        const frame = yield* probe.next(`the error frame for ${what}`)
        yield* check(V.errorFrame(frame, {
          status: 400,
          type: "invalid_request_error",
          code: "invalid_stream_id",
          param: "stream_id",
          message: invalidStreamIdMessage
        }, what))
      }
      // The boundary is accepted: 256 characters of every allowed class.
      const longest = `${"Az09_.-".repeat(36)}${"x".repeat(4)}`
      const { frames } = yield* roundTrip(probe, create(env, { stream_id: longest }), "a create with a valid 256-character stream_id")
      yield* check(V.laneEcho(frames, longest, "a create with a valid 256-character stream_id"))
      yield* usable(probe, env, "the invalid stream ids")
    })
}

const laneEcho: Definition = {
  id: "lane-echo",
  title: "events of a named lane echo stream_id; default-lane events carry none",
  sections: "§3.1, §5.1",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      const lane = env.unique("echo")
      const named = yield* roundTrip(probe, create(env, { stream_id: lane }), `a create on lane '${lane}'`)
      yield* check(V.laneEcho(named.frames, lane, `a create on lane '${lane}'`))
      const continued = yield* roundTrip(
        probe,
        create(env, { stream_id: lane, previous_response_id: named.response.id, input: followUp(named.response, "OK?") }),
        `a continuation on lane '${lane}'`
      )
      yield* check(V.laneEcho(continued.frames, lane, `a continuation on lane '${lane}'`))
      const plain = yield* roundTrip(probe, create(env, {}), "a default-lane create")
      yield* check(V.laneEcho(plain.frames, undefined, "a default-lane create"))
    })
}

const lanesConcurrent: Definition = {
  id: "lanes-concurrent",
  title: "two lanes run at once and their events interleave correctly",
  sections: "§3.3, §5.1",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      const lanes = [env.unique("lane-a"), env.unique("lane-b")] as const
      for (const lane of lanes) yield* probe.send(create(env, { stream_id: lane }))
      const frames = yield* probe.untilTerminals(2, "the terminal events of two concurrent lanes")
      const ids: Array<string> = []
      for (const lane of lanes) {
        const own = frames.filter((f) => f.json.stream_id === lane)
        const what = `lane '${lane}'`
        yield* check(V.responseStream(own, { success: true, what }))
        yield* check(V.sequenceNumbers(own, what))
        ids.push(V.finalResponse(own)!.id)
      }
      const stray = frames.find((f) => !lanes.includes(f.json.stream_id as string))
      yield* ensure(
        stray === undefined,
        () => `frame #${stray!.index} ('${stray!.event.type}') belongs to neither lane: stream_id ${JSON.stringify(stray!.json.stream_id)}`
      )
      yield* ensure(ids[0] !== ids[1], () => `both lanes answered with the same response id ${ids[0]}`)
    })
}

const laneFifo: Definition = {
  id: "lane-fifo",
  title: "a second create on a busy lane is queued, not rejected, and runs after the first (FIFO)",
  sections: "§3.3, §5.1",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      for (const lane of [env.unique("fifo"), undefined]) {
        const where = lane === undefined ? "the default lane" : `lane '${lane}'`
        const extra = lane === undefined ? {} : { stream_id: lane }
        yield* probe.send(create(env, { ...extra, input: [userText("First request. Reply OK.")] }))
        yield* probe.send(create(env, { ...extra, input: [userText("Second request. Reply OK.")] }))
        const frames = yield* probe.untilTerminals(2, `the terminal events of two requests on ${where}`)
        // Everything up to the first terminal event is the first request's; the second may only start after it.
        const firstEnd = frames.findIndex((f) => isTerminal(f.event))
        // A `response.queued` announcing the waiting second request may arrive while the first runs (§3.2); it
        // belongs to the second response. Anything else of the second response before that point is an overlap.
        const queuedLater = (f: Frame, i: number) => i > 0 && f.event.type === "response.queued"
        const first = frames.slice(0, firstEnd + 1).filter((f, i) => !queuedLater(f, i))
        const second = [
          ...frames.slice(0, firstEnd + 1).filter((f, i) => queuedLater(f, i)),
          ...frames.slice(firstEnd + 1)
        ]
        yield* check(V.responseStream(first, { success: true, what: `the first request on ${where}` }))
        yield* check(V.responseStream(second, {
          success: true,
          what: `the second request on ${where} (it must start after the first one's terminal event)`
        }))
        yield* check(V.laneEcho(frames, lane, where))
        yield* ensure(
          V.finalResponse(first)!.id !== V.finalResponse(second)!.id,
          () => `both requests on ${where} got the same response id`
        )
      }
    })
}

const prewarm: Definition = {
  id: "prewarm",
  title: "generate:false returns a chainable completed response with empty output",
  sections: "§5.4, §4.4",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      const warm = yield* roundTrip(probe, create(env, {
        generate: false,
        instructions: "You are a conformance probe. Reply briefly.",
        input: [userText("Reply with the single word OK.")]
      }), "a generate:false prewarm")
      const last = warm.frames[warm.frames.length - 1]!
      yield* ensure(
        last.event.type === "response.completed",
        () => `the prewarm ended with '${last.event.type}', expected 'response.completed'`
      )
      yield* ensure(
        warm.response.output.length === 0,
        () => `the prewarm's response has ${warm.response.output.length} output item(s), expected none (no model output)`
      )
      yield* ensure(
        !warm.frames.some((f) => f.event.type.startsWith("response.output_")),
        () => "the prewarm streamed output events; generate:false must not sample the model"
      )
      yield* roundTrip(
        probe,
        create(env, { previous_response_id: warm.response.id, input: [] }),
        `an empty-input continuation of the prewarm ${warm.response.id}`
      )
    })
}

const extras: Definition = {
  id: "tolerated-extras",
  title: "stream:true, client_metadata and unknown fields are tolerated",
  sections: "§2.1",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      yield* roundTrip(probe, create(env, { stream: true }), "a create with stream:true")
      yield* roundTrip(probe, create(env, {
        client_metadata: {
          "x-codex-turn-metadata": "{\"turn\":1}",
          traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        }
      }), "a create with client_metadata")
      yield* roundTrip(
        probe,
        create(env, { x_conformance_unknown_field: { nested: [1, "two"] }, prompt_cache_key: env.unique("cache") }),
        "a create with an unknown field"
      )
    })
}

const badFrame = (id: string, title: string, sections: string, frame: string, what: string): Definition => ({
  id,
  title,
  sections,
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      // The bad frame and a normal create go out back to back: the error must come first (frames are handled in
      // order), then the create's response proves the connection is still usable; a server that ignores the
      // bad frame fails at once instead of after a timeout.
      yield* probe.send(frame)
      yield* probe.send(create(env, {}))
      const reply = yield* probe.next(`the error frame for ${what}`)
      yield* check(V.errorFrame(reply, { status: 400, type: "invalid_request_error", streamId: null }, what))
      yield* nextStartsResponse(probe, `a normal create sent after ${what} (the connection must stay usable)`)
    })
})

const nonJson = badFrame(
  "non-json-frame",
  "a non-JSON frame gets a 400 error frame and the connection stays usable",
  "§1.5, §3.4",
  "conformance: this frame is not JSON {",
  "a non-JSON frame"
)

const unknownType = badFrame(
  "unknown-event-type",
  "an unknown client event type gets a 400 error frame and the connection stays usable",
  "§2, §3.4, §8.2 (7)",
  JSON.stringify({ type: "response.conformance_unknown", response_id: "resp_x" }),
  "an unknown client event type"
)

// 4,500 levels of arrays, inside an unknown field a server keeps (so only a depth limit can refuse it), written as
// text: JSON.stringify itself overflows the stack on it, and so did the gateways this check was written against.
const deepFrame: Definition = {
  id: "deep-frame",
  title: "a frame nested 4,500 levels deep gets a 400 error frame and the connection stays usable",
  sections: "§3.4, §6.2",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const levels = 4_500
      const body = Codec.encodeCreate(create(env, {}))
      const frame = `${body.slice(0, -1)},"x_conformance_deep":${"[".repeat(levels)}0${"]".repeat(levels)}}`
      const probe = yield* env.open
      yield* probe.send(frame)
      yield* probe.send(create(env, {}))
      const what = `a frame nested ${levels} levels deep`
      const reply = yield* probe.next(`the error frame for ${what}`)
      yield* check(V.errorFrame(reply, { status: 400, type: "invalid_request_error", streamId: null }, what))
      yield* nextStartsResponse(probe, `a normal create sent after ${what} (the connection must stay usable)`)
    })
}

/** Client event types that are members of `Object.prototype`: a server must treat them as unknown, like any other. */
const prototypeKeyTypes: ReadonlyArray<string> = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]

const prototypeKeys: Definition = {
  id: "prototype-key-types",
  title: "event types named like Object.prototype members get 400 error frames, and a running response finishes",
  sections: "§2, §3.4",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      // The create goes first, so its response is running (or done) when the odd frames arrive; it must finish.
      yield* probe.send(create(env, {}))
      for (const type of prototypeKeyTypes) yield* probe.send({ type })
      const errors: Array<Frame> = []
      const response: Array<Frame> = []
      while (errors.length < prototypeKeyTypes.length || !response.some((f) => isTerminal(f.event))) {
        const frame = yield* probe.next(
          `${prototypeKeyTypes.length - errors.length} more error frame(s) and the running response's terminal event`
        )
        if (frame.event.type === "error") errors.push(frame)
        else response.push(frame)
      }
      for (const [i, frame] of errors.entries()) {
        yield* check(V.errorFrame(frame, { status: 400, type: "invalid_request_error", streamId: null }, `the answer to {"type":"${prototypeKeyTypes[i]}"}`))
      }
      yield* check(V.responseStream(response, { success: true, what: "the response running while they arrived" }))
      yield* usable(probe, env, "the prototype-key frames")
    })
}

const invalidField: Definition = {
  id: "invalid-field",
  title: "a create with a field of the wrong type gets a 400 error frame naming the field",
  sections: "§6.1, §3.4",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      const cases: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
        ["input", { input: 42 }],
        ["temperature", { temperature: "hot" }],
        ["previous_response_id", { previous_response_id: 7 }]
      ]
      for (const [param, fields] of cases) {
        const what = `a create whose '${param}' has the wrong type`
        yield* probe.send(create(env, fields))
        const reply = yield* probe.next(`the error frame for ${what}`)
        yield* check(V.errorFrame(reply, { status: 400, type: "invalid_request_error", param, streamId: null }, what))
      }
      yield* usable(probe, env, "the invalid fields")
    })
}

const background: Definition = {
  id: "background-rejected",
  title: "background:true is rejected with a 400 error frame (no background mode over WebSocket)",
  sections: "§2.1",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      for (const lane of [undefined, env.unique("bg")]) {
        const what = lane === undefined ? "a default-lane create with background:true" : `a create with background:true on lane '${lane}'`
        const extra = lane === undefined ? {} : { stream_id: lane }
        yield* probe.send(create(env, { ...extra, background: true }))
        const reply = yield* probe.next(`the error frame for ${what}`)
        yield* check(V.errorFrame(reply, { status: 400, type: "invalid_request_error", streamId: lane ?? null }, what))
        const after = yield* roundTrip(probe, create(env, extra), `a normal create after ${what}`)
        yield* check(V.laneEcho(after.frames, lane, `a normal create after ${what}`))
      }
    })
}

const streamLimit: Definition = {
  id: "stream-limit",
  title: "the 33rd distinct stream_id gets websocket_stream_limit_reached",
  sections: "§5.1, §6.1, §6.2",
  requires: "websocket",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      const lanes = Array.from({ length: 32 }, (_, i) => env.unique(`limit-${i + 1}`))
      // Prewarms are cheap: no model call.
      for (const lane of lanes) yield* probe.send(create(env, { stream_id: lane, generate: false }))
      const frames = yield* probe.untilTerminals(32, "the terminal events of 32 lanes")
      const rejected = frames.find((f) => f.event.type === "error")
      if (rejected !== undefined) {
        return yield* fail(`one of the first 32 lanes was rejected (frame #${rejected.index}): ${rejected.text}`)
      }
      const extra = env.unique("limit-33")
      yield* probe.send(create(env, { stream_id: extra, generate: false }))
      const reply = yield* probe.next("the error frame for a 33rd lane")
      yield* check(V.errorFrame(reply, {
        status: 400,
        type: "invalid_request_error",
        code: "websocket_stream_limit_reached",
        param: "stream_id",
        message:
          "This WebSocket connection has reached its maximum number of distinct stream IDs (32). Reuse an existing stream_id or open a new WebSocket connection.",
        streamId: extra
      }, "a 33rd distinct stream_id"))
      const reuse = yield* roundTrip(probe, create(env, { stream_id: lanes[0], generate: false }), "reusing the first lane")
      yield* check(V.laneEcho(reuse.frames, lanes[0], "reusing the first lane"))
    })
}

const functionCall: Definition = {
  id: "function-call-round-trip",
  title: "a function call streams in order and its output continues the chain",
  sections: "§2.2, §3.2, §3.3, §4.4",
  requires: "cooperative-model",
  run: (env) =>
    Effect.gen(function*() {
      const probe = yield* env.open
      const tools = [{
        type: "function",
        name: "conformance_lookup",
        description: "Looks up a value by key.",
        parameters: {
          type: "object",
          properties: { key: { type: "string" } },
          required: ["key"],
          additionalProperties: false
        },
        strict: true
      }]
      const first = yield* roundTrip(probe, create(env, {
        tools,
        tool_choice: { type: "function", name: "conformance_lookup" },
        input: [userText("Look up the key 'alpha' with the conformance_lookup tool.")]
      }), "a create that asks for a function call")
      const calls = first.response.output.filter(isFunctionCall)
      if (calls.length === 0) {
        return yield* fail(
          "the model emitted no function_call; if this server's model cannot be made to call a tool, declare " +
            "'function-call-round-trip' not applicable for it"
        )
      }
      yield* check(V.accumulates(first.frames, "the function call response"))
      for (const call of calls) yield* check(functionCallOrder(first.frames, call))
      yield* roundTrip(probe, create(env, {
        tools,
        previous_response_id: first.response.id,
        input: calls.map((call) => functionCallOutput(call.call_id, JSON.stringify({ value: "42" })))
      }), "the continuation carrying the function_call_output")
    })
}

/** `output_item.added` → `function_call_arguments.delta`* → `.done` → `output_item.done` for one call. */
const functionCallOrder = (frames: ReadonlyArray<Frame>, call: FunctionCall): string | undefined => {
  const index = frames.findIndex((f) =>
    f.event.type === "response.output_item.added" && (f.json.item as { call_id?: unknown } | undefined)?.call_id === call.call_id
  )
  if (index < 0) return `no response.output_item.added for the function call ${call.call_id}`
  const outputIndex = frames[index]!.json.output_index
  const mine = frames.slice(index).filter((f) => f.json.output_index === outputIndex)
  const types = mine.map((f) => f.event.type)
  const done = types.indexOf("response.function_call_arguments.done")
  const itemDone = types.indexOf("response.output_item.done")
  if (done < 0) return `no response.function_call_arguments.done for the function call ${call.call_id} (§3.3)`
  if (itemDone < done) return `response.output_item.done of ${call.call_id} precedes function_call_arguments.done (§3.3)`
  const deltas = mine.slice(0, done).filter((f) => f.event.type === "response.function_call_arguments.delta")
  const args = mine[done]!.json.arguments
  if (args !== call.arguments) return `function_call_arguments.done has ${JSON.stringify(args)}, the item has ${JSON.stringify(call.arguments)}`
  if (deltas.length > 0) {
    const joined = deltas.map((f) => String(f.json.delta)).join("")
    if (joined !== call.arguments) return `the argument deltas of ${call.call_id} join to ${JSON.stringify(joined)}, not ${JSON.stringify(call.arguments)}`
  }
  return undefined
}

const authRejected: Definition = {
  id: "auth-rejected",
  title: "a missing or wrong API key gets a plain HTTP 401 on the upgrade",
  sections: "§1.2, §1.4",
  requires: "auth-mode",
  run: (env) =>
    Effect.gen(function*() {
      for (const [what, headers] of [
        ["no Authorization header", {}],
        ["a wrong API key", { authorization: "Bearer conformance-invalid-key" }]
      ] as const) {
        const refusal = yield* env.tryUpgrade(headers)
        if (refusal === undefined) return yield* fail(`an upgrade with ${what} was accepted; expected HTTP 401`)
        yield* ensure(
          refusal.status === 401,
          () => `an upgrade with ${what} got ${refusal.status === undefined ? refusal.message : `HTTP ${refusal.status}`}; expected HTTP 401`
        )
      }
    })
}

const upgradeRequired: Definition = {
  id: "upgrade-required",
  title: "a server without WebSocket mode answers the upgrade with 426",
  sections: "§1.4",
  requires: "reject-mode",
  run: (env) =>
    Effect.gen(function*() {
      const refusal = yield* env.tryUpgrade({})
      if (refusal === undefined) return yield* fail("the upgrade was accepted; expected HTTP 426 Upgrade Required")
      yield* ensure(
        refusal.status === 426,
        () => `the upgrade got ${refusal.status === undefined ? refusal.message : `HTTP ${refusal.status}`}; expected HTTP 426`
      )
    })
}

/**
 * Every check, in the order the suite runs them.
 *
 * @internal
 */
export const all: ReadonlyArray<Definition> = [
  framing,
  basicCreate,
  sequenceNumbers,
  streamConsistency,
  chain,
  notFound,
  invalidStreamId,
  laneEcho,
  lanesConcurrent,
  laneFifo,
  prewarm,
  extras,
  nonJson,
  unknownType,
  deepFrame,
  prototypeKeys,
  invalidField,
  background,
  streamLimit,
  functionCall,
  authRejected,
  upgradeRequired
]

/** @internal */
export { CheckFailure }
