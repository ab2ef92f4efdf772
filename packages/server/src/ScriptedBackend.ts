/**
 * The embedded default model backend: deterministic, driven by a scenario (see `Scenario.ts`). `turn.turn` picks
 * the scripted turn on a continuation; a full resend is matched against the scenario's turns (a turn present only
 * in part is generated again); past the end it answers the scenario's fallback text. It streams the full Responses event
 * sequence with the scenario's latency (all through `Clock`, so tests use `TestClock`), supports steering
 * between output items, and counts its generations.
 *
 * Longer than 300 lines because of its documented options, its configuration layers and the scenario loader;
 * `generate` is one pull over a plain cursor.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Events from "@loopwire/protocol/Events"
import type { OutputItem } from "@loopwire/protocol/Items"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { countModelResponses } from "./internal/chain.js"
import * as internal from "./internal/scripted.js"
import { ModelBackend } from "./ModelBackend.js"
import type * as ModelBackendNs from "./ModelBackend.js"
import { generations as generationsMetric } from "./ModelBackend.js"
import * as Metrics from "./Metrics.js"
import * as Scenario from "./Scenario.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Shape extends ModelBackendNs.Shape {
  readonly scenario: Scenario.Scenario
  /** How many times `generate` has run (a stream that is never run does not count). */
  readonly generations: Effect.Effect<number>
  /** How many times `generate` has run for this response id (at most the last 100 000 ids are remembered). */
  readonly generationsOf: (responseId: string) => Effect.Effect<number>
}

/**
 * The scripted backend with its counters; {@link layer} provides it both as itself and as `ModelBackend`.
 *
 * @since 0.1.0
 * @category tags
 */
export class ScriptedBackend extends Context.Tag("@loopwire/server/ScriptedBackend")<ScriptedBackend, Shape>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default: `Scenario.empty` (every response is the fallback text). */
  readonly scenario?: Scenario.Scenario | undefined
  /** Honour `turn.steering` between output items. Default true. */
  readonly steering?: boolean | undefined
  /**
   * A cost model of the work warm state saves, for benchmarks (default 0: off). Before its first event, each turn
   * spends this many microseconds of CPU (a busy loop: it models prefill compute, not waiting) per KiB of the input
   * it has to read: only the new items when the turn continues a response held here (`previous_response_id`), the
   * whole context when it arrives in full. It is not a model of any real model's speed; it shows the mechanism
   * behind WebSocket mode's speed-up (the vendor's ~40% on agent loops) without pretending to be one. Env
   * `LOOPWIRE_SCRIPTED_INPUT_COST_US_PER_KB` with `layerConfig`.
   */
  readonly inputCostMicrosPerKb?: number | undefined
}

/**
 * Spends `micros` of CPU on the calling thread (the cost model's work).
 *
 * @since 0.1.0
 * @category cost model
 */
export const burn = (micros: number): void => {
  if (!(micros > 0)) return
  const end = performance.now() + micros / 1000
  while (performance.now() < end) {
    // busy: this is the modelled work
  }
}

const rememberedIds = 100_000

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Shape> =>
  Effect.gen(function*() {
    const scenario = options.scenario ?? Scenario.empty
    const steeringEnabled = options.steering ?? true
    const inputCost = Math.max(0, options.inputCostMicrosPerKb ?? 0)
    const count = yield* Ref.make(0)
    const perId = new Map<string, number>()
    const counter = Metrics.labelled(generationsMetric, { backend: "scripted" })

    const recordGeneration = (responseId: string) =>
      Effect.gen(function*() {
        yield* Ref.update(count, (n) => n + 1)
        yield* Metric.increment(counter)
        // Re-inserted so the map stays in recency order and the bound drops the oldest id.
        const previous = perId.get(responseId) ?? 0
        perId.delete(responseId)
        perId.set(responseId, previous + 1)
        if (perId.size > rememberedIds) perId.delete(perId.keys().next().value!)
      })

    // A full resend is matched against the scenario (internal.turnOfHistory), so a turn cut mid-response and
    // resent in part is generated again rather than skipped. The gateway's count (`turn.turn`, the runs of model
    // items) counted that part as a response; the difference is remembered per response id and carried along its continuations, so they
    // go on from the redone turn (O(1) per turn; like `perId`, the last 100 000 ids).
    const corrections = new Map<string, number>()
    const scenarioTurn = (turn: ModelBackendNs.ModelTurn): number => {
      const previous = turn.request.previous_response_id
      const correction = typeof previous === "string"
        ? corrections.get(previous) ?? 0
        // Without a parent the new items are the whole history (no need to materialise `turn.input`).
        : internal.turnOfHistory(scenario, turn.newInput) - countModelResponses(turn.newInput)
      if (correction !== 0) {
        corrections.set(turn.response.id, correction)
        if (corrections.size > rememberedIds) corrections.delete(corrections.keys().next().value!)
      }
      return turn.turn + correction
    }

    const generate = (turn: ModelBackendNs.ModelTurn): Stream.Stream<ModelBackendNs.ServerEventBody> =>
      Stream.unwrap(Effect.gen(function*() {
        yield* recordGeneration(turn.response.id)
        if (inputCost > 0) burn(inputCost * JSON.stringify(turn.newInput).length / 1024)
        const index = scenarioTurn(turn)
        const scripted = Scenario.turnAt(scenario, index)
        const latency = Scenario.latencyOf(scenario, scripted)
        const skeleton = Events.skeleton(turn.response)
        const planned = scripted.output.map((item, outputIndex) =>
          internal.planItem(item, { responseId: turn.response.id, turn: index, outputIndex, latency })
        )
        const steering = steeringEnabled ? turn.steering : undefined
        const steered = steering === undefined ? Effect.succeed(false) : steering.requested

        const terminalEvent = (
          output: ReadonlyArray<OutputItem>,
          outputChars: number,
          ending: "completed" | "steered" | "failed",
          now: number
        ): ModelBackendNs.ServerEventBody => {
          const usage = internal.estimateUsage(turn.context ?? turn.input, turn.request.instructions, outputChars)
          const completedAt = Math.floor(now / 1000)
          switch (ending) {
            case "completed":
              return {
                type: "response.completed" as const,
                response: internal.finalResponse(skeleton, { status: "completed", output, usage, completedAt })
              }
            case "steered":
              return {
                type: "response.incomplete" as const,
                response: internal.finalResponse(skeleton, {
                  status: "incomplete",
                  output,
                  usage,
                  completedAt: null,
                  incompleteReason: "steered"
                })
              }
            case "failed":
              return {
                type: "response.failed" as const,
                response: internal.finalResponse(skeleton, {
                  status: "failed",
                  output,
                  usage,
                  completedAt: null,
                  error: scripted.fail
                })
              }
          }
        }
        const ending = scripted.fail === undefined ? "completed" : "failed"

        // The events due at the same time go out as one chunk (the gateway writes a chunk as one batch): the
        // opening events, then an item's events between delays, and the last item's last events with the terminal
        // event. Before each item the steering hook is polled, as OpenAI finishes the current output item before it
        // ends a steered response. One pull per chunk, driven by plain state (no nested stream per item or group).
        const opening: Chunk.Chunk<ModelBackendNs.ServerEventBody> = Chunk.make(
          { type: "response.created", response: skeleton },
          { type: "response.in_progress", response: skeleton }
        )
        const ended: Effect.Effect<never, Option.Option<never>> = Effect.fail(Option.none())
        const terminalChunk = (
          output: ReadonlyArray<OutputItem>,
          outputChars: number,
          kind: "completed" | "steered" | "failed",
          before?: Chunk.Chunk<ModelBackendNs.ServerEventBody>
        ) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            const terminal = terminalEvent(output, outputChars, kind, now)
            return before === undefined ? Chunk.of(terminal) : Chunk.append(before, terminal)
          })
        let phase: "opening" | "firstToken" | "items" | "done" = "opening"
        let itemIndex = 0
        let k = 0
        let output: ReadonlyArray<OutputItem> = []
        let outputChars = 0
        let groups: ReturnType<typeof internal.groupSteps> | undefined
        const startItem = (isSteered: boolean): Effect.Effect<Chunk.Chunk<ModelBackendNs.ServerEventBody>, Option.Option<never>> => {
          if (isSteered) {
            phase = "done"
            return terminalChunk(output, outputChars, "steered")
          }
          groups = internal.groupSteps(planned[itemIndex]!.steps)
          k = 0
          return pull
        }
        const pull: Effect.Effect<Chunk.Chunk<ModelBackendNs.ServerEventBody>, Option.Option<never>> = Effect.suspend(
          () => {
            switch (phase) {
              case "opening":
                phase = "firstToken"
                return Effect.succeed(opening)
              case "firstToken":
                phase = "items"
                return latency.timeToFirstTokenMs > 0 ? Effect.zipRight(Effect.sleep(latency.timeToFirstTokenMs), pull) : pull
              case "done":
                return ended
            }
            if (itemIndex === planned.length) {
              phase = "done"
              return terminalChunk(output, outputChars, ending)
            }
            if (groups === undefined) return Effect.flatMap(steered, startItem)
            const item = planned[itemIndex]!
            const lastItem = itemIndex === planned.length - 1
            const lastGroup = k >= groups.length - 1
            const group = groups[k]
            k++
            if (lastGroup) {
              output = [...output, item.item]
              outputChars = outputChars + item.outputChars
              groups = undefined
              itemIndex++
              if (lastItem) phase = "done"
            }
            if (group === undefined) return pull
            const emit = lastItem && lastGroup
              ? terminalChunk(output, outputChars, ending, group.events)
              : Effect.succeed(group.events)
            return group.delayMs > 0 ? Effect.zipRight(Effect.sleep(group.delayMs), emit) : emit
          }
        )
        return Stream.repeatEffectChunkOption(pull)
      }))

    return ScriptedBackend.of({
      supportsSteering: steeringEnabled,
      generate,
      scenario,
      generations: Ref.get(count),
      generationsOf: (responseId) => Effect.sync(() => perId.get(responseId) ?? 0)
    })
  })

/**
 * Provides the scripted backend as `ModelBackend` and as `ScriptedBackend` (for its counters).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<ModelBackend | ScriptedBackend> =>
  Layer.effectContext(Effect.map(make(options), (backend) =>
    Context.make(ScriptedBackend, backend).pipe(Context.add(ModelBackend, backend))))

/**
 * The scenario named by configuration `LOOPWIRE_SCRIPT`: a path to a scenario file, `builtin:demo` for
 * `Scenario.demo` or `builtin:conformance` for `Scenario.conformance`; unset means `Scenario.empty`.
 *
 * @since 0.1.0
 * @category config
 */
export const scriptConfig: Config.Config<Option.Option<string>> = Config.option(Config.string("LOOPWIRE_SCRIPT"))

/**
 * The built-in scenarios by their `--script` name.
 *
 * @since 0.1.0
 * @category constants
 */
export const builtins: Readonly<Record<string, Scenario.Scenario>> = {
  "builtin:demo": Scenario.demo,
  "builtin:conformance": Scenario.conformance
}

/**
 * Resolves a script reference: a name of {@link builtins}, anything else is a file path.
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadScript = (
  script: string
): Effect.Effect<Scenario.Scenario, Scenario.ScenarioError, FileSystem.FileSystem> =>
  script in builtins ? Effect.succeed(builtins[script]!) : Scenario.load(script)

/**
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  script: Config.Config<Option.Option<string>> = scriptConfig
): Layer.Layer<
  ModelBackend | ScriptedBackend,
  ConfigError.ConfigError | Scenario.ScenarioError,
  FileSystem.FileSystem
> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const path = yield* script
    const scenario = Option.isSome(path) ? yield* loadScript(path.value) : Scenario.empty
    const inputCostMicrosPerKb = yield* Config.number("LOOPWIRE_SCRIPTED_INPUT_COST_US_PER_KB").pipe(
      Config.validate({ message: "must be a non-negative number", validation: (n) => n >= 0 }),
      Config.withDefault(0)
    )
    return layer({ scenario, inputCostMicrosPerKb })
  }))
