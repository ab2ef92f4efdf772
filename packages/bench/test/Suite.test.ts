import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { parse, runCli } from "../src/main.js"
import type { Results } from "../src/Results.js"
import * as Scale from "../src/Scale.js"
import * as Suite from "../src/Suite.js"

describe("Suite", () => {
  it.live("runs --quick on the smallest sizes with all five transports against the gateway and writes JSON, Markdown and SVG", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "loopwire-bench-test-"))),
        (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
      )
      const lines: Array<string> = []
      const quick = Suite.defaults(true, (line) => lines.push(line))
      // Servers in process to keep the test short; the scale test forks the gateway and the floor server.
      const options = parse(["--quick", "--sizes", "1,2", "--server", "in-process", "--out", dir])
      assert.notStrictEqual(options, "help")
      if (options === "help") return
      const { files, results } = yield* Suite.run({
        ...options,
        progress: (line) => lines.push(line),
        iterations: 2,
        warmup: 1,
        wan: { rttMs: 2, tls: "auto", sizes: [1], iterations: 1, warmup: 0 },
        throughput: { streamEvents: 50, iterations: 1, warmup: 0, levels: [1, 2], loopToolCalls: 1 },
        scale: { connections: 8, laneContextBytes: 2048, mode: "child" }
      })
      assert.isTrue(quick.quick)

      const written = (yield* Effect.promise(() => Fs.readdir(dir))).sort()
      assert.includeMembers(written, [
        "results.json",
        "results.md",
        "per-turn-n1-zero-ctx32k-out4k-loopback.svg",
        "per-turn-n2-zero-ctx32k-out4k-loopback.svg",
        "ratio-e2e-vs-floor.svg",
        "ratio-e2e-vs-http-full.svg",
        "bytes-sent-per-turn.svg"
      ])
      assert.strictEqual(files.length, written.length)

      const json = JSON.parse(yield* Effect.promise(() => Fs.readFile(Path.join(dir, "results.json"), "utf8"))) as Results
      assert.deepStrictEqual(json, JSON.parse(JSON.stringify(results)))
      assert.strictEqual(json.schema, "loopwire-bench/1")
      assert.deepStrictEqual(json.pending, [])
      assert.deepStrictEqual(json.scenarios.map((s) => [s.toolCalls, s.network.startsWith("wan-2ms") || s.network]), [
        [1, "loopback"],
        [2, "loopback"],
        [1, true]
      ])
      const names = ["http-full", "http-prev", "loopwire-ws", "openai-sdk-ws", "floor"]
      for (const scenario of json.scenarios) {
        assert.deepStrictEqual(scenario.transports.map((t) => t.transport), names)
        for (const t of scenario.transports) {
          assert.isUndefined(t.error, `${scenario.id} ${scenario.network} ${t.transport}`)
          assert.strictEqual(t.server, t.transport === "floor" ? "floor-server" : "gateway")
          assert.strictEqual(t.turns, scenario.toolCalls + 1)
          for (const key of ["e2eMs", "perTurnMedianMs", "perTurnP99Ms", "bytesSentPerTurn", "cpuPerTurnUs"] as const) {
            assert.isNumber(t[key], key)
          }
          assert.isNumber(t.ratios.e2eVsFloor)
          assert.isNumber(t.ratios.e2eVsHttpFull)
          assert.strictEqual(t.perTurnByIndexMs.length, t.turns)
          // Every continuing transport continued every turn after the first; the stateless one never did.
          assert.closeTo(t.deltaRatio!, t.transport === "http-full" ? 0 : scenario.toolCalls / (scenario.toolCalls + 1), 1e-3)
        }
        assert.strictEqual(scenario.transports.find((t) => t.transport === "floor")!.ratios.e2eVsFloor, 1)
      }
      assert.deepStrictEqual(json.throughput!.streaming.map((s) => [s.transport, s.iterations, s.error]), names.map((n) => [n, 1, undefined]))
      assert.isNumber(json.throughput!.streaming[0]!.eventsPerSecond)
      assert.deepStrictEqual(
        json.throughput!.concurrency.filter((c) => c.transport === "loopwire-ws").map((c) => [c.concurrency, c.turns]),
        [[1, 2], [2, 4]]
      )
      assert.deepStrictEqual(json.scale!.map((s) => [s.server, s.serverMode, s.connections, s.error]), [
        ["gateway", "child", 8, undefined],
        ["floor-server", "child", 8, undefined]
      ])
      for (const scale of json.scale!) {
        assert.isNumber(scale.idleHeapBytesPerConnection)
        assert.isNumber(scale.laneHeapBytesPerLane)
      }

      // Progress: one line per scenario and transport, plus the written files.
      assert.strictEqual(lines.filter((l) => /^n\d+-zero.* loopwire-ws /.test(l)).length, 3)
      assert.isTrue(lines.some((l) => l.startsWith("wrote ") && l.endsWith("results.json")))
    }).pipe(Effect.scoped), 120_000)

  it("builds the scenario matrix: realistic latency only up to its size cap", () => {
    const s = Suite.scenarios({ ...Suite.defaults(false, () => {}) })
    assert.deepStrictEqual(s.map((x) => `${x.toolCalls}/${x.latency.name}`), [
      "5/zero",
      "20/zero",
      "50/zero",
      "200/zero",
      "5/realistic",
      "20/realistic"
    ])
    assert.isTrue(s.every((x) => x.baseContextBytes === 32 * 1024 && x.toolOutputBytes === 4 * 1024))
  })

  it("parses flags and rejects bad ones with a Config error", () => {
    const options = parse(["--sizes", "3", "--rtt", "0", "--no-scale", "--no-throughput", "--no-write", "--iterations", "4"])
    assert.notStrictEqual(options, "help")
    if (options === "help") return
    assert.deepStrictEqual(options.sizes, [3])
    assert.isNull(options.wan)
    assert.isNull(options.scale)
    assert.isNull(options.throughput)
    assert.isNull(options.outDir)
    assert.strictEqual(options.iterations, 4)
    assert.strictEqual(parse(["--help"]), "help")
    const slow = parse(["--first-event-ms", "500", "--inter-event-ms", "20"])
    assert.notStrictEqual(slow, "help")
    if (slow !== "help") {
      assert.deepStrictEqual(slow.latencies.map((l) => [l.name, l.firstEventMs, l.interEventMs]), [
        ["zero", 0, 0],
        ["realistic", 500, 20]
      ])
    }
    assert.throws(() => parse(["--transports", "loopwire-sse"]), /unknown transport 'loopwire-sse'/)
    const all = parse([])
    if (all !== "help") {
      // The default run: the five numbered transports; loopwire-ws-stream only when named.
      assert.deepStrictEqual(all.transports.map((t) => t.name), ["http-full", "http-prev", "loopwire-ws", "openai-sdk-ws", "floor"])
    }
    const named = parse(["--transports", "loopwire-ws-stream"])
    if (named !== "help") assert.deepStrictEqual(named.transports.map((t) => t.name), ["loopwire-ws-stream"])
    const picked = parse(["--transports", "loopwire-ws,floor", "--server", "in-process"])
    assert.notStrictEqual(picked, "help")
    if (picked !== "help") assert.deepStrictEqual(picked.transports.map((t) => t.name), ["loopwire-ws", "floor"])
    assert.throws(() => parse(["--server", "remote"]), /--server/)
    assert.throws(() => parse(["--iterations", "0"]), /--iterations/)
    assert.throws(() => parse(["--rtt", "20000"]), /--rtt/)
    assert.throws(() => parse(["--bogus"]))
  })

  it.live("the command line answers a bad flag with exit code 2 and runs nothing", () =>
    Effect.gen(function*() {
      const code = yield* Effect.promise(() => runCli(["--sizes", "-1"]))
      assert.strictEqual(code, 2)
    }))

  it("lowers the connection count to fit the descriptor limit, and says so", () => {
    assert.deepStrictEqual(Scale.fitConnections(100, 20_000, false), { connections: 100, degraded: null })
    const child = Scale.fitConnections(10_000, 10_000, false)
    assert.strictEqual(child.connections, 9_744)
    assert.include(child.degraded!, "ulimit -n is 10000")
    assert.strictEqual(Scale.fitConnections(10_000, 20_000, true).connections, 9_872)
    assert.strictEqual(Scale.fitConnections(10, null, true).connections, 10)
  })
})
