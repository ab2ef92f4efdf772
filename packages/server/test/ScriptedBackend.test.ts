import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Accumulator from "@loopwire/protocol/Accumulator"
import * as Codec from "@loopwire/protocol/Codec"
import type { InputItem } from "@loopwire/protocol/Items"
import type { Response } from "@loopwire/protocol/Response"
import * as ServerEvent from "@loopwire/protocol/ServerEvent"
import * as ChainContext from "@loopwire/server/ChainContext"
import * as ModelBackend from "@loopwire/server/ModelBackend"
import * as Scenario from "@loopwire/server/Scenario"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import { Chunk, Clock, ConfigProvider, Effect, Either, Fiber, Layer, Schema, Stream, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const user = (text: string): InputItem => ({ type: "message", role: "user", content: [{ type: "input_text", text }] })

const makeTurn = (id: string, turn: number, steering?: ModelBackend.Steering): ModelBackend.ModelTurn => {
  const response: Response = {
    id,
    object: "response",
    created_at: 1_700_000_000,
    status: "in_progress",
    model: "scripted",
    output: [],
    previous_response_id: null,
    store: false
  }
  const input = [user("What is the population of Paris?")]
  return {
    response,
    request: { type: "response.create", model: "scripted", input },
    input,
    newInput: input,
    turn,
    ...(steering === undefined ? {} : { steering })
  }
}

const scenario = Either.getOrThrow(Scenario.decodeUnknown({
  latency: { chars_per_delta: 5 },
  fallback_text: "No more turns.",
  turns: [
    {
      output: [
        { type: "message", text: "Let me check." },
        { type: "function_call", name: "get_population", arguments: { city: "Paris" } }
      ]
    },
    { output: [{ type: "custom_tool_call", name: "apply_patch", input: "*** Begin Patch\n*** End Patch" }] },
    { output: [{ type: "message", text: "partial" }], fail: { code: "server_error", message: "scripted failure" } },
    { output: [{ type: "message", text: "one" }, { type: "message", text: "two" }, { type: "message", text: "three" }] }
  ]
}))

const collect = (backend: ScriptedBackend.Shape, turn: ModelBackend.ModelTurn) =>
  Effect.map(Stream.runCollect(backend.generate(turn)), Chunk.toReadonlyArray)

// Every event must be a valid server event on the wire, and the stream must fold (with the protocol's checking
// accumulator) into the Response carried by its terminal event.
const checkStream = (events: ReadonlyArray<ModelBackend.ServerEventBody>): Response => {
  for (const event of events) {
    assert.isTrue(Either.isRight(Codec.decodeServerEvent(Codec.encodeServerEvent(event))), event.type)
    assert.isUndefined(event.sequence_number)
    assert.isUndefined(event.stream_id)
  }
  const numbered = events.map((event, i) => ({ ...event, sequence_number: i }))
  const folded = Accumulator.fold(numbered)
  assert.isTrue(Either.isRight(folded), Either.isLeft(folded) ? folded.left.message : "")
  return Either.getOrThrow(folded)
}

describe("ScriptedBackend", () => {
  it.effect("streams the full event sequence for text and a function call, ending with usage", () =>
    Effect.gen(function*() {
      const backend = yield* ScriptedBackend.make({ scenario })
      const events = yield* collect(backend, makeTurn("resp_a", 0))
      assert.deepStrictEqual(events.map((e) => e.type), [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        // {"city":"Paris"} is 16 characters: deltas of 5, 5, 5 and 1
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed"
      ])
      const final = checkStream(events)
      assert.strictEqual(final.id, "resp_a")
      assert.strictEqual(final.status, "completed")
      assert.strictEqual(final.output.length, 2)
      const [message, call] = final.output
      assert.strictEqual(message!.type, "message")
      assert.deepStrictEqual(message!.content, [{ type: "output_text", text: "Let me check.", annotations: [] }])
      assert.strictEqual(call!.type, "function_call")
      assert.strictEqual(call!.arguments, "{\"city\":\"Paris\"}")
      assert.strictEqual(call!.name, "get_population")
      assert.match(String(message!.id), /^msg_[0-9a-f]{32}$/)
      assert.match(String(call!.id), /^fc_[0-9a-f]{32}$/)
      assert.match(String(call!.call_id), /^call_[0-9a-f]{32}$/)
      const usage = final.usage!
      assert.isTrue(usage.input_tokens > 0 && usage.output_tokens > 0)
      assert.strictEqual(usage.total_tokens, usage.input_tokens + usage.output_tokens)
      // The created/in_progress response is the gateway's skeleton.
      const created = events[0]!
      assert.deepStrictEqual(created.response, { ...makeTurn("resp_a", 0).response })
    }))

  it.effect("usage comes from the gateway context's precomputed size, without reading the items", () =>
    Effect.gen(function*() {
      const backend = yield* ScriptedBackend.make({ scenario })
      const plain = checkStream(yield* collect(backend, makeTurn("resp_a", 0)))
      const base = makeTurn("resp_a", 0)
      const context = ChainContext.fromArray(base.input)
      // A 200-turn-long history would be walked item by item; here the items are unreadable: only sizes are used.
      const withContext: ModelBackend.ModelTurn = {
        ...base,
        get input(): ReadonlyArray<InputItem> {
          throw new Error("the scripted backend must not walk the input")
        },
        context
      }
      const sized = checkStream(yield* collect(backend, withContext))
      assert.deepStrictEqual(sized.usage, plain.usage)
    }))

  it.effect("is deterministic: the same (response id, turn) replays the same output; another id gets other ids", () =>
    Effect.gen(function*() {
      const backend = yield* ScriptedBackend.make({ scenario })
      const first = checkStream(yield* collect(backend, makeTurn("resp_a", 0)))
      const replay = checkStream(yield* collect(backend, makeTurn("resp_a", 0)))
      const other = checkStream(yield* collect(backend, makeTurn("resp_b", 0)))
      assert.deepStrictEqual(replay.output, first.output)
      assert.deepStrictEqual(replay.usage, first.usage)
      assert.notStrictEqual(other.output[1]!.call_id, first.output[1]!.call_id)
      assert.strictEqual(yield* backend.generations, 3)
      assert.strictEqual(yield* backend.generationsOf("resp_a"), 2)
      assert.strictEqual(yield* backend.generationsOf("resp_b"), 1)
      assert.strictEqual(yield* backend.generationsOf("resp_c"), 0)
    }))

  it.effect("streams custom tool calls, scripted failures and the fallback past the end", () =>
    Effect.gen(function*() {
      const backend = yield* ScriptedBackend.make({ scenario })
      const custom = yield* collect(backend, makeTurn("resp_c", 1))
      // 29 characters of input: six deltas of at most 5
      assert.deepStrictEqual(custom.map((e) => e.type).filter((t) => t.startsWith("response.custom")), [
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done"
      ])
      const customFinal = checkStream(custom)
      assert.strictEqual(customFinal.output[0]!.input, "*** Begin Patch\n*** End Patch")
      assert.match(String(customFinal.output[0]!.id), /^ctc_/)

      const failed = yield* collect(backend, makeTurn("resp_f", 2))
      assert.strictEqual(failed[failed.length - 1]!.type, "response.failed")
      const failedFinal = checkStream(failed)
      assert.strictEqual(failedFinal.status, "failed")
      assert.deepStrictEqual(failedFinal.error, { code: "server_error", message: "scripted failure" })
      assert.strictEqual(failedFinal.output.length, 1)

      const fallback = checkStream(yield* collect(backend, makeTurn("resp_z", 9)))
      assert.strictEqual(fallback.status, "completed")
      assert.deepStrictEqual(fallback.output[0]!.content, [{ type: "output_text", text: "No more turns.", annotations: [] }])
    }))

  it.effect("applies the latency knobs through Clock (time to first token, per-delta delay)", () =>
    Effect.gen(function*() {
      const timed = Either.getOrThrow(Scenario.decodeUnknown({
        latency: { time_to_first_token_ms: 100, delta_delay_ms: 10, chars_per_delta: 2 },
        turns: [{ output: [{ type: "message", text: "abcdef" }] }, {
          output: [{ type: "message", text: "abcd" }],
          latency: { time_to_first_token_ms: 0, delta_delay_ms: 50 }
        }]
      }))
      const backend = yield* ScriptedBackend.make({ scenario: timed })
      const stamped = (turn: ModelBackend.ModelTurn) =>
        backend.generate(turn).pipe(
          Stream.mapEffect((event) => Effect.map(Clock.currentTimeMillis, (t) => [event.type, t] as const)),
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray),
          Effect.fork
        )
      const fiber = yield* stamped(makeTurn("resp_t", 0))
      yield* TestClock.adjust(1000)
      const times = yield* Fiber.join(fiber)
      const deltas = times.filter(([type]) => type === "response.output_text.delta").map(([, t]) => t)
      assert.deepStrictEqual(times[0], ["response.created", 0])
      assert.deepStrictEqual(times.find(([type]) => type === "response.output_item.added"), ["response.output_item.added", 100])
      assert.deepStrictEqual(deltas, [110, 120, 130])
      assert.deepStrictEqual(times[times.length - 1], ["response.completed", 130])

      const start = yield* Clock.currentTimeMillis
      const overridden = yield* stamped(makeTurn("resp_t", 1))
      yield* TestClock.adjust(1000)
      const times2 = yield* Fiber.join(overridden)
      assert.deepStrictEqual(
        times2.filter(([type]) => type === "response.output_text.delta").map(([, t]) => t - start),
        [50, 100]
      )
    }))

  it.effect("steering: a requested steer ends the response at the next item boundary as incomplete/steered", () =>
    Effect.gen(function*() {
      const backend = yield* ScriptedBackend.make({ scenario })
      assert.isTrue(backend.supportsSteering)
      const { request, steering } = yield* ModelBackend.makeSteering
      const events = yield* backend.generate(makeTurn("resp_s", 3, steering)).pipe(
        // The steer arrives while the first item is streaming: that item finishes, the next does not start.
        Stream.tap((event) => event.type === "response.output_text.delta" ? request : Effect.void),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray)
      )
      const final = checkStream(events)
      assert.strictEqual(events[events.length - 1]!.type, "response.incomplete")
      assert.strictEqual(final.status, "incomplete")
      assert.deepStrictEqual(final.incomplete_details, { reason: "steered" })
      assert.strictEqual(final.output.length, 1)

      // Without a steer the same turn runs to completion; with steering disabled the hook is ignored.
      const never = { requested: Effect.succeed(false) }
      const full = checkStream(yield* collect(backend, makeTurn("resp_s", 3, never)))
      assert.strictEqual(full.output.length, 3)
      const deaf = yield* ScriptedBackend.make({ scenario, steering: false })
      assert.isFalse(deaf.supportsSteering)
      const ignored = checkStream(yield* collect(deaf, makeTurn("resp_s", 3, { requested: Effect.succeed(true) })))
      assert.strictEqual(ignored.status, "completed")
    }))

  it.effect("the demo scenario runs as 21 well-formed responses", () =>
    Effect.gen(function*() {
      const backend = yield* ScriptedBackend.make({ scenario: Scenario.demo })
      const outputs = yield* Effect.forEach(Scenario.demo.turns, (_, turn) => {
        const fiber = Effect.fork(collect(backend, makeTurn(`resp_demo_${turn}`, turn)))
        return Effect.flatMap(fiber, (f) => Effect.zipRight(TestClock.adjust(60_000), Fiber.join(f)))
      })
      const finals = outputs.map(checkStream)
      assert.strictEqual(finals.filter((r) => r.output.some((item) => item.type === "function_call")).length, 20)
      assert.strictEqual(finals[20]!.output[0]!.type, "message")
      assert.strictEqual(yield* backend.generations, 21)
    }))

  it.effect.prop(
    "any scripted turn streams a well-formed response with exactly one terminal event",
    { turn: Scenario.Turn, chars: Schema.Int.pipe(Schema.between(1, 8)) },
    ({ chars, turn }) =>
      Effect.gen(function*() {
        // Latency is exercised above; here only the shape matters, so the turn streams without delays.
        const { latency: _latency, ...scripted } = turn
        const backend = yield* ScriptedBackend.make({
          scenario: { fallback_text: "end", latency: { chars_per_delta: chars }, turns: [scripted] }
        })
        const events = yield* collect(backend, makeTurn("resp_p", 0))
        const terminals = events.filter((e) => ServerEvent.isResponseTerminal(e))
        assert.strictEqual(terminals.length, 1)
        assert.strictEqual(events[events.length - 1], terminals[0])
        const final = checkStream(events)
        assert.strictEqual(final.status, turn.fail === undefined ? "completed" : "failed")
        assert.strictEqual(final.output.length, turn.output.length)
        turn.output.forEach((item, i) => assert.strictEqual(final.output[i]!.type, item.type))
      }),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect("a full resend holding part of a turn redoes that turn; a foreign or complete history does not", () =>
    Effect.gen(function*() {
      const backend = yield* ScriptedBackend.make({ scenario })
      const assistant = (text: string): InputItem =>
        ({ type: "message", role: "assistant", content: [{ type: "output_text", text, annotations: [] }] }) as InputItem
      const resend = (id: string, input: ReadonlyArray<InputItem>, turn: number) => {
        const base = makeTurn(id, turn)
        return { ...base, request: { ...base.request, input }, input, newInput: input }
      }
      const typesOf = (events: ReadonlyArray<ServerEvent.ServerEvent>) =>
        ((events.at(-1) as { response: Response }).response.output).map((item) => item.type)
      // Turn 0 cut after its message: the gateway counts 1 response, the scenario's turn 0 is generated again.
      const partial = yield* collect(backend, resend("resp_p", [user("q"), assistant("Let me check.")], 1))
      assert.deepStrictEqual(typesOf(partial), ["message", "function_call"])
      // Its continuation goes on with turn 1, though the gateway's count says 2.
      const next = yield* collect(backend, {
        ...makeTurn("resp_p2", 2),
        request: { type: "response.create", model: "scripted", input: [], previous_response_id: "resp_p" }
      })
      assert.deepStrictEqual(typesOf(next), ["custom_tool_call"])
      // A history this scenario did not write counts as it always did.
      const foreign = yield* collect(backend, resend("resp_f", [user("q"), assistant("Hello from elsewhere.")], 1))
      assert.deepStrictEqual(typesOf(foreign), ["custom_tool_call"])
    }))

  it.effect("layer provides it as ModelBackend and as ScriptedBackend", () =>
    Effect.gen(function*() {
      const model = yield* ModelBackend.ModelBackend
      const scripted = yield* ScriptedBackend.ScriptedBackend
      yield* Stream.runDrain(model.generate(makeTurn("resp_l", 0)))
      assert.strictEqual(yield* scripted.generations, 1)
    }).pipe(Effect.provide(ScriptedBackend.layer({ scenario }))))

  it.effect("layerConfig loads LOOPWIRE_SCRIPT: builtin:demo, a file, or the empty scenario when unset", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loopwire-script-"))
      const file = path.join(dir, "one.json")
      fs.writeFileSync(file, JSON.stringify({ turns: [{ output: [{ type: "message", text: "from file" }] }] }))
      const scenarioFrom = (env: Record<string, string>) =>
        Effect.provide(
          Effect.map(ScriptedBackend.ScriptedBackend, (b) => b.scenario),
          ScriptedBackend.layerConfig().pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))),
            Layer.provide(NodeFileSystem.layer)
          )
        )
      assert.strictEqual(yield* scenarioFrom({ LOOPWIRE_SCRIPT: "builtin:demo" }), Scenario.demo)
      assert.strictEqual(yield* scenarioFrom({}), Scenario.empty)
      const fromFile = yield* scenarioFrom({ LOOPWIRE_SCRIPT: file })
      assert.deepStrictEqual(fromFile.turns[0]!.output, [{ type: "message", text: "from file" }])
      const missing = yield* Effect.flip(scenarioFrom({ LOOPWIRE_SCRIPT: path.join(dir, "missing.json") }))
      assert.strictEqual(missing._tag, "ScenarioError")
      fs.rmSync(dir, { recursive: true, force: true })
    }))
})
