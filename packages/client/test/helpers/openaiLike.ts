/**
 * A minimal server that behaves like OpenAI's WebSocket mode without any extension: a connection-local cache
 * holding only the latest response per lane, `store: true` responses kept in a shared store, the exact
 * `previous_response_not_found` error, lanes with FIFO order and interleaving across lanes, `generate: false`.
 * A deterministic "model" calls the `step` tool until it has seen `toolCalls` outputs, then answers.
 * Faults are one-shot flags. Transport-agnostic: wire it to `ws` or to the in-memory transport.
 */

export interface Peer {
  send(text: string): void
  /** Abrupt drop (no close handshake). */
  terminate(): void
  close(code: number, reason: string): void
}

export interface ModelOptions {
  /** Tool calls before the final answer (one per turn unless `parallel`). */
  readonly toolCalls: number
  /** Calls per turn. */
  readonly parallel?: number
  readonly toolName?: string
  /** Arguments of each call (default `{"n":<index>}`). */
  readonly args?: (index: number) => string
  /** Events sent per lane per tick (default 4). */
  readonly burst?: number
  /** A reasoning item (this summary, streamed in pieces) before each response's output. */
  readonly reasoning?: string
  /**
   * Sparse streams, as WebSocket mode allows (protocol.md §9), each with an empty `output` in `response.completed`:
   * `no-setup` drops `output_item.added` and `content_part.added`; `done-only` sends each item only as
   * `output_item.done` (no setup, no deltas); `deltas-only` sends only the deltas (nothing finalizes an item).
   */
  readonly sparse?: "no-setup" | "done-only" | "deltas-only"
}

export interface CreateLog {
  readonly connection: number
  readonly lane: string | undefined
  readonly previousResponseId: string | undefined
  readonly inputItems: number
  readonly bytes: number
  readonly generate: boolean
  readonly outcome: "ok" | "not_found" | "error" | "dropped"
  /** The request's `tools`, as sent. */
  readonly tools: ReadonlyArray<any> | undefined
}

export interface Faults {
  /** Status for the next upgrade(s) to refuse (e.g. 426, 503); `refuseCount` times (default 1). */
  refuseUpgrade?: number | undefined
  refuseCount?: number | undefined
  /** Drop the socket after this many events of the next generating response. */
  dropAfterEvents?: number | undefined
  /** Answer the next create with this error frame (status, code, headers). */
  errorNext?: { status: number; code: string | null; type?: string; message?: string; headers?: Record<string, string> } | undefined
  /** Answer the next create with websocket_connection_limit_reached, then close. */
  limitNext?: boolean | undefined
}

interface Cached {
  readonly id: string
  readonly context: ReadonlyArray<any>
}

const NOT_FOUND = (id: string) => `Previous response with id '${id}' not found.`

export const makeServer = (model: ModelOptions) => {
  const faults: Faults = {}
  const creates: Array<CreateLog> = []
  const stored = new Map<string, Cached>()
  const connections = new Set<{ cache: Map<string, Cached>; peer: Peer }>()
  let connectionCount = 0
  let responseCount = 0
  let generated = 0
  let maxOutstanding = 0
  const toolName = model.toolName ?? "step"
  const perTurn = model.parallel ?? 1
  const burst = model.burst ?? 4

  const countOutputs = (context: ReadonlyArray<any>) =>
    context.filter((i) => i && i.type === "function_call_output").length

  const firstUserText = (context: ReadonlyArray<any>): string => {
    const first = context.find((i) => i && i.role === "user")
    if (first === undefined) return ""
    if (typeof first.content === "string") return first.content
    return Array.isArray(first.content) ? (first.content[0]?.text ?? "") : ""
  }

  const respond = (context: ReadonlyArray<any>, responseId: string): Array<any> => {
    const output = answer(context, responseId)
    return model.reasoning === undefined ? output : [{
      type: "reasoning",
      id: `rs_${responseId}`,
      summary: [{ type: "summary_text", text: model.reasoning }],
      encrypted_content: `enc_${responseId}`
    }, ...output]
  }

  const answer = (context: ReadonlyArray<any>, responseId: string): Array<any> => {
    const done = countOutputs(context)
    const tag = firstUserText(context)
    if (done >= model.toolCalls) {
      const text = `done after ${done} tool calls for ${tag}`
      return [{
        type: "message",
        id: `msg_${responseId}`,
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text, annotations: [] }]
      }]
    }
    const n = Math.min(perTurn, model.toolCalls - done)
    return Array.from({ length: n }, (_, k) => {
      const index = done + k
      return {
        type: "function_call",
        id: `fc_${responseId}_${k}`,
        call_id: `call_${index}`,
        name: toolName,
        arguments: model.args ? model.args(index) : JSON.stringify({ n: index, tag }),
        status: "completed"
      }
    })
  }

  const eventsFor = (response: any, output: Array<any>, lane: string | undefined): Array<any> => {
    const events: Array<any> = []
    const base = { ...response, status: "in_progress", output: [] }
    events.push({ type: "response.created", response: base })
    events.push({ type: "response.in_progress", response: base })
    output.forEach((item, output_index) => {
      if (item.type === "message") {
        const text = item.content[0].text as string
        events.push({ type: "response.output_item.added", output_index, item: { ...item, status: "in_progress", content: [] } })
        events.push({ type: "response.content_part.added", item_id: item.id, output_index, content_index: 0, part: { type: "output_text", text: "", annotations: [] } })
        for (const piece of text.match(/.{1,8}/g) ?? []) {
          events.push({ type: "response.output_text.delta", item_id: item.id, output_index, content_index: 0, delta: piece, logprobs: [] })
        }
        events.push({ type: "response.output_text.done", item_id: item.id, output_index, content_index: 0, text, logprobs: [] })
        events.push({ type: "response.content_part.done", item_id: item.id, output_index, content_index: 0, part: { type: "output_text", text, annotations: [] } })
      } else if (item.type === "reasoning") {
        const text = item.summary[0].text as string
        const part = { type: "summary_text", text: "" }
        events.push({ type: "response.output_item.added", output_index, item: { ...item, summary: [] } })
        events.push({ type: "response.reasoning_summary_part.added", item_id: item.id, output_index, summary_index: 0, part })
        for (const piece of text.match(/.{1,8}/g) ?? []) {
          events.push({ type: "response.reasoning_summary_text.delta", item_id: item.id, output_index, summary_index: 0, delta: piece })
        }
        events.push({ type: "response.reasoning_summary_text.done", item_id: item.id, output_index, summary_index: 0, text })
        events.push({ type: "response.reasoning_summary_part.done", item_id: item.id, output_index, summary_index: 0, part: { ...part, text } })
      } else {
        events.push({ type: "response.output_item.added", output_index, item: { ...item, status: "in_progress", arguments: "" } })
        events.push({ type: "response.function_call_arguments.delta", item_id: item.id, output_index, delta: item.arguments })
        events.push({ type: "response.function_call_arguments.done", item_id: item.id, output_index, arguments: item.arguments, name: item.name })
      }
      events.push({ type: "response.output_item.done", output_index, item })
    })
    events.push({
      type: "response.completed",
      response: {
        ...response,
        status: "completed",
        output: model.sparse === undefined ? output : [],
        usage: { input_tokens: 10, output_tokens: output.length, total_tokens: 10 + output.length }
      }
    })
    const setup = new Set(["response.output_item.added", "response.content_part.added", "response.reasoning_summary_part.added"])
    const kept = events.filter((e) => {
      switch (model.sparse) {
        case undefined:
          return true
        case "no-setup":
          return !setup.has(e.type)
        case "done-only":
          return !setup.has(e.type) && !/\.(delta|done)$/.test(e.type) || e.type === "response.output_item.done"
        case "deltas-only":
          return !setup.has(e.type) && !/\.done$/.test(e.type)
      }
    })
    return kept.map((e, i) => ({ ...e, sequence_number: i, ...(lane !== undefined ? { stream_id: lane } : {}) }))
  }

  const errorFrame = (status: number, code: string | null, message: string, param: string | null, lane: string | undefined, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      type: "error",
      status,
      error: { type: "invalid_request_error", code, message, param, ...extra },
      ...(lane !== undefined ? { stream_id: lane } : {})
    })

  /** Upgrade decision: undefined = accept, else the status to refuse with. */
  const upgrades: Array<Record<string, string | undefined>> = []
  const onUpgrade = (headers: Record<string, string | undefined> = {}): number | undefined => {
    upgrades.push(headers)
    if (faults.refuseUpgrade !== undefined) {
      const status = faults.refuseUpgrade
      const left = (faults.refuseCount ?? 1) - 1
      if (left <= 0) {
        faults.refuseUpgrade = undefined
        faults.refuseCount = undefined
      } else faults.refuseCount = left
      return status
    }
    return undefined
  }

  const accept = (peer: Peer) => {
    const id = ++connectionCount
    const state = { cache: new Map<string, Cached>(), peer }
    connections.add(state)
    const namedLanes = new Set<string>()
    // Per-lane FIFO of pending event lists; emitted round-robin across lanes, one event per lane per tick.
    const laneQueues = new Map<string, Array<Array<string>>>()
    let closed = false
    let scheduled = false
    let outstanding = 0
    const tick = () => {
      scheduled = false
      if (closed) return
      for (const [lane, q] of laneQueues) {
        const head = q[0]
        if (head === undefined) {
          laneQueues.delete(lane)
          continue
        }
        // A few events per lane per tick: lanes interleave, and the test stays fast.
        for (let k = 0; k < burst && head.length > 0; k++) {
          const frame = head.shift()!
          if (frame === "__DROP__") {
            closed = true
            peer.terminate()
            return
          }
          if (frame === "__CLOSE__") {
            closed = true
            peer.close(1000, "limit")
            return
          }
          peer.send(frame)
        }
        if (head.length === 0) {
          q.shift()
          outstanding--
        }
      }
      if (laneQueues.size > 0) schedule()
    }
    const schedule = () => {
      if (!scheduled) {
        scheduled = true
        setImmediate(tick)
      }
    }
    const enqueue = (lane: string, frames: Array<string>) => {
      let q = laneQueues.get(lane)
      if (q === undefined) laneQueues.set(lane, q = [])
      q.push(frames)
      outstanding++
      maxOutstanding = Math.max(maxOutstanding, outstanding)
      schedule()
    }

    const onMessage = (text: string) => {
      if (closed) return
      const bytes = Buffer.byteLength(text)
      let body: any
      try {
        body = JSON.parse(text)
      } catch {
        peer.send(errorFrame(400, "invalid_json", "Invalid JSON", null, undefined))
        return
      }
      if (body.type !== "response.create") {
        peer.send(errorFrame(400, "unknown_event", `Unknown event type '${body.type}'`, "type", undefined))
        return
      }
      const lane: string | undefined = body.stream_id
      const laneKey = lane ?? ""
      const log = (outcome: CreateLog["outcome"]) =>
        creates.push({
          connection: id,
          lane,
          previousResponseId: body.previous_response_id ?? undefined,
          inputItems: Array.isArray(body.input) ? body.input.length : 1,
          bytes,
          generate: body.generate !== false,
          outcome,
          tools: body.tools
        })
      if (lane !== undefined && !namedLanes.has(lane)) {
        if (namedLanes.size >= 32) {
          log("error")
          enqueue(laneKey, [errorFrame(400, "websocket_stream_limit_reached", "This WebSocket connection has reached its maximum number of distinct stream IDs (32). Reuse an existing stream_id or open a new WebSocket connection.", "stream_id", lane)])
          return
        }
        namedLanes.add(lane)
      }
      if (faults.limitNext) {
        faults.limitNext = false
        log("error")
        enqueue(laneKey, [
          errorFrame(400, "websocket_connection_limit_reached", "Responses websocket connection limit reached (60 minutes). Create a new websocket connection to continue.", null, lane),
          "__CLOSE__"
        ])
        return
      }
      if (faults.errorNext !== undefined) {
        const e = faults.errorNext
        faults.errorNext = undefined
        log("error")
        enqueue(laneKey, [JSON.stringify({
          type: "error",
          status: e.status,
          error: { type: e.type ?? "server_error", code: e.code, message: e.message ?? `error ${e.status}`, param: null, ...(e.headers ? { headers: e.headers } : {}) },
          ...(lane !== undefined ? { stream_id: lane } : {})
        })])
        return
      }
      const input: Array<any> = typeof body.input === "string"
        ? [{ role: "user", content: body.input }]
        : Array.isArray(body.input) ? body.input : []
      let context: ReadonlyArray<any> = input
      const prev: string | undefined = body.previous_response_id ?? undefined
      if (prev !== undefined) {
        let parent: Cached | undefined
        for (const c of state.cache.values()) if (c.id === prev) parent = c
        if (parent === undefined) parent = stored.get(prev)
        if (parent === undefined) {
          log("not_found")
          enqueue(laneKey, [errorFrame(400, "previous_response_not_found", NOT_FOUND(prev), "previous_response_id", lane)])
          return
        }
        context = [...parent.context, ...input]
      }
      const responseId = `resp_${++responseCount}`
      const generate = body.generate !== false
      const output = generate ? respond(context, responseId) : []
      if (generate) generated++
      const full = [...context, ...output]
      const response = {
        id: responseId,
        object: "response",
        created_at: 1,
        status: "completed",
        model: body.model ?? "fake-model",
        output,
        previous_response_id: prev ?? null,
        store: body.store !== false
      }
      const cached = { id: responseId, context: full }
      state.cache.set(laneKey, cached) // only the latest response per lane stays warm
      if (body.store !== false) stored.set(responseId, cached)
      const frames = eventsFor(response, output, lane).map((e) => JSON.stringify(e))
      if (generate && faults.dropAfterEvents !== undefined) {
        const n = faults.dropAfterEvents
        faults.dropAfterEvents = undefined
        log("dropped")
        state.cache.delete(laneKey)
        enqueue(laneKey, [...frames.slice(0, n), "__DROP__"])
        return
      }
      log("ok")
      enqueue(laneKey, frames)
    }
    const onClose = () => {
      closed = true
      connections.delete(state)
    }
    return { onMessage, onClose }
  }

  let httpRequests: Array<{ readonly body: any; readonly bytes: number }> = []
  /** `POST /v1/responses` (stream: true): the SSE body for a full-context request. */
  const httpCreate = (text: string): { readonly status: number; readonly body: string } => {
    const body = JSON.parse(text)
    httpRequests.push({ body, bytes: Buffer.byteLength(text) })
    if (body.stream_id !== undefined || body.generate !== undefined) {
      return { status: 400, body: JSON.stringify({ error: { type: "invalid_request_error", code: "unknown_parameter", message: "WebSocket-only field over HTTP", param: "stream_id" } }) }
    }
    const input: Array<any> = typeof body.input === "string" ? [{ role: "user", content: body.input }] : body.input ?? []
    let context: ReadonlyArray<any> = input
    if (body.previous_response_id) {
      const parent = stored.get(body.previous_response_id)
      if (parent === undefined) {
        return { status: 400, body: JSON.stringify({ error: { type: "invalid_request_error", code: "previous_response_not_found", message: NOT_FOUND(body.previous_response_id), param: "previous_response_id" } }) }
      }
      context = [...parent.context, ...input]
    }
    const responseId = `resp_${++responseCount}`
    const output = respond(context, responseId)
    generated++
    const response = { id: responseId, object: "response", created_at: 1, status: "completed", model: body.model ?? "fake-model", output, previous_response_id: body.previous_response_id ?? null, store: body.store !== false }
    if (body.store !== false) stored.set(responseId, { id: responseId, context: [...context, ...output] })
    const events = eventsFor(response, output, undefined)
    return { status: 200, body: events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join("") }
  }

  return {
    faults,
    httpCreate,
    upgrades,
    httpRequests: () => httpRequests,
    creates,
    accept,
    onUpgrade,
    /** Evicts every connection's warm state (as after a server restart of the cache). */
    forgetAll: () => {
      for (const c of connections) c.cache.clear()
    },
    dropAll: () => {
      for (const c of connections) c.peer.terminate()
    },
    stats: () => ({ connections: connectionCount, open: connections.size, generated, maxOutstanding })
  }
}

export type FakeServer = ReturnType<typeof makeServer>
