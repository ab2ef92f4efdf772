/**
 * Server event decoding on the client's hot path. Every event is validated with the protocol's schemas in place
 * (`Codec.validateServerEventUnknown`: the frame the reader just parsed is owned by it, and a valid event is its
 * own decoding, so nothing is copied), except the `tools` array that `response.*` events echo from the request:
 * it is what the client itself sent, the client never reads it back, and checking it (every tool's JSON Schema)
 * was most of the decoding cost of a turn with a Codex-sized toolset. It is checked to be an array and kept as
 * received.
 *
 * @internal
 */
import * as Codec from "@loopwire/protocol/Codec"
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as Either from "effect/Either"

/**
 * Validates a parsed frame that the caller owns (it may be changed in place: `__proto__` keys are dropped). With
 * the frame's `text`, a short frame that can hold no `__proto__` key nor too deep a nesting (a delta event) is
 * not walked for them (`Codec.validateParsedServerEvent`).
 *
 * @internal
 */
export const decodeEvent = (
  obj: Record<string, unknown>,
  text?: string | undefined
): Either.Either<ServerEvent.ServerEvent, Codec.ServerFrameError> => {
  const response = obj.response
  if (typeof response !== "object" || response === null || !Array.isArray((response as any).tools)) {
    return text === undefined ? Codec.validateServerEventUnknown(obj) : Codec.validateParsedServerEvent(obj, text)
  }
  // Validated without the echoed tools (a shallow copy of the response's fields), then returned with them.
  const { tools, ...rest } = response as Record<string, unknown>
  obj.response = rest
  const result = Codec.validateServerEventUnknown(obj)
  if (Either.isLeft(result)) return result
  rest.tools = tools
  return result
}
