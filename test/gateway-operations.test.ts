/**
 * `loopwire serve` as an operator runs it (the bin, a real process): `/metrics` read with a Prometheus text parser,
 * spans exported to an OTLP/HTTP receiver started here, the JSON access log, a graceful drain on SIGTERM, and the
 * refusals (port in use, allow-all on a non-loopback address).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Conformance from "@loopwire/testkit/Conformance"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { spawn } from "node:child_process"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as WS from "ws"
import { binArgs } from "../packages/cli/test/helpers/bin.js"
import { type GatewayProcess, spawnGateway, tempJson } from "./helpers/gateways.js"
import * as Prometheus from "./helpers/prometheus.js"


type Event = { readonly type: string; readonly [key: string]: unknown }

/**
 * One `response.create` over a fresh WebSocket; `onEvent` sees every event. Yields them all and the close code once
 * the socket is closed (by the client after the terminal event, or by the gateway).
 */
const turnOverWebSocket = (
  gateway: GatewayProcess,
  create: Record<string, unknown>,
  onEvent: (event: Event) => void = () => {}
) =>
  Effect.async<{ readonly events: ReadonlyArray<Event>; readonly code: number }, Error>((resume) => {
    const ws = new WS.WebSocket(gateway.wsUrl)
    const seen: Array<Event> = []
    ws.on("error", (error) => resume(Effect.fail(error)))
    ws.on("open", () => ws.send(JSON.stringify({ type: "response.create", model: "ops-model", input: "hi", ...create })))
    ws.on("message", (data) => {
      const event = JSON.parse(String(data)) as Event
      seen.push(event)
      onEvent(event)
      if (event.type === "response.completed" || event.type === "response.failed" || event.type === "error") {
        ws.close(1000)
      }
    })
    ws.on("close", (code) => resume(Effect.succeed({ events: seen, code })))
  })

/**
 * A gateway on `script` (JSON access log, `--drain-timeout drainTimeout`) that gets SIGTERM at the first text delta
 * of a WebSocket turn: what the client saw, the process's exit code and its log lines.
 */
const sigtermDuringTurn = (script: unknown, drainTimeout: string) =>
  Effect.gen(function*() {
    const file = yield* tempJson("script.json", script)
    const gateway = yield* spawnGateway({
      name: "drain",
      args: ["--port", "0", "--script", file, "--log-format", "json", "--drain-timeout", drainTimeout]
    })
    let exit: Promise<number | null> | undefined
    const turn = yield* turnOverWebSocket(gateway, {}, (event) => {
      if (event.type === "response.output_text.delta" && exit === undefined) {
        exit = Effect.runPromise(gateway.stop("SIGTERM"))
      }
    })
    assert.isDefined(exit, "SIGTERM was sent while the response was generating")
    const exitCode = yield* Effect.promise(() => exit!)
    return { ...turn, exitCode, output: gateway.output(), lines: jsonLines(gateway.output()) }
  })

/** Runs `loopwire serve <args>` expecting it to exit on its own; yields the exit code and what it printed. */
const serveUntilExit = (args: ReadonlyArray<string>) =>
  Effect.async<{ readonly code: number | null; readonly output: string }>((resume) => {
    const child = spawn(process.execPath, [...binArgs, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    const timer = setTimeout(() => child.kill("SIGKILL"), 45_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, output }))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** The JSON log lines a gateway printed (`--log-format json`). */
const jsonLines = (output: string): ReadonlyArray<Record<string, unknown>> =>
  output.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line))

const annotations = (line: Record<string, unknown>) => line["annotations"] as Record<string, unknown>

/** A loopback OTLP/HTTP receiver: every span (name and string/int attributes) of every JSON export it receives. */
interface Span {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly attributes: Readonly<Record<string, string | number | boolean>>
  readonly service: string | undefined
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }
type KeyValue = { key: string; value: AnyValue }

const valueOf = (value: AnyValue): string | number | boolean =>
  value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.boolValue ?? value.doubleValue ?? "")

const otlpReceiver = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly spans: Array<Span>; readonly server: Http.Server }>((resume) => {
    const spans: Array<Span> = []
    const server = Http.createServer((request, response) => {
      let body = ""
      request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")))
      request.on("end", () => {
        if (request.url === "/v1/traces" && (request.headers["content-type"] ?? "").includes("json")) {
          const decoded = JSON.parse(body) as {
            resourceSpans: ReadonlyArray<{
              resource?: { attributes?: ReadonlyArray<KeyValue> }
              scopeSpans: ReadonlyArray<{
                spans: ReadonlyArray<{
                  name: string
                  traceId: string
                  spanId: string
                  parentSpanId?: string
                  attributes?: ReadonlyArray<KeyValue>
                }>
              }>
            }>
          }
          for (const resource of decoded.resourceSpans) {
            const service = resource.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue
            for (const scope of resource.scopeSpans) {
              for (const span of scope.spans) {
                spans.push({
                  name: span.name,
                  traceId: span.traceId,
                  spanId: span.spanId,
                  parentSpanId: span.parentSpanId === "" ? undefined : span.parentSpanId,
                  service,
                  attributes: Object.fromEntries((span.attributes ?? []).map((a) => [a.key, valueOf(a.value)]))
                })
              }
            }
          }
        }
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`, spans, server }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

/** Polls `probe` every 50 ms (at most 10 s) until it yields a value. */
const eventually = <A>(what: string, probe: () => A | undefined): Effect.Effect<A, Error> =>
  Effect.suspend(() => {
    const found = probe()
    return found === undefined ? Effect.fail(new Error(`no ${what}`)) : Effect.succeed(found)
  }).pipe(Effect.retry(Schedule.intersect(Schedule.spaced("50 millis"), Schedule.recurs(200))))

describe("loopwire serve in operation", () => {
  describe.skipIf(Prometheus.skip())(Prometheus.suiteName, () => {
  it.live("GET /metrics parses as Prometheus text with the gateway's families after WebSocket and HTTP turns", () =>
    Effect.scoped(Effect.gen(function*() {
      const gateway = yield* spawnGateway({
        name: "metrics",
        globalArgs: ["--log-level=debug"],
        args: ["--port", "0", "--api-keys", "sk-ops:tenant-ops", "--log-format", "json"]
      })
      // Authenticated turns: a WebSocket turn, a rejected continuation (an error code), an HTTP turn.
      const ws = new WS.WebSocket(gateway.wsUrl, { headers: { authorization: "Bearer sk-ops" } })
      yield* Effect.async<void, Error>((resume) => {
        let sent = 0
        ws.on("error", (error) => resume(Effect.fail(error)))
        ws.on("open", () => {
          ws.send(JSON.stringify({ type: "response.create", model: "ops-model", input: "hi", stream_id: "lane-a" }))
          sent++
        })
        ws.on("message", (data) => {
          const event = JSON.parse(String(data)) as Event
          if (event.type === "response.completed" && sent === 1) {
            ws.send(JSON.stringify({ type: "response.create", model: "ops-model", previous_response_id: "resp_missing", input: "x" }))
            sent++
          } else if (event.type === "error") {
            ws.close(1000)
          }
        })
        ws.on("close", () => resume(Effect.void))
      })
      const http = yield* Effect.promise(() =>
        fetch(`${gateway.url}/v1/responses`, {
          method: "POST",
          headers: { authorization: "Bearer sk-ops", "content-type": "application/json" },
          body: JSON.stringify({ model: "ops-model", input: "hello" })
        }).then((r) => r.status)
      )
      assert.strictEqual(http, 200)

      const response = yield* Effect.promise(() => fetch(`${gateway.url}/metrics`))
      assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/)
      const text = yield* Effect.promise(() => response.text())
      const families = Prometheus.parse(text)
      // The reader the other tests use agrees with the official parser, sample for sample.
      const read = Prometheus.read(text)
      for (const family of families.values()) {
        assert.deepStrictEqual(
          read.get(family.name)?.samples.map((s) => [s.name, s.labels, Number(s.value)]),
          family.samples.map((s) => [s.name, s.labels, Number(s.value)]),
          family.name
        )
      }
      const typeOf = (name: string) => families.get(name)?.type
      // Every family has its HELP text.
      for (const family of families.values()) assert.notStrictEqual(family.help, "", family.name)

      assert.strictEqual(typeOf("loopwire_connections_opened"), "counter")
      assert.strictEqual(Prometheus.counter(families, "loopwire_connections_opened"), 1)
      assert.strictEqual(typeOf("loopwire_connections_active"), "gauge")
      assert.strictEqual(Prometheus.gauge(families, "loopwire_connections_active"), 0)
      assert.strictEqual(Prometheus.counter(families, "loopwire_connections_closed", { code: "1000" }), 1)
      assert.strictEqual(typeOf("loopwire_lanes_active"), "gauge")
      assert.strictEqual(typeOf("loopwire_responses_in_flight"), "gauge")
      assert.strictEqual(Prometheus.gauge(families, "loopwire_responses_in_flight"), 0)
      assert.strictEqual(typeOf("loopwire_resume_sessions_resumable"), "gauge")
      const responses = (labels: Record<string, string>) => Prometheus.counter(families, "loopwire_responses", labels)
      assert.strictEqual(responses({ mode: "websocket", kind: "full", status: "completed" }), 1)
      assert.strictEqual(responses({ mode: "websocket", kind: "delta", status: "rejected" }), 1)
      assert.strictEqual(responses({ mode: "http", kind: "full", status: "completed" }), 1)
      assert.strictEqual(Prometheus.counter(families, "loopwire_errors", { code: "previous_response_not_found" }), 1)
      for (const histogram of [
        "loopwire_response_duration_seconds",
        "loopwire_response_first_event_seconds",
        "loopwire_backend_generation_duration_seconds",
        "loopwire_parent_lookup_duration_seconds"
      ]) {
        assert.strictEqual(typeOf(histogram), "histogram", histogram)
      }
      assert.strictEqual(Prometheus.count(families, "loopwire_response_duration_seconds", { mode: "websocket" }), 2)
      assert.strictEqual(Prometheus.count(families, "loopwire_response_duration_seconds", { mode: "http" }), 1)
      assert.strictEqual(Prometheus.count(families, "loopwire_response_first_event_seconds", { mode: "websocket" }), 1)
      assert.strictEqual(Prometheus.count(families, "loopwire_backend_generation_duration_seconds"), 2)
      assert.strictEqual(
        Prometheus.count(families, "loopwire_parent_lookup_duration_seconds", { source: "state_cache", result: "miss" }),
        1
      )
      const tokens = (type: string) =>
        Prometheus.counter(families, "loopwire_tokens", { model: "ops-model", tenant: "tenant-ops", type })
      assert.isAbove(tokens("input"), 0)
      assert.isAbove(tokens("output"), 0)
      assert.strictEqual(Prometheus.counter(families, "loopwire_model_generations", { backend: "scripted" }), 2)
      // The Node process metrics.
      assert.strictEqual(typeOf("process_cpu_time"), "counter")
      assert.isAbove(Prometheus.gauge(families, "process_memory_usage"), 0)
      assert.strictEqual(typeOf("nodejs_eventloop_utilization"), "gauge")
      assert.strictEqual(typeOf("v8js_memory_heap_used"), "gauge")

      // The access log: the connection's close with the client's code; an ordinary close is no error.
      const lines = jsonLines(gateway.output())
      const close = lines.find((line) => line["message"] === "connection.close")
      assert.isDefined(close, gateway.output())
      assert.strictEqual(annotations(close!)["code"], 1000)
      assert.strictEqual(annotations(close!)["tenant"], "tenant-ops")
      const errors = lines.filter((line) => line["logLevel"] === "ERROR" || line["logLevel"] === "WARN")
      assert.deepStrictEqual(errors, [])
      assert.strictEqual(lines.filter((line) => line["message"] === "response").length, 3)
    })), { timeout: 90_000 })

  })

  it.live("with OTEL_EXPORTER_OTLP_ENDPOINT set, spans of the connection and the response reach the OTLP receiver", () =>
    Effect.scoped(Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const gateway = yield* spawnGateway({
        name: "traces",
        args: ["--port", "0"],
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_SERVICE_NAME: "loopwire-ops-test",
          OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test",
          OTEL_BSP_SCHEDULE_DELAY: "50"
        }
      })
      assert.include(gateway.output(), `tracing:        OTLP/HTTP to ${receiver.url} as loopwire-ops-test`)
      const { events } = yield* turnOverWebSocket(gateway, { stream_id: "lane-t" })
      const created = events.find((e) => e.type === "response.created")
      const id = (created?.["response"] as { readonly id: string }).id
      // The connection span ends when its handler does: after the close, within the batch delay.
      const spans = yield* eventually("the response and connection spans", () => {
        const response = receiver.spans.find((s) => s.name === "loopwire.response")
        const connection = receiver.spans.find((s) => s.name === "loopwire.connection")
        return response !== undefined && connection !== undefined ? { response, connection } : undefined
      }).pipe(Effect.either)
      assert.isTrue(spans._tag === "Right", `spans received: ${receiver.spans.map((s) => s.name).join(", ")}`)
      if (spans._tag !== "Right") return
      const { connection, response } = spans.right
      assert.strictEqual(response.service, "loopwire-ops-test")
      assert.strictEqual(response.attributes["loopwire.response.id"], id)
      assert.strictEqual(response.attributes["loopwire.lane"], "lane-t")
      assert.strictEqual(response.attributes["loopwire.request.kind"], "full")
      assert.strictEqual(response.attributes["loopwire.tenant"], "default")
      assert.strictEqual(response.attributes["gen_ai.request.model"], "ops-model")
      assert.strictEqual(response.traceId, connection.traceId, "the response span is inside the connection's trace")
      assert.strictEqual(response.attributes["loopwire.response.status"], "completed", "the outcome is recorded on the span")
      assert.strictEqual(response.parentSpanId, connection.spanId, "the response span is the connection span's child")
      // The turn's own spans are children of its response span.
      const generate = receiver.spans.find((s) => s.name === "loopwire.backend.generate")
      assert.isDefined(generate)
      assert.strictEqual(generate!.traceId, connection.traceId)
      assert.strictEqual(generate!.parentSpanId, response.spanId, "the generation span is the response span's child")
    })), { timeout: 90_000 })

  it.live("SIGTERM drains: the response in flight completes on the client, then the process exits 0", () =>
    Effect.scoped(Effect.gen(function*() {
      // About a second of deltas after the first one.
      const { events, exitCode, lines, output } = yield* sigtermDuringTurn({
        latency: { time_to_first_token_ms: 100, delta_delay_ms: 50, chars_per_delta: 4 },
        turns: [{ output: [{ type: "message", text: "slow ".repeat(16) }] }]
      }, "20 seconds")
      assert.strictEqual(events.at(-1)!.type, "response.completed")
      const deltas = events.filter((e) => e.type === "response.output_text.delta").map((e) => e["delta"]).join("")
      assert.strictEqual(deltas, "slow ".repeat(16))
      assert.strictEqual(exitCode, 0)
      const drained = lines.find((line) => line["message"] === "drained")
      assert.isDefined(drained, output)
      assert.strictEqual(annotations(drained!)["in_flight_at_start"], 1)
      assert.strictEqual(annotations(drained!)["finished"], 1)
      assert.strictEqual(annotations(drained!)["cut"], 0)
      // The JSON access log: the connection's open and the turn.
      const turn = lines.find((line) => line["message"] === "response")
      assert.isDefined(turn)
      assert.strictEqual(annotations(turn!)["status"], "completed")
      assert.strictEqual(annotations(turn!)["kind"], "full")
      assert.strictEqual(annotations(turn!)["tenant"], "default")
      assert.strictEqual(annotations(turn!)["lane"], "default")
      assert.isNumber(annotations(turn!)["duration_ms"])
      assert.isNumber(annotations(turn!)["output_tokens"])
      assert.isTrue(lines.some((line) => line["message"] === "connection.open"))
    })), { timeout: 90_000 })

  it.live("at the drain deadline the response still running is cut with 1001 and the drain says so", () =>
    Effect.scoped(Effect.gen(function*() {
      // About ten seconds of deltas: far past a one-second drain.
      const { code, events, exitCode, lines, output } = yield* sigtermDuringTurn({
        latency: { time_to_first_token_ms: 50, delta_delay_ms: 100, chars_per_delta: 1 },
        turns: [{ output: [{ type: "message", text: "x".repeat(100) }] }]
      }, "1 second")
      assert.strictEqual(code, 1001)
      assert.notInclude(events.map((e) => e.type), "response.completed", output)
      assert.strictEqual(exitCode, 0)
      const cut = lines.find((line) => String(line["message"]).startsWith("drain deadline reached"))
      assert.isDefined(cut, output)
      assert.strictEqual(annotations(cut!)["cut"], 1)
      assert.strictEqual(annotations(cut!)["finished"], 0)
    })), { timeout: 90_000 })

  it.live("a port in use: the message names the code and the address, exit 1", () =>
    Effect.scoped(Effect.gen(function*() {
      const first = yield* spawnGateway({ name: "first", args: ["--port", "0"] })
      const { code, output } = yield* serveUntilExit(["--port", String(first.port)])
      assert.strictEqual(code, 1)
      assert.include(output, `EADDRINUSE 127.0.0.1:${first.port}`)
    })), { timeout: 90_000 })

  it.live("allow-all auth on a non-loopback address and an ignored flag are refused before listening, exit 1", () =>
    Effect.gen(function*() {
      const refused = yield* serveUntilExit(["--port", "0", "--host", "0.0.0.0"])
      assert.strictEqual(refused.code, 1)
      assert.include(refused.output, "refusing to serve without API keys on 0.0.0.0")
      const ignored = yield* serveUntilExit(["--port", "0", "--upstream-url", "http://127.0.0.1:1/v1"])
      assert.strictEqual(ignored.code, 1)
      assert.include(ignored.output, "--upstream-url is only used with --backend upstream")
    }), { timeout: 90_000 })

  it.live("the conformance quick-start: `serve --script builtin:conformance`, then the whole suite passes", () =>
    Effect.scoped(Effect.gen(function*() {
      const gateway = yield* spawnGateway({ name: "conformance", args: ["--port", "0", "--script", "builtin:conformance"] })
      const report = yield* Conformance.run({ url: gateway.wsUrl, timeout: "20 seconds" })
      assert.isTrue(report.ok, Conformance.formatReport(report))
      assert.strictEqual(report.results.find((r) => r.id === "function-call-round-trip")?.status, "passed")
    })), { timeout: 120_000 })
})
