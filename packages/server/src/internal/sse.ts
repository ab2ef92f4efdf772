/**
 * An incremental Server-Sent Events parser (the WHATWG event-stream rules that matter here: `event:` and `data:`
 * fields, multi-line data, comments, CRLF/LF/CR line ends, a blank line dispatches). Pure: feed it text chunks,
 * get complete events and the next state.
 *
 * @internal
 */

/** @internal */
export interface SseEvent {
  readonly event: string | undefined
  readonly data: string
}

/** @internal */
export interface SseState {
  /** Text after the last line end (an incomplete line). */
  readonly pending: string
  /** A CR ended the previous chunk: a LF at the start of the next one belongs to it. */
  readonly afterCr: boolean
  readonly event: string | undefined
  readonly data: ReadonlyArray<string>
}

/** @internal */
export const initial: SseState = { pending: "", afterCr: false, event: undefined, data: [] }

/** @internal */
export const feed = (state: SseState, chunk: string): readonly [SseState, ReadonlyArray<SseEvent>] => {
  let text = chunk
  if (state.afterCr && text.startsWith("\n")) text = text.slice(1)
  text = state.pending + text
  const events: Array<SseEvent> = []
  let event = state.event
  let data: Array<string> = [...state.data]
  let start = 0
  let afterCr = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c !== 10 && c !== 13) continue
    const line = text.slice(start, i)
    if (c === 13) {
      if (i + 1 < text.length) {
        if (text.charCodeAt(i + 1) === 10) i++
      } else {
        afterCr = true
      }
    }
    start = i + 1
    if (line === "") {
      if (data.length > 0) events.push({ event, data: data.join("\n") })
      event = undefined
      data = []
      continue
    }
    if (line.startsWith(":")) continue
    const colon = line.indexOf(":")
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? "" : line.slice(colon + 1)
    if (value.startsWith(" ")) value = value.slice(1)
    if (field === "data") data.push(value)
    else if (field === "event") event = value
    // `id` and `retry` are irrelevant for a single POST stream; unknown fields are ignored as the spec says.
  }
  return [{ pending: text.slice(start), afterCr, event, data }, events]
}
