/**
 * The continuation rule (pure): may the next turn go out as a delta on the previous response
 * (`previous_response_id` + only the new items), or must it carry the full input?
 *
 * A delta is safe only when the server would rebuild exactly the context the client means
 * (`reference/protocol.md` §4.4, Codex's `get_incremental_items`):
 * - the previous response completed;
 * - every non-input field of the next request equals the previous request's (deep JSON equality; an absent field
 *   equals `null`), ignoring `type`, `input`, `previous_response_id`, `generate`, `client_metadata`, `stream` and
 *   `stream_id` (lanes are routing only, so a delta may fork onto another lane);
 * - the next full input starts with the previous full input followed by the previous response's output.
 *
 * Items are compared structurally after a light normalisation: a short-form message equals its long form, and
 * string message content equals one text part. The previous output is matched leniently, because clients replay
 * model items in different shapes: `id` and `status` are ignored on both sides, and so are empty `annotations` /
 * `logprobs` lists on text parts. Everything else (`call_id`, `arguments`, `encrypted_content`, text) must match.
 *
 * @since 0.1.0
 */
import type { ResponseCreate } from "./ClientEvent.js"
import type { InputItem, OutputItem } from "./Items.js"
import type { Response } from "./Response.js"

/**
 * The previous turn as the client sent it: its request with the FULL input (not the wire delta), and its
 * response.
 *
 * @since 0.1.0
 * @category models
 */
export interface Previous {
  readonly request: ResponseCreate
  readonly response: Response
}

/**
 * Send `previous_response_id` and only `input` (possibly empty, e.g. right after a warm-up).
 *
 * @since 0.1.0
 * @category models
 */
export interface Delta {
  readonly _tag: "Delta"
  readonly previous_response_id: string
  readonly input: ReadonlyArray<InputItem>
}

/**
 * Why the next turn must carry its full input.
 *
 * @since 0.1.0
 * @category models
 */
export type FullReason =
  | { readonly _tag: "NoPrevious" }
  | { readonly _tag: "PreviousNotCompleted"; readonly status: string }
  | { readonly _tag: "SettingsChanged"; readonly field: string }
  | { readonly _tag: "PrefixMismatch"; readonly index: number }

/**
 * Send the full input without `previous_response_id`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Full {
  readonly _tag: "Full"
  readonly reason: FullReason
}

/**
 * @since 0.1.0
 * @category models
 */
export type Decision = Delta | Full

/**
 * Fields that do not take part in the settings comparison.
 *
 * @since 0.1.0
 * @category rules
 */
export const ignoredFields: ReadonlySet<string> = new Set([
  "type",
  "input",
  "previous_response_id",
  "generate",
  "client_metadata",
  "stream",
  "stream_id"
])

/**
 * Deep equality of JSON values (object key order irrelevant; `undefined` members equal absent ones).
 *
 * @since 0.1.0
 * @category rules
 */
export const jsonEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const x = a as Record<string, unknown>, y = b as Record<string, unknown>
  for (const k in x) if (x[k] !== undefined && !jsonEqual(x[k], y[k])) return false
  for (const k in y) if (y[k] !== undefined && x[k] === undefined) return false
  return true
}

/**
 * The items of an `input` (a string is one user message).
 *
 * @since 0.1.0
 * @category rules
 */
export const inputItems = (input: ResponseCreate["input"]): ReadonlyArray<InputItem> =>
  input === undefined ? [] : typeof input === "string" ? [{ type: "message", role: "user", content: input }] : input

/**
 * The context a response was generated from, extended by its output and new items: what a server keeps for the
 * next turn (`context ++ output ++ newItems`).
 *
 * @since 0.1.0
 * @category rules
 */
export const extend = (
  context: ReadonlyArray<InputItem>,
  output: ReadonlyArray<OutputItem>,
  newItems: ReadonlyArray<InputItem> = []
): ReadonlyArray<InputItem> => [...context, ...(output as ReadonlyArray<InputItem>), ...newItems]

type Obj = Record<string, unknown>

const normalizeMessage = (item: Obj): Obj => {
  if (item.type !== undefined && item.type !== "message") return item
  if (typeof item.role !== "string") return item
  const content = typeof item.content === "string" ?
    [{ type: item.role === "assistant" ? "output_text" : "input_text", text: item.content }] :
    item.content
  return { ...item, type: "message", content }
}

const isEmptyList = (u: unknown) => Array.isArray(u) && u.length === 0

// For replayed model output: drop the fields clients echo inconsistently.
const normalizeOutput = (item: Obj): Obj => {
  const { id: _id, status: _status, ...rest } = normalizeMessage(item)
  if (Array.isArray(rest.content)) {
    rest.content = rest.content.map((part: unknown) => {
      if (typeof part !== "object" || part === null) return part
      const { annotations, logprobs, ...p } = part as Obj
      return {
        ...p,
        ...(annotations !== undefined && !isEmptyList(annotations) ? { annotations } : {}),
        ...(logprobs !== undefined && !isEmptyList(logprobs) ? { logprobs } : {})
      }
    })
  }
  return rest
}

/**
 * The form in which a replayed model item is compared: a short-form message in its long form, without `id` and
 * `status`, without empty `annotations` / `logprobs` lists on its parts (the leniency the rule applies to the
 * previous output). A JSON value; items equal under the rule's output comparison have equal replay forms.
 *
 * @since 0.1.0
 * @category rules
 */
export const replayForm = (item: unknown): unknown =>
  typeof item === "object" && item !== null && !Array.isArray(item) ? normalizeOutput(item as Obj) : item

const sameInput = (a: unknown, b: unknown): boolean =>
  a === b || jsonEqual(normalizeMessage(a as Obj), normalizeMessage(b as Obj))

const sameOutput = (a: unknown, b: unknown): boolean =>
  a === b || jsonEqual(normalizeOutput(a as Obj), normalizeOutput(b as Obj))

/**
 * The first setting (non-input field) that differs between two requests, if any.
 *
 * @since 0.1.0
 * @category rules
 */
export const changedSetting = (previous: ResponseCreate, next: ResponseCreate): string | undefined => {
  const p = previous as Obj, n = next as Obj
  for (const k in p) {
    if (ignoredFields.has(k)) continue
    if (!jsonEqual(p[k] ?? null, n[k] ?? null)) return k
  }
  for (const k in n) {
    if (ignoredFields.has(k) || k in p) continue
    if ((n[k] ?? null) !== null) return k
  }
  return undefined
}

/**
 * Decides delta or full for `next` (a request carrying its FULL input).
 *
 * @since 0.1.0
 * @category rules
 */
export const decide = (previous: Previous | undefined, next: ResponseCreate): Decision => {
  if (previous === undefined) return { _tag: "Full", reason: { _tag: "NoPrevious" } }
  if (previous.response.status !== "completed") {
    return { _tag: "Full", reason: { _tag: "PreviousNotCompleted", status: previous.response.status } }
  }
  const field = changedSetting(previous.request, next)
  if (field !== undefined) return { _tag: "Full", reason: { _tag: "SettingsChanged", field } }
  const context = inputItems(previous.request.input)
  const output = previous.response.output
  const items = inputItems(next.input)
  const prefix = context.length + output.length
  for (let i = 0; i < context.length; i++) {
    if (i >= items.length || !sameInput(context[i], items[i])) {
      return { _tag: "Full", reason: { _tag: "PrefixMismatch", index: i } }
    }
  }
  for (let j = 0; j < output.length; j++) {
    const i = context.length + j
    if (i >= items.length || !sameOutput(output[j], items[i])) {
      return { _tag: "Full", reason: { _tag: "PrefixMismatch", index: i } }
    }
  }
  return { _tag: "Delta", previous_response_id: previous.response.id, input: items.slice(prefix) }
}

/**
 * The request to send for a decision: the delta (`previous_response_id` + new items) or the full request
 * without `previous_response_id`.
 *
 * @since 0.1.0
 * @category rules
 */
export const toRequest = (next: ResponseCreate, decision: Decision): ResponseCreate => {
  const { previous_response_id: _drop, ...rest } = next
  return decision._tag === "Delta" ?
    { ...rest, previous_response_id: decision.previous_response_id, input: decision.input } :
    (rest as ResponseCreate)
}
