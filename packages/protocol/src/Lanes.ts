/**
 * The lane rules of protocol §5.1 that both sides apply, in one place: a lane is named by its `stream_id`
 * (`isValidStreamId`: 1–256 characters of `[A-Za-z0-9_.-]`; requests without one run on the default lane), and a
 * connection may use at most `maxLanes` distinct named lanes over its whole life (`LaneBook`, as OpenAI counts
 * them; the default lane is not counted). The gateway refuses a name past the budget with `stream_limit_reached`;
 * the client checks the same budget before it sends, so its request fails locally instead.
 *
 * @since 0.1.0
 */
export {
  /**
   * The documented wire message for an invalid `stream_id`.
   *
   * @since 0.1.0
   * @category stream ids
   */
  invalidStreamIdMessage,
  /**
   * True when `s` is a valid lane name.
   *
   * @since 0.1.0
   * @category stream ids
   */
  isValidStreamId
} from "./ClientEvent.js"

/**
 * The key of the default lane (requests without `stream_id`). An empty `stream_id` is invalid on the wire, so it
 * cannot collide with a named lane.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLane = ""

/**
 * The lane key of a request: its `stream_id`, or `defaultLane`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const laneOf = (streamId: string | undefined): string => streamId ?? defaultLane

/**
 * The outcome of asking for a lane.
 *
 * @since 0.1.0
 * @category models
 */
export type Admission = "admitted" | "stream_limit_reached"

/**
 * Remembers the distinct named lanes a connection has used (for its whole lifetime).
 *
 * @since 0.1.0
 * @category models
 */
export class LaneBook {
  private readonly named = new Set<string>()
  constructor(readonly maxLanes: number) {}

  /**
   * Admits `streamId` (undefined or `defaultLane`: the default lane, always admitted); a new name past `maxLanes`
   * is refused, and a name once admitted stays admitted.
   */
  admit(streamId: string | undefined): Admission {
    if (streamId === undefined || streamId === defaultLane || this.named.has(streamId)) return "admitted"
    if (this.named.size >= this.maxLanes) return "stream_limit_reached"
    this.named.add(streamId)
    return "admitted"
  }

  /** Named lanes used so far. */
  get size(): number {
    return this.named.size
  }
}
