/**
 * A tiny resume-capable server (docs/resume.md) behind the in-memory transport, for the client's unit tests:
 * tokens on the 101, responses that keep running (into a per-request log) while their socket is gone, lane
 * caches that carry over on `loopwire-resumed: 1`, `loopwire.resume` replays after `starting_after`, and the
 * refusals (`resume_request_unknown`, `resume_not_available`, `resume_log_truncated`). The model calls `step`
 * until it has seen `toolCalls` outputs, then answers; one event per tick (setImmediate), so cuts land anywhere.
 */
import * as Memory from "@loopwire/transport/Memory"
import * as Upgrade from "@loopwire/transport/Upgrade"
import { Effect, Queue, Stream } from "effect"

export interface Options {
  readonly toolCalls: number
  /** Offer resume at all (default true). */
  readonly offer?: boolean
  /** Grace period announced and kept, in milliseconds (default 5000). */
  readonly graceMillis?: number
  /** Answer every resuming upgrade with `loopwire-resumed: 0` (e.g. a restarted gateway). */
  readonly forgetTokens?: boolean
  /** Keep only the last N frames of each response's log (default: all). */
  readonly logFrames?: number
  /** Text length of the final answer (many deltas). Default 64. */
  readonly answerChars?: number
  /** Answer the first N `loopwire.resume` with 503 `resume_log_unavailable`. */
  readonly logUnavailable?: number
}

interface Request {
  readonly id: string
  readonly lane: string | undefined
  readonly frames: Array<string>
  /** Frames produced so far (the log); frames before `firstKept` were dropped by the byte budget. */
  produced: number
  firstKept: number
  /** Next frame to write to the attached socket; undefined when detached (socket lost, not yet resumed). */
  cursor: number | undefined
}

interface State {
  readonly requests: Map<string, Request>
  readonly cache: Map<string, { readonly id: string; readonly context: ReadonlyArray<any> }>
  send: ((text: string) => void) | undefined
  resumed: boolean
  expiry: ReturnType<typeof setTimeout> | undefined
}

export const make = (options: Options) => {
  const grace = options.graceMillis ?? 5000
  const offer = options.offer ?? true
  const dropped = new Map<string, State>()
  const creates: Array<{ readonly body: any; readonly duplicate: boolean }> = []
  const resumes: Array<{ readonly id: string; readonly startingAfter: number; readonly answer: string }> = []
  const upgrades: Array<{ readonly token: string | undefined; readonly resumed: boolean | undefined }> = []
  let generated = 0
  let unavailable = options.logUnavailable ?? 0
  let responseCount = 0
  let tokenCount = 0
  const running = new Set<{ readonly state: State; readonly request: Request }>()
  let scheduled = false

  const errorFrame = (status: number, code: string, message: string, param: string, lane: string | undefined) =>
    JSON.stringify({
      type: "error",
      status,
      error: { type: "invalid_request_error", code, message, param },
      ...(lane !== undefined ? { stream_id: lane } : {})
    })

  const flush = (state: State, request: Request) => {
    if (state.send === undefined || request.cursor === undefined) return
    while (request.cursor < request.produced) state.send(request.frames[request.cursor++]!)
  }

  const tick = () => {
    scheduled = false
    for (const entry of running) {
      const { request, state } = entry
      request.produced++
      if (options.logFrames !== undefined) request.firstKept = Math.max(0, request.produced - options.logFrames)
      flush(state, request)
      if (request.produced >= request.frames.length) running.delete(entry)
    }
    if (running.size > 0) schedule()
  }
  const schedule = () => {
    if (!scheduled) {
      scheduled = true
      setImmediate(tick)
    }
  }

  const framesFor = (context: ReadonlyArray<any>, responseId: string, body: any, lane: string | undefined) => {
    const done = context.filter((i) => i?.type === "function_call_output").length
    const generate = body.generate !== false
    const base = { id: responseId, object: "response", created_at: 1, status: "in_progress", model: "m", output: [] }
    const events: Array<any> = [{ type: "response.created", response: base }, { type: "response.in_progress", response: base }]
    let output: Array<any> = []
    if (generate && done >= options.toolCalls) {
      const text = `done after ${done} `.padEnd(options.answerChars ?? 64, "x")
      const item = { type: "message", id: `msg_${responseId}`, role: "assistant", status: "completed", content: [{ type: "output_text", text, annotations: [] }] }
      output = [item]
      events.push({ type: "response.output_item.added", output_index: 0, item: { ...item, status: "in_progress", content: [] } })
      events.push({ type: "response.content_part.added", item_id: item.id, output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } })
      for (const piece of text.match(/.{1,4}/g) ?? []) {
        events.push({ type: "response.output_text.delta", item_id: item.id, output_index: 0, content_index: 0, delta: piece, logprobs: [] })
      }
      events.push({ type: "response.output_text.done", item_id: item.id, output_index: 0, content_index: 0, text, logprobs: [] })
      events.push({ type: "response.content_part.done", item_id: item.id, output_index: 0, content_index: 0, part: { type: "output_text", text, annotations: [] } })
      events.push({ type: "response.output_item.done", output_index: 0, item })
    } else if (generate) {
      const item = { type: "function_call", id: `fc_${responseId}`, call_id: `call_${done}`, name: "step", arguments: JSON.stringify({ n: done }), status: "completed" }
      output = [item]
      events.push({ type: "response.output_item.added", output_index: 0, item: { ...item, status: "in_progress", arguments: "" } })
      events.push({ type: "response.function_call_arguments.delta", item_id: item.id, output_index: 0, delta: item.arguments })
      events.push({ type: "response.function_call_arguments.done", item_id: item.id, output_index: 0, arguments: item.arguments, name: "step" })
      events.push({ type: "response.output_item.done", output_index: 0, item })
    }
    events.push({
      type: "response.completed",
      response: { ...base, status: "completed", output, usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 } }
    })
    return {
      output,
      frames: events.map((e, i) => JSON.stringify({ ...e, sequence_number: i, ...(lane !== undefined ? { stream_id: lane } : {}) }))
    }
  }

  const onMessage = (state: State, text: string) => {
    const body = JSON.parse(text)
    const lane: string | undefined = body.stream_id
    if (body.type === "loopwire.resume") {
      const id: string = body.loopwire_request_id
      if (unavailable > 0) {
        unavailable--
        resumes.push({ id, startingAfter: body.starting_after, answer: "resume_log_unavailable" })
        state.send?.(JSON.stringify({
          type: "error",
          status: 503,
          error: { type: "server_error", code: "resume_log_unavailable", message: `Request '${id}' cannot be resumed right now.`, param: null }
        }))
        return
      }
      const request = state.requests.get(id)
      const after: number = body.starting_after
      if (request === undefined) {
        const code = state.resumed ? "resume_request_unknown" : "resume_not_available"
        resumes.push({ id, startingAfter: after, answer: code })
        state.send?.(errorFrame(409, code, `Request '${id}' cannot be resumed.`, "loopwire_request_id", undefined))
        return
      }
      if (after + 1 < request.firstKept) {
        resumes.push({ id, startingAfter: after, answer: "resume_log_truncated" })
        state.requests.delete(id)
        state.send?.(errorFrame(409, "resume_log_truncated", `Request '${id}' cannot be resumed.`, "starting_after", request.lane))
        return
      }
      resumes.push({ id, startingAfter: after, answer: "ok" })
      request.cursor = after + 1
      flush(state, request)
      return
    }
    if (body.type !== "response.create") return
    const id: string | undefined = body.loopwire_request_id
    const known = id !== undefined ? state.requests.get(id) : undefined
    creates.push({ body, duplicate: known !== undefined })
    if (known !== undefined) {
      known.cursor = 0
      flush(state, known)
      return
    }
    const laneKey = lane ?? ""
    const input: Array<any> = Array.isArray(body.input) ? body.input : [{ role: "user", content: body.input }]
    let context: ReadonlyArray<any> = input
    if (body.previous_response_id) {
      const parent = [...state.cache.values()].find((c) => c.id === body.previous_response_id)
      if (parent === undefined) {
        state.send?.(errorFrame(400, "previous_response_not_found", `Previous response with id '${body.previous_response_id}' not found.`, "previous_response_id", lane))
        return
      }
      context = [...parent.context, ...input]
    }
    const responseId = `resp_${++responseCount}`
    if (body.generate !== false) generated++
    const { frames, output } = framesFor(context, responseId, body, lane)
    state.cache.set(laneKey, { id: responseId, context: [...context, ...output] })
    const request: Request = { id: id ?? responseId, lane, frames, produced: 0, firstKept: 0, cursor: 0 }
    state.requests.set(request.id, request)
    running.add({ state, request })
    schedule()
  }

  const freshState = (): State => ({ requests: new Map(), cache: new Map(), send: undefined, resumed: false, expiry: undefined })

  const layer = Memory.layer({
    onUpgrade: (request) =>
      Effect.sync(() => {
        if (!offer) {
          upgrades.push({ token: undefined, resumed: undefined })
          return Upgrade.accept()
        }
        const presented = request.headers["loopwire-resume-token"]
        const token = `tok_${++tokenCount}`
        let resumed: boolean | undefined
        if (presented !== undefined) {
          const state = options.forgetTokens ? undefined : dropped.get(presented)
          resumed = state !== undefined
          if (state !== undefined) {
            dropped.delete(presented)
            clearTimeout(state.expiry)
            state.resumed = true
            pendingAdoption.set(token, state)
          }
        }
        upgrades.push({ token: presented, resumed })
        return Upgrade.accept({
          headers: {
            "loopwire-resume-token": token,
            "loopwire-resume-grace": String(grace),
            ...(resumed !== undefined ? { "loopwire-resumed": resumed ? "1" : "0" } : {})
          }
        })
      }),
    handle: (connection) =>
      Effect.gen(function*() {
        const token = connection.handshake.responseHeaders["loopwire-resume-token"]
        const adopted = token !== undefined ? pendingAdoption.get(token) : undefined
        if (token !== undefined) pendingAdoption.delete(token)
        const state = adopted ?? freshState()
        const out = yield* Queue.unbounded<string>()
        state.send = (text) => void out.unsafeOffer(text)
        yield* Effect.fork(Effect.forever(Effect.flatMap(Queue.take(out), (text) => Effect.ignore(connection.send(text)))))
        yield* connection.frames.pipe(
          Stream.runForEach((text) => Effect.sync(() => onMessage(state, text))),
          Effect.ignore
        )
        const info = yield* connection.closed
        state.send = undefined
        for (const r of state.requests.values()) r.cursor = undefined
        if (token === undefined || info.code === 1000 || grace <= 0) {
          for (const entry of running) if (entry.state === state) running.delete(entry)
          return
        }
        dropped.set(token, state)
        state.expiry = setTimeout(() => {
          dropped.delete(token)
          for (const entry of running) if (entry.state === state) running.delete(entry)
        }, grace)
        state.expiry.unref?.()
      })
  })
  const pendingAdoption = new Map<string, State>()

  return {
    layer,
    creates,
    resumes,
    upgrades,
    generated: () => generated,
    dropped: () => dropped.size
  }
}
