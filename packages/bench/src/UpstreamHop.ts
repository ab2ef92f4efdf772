/**
 * The upstream hop: client → gateway B → upstream A, with A (a scripted gateway in a child process, its CPU measured
 * apart) behind the WAN variant (a TLS terminator and a delay proxy: 20 ms RTT by default). B's backend is
 * `@loopwire/upstream` with `--upstream-transport websocket` or `http`; the clients are Loopwire's WebSocket client
 * (a `Session`: `previous_response_id` + the new item) and a stateless client that POSTs the whole conversation each
 * turn. One run measures, per client × upstream transport × cost-model setting: bytes per turn on the B→A hop (what
 * the delay proxy received from B, TLS records included), end-to-end time per turn, and A's CPU per turn. The cost
 * model is the scripted backend's `inputCostMicrosPerKb` (CPU per KiB of input A has to read; 0 = off).
 *
 * @since 0.1.0
 */
import * as ClientConfig from "@loopwire/client/ClientConfig"
import * as ResponsesClient from "@loopwire/client/ResponsesClient"
import * as Session from "@loopwire/client/Session"
import * as Gateway from "@loopwire/server/Gateway"
import * as Upstream from "@loopwire/upstream/Upstream"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { BenchError, fromUnknown } from "./BenchError.js"
import * as DelayProxy from "./DelayProxy.js"
import * as Loopwire from "./Loopwire.js"
import * as Stats from "./Stats.js"
import * as Svg from "./Svg.js"
import * as Tls from "./Tls.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Turns per chain (default 20). */
  readonly turns: number
  /** New user input per turn, bytes (default 4096). */
  readonly newBytes: number
  /** Instructions sent with every turn, bytes (default 2048). */
  readonly settingsBytes: number
  /** Model answer per turn, characters (default 300). */
  readonly answerChars: number
  /** Measured chains per cell (default 3) and discarded warm-up chains (default 1). */
  readonly iterations: number
  readonly warmup: number
  /** Added round-trip time on the B→A hop (default 20). */
  readonly rttMs: number
  /** TLS on the B→A hop (default `auto`: on when openssl can make a certificate). */
  readonly tls: boolean | "auto"
  /** Cost-model settings to run, µs of A's CPU per KiB of input read (default [0, 1000]: off, on). */
  readonly inputCosts: ReadonlyArray<number>
  readonly progress: (line: string) => void
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaults: Options = {
  turns: 20,
  newBytes: 4096,
  settingsBytes: 2048,
  answerChars: 300,
  iterations: 3,
  warmup: 1,
  rttMs: 20,
  tls: "auto",
  inputCosts: [0, 1000],
  progress: () => {}
}

/**
 * @since 0.1.0
 * @category models
 */
export type Client = "websocket-client" | "stateless-http"

/**
 * One measured cell (medians over the iterations).
 *
 * @since 0.1.0
 * @category models
 */
export interface Cell {
  readonly client: Client
  readonly upstream: "websocket" | "http"
  readonly inputCostMicrosPerKb: number
  readonly bytesPerTurn: number
  readonly e2eMsPerTurn: number
  readonly upstreamCpuMsPerTurn: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Results {
  readonly options: Omit<Options, "progress">
  readonly tls: boolean
  readonly cells: ReadonlyArray<Cell>
}

const clients: ReadonlyArray<Client> = ["websocket-client", "stateless-http"]
const upstreams = ["websocket", "http"] as const

const scenario = (options: Options) => ({
  turns: Array.from({ length: options.turns }, (_, k) => ({
    output: [{ type: "message", text: `Answer ${k + 1}. ${"a".repeat(Math.max(0, options.answerChars - 12))}` }]
  }))
})

const userItem = (options: Options, k: number) => ({
  type: "message" as const,
  role: "user" as const,
  content: `Turn ${k}: ${"u".repeat(Math.max(0, options.newBytes - 10))}`
})

// One chain through B: the WebSocket client (a Session on its own socket) or the stateless POSTing client.
const chain = (client: Client, bUrl: string, options: Options, instructions: string) =>
  client === "websocket-client"
    ? Effect.scoped(Effect.gen(function*() {
      const session = yield* Session.make({ settings: { model: "m", instructions, store: false } })
      for (let k = 1; k <= options.turns; k++) {
        const response = yield* session.turn([userItem(options, k)])
        if (response.status !== "completed") return yield* new BenchError({ reason: "Protocol", detail: `turn ${k}: ${response.status}` })
      }
    })).pipe(
      Effect.provide(ResponsesClient.layerWebSocket(ClientConfig.make({ baseUrl: `${bUrl}/v1`, heartbeat: false }))),
      Effect.mapError((e) => (e instanceof BenchError ? e : new BenchError({ reason: "Protocol", detail: e.message })))
    )
    : Effect.tryPromise({
      try: async () => {
        const input: Array<unknown> = []
        for (let k = 1; k <= options.turns; k++) {
          input.push(userItem(options, k))
          const answer = await fetch(`${bUrl}/v1/responses`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "m", instructions, store: false, input }),
            signal: AbortSignal.timeout(60_000)
          })
          const body = await answer.json() as { status?: string; output?: ReadonlyArray<unknown> }
          if (body.status !== "completed") throw new Error(`turn ${k}: ${JSON.stringify(body).slice(0, 300)}`)
          input.push(...(body.output ?? []))
        }
      },
      catch: fromUnknown("Protocol", "stateless chain")
    })

const gateway = (backend: Layer.Layer<import("@loopwire/server/ModelBackend").ModelBackend>) =>
  Effect.flatMap(
    Layer.build(Gateway.layerLocal({ config: { port: 0, host: "127.0.0.1" }, backend })),
    (context) => Effect.provide(Gateway.baseUrl, context)
  ).pipe(Effect.mapError(fromUnknown("Listen", "gateway B")))

/**
 * Runs every cell: for each cost setting one upstream A (child process) behind the WAN variant, two gateways B (one
 * per upstream transport), and interleaved chains of both clients.
 *
 * @since 0.1.0
 * @category run
 */
export const run = (options: Options = defaults): Effect.Effect<Results, BenchError, Scope.Scope> =>
  Effect.gen(function*() {
    const instructions = `Bench instructions. ${"i".repeat(Math.max(0, options.settingsBytes - 20))}`
    const certificate = options.tls === false ? undefined : yield* (options.tls === "auto"
      ? Effect.catchAll(Tls.makeCertificate(), (error) =>
        Effect.sync(() => {
          options.progress(`upstream hop: TLS disabled (${error.message})`)
          return undefined
        }))
      : Tls.makeCertificate())
    const cells: Array<Cell> = []
    for (const cost of options.inputCosts) {
      const a = yield* Loopwire.forkGateway(scenario(options), {
        env: { LOOPWIRE_SCRIPTED_INPUT_COST_US_PER_KB: String(cost) }
      })
      const front = certificate === undefined ? a.endpoint : yield* Tls.terminator(a.endpoint, certificate)
      const proxy = yield* DelayProxy.make({ target: front, rttMs: options.rttMs })
      const baseUrl = `${front.secure ? "https" : "http"}://127.0.0.1:${proxy.port}/v1`
      const bs = {
        websocket: yield* gateway(Upstream.layer({
          baseUrl,
          transport: "websocket",
          poolSize: 1,
          proxy: false,
          ...(front.ca !== undefined ? { tls: { ca: front.ca } } : {})
        })),
        http: yield* gateway(Upstream.layer({
          baseUrl,
          transport: "http",
          proxy: false,
          ...(front.ca !== undefined ? { tls: { ca: front.ca } } : {})
        }))
      }
      const samples = new Map<string, { bytes: Array<number>; ms: Array<number>; cpu: Array<number> }>()
      for (let i = 0; i < options.warmup + options.iterations; i++) {
        for (const client of clients) {
          for (const upstream of upstreams) {
            const bytes0 = (yield* proxy.stats).upReceived
            const cpu0 = (yield* a.stats()).cpu
            const t0 = performance.now()
            yield* chain(client, bs[upstream], options, instructions)
            const ms = performance.now() - t0
            const cpu1 = (yield* a.stats()).cpu
            const bytes = (yield* proxy.stats).upReceived - bytes0
            if (i < options.warmup) continue
            const key = `${client}/${upstream}`
            const s = samples.get(key) ?? { bytes: [], ms: [], cpu: [] }
            s.bytes.push(bytes / options.turns)
            s.ms.push(ms / options.turns)
            s.cpu.push((cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1000 / options.turns)
            samples.set(key, s)
          }
        }
      }
      for (const client of clients) {
        for (const upstream of upstreams) {
          const s = samples.get(`${client}/${upstream}`)!
          const cell: Cell = {
            client,
            upstream,
            inputCostMicrosPerKb: cost,
            bytesPerTurn: Math.round(Stats.median(s.bytes)),
            e2eMsPerTurn: Stats.round(Stats.median(s.ms), 2)!,
            upstreamCpuMsPerTurn: Stats.round(Stats.median(s.cpu), 3)!
          }
          cells.push(cell)
          options.progress(
            `upstream hop cost=${cost}µs/KiB ${client} via ${upstream}: ${cell.bytesPerTurn} B/turn, ` +
              `${cell.e2eMsPerTurn} ms/turn, A CPU ${cell.upstreamCpuMsPerTurn} ms/turn`
          )
        }
      }
    }
    const { progress: _p, ...rest } = options
    return { options: rest, tls: certificate !== undefined, cells }
  })

const find = (results: Results, client: Client, upstream: "websocket" | "http", cost: number) =>
  results.cells.find((c) => c.client === client && c.upstream === upstream && c.inputCostMicrosPerKb === cost)

/**
 * The results as a Markdown table (each metric with its websocket ÷ http ratio).
 *
 * @since 0.1.0
 * @category report
 */
export const markdown = (results: Results): string => {
  const lines = [
    `| client | cost model | upstream | bytes/turn B→A | ws ÷ http | e2e ms/turn | ws ÷ http | A CPU ms/turn | ws ÷ http |`,
    `| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |`
  ]
  for (const cost of results.options.inputCosts) {
    for (const client of clients) {
      const http = find(results, client, "http", cost)
      for (const upstream of upstreams) {
        const cell = find(results, client, upstream, cost)
        if (cell === undefined || http === undefined) continue
        const r = (a: number, b: number) => upstream === "http" ? "1" : (Stats.ratio(a, b) ?? 0).toFixed(2)
        lines.push(
          `| ${client} | ${cost === 0 ? "off" : `${cost} µs/KiB`} | ${upstream} | ${cell.bytesPerTurn} | ${
            r(cell.bytesPerTurn, http.bytesPerTurn)
          } | ${cell.e2eMsPerTurn} | ${r(cell.e2eMsPerTurn, http.e2eMsPerTurn)} | ${cell.upstreamCpuMsPerTurn} | ${
            r(cell.upstreamCpuMsPerTurn, http.upstreamCpuMsPerTurn)
          } |`
        )
      }
    }
  }
  return lines.join("\n")
}

/**
 * Three bar charts (bytes per turn, end-to-end time per turn, A's CPU per turn): a group per client and cost
 * setting, a bar per upstream transport.
 *
 * @since 0.1.0
 * @category report
 */
export const plots = (results: Results): Readonly<Record<string, string>> => {
  const groups = (metric: (cell: Cell) => number) =>
    results.options.inputCosts.flatMap((cost) =>
      clients.map((client) => ({
        label: `${client === "websocket-client" ? "ws client" : "stateless"}, cost ${cost === 0 ? "off" : cost}`,
        bars: upstreams.map((upstream) => {
          const cell = find(results, client, upstream, cost)
          return { name: `upstream ${upstream}`, value: cell === undefined ? null : metric(cell) }
        })
      }))
    )
  const network = `${results.options.rttMs} ms RTT${results.tls ? " + TLS" : ""}`
  return {
    "upstream-bytes-per-turn.svg": Svg.barChart({
      title: `B→A bytes per turn (${results.options.turns}-turn chains, ${network})`,
      yLabel: "bytes / turn",
      groups: groups((c) => c.bytesPerTurn)
    }),
    "upstream-e2e-per-turn.svg": Svg.barChart({
      title: `End-to-end time per turn, client → B → A (${network})`,
      yLabel: "ms / turn",
      groups: groups((c) => c.e2eMsPerTurn)
    }),
    "upstream-cpu-per-turn.svg": Svg.barChart({
      title: "Upstream A's CPU per turn",
      yLabel: "ms / turn",
      groups: groups((c) => c.upstreamCpuMsPerTurn)
    })
  }
}
