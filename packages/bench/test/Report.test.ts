import { assert, describe, it } from "@effect/vitest"
import * as Report from "../src/Report.js"
import type { Results } from "../src/Results.js"
import * as Svg from "../src/Svg.js"

const results: Results = {
  schema: "loopwire-bench/1",
  generatedAt: "2026-01-01T00:00:00.000Z",
  quick: true,
  environment: { node: "v20", platform: "linux x64", cpuModel: "cpu", cores: 2, loadAverage: [0, 0, 0] },
  method: { iterations: 1, warmup: 0, interleaving: "rotated", network: "loopback" },
  pending: ["loopwire-ws: not wired <yet>"],
  scenarios: [{
    id: "n2-zero",
    toolCalls: 2,
    baseContextBytes: 1024,
    toolOutputBytes: 100,
    latency: { name: "zero", firstEventMs: 0, interEventMs: 0 },
    network: "loopback",
    transports: ["http-full", "floor"].map((transport, i) => ({
      transport,
      description: transport,
      server: "floor-server",
      iterations: 1,
      turns: 3,
      e2eMs: 10 + i,
      e2eMinMs: 10,
      e2eMaxMs: 12,
      connectMs: 0,
      firstTurnMs: 2,
      perTurnMedianMs: 1,
      perTurnP99Ms: 2,
      perTurnOverheadMedianMs: 1,
      bytesSentPerTurn: 1000,
      bytesReceivedPerTurn: 2000,
      bytesSentPerRollout: 3000,
      cpuPerTurnUs: 50,
      cpuScope: "process" as const,
      processCpuPerTurnUs: 50,
      slopeMsPerTurn: 0.1,
      slopeBytesPerTurn: 10,
      deltaRatio: i === 0 ? 0 : 0.66,
      perTurnByIndexMs: [2, null, 1],
      ratios: {
        e2eVsFloor: i === 0 ? 0.9 : 1,
        e2eVsHttpFull: i === 0 ? 1 : 1.1,
        perTurnMedianVsFloor: 1,
        perTurnMedianVsHttpFull: 1,
        bytesSentVsHttpFull: 1,
        cpuPerTurnVsFloor: null
      }
    }))
  }],
  throughput: null,
  scale: null
}

describe("Report and Svg", () => {
  it("renders one per-turn plot per scenario and the ratio and bytes charts, as standalone SVG", () => {
    const files = Report.plots(results)
    assert.deepStrictEqual(files.map(([name]) => name), [
      "per-turn-n2-zero-loopback.svg",
      "ratio-e2e-vs-floor.svg",
      "ratio-e2e-vs-http-full.svg",
      "bytes-sent-per-turn.svg"
    ])
    for (const [, svg] of files) {
      assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
      assert.match(svg, /<\/svg>\n$/)
      assert.notInclude(svg, "NaN")
    }
    const line = files[0]![1]
    // One path per transport; the null point splits the line (two "M" moves).
    assert.strictEqual(line.match(/<path /g)!.length, 2)
    assert.strictEqual(line.match(/<path d="M[^"]*M/g)!.length, 2)
    assert.strictEqual(files[1]![1].match(/<title>/g)!.length, 2)
  })

  it("escapes text and picks round axis ticks", () => {
    assert.strictEqual(Svg.escape(`<a & "b">`), "&lt;a &amp; &quot;b&quot;&gt;")
    assert.deepStrictEqual(Svg.ticks(9), [0, 2, 4, 6, 8, 10])
    assert.deepStrictEqual(Svg.ticks(0), [0, 1])
    assert.strictEqual(Svg.colorOf("b", ["a", "b"]), Svg.colorOf("b", ["a", "b"]))
    assert.notStrictEqual(Svg.colorOf("a", ["a", "b"]), Svg.colorOf("b", ["a", "b"]))
  })

  it("summarises the results as Markdown tables, pending items first", () => {
    const md = Report.markdown(results)
    assert.include(md, "- loopwire-ws: not wired <yet>")
    assert.include(md, "| http-full | floor-server | 10.00 |")
    assert.include(md, "### 2 tool calls, zero latency, loopback (n2-zero)")
  })
})
