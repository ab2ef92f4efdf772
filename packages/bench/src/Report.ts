/**
 * Writing results: `results.json`, SVG plots and a Markdown summary table into an output directory.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import { fromUnknown } from "./BenchError.js"
import type { BenchError } from "./BenchError.js"
import type { Results } from "./Results.js"
import * as Svg from "./Svg.js"

/**
 * The transports in a stable order (for colours and columns).
 *
 * @since 0.1.0
 * @category rendering
 */
export const TRANSPORT_ORDER: ReadonlyArray<string> = [
  "http-full",
  "http-prev",
  "loopwire-ws",
  "loopwire-ws-stream",
  "openai-sdk-ws",
  "floor"
]

const namesOf = (results: Results): ReadonlyArray<string> => {
  const seen = new Set(results.scenarios.flatMap((s) => s.transports.map((t) => t.transport)))
  return [...TRANSPORT_ORDER.filter((n) => seen.has(n)), ...[...seen].filter((n) => !TRANSPORT_ORDER.includes(n))]
}

const safe = (text: string) => text.replace(/[^A-Za-z0-9_.-]+/g, "_")

/**
 * The SVG files of a results value, as `[file name, content]` (pure).
 *
 * @since 0.1.0
 * @category rendering
 */
export const plots = (results: Results): ReadonlyArray<readonly [string, string]> => {
  const names = namesOf(results)
  const files: Array<readonly [string, string]> = []
  for (const scenario of results.scenarios) {
    files.push([
      `per-turn-${safe(scenario.id)}-${safe(scenario.network)}.svg`,
      Svg.lineChart({
        title: `Per-turn time vs turn index — ${scenario.toolCalls} tool calls, ${scenario.latency.name} latency, ${scenario.network}`,
        xLabel: "turn index",
        yLabel: "median per-turn time (ms)",
        names,
        series: scenario.transports.filter((t) => t.error === undefined).map((t) => ({
          name: t.transport,
          points: t.perTurnByIndexMs.map((y, x) => [x, y] as const)
        }))
      })
    ])
  }
  const groups = (pick: (t: Results["scenarios"][number]["transports"][number]) => number | null) =>
    results.scenarios.map((s) => ({
      label: `${s.toolCalls} calls ${s.latency.name}${s.network === "loopback" ? "" : ` ${s.network}`}`,
      bars: s.transports.map((t) => ({ name: t.transport, value: t.error === undefined ? pick(t) : null }))
    }))
  files.push([
    "ratio-e2e-vs-floor.svg",
    Svg.barChart({
      title: "End-to-end rollout time relative to the floor (lower is better; 1 = floor)",
      yLabel: "e2e / floor e2e",
      names,
      reference: 1,
      groups: groups((t) => t.ratios.e2eVsFloor)
    })
  ])
  files.push([
    "ratio-e2e-vs-http-full.svg",
    Svg.barChart({
      title: "End-to-end rollout time relative to stateless HTTP (lower is better; 1 = http-full)",
      yLabel: "e2e / http-full e2e",
      names,
      reference: 1,
      groups: groups((t) => t.ratios.e2eVsHttpFull)
    })
  ])
  files.push([
    "bytes-sent-per-turn.svg",
    Svg.barChart({
      title: "Bytes sent per turn (client → server)",
      yLabel: "KiB per turn",
      names,
      groups: groups((t) => (t.bytesSentPerTurn === null ? null : Math.round(t.bytesSentPerTurn / 102.4) / 10))
    })
  ])
  return files
}

const cell = (v: number | null | undefined, digits = 2) => (v === null || v === undefined ? "n/a" : v.toFixed(digits))

/**
 * A Markdown summary of the results (pure): one table per scenario, then throughput and scale.
 *
 * @since 0.1.0
 * @category rendering
 */
export const markdown = (results: Results): string => {
  const lines: Array<string> = []
  lines.push(`Generated ${results.generatedAt}${results.quick ? " (--quick)" : ""} on ${results.environment.cpuModel} ` +
    `× ${results.environment.cores}, Node ${results.environment.node}; ${results.method.iterations} measured + ` +
    `${results.method.warmup} warm-up rollouts per transport, ${results.method.interleaving}.`)
  if (results.pending.length > 0) {
    lines.push("", "Not in this run:", ...results.pending.map((p) => `- ${p}`))
  }
  for (const s of results.scenarios) {
    lines.push(
      "",
      `### ${s.toolCalls} tool calls, ${s.latency.name} latency, ${s.network} (${s.id})`,
      "",
      "| transport | server | e2e ms | connect ms | turn 0 ms | turn p50 ms | turn p99 ms | overhead p50 ms | sent/turn B | cpu/turn µs | client cpu/turn µs | slope ms/turn | ×floor | ×http-full |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for (const t of s.transports) {
      lines.push(
        t.error !== undefined
          ? `| ${t.transport} | ${t.server} | error: ${t.error.replace(/\|/g, "/")} ||||||||||||`
          : `| ${t.transport} | ${t.server} | ${cell(t.e2eMs)} | ${cell(t.connectMs)} | ${cell(t.firstTurnMs, 3)} | ${cell(t.perTurnMedianMs, 3)} | ${cell(t.perTurnP99Ms, 3)} | ${
            cell(t.perTurnOverheadMedianMs, 3)
          } | ${cell(t.bytesSentPerTurn, 0)} | ${cell(t.cpuPerTurnUs, 0)} (${t.cpuScope}) | ${
            t.cpuScope === "server" ? cell(t.processCpuPerTurnUs, 0) : "(in cpu/turn)"
          } | ${cell(t.slopeMsPerTurn, 4)} | ${
            cell(t.ratios.e2eVsFloor)
          } | ${cell(t.ratios.e2eVsHttpFull)} |`
      )
    }
  }
  if (results.throughput !== null) {
    lines.push("", "### Streaming (server → client)", "", "| transport | server | events | events/s | MB/s |", "|---|---|---:|---:|---:|")
    for (const r of results.throughput.streaming) {
      lines.push(`| ${r.transport} | ${r.server} | ${r.events} | ${cell(r.eventsPerSecond, 0)} | ${cell(r.mbPerSecond)} |${r.error === undefined ? "" : ` error: ${r.error}`}`)
    }
    lines.push("", "### Concurrent agent loops", "", "| transport | loops | turns | turns/s | turn p50 ms | turn p99 ms |", "|---|---:|---:|---:|---:|---:|")
    for (const r of results.throughput.concurrency) {
      lines.push(`| ${r.transport} | ${r.concurrency}${r.degraded === null ? "" : ` (of ${r.requestedConcurrency}, fd limit)`} | ${r.turns} | ${cell(r.turnsPerSecond, 1)} | ${cell(r.perTurnMedianMs, 3)} | ${cell(r.perTurnP99Ms, 3)} |${r.error === undefined ? "" : ` error: ${r.error}`}`)
    }
  }
  for (const s of results.scale ?? []) {
    lines.push(
      "",
      `### Memory at scale: ${s.server}`,
      "",
      `${s.connections} connections to ${s.server} (${s.serverMode})${s.degraded === null ? "" : ` — ${s.degraded}`}${
        s.error === undefined ? "" : ` — error: ${s.error}`
      }`,
      "",
      "| per | heap+external B | RSS B |",
      "|---|---:|---:|",
      `| idle connection | ${cell(s.idleHeapBytesPerConnection, 0)} | ${cell(s.idleRssBytesPerConnection, 0)} |`,
      `| cached lane (${Math.round(s.laneContextBytes / 1024)} KiB base context) | ${cell(s.laneHeapBytesPerLane, 0)} | ${cell(s.laneRssBytesPerLane, 0)} |`
    )
  }
  return lines.join("\n") + "\n"
}

/**
 * Write `results.json`, `results.md` and the SVG plots into `dir` (created if missing). Returns the paths.
 *
 * @since 0.1.0
 * @category io
 */
export const write = (dir: string, results: Results): Effect.Effect<ReadonlyArray<string>, BenchError> =>
  Effect.tryPromise({
    try: async () => {
      await Fs.mkdir(dir, { recursive: true })
      const files: Array<readonly [string, string]> = [
        ["results.json", JSON.stringify(results, null, 2) + "\n"],
        ["results.md", markdown(results)],
        ...plots(results)
      ]
      const written: Array<string> = []
      for (const [name, content] of files) {
        const path = Path.join(dir, name)
        await Fs.writeFile(path, content)
        written.push(path)
      }
      return written
    },
    catch: fromUnknown("Io", `write results to ${dir}`)
  })
