/**
 * WebSocket mode as an `@effect/ai` `LanguageModel`: `layer({ model, ...settings })` provides
 * `LanguageModel.LanguageModel`, so `LanguageModel.generateText`, `streamText`, `generateObject` and `Chat` run over
 * the pool's persistent sockets, with `@effect/ai` toolkits, unchanged.
 *
 * `@effect/ai` hands the provider the whole prompt on every call. The model keeps a few conversations warm (each a
 * `Session`, so each turn has resume and the recovery ladder underneath) and recognises a prompt that continues one:
 * its messages start with the messages the conversation has seen plus the assistant message its last response
 * became (as `Chat` appends it). Only the messages after that go out, and the `Session` sends them as a delta
 * (`previous_response_id` + the new items) by its strict-prefix rule. Any other prompt opens a new conversation
 * and goes out in full.
 *
 * Parts map as `@effect/ai-openai` maps the Responses API: text, reasoning (summaries), tool calls with their
 * argument deltas, source parts for URL citations, `response-metadata`, and `finish` with usage. Errors are
 * `AiError`s whose `cause` is the `ResponsesError`.
 *
 * @since 0.1.0
 */
import * as AiError from "@effect/ai/AiError"
import * as IdGenerator from "@effect/ai/IdGenerator"
import * as AiLanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import type * as AiResponse from "@effect/ai/Response"
import * as Telemetry from "@effect/ai/Telemetry"
import * as AiTool from "@effect/ai/Tool"
import type * as Items from "@loopwire/protocol/Items"
import type * as ProtocolResponse from "@loopwire/protocol/Response"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as ConnectionPool from "./ConnectionPool.js"
import { fromProducer } from "./internal/produce.js"
import type { ResponsesError } from "./ResponsesError.js"
import * as Session from "./Session.js"
import * as ToolRegistry from "./ToolRegistry.js"

/**
 * The model and the request settings sent with every call (`store`, `include`, `reasoning`, `instructions`,
 * hosted tools in `tools`, …), plus how conversations are kept.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<Session.Settings, "model"> {
  readonly model: string
  /** Session options of every conversation (backoff, HTTP fallback, idle timeout, transport). */
  readonly session?: Omit<Session.Options, "settings" | "history"> | undefined
  /**
   * Idle conversations kept warm for continuation (default 64); beyond, the least recently used is closed (its
   * next call goes out in full). Each holds a lease on the pool.
   */
  readonly maxConversations?: number | undefined
  /** The `strict` flag of `generateObject`'s `json_schema` format (default false, as function tools). */
  readonly strictJsonSchema?: boolean | undefined
}

/**
 * Per-request settings that override the layer's, as `@effect/ai-openai`'s `Config`: see
 * {@link withConfigOverride}.
 *
 * @since 0.1.0
 * @category context
 */
export class Config extends Context.Tag("@loopwire/client/LanguageModel/Config")<Config, Partial<Session.Settings>>() {}

/**
 * Runs an effect with request settings overriding the layer's (e.g. `{ reasoning: { effort: "high" } }`).
 *
 * @since 0.1.0
 * @category context
 */
export const withConfigOverride: {
  (overrides: Partial<Session.Settings>): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, overrides: Partial<Session.Settings>): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, overrides: Partial<Session.Settings>): Effect.Effect<A, E, R> =>
    Effect.flatMap(
      Effect.serviceOption(Config),
      (config) => Effect.provideService(self, Config, { ...Option.getOrElse(config, () => ({})), ...overrides })
    )
)

/**
 * What a conversation's continuation looked like, for tests and metrics: how many of the prompt's messages a
 * warm conversation already held (0: a new conversation), and the session's request mode.
 *
 * @since 0.1.0
 * @category models
 */
export interface TurnInfo {
  readonly continued: number
  readonly newItems: number
  readonly mode: "delta" | "full"
}

type Obj = Record<string, any>

// -------------------------------------------------------------------------------------------------------------
// Prompt → Responses input items
// -------------------------------------------------------------------------------------------------------------

const systemRole = (model: string): "system" | "developer" =>
  model.startsWith("o") || model.startsWith("gpt-5") || model.startsWith("codex-") ? "developer" : "system"

const openaiOptions = (part: { readonly options: Obj }): Obj | undefined => part.options?.openai

const malformed = (method: string, description: string) =>
  new AiError.MalformedInput({ module: "LoopwireLanguageModel", method, description })

const userContent = (part: Prompt.UserMessagePart, index: number): Obj => {
  if (part.type === "text") return { type: "input_text", text: part.text }
  const data = part.data
  const asUrl = (mediaType: string) =>
    data instanceof URL
      ? data.toString()
      : data instanceof Uint8Array
      ? `data:${mediaType};base64,${Encoding.encodeBase64(data)}`
      : data
  if (part.mediaType.startsWith("image/")) {
    const mediaType = part.mediaType === "image/*" ? "image/jpeg" : part.mediaType
    const detail = openaiOptions(part)?.imageDetail ?? "auto"
    return typeof data === "string" && !data.includes(":")
      ? { type: "input_image", file_id: data, detail }
      : { type: "input_image", image_url: asUrl(mediaType), detail }
  }
  if (part.mediaType === "application/pdf") {
    if (typeof data === "string" && !data.includes(":")) return { type: "input_file", file_id: data }
    if (data instanceof URL) return { type: "input_file", file_url: data.toString() }
    return { type: "input_file", filename: part.fileName ?? `part-${index}.pdf`, file_data: asUrl("application/pdf") }
  }
  throw malformed("prepareMessages", `Unsupported media type for a file part: '${part.mediaType}'`)
}

/**
 * The Responses input items of prompt messages, as `@effect/ai-openai` writes them: system → a `system` (or
 * `developer`) message; user → a message of `input_text` / `input_image` / `input_file`; assistant → one `message`
 * per text part, a `function_call` per client-side tool call, a `reasoning` item when the part carries its item id
 * and encrypted content; tool → a `function_call_output` per result (`JSON.stringify(result)`).
 *
 * @since 0.1.0
 * @category prompt
 */
export const promptItems = (
  messages: ReadonlyArray<Prompt.Message>,
  model: string
): Effect.Effect<ReadonlyArray<Items.InputItem>, AiError.AiError> =>
  Effect.try({
    try: () => {
      const items: Array<Obj> = []
      for (const message of messages) {
        switch (message.role) {
          case "system":
            items.push({ type: "message", role: systemRole(model), content: message.content })
            break
          case "user":
            items.push({ type: "message", role: "user", content: message.content.map(userContent) })
            break
          case "assistant":
            for (const part of message.content) {
              if (part.type === "text") {
                items.push({ type: "message", role: "assistant", content: [{ type: "output_text", text: part.text }] })
              } else if (part.type === "tool-call" && !part.providerExecuted) {
                items.push({ type: "function_call", call_id: part.id, name: part.name, arguments: JSON.stringify(part.params) })
              } else if (part.type === "reasoning") {
                const options = openaiOptions(part)
                if (typeof options?.itemId === "string" && typeof options?.encryptedContent === "string") {
                  items.push({
                    type: "reasoning",
                    id: options.itemId,
                    summary: part.text.length > 0 ? [{ type: "summary_text", text: part.text }] : [],
                    encrypted_content: options.encryptedContent
                  })
                }
              }
            }
            break
          case "tool":
            for (const part of message.content) {
              items.push({ type: "function_call_output", call_id: part.id, output: JSON.stringify(part.result) })
            }
            break
        }
      }
      return items as unknown as ReadonlyArray<Items.InputItem>
    },
    catch: (error) =>
      AiError.isAiError(error) ? error : malformed("prepareMessages", `Cannot encode the prompt: ${String(error)}`)
  })

/**
 * A message's identity for continuation: its role and parts, tool calls by id and name (their params are compared
 * decoded on one side and encoded on the other), file data by size.
 *
 * @since 0.1.0
 * @category prompt
 */
export const fingerprint = (message: Prompt.Message): string => {
  if (message.role === "system") return `s\u0000${message.content}`
  let key = message.role
  for (const part of message.content as ReadonlyArray<Obj>) {
    switch (part.type) {
      case "text":
      case "reasoning":
        key += `\u0000${part.type[0]}:${part.text}`
        break
      case "tool-call":
      case "tool-result":
        key += `\u0000${part.type === "tool-call" ? "c" : "r"}:${part.id}:${part.name}`
        break
      case "file":
        key += `\u0000f:${part.mediaType}:${
          typeof part.data === "string" ? part.data : part.data instanceof URL ? part.data.toString() : part.data.length
        }`
        break
      default:
        key += `\u0000${part.type}`
    }
  }
  return key
}

// -------------------------------------------------------------------------------------------------------------
// Responses output → @effect/ai parts
// -------------------------------------------------------------------------------------------------------------

const parseParams = (text: string): unknown => {
  try {
    return text.trim() === "" ? {} : AiTool.unsafeSecureJsonParse(text)
  } catch {
    // Left as text: the toolkit's parameters schema rejects it (`MalformedOutput`), as for any bad call.
    return text
  }
}

const timestampOf = (response: ProtocolResponse.Response): string | undefined =>
  typeof response.created_at === "number" ? new Date(response.created_at * 1000).toISOString() : undefined

const finishReason = (response: ProtocolResponse.Response, hasToolCalls: boolean): AiResponse.FinishReason => {
  if (response.status === "incomplete") {
    const reason = (response as Obj).incomplete_details?.reason
    return reason === "max_output_tokens" ? "length" : reason === "content_filter" ? "content-filter" : "other"
  }
  return hasToolCalls ? "tool-calls" : "stop"
}

const finishPart = (response: ProtocolResponse.Response, hasToolCalls: boolean): AiResponse.FinishPartEncoded => {
  const usage = response.usage as Obj | null | undefined
  return {
    type: "finish",
    reason: finishReason(response, hasToolCalls),
    usage: {
      inputTokens: usage?.input_tokens,
      outputTokens: usage?.output_tokens,
      totalTokens: usage?.total_tokens ?? (usage?.input_tokens ?? 0) + (usage?.output_tokens ?? 0),
      ...(usage?.output_tokens_details?.reasoning_tokens !== undefined
        ? { reasoningTokens: usage.output_tokens_details.reasoning_tokens }
        : {}),
      ...(usage?.input_tokens_details?.cached_tokens !== undefined
        ? { cachedInputTokens: usage.input_tokens_details.cached_tokens }
        : {})
    }
  }
}

const reasoningTexts = (item: Obj): ReadonlyArray<string> =>
  Array.isArray(item.summary) && item.summary.length > 0 ? item.summary.map((s: Obj) => String(s.text ?? "")) : [""]

/**
 * The `@effect/ai` parts of a finished response (`generateText`): `response-metadata`, then per output item a
 * `text` per `output_text` (and an empty one per refusal, its text in the metadata), a `source` per URL citation,
 * a `reasoning` per summary part (item id and encrypted content in `metadata.openai`), a `tool-call` per
 * `function_call`; then `finish` with usage. Hosted tools' calls stay in the server's state and are not parts.
 *
 * @since 0.1.0
 * @category response
 */
export const responseParts = (
  response: ProtocolResponse.Response,
  generateId: () => string
): Array<AiResponse.PartEncoded> => {
  const parts: Array<AiResponse.PartEncoded> = []
  const timestamp = timestampOf(response)
  parts.push({
    type: "response-metadata",
    id: response.id,
    modelId: response.model,
    ...(timestamp !== undefined ? { timestamp } : {})
  })
  let hasToolCalls = false
  for (const item of response.output as ReadonlyArray<Obj>) {
    switch (item.type) {
      case "message":
        for (const content of (item.content ?? []) as ReadonlyArray<Obj>) {
          if (content.type === "output_text") {
            parts.push({ type: "text", text: content.text, metadata: { openai: { itemId: item.id } } })
            for (const annotation of (content.annotations ?? []) as ReadonlyArray<Obj>) {
              if (annotation.type === "url_citation") {
                parts.push({
                  type: "source",
                  sourceType: "url",
                  id: generateId(),
                  url: annotation.url,
                  title: annotation.title ?? annotation.url
                })
              }
            }
          } else if (content.type === "refusal") {
            parts.push({ type: "text", text: "", metadata: { openai: { itemId: item.id, refusal: content.refusal } } })
          }
        }
        break
      case "reasoning":
        for (const text of reasoningTexts(item)) {
          parts.push({
            type: "reasoning",
            text,
            metadata: { openai: { itemId: item.id, encryptedContent: item.encrypted_content } }
          })
        }
        break
      case "function_call":
        hasToolCalls = true
        parts.push({
          type: "tool-call",
          id: item.call_id,
          name: item.name,
          params: parseParams(item.arguments ?? ""),
          metadata: { openai: { itemId: item.id } }
        })
        break
    }
  }
  parts.push(finishPart(response, hasToolCalls))
  return parts
}

/**
 * Maps one turn's server events to `@effect/ai` stream parts, as `@effect/ai-openai` does: text and reasoning as
 * start/delta/end (one text part per content part, one reasoning part per summary part), function calls as
 * `tool-params-start` / `-delta` / `-end` then `tool-call`, `response-metadata` first and `finish` last.
 *
 * @since 0.1.0
 * @category response
 */
export const makeStreamMapper = (generateId: () => string) => {
  const calls = new Map<number, { readonly id: string; readonly name: string }>()
  const reasoning = new Map<string, Array<number>>()
  let hasToolCalls = false
  return (event: Obj): ReadonlyArray<AiResponse.StreamPartEncoded> => {
    switch (event.type) {
      case "response.created": {
        const timestamp = timestampOf(event.response)
        return [{
          type: "response-metadata",
          id: event.response.id,
          modelId: event.response.model,
          ...(timestamp !== undefined ? { timestamp } : {})
        }]
      }
      case "response.output_item.added": {
        const item = event.item as Obj
        if (item.type === "function_call") {
          calls.set(event.output_index, { id: item.call_id, name: item.name })
          return [{ type: "tool-params-start", id: item.call_id, name: item.name }]
        }
        if (item.type === "reasoning") {
          reasoning.set(item.id, [0])
          return [{
            type: "reasoning-start",
            id: `${item.id}:0`,
            metadata: { openai: { itemId: item.id, encryptedContent: item.encrypted_content } }
          }]
        }
        return []
      }
      case "response.content_part.added":
        return event.part?.type === "output_text"
          ? [{ type: "text-start", id: `${event.item_id}:${event.content_index}`, metadata: { openai: { itemId: event.item_id } } }]
          : []
      case "response.output_text.delta":
        return [{ type: "text-delta", id: `${event.item_id}:${event.content_index}`, delta: event.delta }]
      case "response.output_text.annotation.added":
        return event.annotation?.type === "url_citation"
          ? [{
            type: "source",
            sourceType: "url",
            id: generateId(),
            url: event.annotation.url,
            title: event.annotation.title ?? event.annotation.url
          }]
          : []
      case "response.content_part.done": {
        const id = `${event.item_id}:${event.content_index}`
        if (event.part?.type === "output_text") return [{ type: "text-end", id }]
        if (event.part?.type === "refusal") {
          const metadata = { openai: { itemId: event.item_id, refusal: event.part.refusal } }
          return [{ type: "text-start", id, metadata }, { type: "text-end", id, metadata }]
        }
        return []
      }
      case "response.reasoning_summary_part.added": {
        if (event.summary_index === 0) return []
        reasoning.get(event.item_id)?.push(event.summary_index)
        return [{
          type: "reasoning-start",
          id: `${event.item_id}:${event.summary_index}`,
          metadata: { openai: { itemId: event.item_id } }
        }]
      }
      case "response.reasoning_summary_text.delta":
        return [{ type: "reasoning-delta", id: `${event.item_id}:${event.summary_index}`, delta: event.delta }]
      case "response.function_call_arguments.delta": {
        const call = calls.get(event.output_index)
        return call === undefined ? [] : [{ type: "tool-params-delta", id: call.id, delta: event.delta }]
      }
      case "response.output_item.done": {
        const item = event.item as Obj
        if (item.type === "function_call") {
          hasToolCalls = true
          calls.delete(event.output_index)
          return [
            { type: "tool-params-end", id: item.call_id },
            {
              type: "tool-call",
              id: item.call_id,
              name: item.name,
              params: parseParams(item.arguments ?? ""),
              metadata: { openai: { itemId: item.id } }
            }
          ]
        }
        if (item.type === "reasoning") {
          const indexes = reasoning.get(item.id) ?? [0]
          reasoning.delete(item.id)
          const metadata = { openai: { itemId: item.id, encryptedContent: item.encrypted_content } }
          return indexes.map((index) => ({ type: "reasoning-end" as const, id: `${item.id}:${index}`, metadata }))
        }
        return []
      }
      case "response.completed":
      case "response.incomplete":
        return [finishPart(event.response, hasToolCalls)]
      default:
        return []
    }
  }
}

// -------------------------------------------------------------------------------------------------------------
// Errors
// -------------------------------------------------------------------------------------------------------------

/**
 * A `ResponsesError` as an `AiError`: `Invalid` (a request the client refuses to send) is `MalformedInput`; the
 * rest (error frames, lost connections after the recovery ladder, failed responses) is `UnknownError`. The
 * `ResponsesError` is the `cause`; its message is the description.
 *
 * @since 0.1.0
 * @category errors
 */
export const toAiError = (method: string) => (error: ResponsesError): AiError.AiError =>
  error.reason === "Invalid"
    ? new AiError.MalformedInput({ module: "LoopwireLanguageModel", method, description: error.message, cause: error })
    : new AiError.UnknownError({
      module: "LoopwireLanguageModel",
      method,
      description: `${error.reason}: ${error.message}`,
      cause: error
    })

const failedResponse = (method: string, response: ProtocolResponse.Response) =>
  new AiError.UnknownError({
    module: "LoopwireLanguageModel",
    method,
    description: `The response failed${response.error?.code ? ` (${response.error.code})` : ""}: ${
      response.error?.message ?? "no message"
    }`,
    cause: response.error
  })

// -------------------------------------------------------------------------------------------------------------
// The model
// -------------------------------------------------------------------------------------------------------------

interface Conversation {
  readonly session: Session.Session
  readonly scope: Scope.CloseableScope
  /** Fingerprints of the prompt messages the session's history stands for. */
  fingerprints: ReadonlyArray<string>
}

const keyOf = (length: number, last: string) => `${length}\u0000${last}`

const sameKeys = (a: ReadonlyArray<string>, b: ReadonlyArray<string>, length: number) => {
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * The `LanguageModel` service over the pool (scoped: the warm conversations are closed with the scope).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<AiLanguageModel.Service, never, ConnectionPool.ConnectionPool | Scope.Scope> =>
  Effect.gen(function*() {
    const { maxConversations: maxOption, session: sessionOptions, strictJsonSchema, ...settings } = options
    const base = settings as Session.Settings
    const model = options.model
    const maxConversations = Math.max(1, maxOption ?? 64)
    const context = yield* Effect.context<ConnectionPool.ConnectionPool>()
    const layerScope = yield* Effect.scope
    // Idle conversations by their length and last fingerprint (a bucket: different prefixes may end alike), and
    // the same conversations least recently used first, for eviction.
    const idle = new Map<string, Array<Conversation>>()
    const lru = new Set<Conversation>()

    const close = (conversation: Conversation) => Scope.close(conversation.scope, Exit.void)

    const keyOfConversation = (conversation: Conversation) => {
      const fps = conversation.fingerprints
      return keyOf(fps.length, fps[fps.length - 1]!)
    }

    const unlink = (conversation: Conversation) => {
      lru.delete(conversation)
      const key = keyOfConversation(conversation)
      const bucket = idle.get(key)
      if (bucket === undefined) return
      const rest = bucket.filter((c) => c !== conversation)
      if (rest.length === 0) idle.delete(key)
      else idle.set(key, rest)
    }

    const release = (conversation: Conversation) =>
      Effect.suspend(() => {
        if (conversation.fingerprints.length === 0) return close(conversation)
        const key = keyOfConversation(conversation)
        idle.set(key, [...(idle.get(key) ?? []), conversation])
        lru.add(conversation)
        const evicted: Array<Conversation> = []
        while (lru.size > maxConversations) {
          const oldest = lru.values().next().value!
          unlink(oldest)
          evicted.push(oldest)
        }
        return Effect.forEach(evicted, close, { discard: true })
      })

    // The warm conversation the prompt continues the furthest, taken out of the idle set while it runs.
    const take = (fps: ReadonlyArray<string>): { readonly conversation: Conversation; readonly covered: number } | undefined => {
      for (let k = fps.length; k >= 1; k--) {
        const bucket = idle.get(keyOf(k, fps[k - 1]!))
        if (bucket === undefined) continue
        const conversation = bucket.find((c) => sameKeys(c.fingerprints, fps, k))
        if (conversation !== undefined) {
          unlink(conversation)
          return { conversation, covered: k }
        }
      }
      return undefined
    }

    const openOnce = Effect.gen(function*() {
      const scope = yield* Scope.fork(layerScope, ExecutionStrategy.sequential)
      const session = yield* Session.make({ ...sessionOptions }).pipe(
        Scope.extend(scope),
        Effect.provide(context),
        Effect.onError(() => Scope.close(scope, Exit.void))
      )
      return { session, scope, fingerprints: [] } as Conversation
    })

    // A full pool (every lease held) gives up idle conversations, least recently used first.
    const open: Effect.Effect<Conversation, ResponsesError> = Effect.gen(function*() {
      for (;;) {
        const attempt = yield* Effect.either(openOnce)
        if (attempt._tag === "Right") return attempt.right
        if (attempt.left.reason !== "LaneLimit" || lru.size === 0) return yield* attempt.left
        const oldest = lru.values().next().value!
        unlink(oldest)
        yield* close(oldest)
      }
    })

    const requestSettings = (provider: AiLanguageModel.ProviderOptions) =>
      Effect.gen(function*() {
        const override = Option.getOrElse(yield* Effect.serviceOption(Config), () => ({}))
        const merged: Obj = { ...base, ...override, model: (override as Obj).model ?? model }
        const own = provider.tools.map(ToolRegistry.toDefinition)
        const extra = (merged.tools ?? []) as ReadonlyArray<Obj>
        const seen = new Set<string>()
        for (const tool of [...own, ...extra] as ReadonlyArray<Obj>) {
          const key = tool.type === "function" ? `function '${tool.name}'` : `hosted tool '${tool.type}'`
          if (seen.has(key)) return yield* malformed("prepareTools", `The ${key} is defined twice (toolkit and settings.tools).`)
          seen.add(key)
        }
        const tools = [...own, ...extra]
        if (tools.length > 0) merged.tools = tools
        else delete merged.tools
        if (own.length > 0) {
          const choice = provider.toolChoice
          merged.tool_choice = typeof choice === "string"
            ? choice
            : "tool" in choice
            ? (() => {
              const tool = provider.tools.find((t) => t.name === choice.tool)
              return tool !== undefined && AiTool.isProviderDefined(tool)
                ? { type: tool.providerName }
                : { type: "function", name: choice.tool }
            })()
            : choice.mode === "required"
            ? "required"
            : "auto"
        }
        if (provider.responseFormat.type === "json") {
          const schema = provider.responseFormat.schema
          const description = AiTool.getDescriptionFromSchemaAst(schema.ast)
          merged.text = {
            ...merged.text,
            format: {
              type: "json_schema",
              name: provider.responseFormat.objectName,
              ...(description !== undefined ? { description } : {}),
              schema: AiTool.getJsonSchemaFromSchemaAst(schema.ast),
              strict: strictJsonSchema ?? false
            }
          }
        }
        return merged as Session.Settings
      })

    /**
     * One model turn for a provider call: finds (or opens) the conversation, sends the new items, hands each event
     * to `onEvent`, and returns the final response. The conversation goes back to the idle set with the
     * response's assistant message; a failed or interrupted turn closes it.
     */
    const turn = (
      method: string,
      provider: AiLanguageModel.ProviderOptions,
      onEvent: (event: Session.TurnEvent) => void
    ) =>
      Effect.gen(function*() {
        const settings = yield* requestSettings(provider)
        const messages = provider.prompt.content
        const fps = messages.map(fingerprint)
        const found = take(fps)
        const conversation = found?.conversation ?? (yield* Effect.mapError(open, toAiError(method)))
        const covered = found?.covered ?? 0
        const before = yield* conversation.session.metrics
        const result = yield* Effect.gen(function*() {
          const newItems = yield* promptItems(covered === 0 ? messages : messages.slice(covered), typeof settings.model === "string" ? settings.model : model)
          const response = yield* conversation.session.turnWith(newItems, settings, onEvent).pipe(
            Effect.mapError(toAiError(method))
          )
          if (response.status === "failed") return yield* failedResponse(method, response)
          const after = yield* conversation.session.metrics
          const info: TurnInfo = {
            continued: covered,
            newItems: newItems.length,
            mode: after.deltaRequests > before.deltaRequests ? "delta" : "full"
          }
          return { response, info }
        }).pipe(Effect.onError(() => close(conversation)))
        const assistant = Prompt.fromResponseParts(
          responseParts(result.response, () => "") as unknown as ReadonlyArray<AiResponse.AnyPart>
        )
        conversation.fingerprints = [...fps, ...assistant.content.map(fingerprint)]
        yield* release(conversation)
        annotate(provider, result.response, result.info)
        return result.response
      })

    const annotate = (provider: AiLanguageModel.ProviderOptions, response: ProtocolResponse.Response, info: TurnInfo) => {
      const usage = response.usage as Obj | null | undefined
      Telemetry.addGenAIAnnotations(provider.span, {
        system: "openai",
        operation: { name: "chat" },
        request: { model: options.model },
        response: { id: response.id, model: response.model, finishReasons: [response.status] },
        usage: { inputTokens: usage?.input_tokens, outputTokens: usage?.output_tokens }
      })
      provider.span.attribute("loopwire.request.mode", info.mode)
      provider.span.attribute("loopwire.request.continued_messages", info.continued)
      provider.span.attribute("loopwire.request.new_items", info.newItems)
    }

    return yield* AiLanguageModel.make({
      generateText: (provider) =>
        Effect.gen(function*() {
          const ids = yield* IdGenerator.IdGenerator
          const response = yield* turn("generateText", provider, () => {})
          const parts = responseParts(response, () => "")
          // Source ids come from the request's IdGenerator.
          for (let i = 0; i < parts.length; i++) {
            const part = parts[i]!
            if (part.type === "source") parts[i] = { ...part, id: yield* ids.generateId() }
          }
          return parts
        }),
      streamText: (provider) =>
        Stream.suspend(() => {
          // Ids are drawn synchronously in the socket's callback: a counter, unique within the response.
          let next = 0
          const map = makeStreamMapper(() => `source_${next++}`)
          let emitted = 0
          let lost: string | undefined
          return fromProducer<AiResponse.StreamPartEncoded, AiError.AiError, never>((emit) =>
            turn("streamText", provider, (event) => {
              if (lost !== undefined) return
              if (event._tag === "Discard") {
                // Parts already handed out cannot be taken back: the stream fails instead of mixing two responses.
                if (emitted > 0) lost = event.reason
                return
              }
              for (const part of map(event.event as Obj)) {
                emitted++
                emit(part)
              }
            }).pipe(
              Effect.flatMap((response) =>
                lost === undefined ? Effect.void : Effect.fail(
                  new AiError.UnknownError({
                    module: "LoopwireLanguageModel",
                    method: "streamText",
                    description: `The response was lost mid-stream and re-issued (${lost}); retry the call.`,
                    cause: { responseId: response.id }
                  })
                )
              )
            )
          )
        })
    })
  })

/**
 * Provides `@effect/ai`'s `LanguageModel.LanguageModel` over the pool: `layer({ model: "gpt-5.6", store: false })`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<AiLanguageModel.LanguageModel, never, ConnectionPool.ConnectionPool> =>
  Layer.scoped(AiLanguageModel.LanguageModel, make(options))
