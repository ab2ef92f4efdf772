/**
 * Lanes (`stream_id`) of one connection: which names a connection may use, and which queued responses may start.
 * Both are plain, synchronous decisions so they can be tested alone; the connection handler applies them. The
 * naming and budget rules (`LaneBook`, `laneOf`) are `@loopwire/protocol/Lanes`, re-exported here; the scheduler is
 * the gateway's.
 *
 * Rules (protocol §5.1): FIFO per lane, a lane never runs two responses at once, at most `maxInFlight` responses
 * run across lanes (more wait, in arrival order), and at most `maxLanes` distinct named lanes per connection
 * lifetime (the default lane is not counted).
 *
 * @since 0.1.0
 */

// The naming and lane-budget rules are the protocol's, shared with the client.
export {
  /**
   * @since 0.1.0
   * @category models
   */
  type Admission,
  /**
   * @since 0.1.0
   * @category constants
   */
  defaultLane,
  /**
   * @since 0.1.0
   * @category models
   */
  LaneBook,
  /**
   * @since 0.1.0
   * @category constructors
   */
  laneOf
} from "@loopwire/protocol/Lanes"

/**
 * A job that the scheduler decided to start, with its lane.
 *
 * @since 0.1.0
 * @category models
 */
export interface Started<J> {
  readonly lane: string
  readonly job: J
}

/**
 * FIFO per lane with a cap on running jobs across lanes. `submit` and `complete` return the jobs that may start
 * now (the caller runs them and calls `complete(lane)` when each ends). When a slot frees, the earliest-submitted
 * job whose lane is idle starts first, so a busy lane never blocks the others.
 *
 * @since 0.1.0
 * @category models
 */
export class Scheduler<J> {
  private readonly busy = new Set<string>()
  private waiting: Array<Started<J>> = []

  constructor(readonly maxInFlight: number) {}

  /** Jobs running now. */
  get inFlight(): number {
    return this.busy.size
  }

  /** Jobs waiting (for their lane or for a slot). */
  get queued(): number {
    return this.waiting.length
  }

  /** Whether `lane` is running a job. */
  isBusy(lane: string): boolean {
    return this.busy.has(lane)
  }

  /** Queue `job` on `lane`; returns what may start now (either nothing or this job). */
  submit(lane: string, job: J): ReadonlyArray<Started<J>> {
    if (this.waiting.length === 0 && !this.busy.has(lane) && this.busy.size < this.maxInFlight) {
      this.busy.add(lane)
      return [{ lane, job }]
    }
    this.waiting.push({ lane, job })
    return this.drain()
  }

  /** The running job of `lane` ended; returns what may start now. */
  complete(lane: string): ReadonlyArray<Started<J>> {
    this.busy.delete(lane)
    return this.drain()
  }

  /** Forget every waiting job (the connection is going away); returns them. */
  clear(): ReadonlyArray<Started<J>> {
    const dropped = this.waiting
    this.waiting = []
    return dropped
  }

  private drain(): ReadonlyArray<Started<J>> {
    if (this.waiting.length === 0 || this.busy.size >= this.maxInFlight) return []
    const started: Array<Started<J>> = []
    const rest: Array<Started<J>> = []
    // One pass in arrival order: the first waiting job of each idle lane starts while slots remain; later jobs of
    // a lane that is (or just became) busy keep their place.
    for (const entry of this.waiting) {
      if (this.busy.size < this.maxInFlight && !this.busy.has(entry.lane)) {
        this.busy.add(entry.lane)
        started.push(entry)
      } else {
        rest.push(entry)
      }
    }
    this.waiting = rest
    return started
  }
}
