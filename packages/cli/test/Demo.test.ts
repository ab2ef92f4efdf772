import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as ToolRegistry from "@loopwire/client/ToolRegistry"
import * as Scenario from "@loopwire/server/Scenario"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { execFile } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Demo from "../src/Demo.js"
import { binArgs } from "./helpers/bin.js"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")

/** Parses `args` with the real `demo` flags and returns the options the handler would run with. */
const parse = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    let parsed: Demo.DemoFlags | undefined
    const probe = Command.make("demo", Demo.options, (o) =>
      Effect.sync(() => {
        parsed = o
      }))
    yield* Command.run(probe, { name: "loopwire", version: "0.0.0" })(["node", "demo", ...args])
    return parsed
  }).pipe(Effect.provide(NodeContext.layer))

const value = (expression: string) => Either.getOrThrow(Demo.evaluate(expression))
const failure = (expression: string) => Either.getOrThrowWith(Either.flip(Demo.evaluate(expression)), () => "ok")

describe("calculate: the arithmetic parser", () => {
  it("precedence, parentheses, decimals, unary signs, whitespace", () => {
    assert.strictEqual(value("1 + 2 * 3"), 7)
    assert.strictEqual(value("(1 + 2) * 3"), 9)
    assert.strictEqual(value("10 - 4 - 3"), 3)
    assert.strictEqual(value("64 / 4 / 2"), 8)
    assert.strictEqual(value("2.5 * .4"), 1)
    assert.strictEqual(value("-3 - -2"), -1)
    assert.strictEqual(value("+(  -(4) )"), -4)
    assert.strictEqual(value(" 103865804 / 10 "), 10386580.4)
  })

  it("bad input is a typed failure naming the position, never an exception", () => {
    const syntax = failure("2 * (3 + 4")
    assert.strictEqual(syntax.reason, "Syntax")
    assert.strictEqual(syntax.position, 10)
    assert.match(syntax.message, /Expected '\)'/)
    assert.strictEqual(failure("").reason, "Syntax")
    assert.strictEqual(failure("1 +").reason, "Syntax")
    assert.strictEqual(failure("2 3").position, 2)
    assert.strictEqual(failure("process.exit(1)").reason, "Syntax")
    assert.strictEqual(failure("1e3").reason, "Syntax")
    const byZero = failure("1 / (2 - 2)")
    assert.strictEqual(byZero.reason, "DivisionByZero")
    assert.strictEqual(byZero.position, 2)
    assert.strictEqual(failure("(".repeat(100) + "1" + ")".repeat(100)).reason, "TooComplex")
    assert.strictEqual(failure("1+".repeat(600) + "1").reason, "TooComplex")
    assert.strictEqual(failure("9".repeat(400) + " * " + "9".repeat(400)).reason, "NotFinite")
  })

  it.effect.prop(
    "agrees with JavaScript arithmetic on integers",
    [Schema.Int.pipe(Schema.between(-1e6, 1e6)), Schema.Int.pipe(Schema.between(-1e6, 1e6)), Schema.Int.pipe(Schema.between(1, 1e6))],
    ([a, b, c]) =>
      Effect.sync(() => {
        assert.strictEqual(value(`${a} + ${b} * ${c}`), a + b * c)
        assert.strictEqual(value(`(${a} - ${b}) / ${c}`), (a - b) / c)
      })
  )
})

describe("the demo tools", () => {
  it.effect("get_population answers from the scenario's table; an unknown city is a typed failure", () =>
    Effect.gen(function*() {
      const registry = yield* ToolRegistry.make(Demo.DemoTools)
      let id = 0
      const call = (name: string, args: unknown) =>
        Effect.map(registry.call({ call_id: `c${id++}`, name, arguments: JSON.stringify(args) }), (r) => r.outcome)
      const tokyo = yield* call("get_population", { city: "Tokyo" })
      assert.deepStrictEqual(tokyo, { _tag: "Success", value: { city: "Tokyo", population: Scenario.demoPopulations["Tokyo"]! } })
      const unknown = yield* call("get_population", { city: "Atlantis" })
      assert.strictEqual(unknown._tag, "Failure")
      assert.strictEqual((unknown as any).error.reason, "UnknownCity")
      const bad = yield* call("calculate", { expression: "1 / 0" })
      assert.strictEqual((bad as any).error.reason, "DivisionByZero")
      assert.deepStrictEqual(yield* call("calculate", { expression: "6 * 7" }), { _tag: "Success", value: 42 })
    }).pipe(Effect.provide(Demo.DemoToolsLive)))
})

describe("loopwire demo", () => {
  it.live("both transports finish the script with the same transcript; WebSocket turns after the first are deltas", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const result = yield* Demo.run({ latency: Demo.noLatency, progress: (line) => Effect.sync(() => lines.push(line)) })
      const finalText = (Scenario.demo.turns.at(-1)!.output[0] as { text: string }).text
      for (const summary of [result.http, result.websocket]) {
        assert.strictEqual(summary.turns, 21)
        assert.strictEqual(summary.toolCalls, 20)
        assert.strictEqual(summary.recoveryResends, 0)
      }
      assert.isTrue(result.sameTranscript)
      assert.strictEqual(result.answer, finalText)
      const http = result.results.http[0]!
      const ws = result.results.websocket[0]!
      assert.deepStrictEqual(ws.transcript, http.transcript)
      assert.strictEqual(http.transcript.calls[0]!.output, JSON.stringify({ city: "Tokyo", population: 14_094_034 }))
      assert.strictEqual(http.transcript.calls[10]!.output, "49999484")

      // HTTP: every request carries the whole history, so each is larger than the one before.
      assert.deepStrictEqual([result.http.fullRequests, result.http.deltaRequests], [21, 0])
      assert.deepStrictEqual(http.perTurn.map((t) => t.mode), Array(21).fill("full"))
      for (let i = 1; i < 21; i++) assert.isAbove(http.perTurn[i]!.bytes, http.perTurn[i - 1]!.bytes)
      // WebSocket: one full request, then deltas no larger than the first frame and much smaller than HTTP's.
      assert.deepStrictEqual([result.websocket.fullRequests, result.websocket.deltaRequests], [1, 20])
      assert.deepStrictEqual(ws.perTurn.map((t) => t.mode), ["full", ...Array(20).fill("delta")])
      for (let i = 1; i < 21; i++) {
        assert.isAtMost(ws.perTurn[i]!.bytes, ws.perTurn[0]!.bytes)
        assert.isBelow(ws.perTurn[i]!.bytes, http.perTurn[i]!.bytes)
      }
      assert.isBelow(ws.perTurn[20]!.bytes * 4, http.perTurn[20]!.bytes)
      assert.isBelow(result.websocket.bytesSentPerTurn * 2, result.http.bytesSentPerTurn)
      assert.isBelow(result.ratios.bytesSent, 0.5)
      assert.strictEqual(result.websocket.bytesSent, ws.perTurn.reduce((sum, t) => sum + t.bytes, 0))

      // One progress line per tool call and one for the answer, per transport.
      assert.strictEqual(lines.length, 42)
      assert.match(lines[0]!, /^http\s+turn  1\/21  full .* get_population\(Tokyo\) → 14,094,034$/)
      assert.match(lines[22]!, /^ws\s+turn  2\/21  delta .* get_population\(Delhi\) → 11,034,555$/)
      assert.match(lines[41]!, /turn 21\/21 .* final answer/)

      const report = Demo.report(result)
      assert.include(report, "HTTP (full context)")
      assert.include(report, "bytes sent per turn")
      assert.include(report, finalText)
    }))

  it("transcriptDifference names the first differing call", () => {
    const a: Demo.Transcript = { calls: [{ name: "calculate", arguments: "{}", output: "1" }], finalText: "x" }
    assert.isUndefined(Demo.transcriptDifference(a, a))
    assert.match(
      Demo.transcriptDifference(a, { ...a, calls: [{ name: "calculate", arguments: "{}", output: "2" }] })!,
      /tool call 1 differs/
    )
    assert.match(Demo.transcriptDifference(a, { ...a, finalText: "y" })!, /final answers differ/)
    assert.match(Demo.transcriptDifference(a, { ...a, calls: [] })!, /missing/)
  })

  it.effect("flags: defaults, --no-latency, latency knobs, --runs bounds", () =>
    Effect.gen(function*() {
      const defaults = Demo.fromFlags((yield* parse([]))!)
      assert.strictEqual(defaults.runs, 1)
      assert.deepStrictEqual(defaults.latency, Demo.defaultLatency)
      assert.deepStrictEqual(Demo.fromFlags((yield* parse(["--no-latency", "--ttft-ms", "9"]))!).latency, Demo.noLatency)
      const custom = yield* parse(["--ttft-ms", "20", "--delta-ms", "0.5", "--runs", "3", "--json", "--quiet"])
      assert.deepStrictEqual(Demo.fromFlags(custom!).latency, { timeToFirstTokenMs: 20, deltaDelayMs: 0.5 })
      assert.isTrue(custom!.json)
      assert.isUndefined(Demo.fromFlags(custom!).progress)
      assert.isTrue(Either.isLeft(yield* Effect.either(parse(["--runs", "0"]))))
      assert.isTrue(Either.isLeft(yield* Effect.either(parse(["--ttft-ms", "-1"]))))
    }))

  it.live("`loopwire demo --no-latency --json` as a child process exits 0 with the result as JSON", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* Effect.async<{ code: number | null; stdout: string; stderr: string }>((resume) => {
        const child = execFile(
          process.execPath,
          [...binArgs, "demo", "--no-latency", "--json"],
          { cwd: root, timeout: 25_000, maxBuffer: 16 * 1024 * 1024 },
          (error, stdout, stderr) =>
            resume(Effect.succeed({ code: error === null ? 0 : (error as any).code ?? null, stdout, stderr }))
        )
        return Effect.sync(() => child.kill())
      })
      assert.strictEqual(code, 0)
      const json = JSON.parse(stdout) as Demo.DemoResult
      assert.strictEqual(json.http.toolCalls, 20)
      assert.strictEqual(json.websocket.toolCalls, 20)
      assert.isTrue(json.sameTranscript)
      assert.deepStrictEqual(json.latency, Demo.noLatency)
      assert.isBelow(json.websocket.bytesSent, json.http.bytesSent)
    }), 30_000)
})
