/**
 * Server event decoding on the client's hot path. Every event is validated with the protocol's schemas, except
 * the `tools` array that `response.*` events echo from the request: it is what the client itself sent, the client
 * never reads it back, and decoding it (every tool's JSON Schema, copied key by key) was most of the decoding
 * cost of a turn with a Codex-sized toolset. It is checked to be an array and passed through as received.
 *
 * @internal
 */
import * as Codec from "@loopwire/protocol/Codec"
import type * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as Either from "effect/Either"

/** @internal */
export const decodeEvent = (
  obj: Record<string, unknown>
): Either.Either<ServerEvent.ServerEvent, Codec.ServerFrameError> => {
  const response = obj.response
  if (typeof response !== "object" || response === null || !Array.isArray((response as any).tools)) {
    return Codec.decodeServerEventUnknown(obj)
  }
  const { tools, ...rest } = response as Record<string, unknown>
  return Either.map(
    Codec.decodeServerEventUnknown({ ...obj, response: rest }),
    (event) => ({ ...event, response: { ...(event as any).response, tools } }) as ServerEvent.ServerEvent
  )
}
