/**
 * The gateway's metrics and their Prometheus exposition (`GET /metrics`).
 *
 * Every series is an Effect `Metric` (counters, gauges, histograms in seconds), exported through
 * `@effect/opentelemetry`'s metric producer into an OpenTelemetry `PrometheusExporter`, whose serializer writes the
 * text (HELP and TYPE lines, `_total` on counters, `_bucket` / `_sum` / `_count` on histograms). The same
 * exporter carries the Node process metrics (`@opentelemetry/instrumentation-runtime-node`: event loop delay and
 * utilization, GC, heap spaces; and process CPU time and resident memory). docs/server.md ("Operating") lists every
 * series. Several gateway processes each report their own.
 *
 * Longer than 300 lines because it declares and documents every series the gateway exports, and the exporter layer;
 * the per-turn helpers (`series`, `labelled`, `unsafeUpdate`) are a few lines.
 *
 * @since 0.1.0
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as OtelResource from "@effect/opentelemetry/Resource"
import { ValueType } from "@opentelemetry/api"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { RuntimeNodeInstrumentation } from "@opentelemetry/instrumentation-runtime-node"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { MeterProvider } from "@opentelemetry/sdk-metrics"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import type * as Scope from "effect/Scope"

// 1 ms to about 65 s, doubling: turn latency, first event, generations and lookups alike.
const secondsBoundaries = MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 17 })

/**
 * WebSocket connections open now (a gauge: an up-down counter).
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionsActive = Metric.counter("loopwire_connections_active", {
  description: "WebSocket connections open now."
})

/**
 * WebSocket connections accepted (`loopwire_connections_opened_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionsOpened = Metric.counter("loopwire_connections_opened", {
  description: "WebSocket connections accepted.",
  incremental: true
})

/**
 * WebSocket connections ended, by close code (`loopwire_connections_closed_total{code}`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionsClosed = Metric.counter("loopwire_connections_closed", {
  description: "WebSocket connections ended, by close code (1000 client close, 1001 going away, 1006 drop, ...).",
  incremental: true
})

/**
 * Named `stream_id` lanes in use on the sessions of this process.
 *
 * @since 0.1.0
 * @category metrics
 */
export const lanesActive = Metric.counter("loopwire_lanes_active", {
  description: "Named stream_id lanes in use on this process's sessions (the default lane is not counted)."
})

/**
 * Responses generating now (both modes).
 *
 * @since 0.1.0
 * @category metrics
 */
export const responsesInFlight = Metric.counter("loopwire_responses_in_flight", {
  description: "Responses running now (WebSocket and HTTP mode)."
})

/**
 * Dropped sessions waiting for a resume within their grace period.
 *
 * @since 0.1.0
 * @category metrics
 */
export const resumableSessions = Metric.counter("loopwire_resume_sessions_resumable", {
  description: "Dropped connections whose session waits for a reconnect-with-resume (within the grace period)."
})

/**
 * Requests answered, by mode (`websocket` | `http`), kind (`delta` | `full`) and status (`completed`,
 * `incomplete`, `failed`, `rejected`) (`loopwire_responses_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const responses = Metric.counter("loopwire_responses", {
  description: "response.create requests answered, by mode, kind (delta or full) and status.",
  incremental: true
})

/**
 * Seconds from a `response.create` to its terminal event (or rejection), by mode.
 *
 * @since 0.1.0
 * @category metrics
 */
export const responseDuration = Metric.histogram(
  "loopwire_response_duration_seconds",
  secondsBoundaries,
  "Seconds from a response.create to its terminal event or rejection, by mode."
)

/**
 * Seconds from a `response.create` to its first event on the wire, by mode.
 *
 * @since 0.1.0
 * @category metrics
 */
export const timeToFirstEvent = Metric.histogram(
  "loopwire_response_first_event_seconds",
  secondsBoundaries,
  "Seconds from a response.create to its first event written, by mode."
)

/**
 * Seconds a model backend generation ran, by backend.
 *
 * @since 0.1.0
 * @category metrics
 */
export const generationDuration = Metric.histogram(
  "loopwire_backend_generation_duration_seconds",
  secondsBoundaries,
  "Seconds a model backend generation ran, from the call to its last event."
)

/**
 * Seconds a continuation's parent lookup took, by `source` (`state_cache` | `response_store`) and result.
 *
 * @since 0.1.0
 * @category metrics
 */
export const lookupDuration = Metric.histogram(
  "loopwire_parent_lookup_duration_seconds",
  secondsBoundaries,
  "Seconds a previous_response_id lookup took, by source (state_cache, response_store) and result (hit, miss)."
)

/**
 * Error frames and failed responses, by error code (`loopwire_errors_total{code}`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const errors = Metric.counter("loopwire_errors", {
  description: "Error frames sent and responses failed, by error code.",
  incremental: true
})

/**
 * Tokens reported by responses' `usage`, by model, tenant and type (`input` | `output`)
 * (`loopwire_tokens_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const tokens = Metric.counter("loopwire_tokens", {
  description: "Tokens in the usage of finished responses, by model, tenant and type (input, output).",
  incremental: true
})

/**
 * `loopwire.resume` requests served, by result (`replayed` | `refused`) (`loopwire_resume_requests_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const resumeRequests = Metric.counter("loopwire_resume_requests", {
  description: "loopwire.resume requests, by result (replayed, refused).",
  incremental: true
})

const noLabels: ReadonlyArray<MetricLabel.MetricLabel> = []

// `metric` with `labels`, which (unlike `Metric.taggedWithLabels`, which builds a new label array per update) hands
// the same array to every update, so Effect's hook cache finds the series without hashing its key again.
const withStableLabels = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  labels: ReadonlyArray<MetricLabel.MetricLabel>
): Metric.Metric<Type, In, Out> => {
  const all = (extra: ReadonlyArray<MetricLabel.MetricLabel>) => extra.length === 0 ? labels : [...labels, ...extra]
  return Metric.make(
    metric.keyType,
    (input, extra) => metric.unsafeUpdate(input, all(extra)),
    (extra) => metric.unsafeValue(all(extra)),
    (input, extra) => metric.unsafeModify(input, all(extra))
  )
}

/**
 * The series of `metric` by the values of the labels `names`, each made once (per-turn code asks for its series by
 * value, without building a new tagged metric and its key every time).
 *
 * @since 0.1.0
 * @category constructors
 */
export const series = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  ...names: ReadonlyArray<string>
): (...values: ReadonlyArray<string>) => Metric.Metric<Type, In, Out> => {
  const made = new Map<string, Metric.Metric<Type, In, Out>>()
  return (...values) => {
    const key = values.join("\u0000")
    let found = made.get(key)
    if (found === undefined) {
      found = withStableLabels(metric, names.map((name, i) => MetricLabel.make(name, values[i] ?? "")))
      made.set(key, found)
    }
    return found
  }
}

/**
 * `metric` with fixed labels, made once (for a series written from plain code with {@link unsafeUpdate}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const labelled = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  labels: Readonly<Record<string, string>>
): Metric.Metric<Type, In, Out> =>
  withStableLabels(metric, Object.entries(labels).map(([name, value]) => MetricLabel.make(name, value)))

/**
 * Records `input` on `metric` now, in plain code: what `Metric.update` does, without an Effect per update (per-turn
 * and per-event paths). The fiber's metric labels (`Effect.tagMetrics`) do not apply; the gateway sets none.
 *
 * @since 0.1.0
 * @category updates
 */
export const unsafeUpdate = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>, input: In): void =>
  metric.unsafeUpdate(input, noLabels)

/**
 * The content type of the exposition.
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * What `GET /metrics` serves.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExpositionShape {
  /** Every series of the process now, in the Prometheus text format. */
  readonly text: Effect.Effect<string>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Exposition extends Context.Tag("@loopwire/server/Metrics/Exposition")<Exposition, ExpositionShape>() {}

/**
 * Options of {@link makeExposition}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExpositionOptions {
  /** Also export the Node process metrics (event loop, GC, heap, CPU, memory). Default true. */
  readonly process?: boolean | undefined
}

// Process CPU time and resident memory, with the OpenTelemetry semantic-convention names.
const observeProcess = (provider: MeterProvider) => {
  const meter = provider.getMeter("loopwire.process")
  const cpu = meter.createObservableCounter("process.cpu.time", {
    description: "CPU seconds used by the process, by mode (user, system).",
    unit: "s",
    valueType: ValueType.DOUBLE
  })
  const memory = meter.createObservableUpDownCounter("process.memory.usage", {
    description: "Resident set size of the process, in bytes.",
    unit: "By",
    valueType: ValueType.INT
  })
  cpu.addCallback((result) => {
    const usage = process.cpuUsage()
    result.observe(usage.user / 1e6, { "cpu.mode": "user" })
    result.observe(usage.system / 1e6, { "cpu.mode": "system" })
  })
  memory.addCallback((result) => result.observe(process.memoryUsage.rss()))
}

/**
 * An exposition of the process's Effect metrics (and, by default, the Node process metrics) for the life of the
 * scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeExposition = (options: ExpositionOptions = {}): Effect.Effect<ExpositionShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const resource = resourceFromAttributes({ "service.name": "loopwire-gateway" })
    const producer = yield* Effect.provideService(OtelMetrics.makeProducer, OtelResource.Resource, resource)
    const exporter = new PrometheusExporter({ preventServerStart: true, metricProducers: [producer], withoutScopeInfo: true })
    const provider = new MeterProvider({ resource, readers: [exporter] })
    const serializer = new PrometheusSerializer(undefined, false, undefined, false, true)
    if (options.process !== false) {
      observeProcess(provider)
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const instrumentation = new RuntimeNodeInstrumentation({ enabled: false, monitoringPrecision: 5000 })
          instrumentation.setMeterProvider(provider)
          instrumentation.enable()
          return instrumentation
        }),
        (instrumentation) => Effect.sync(() => instrumentation.disable())
      )
    }
    // The unlabelled series are exposed from the start, not only after their first change.
    yield* Effect.forEach(
      [connectionsActive, connectionsOpened, lanesActive, responsesInFlight, resumableSessions],
      (metric) => Metric.incrementBy(metric, 0),
      { discard: true }
    )
    yield* Effect.addFinalizer(() => Effect.ignore(Effect.promise(() => provider.shutdown())))
    return {
      text: Effect.promise(() => exporter.collect()).pipe(
        Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics))
      )
    }
  })

/**
 * {@link Exposition} with the process metrics.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerExposition: Layer.Layer<Exposition> = Layer.scoped(Exposition, makeExposition())

/**
 * The exposition of the context, else a one-off one (Effect metrics only).
 *
 * @since 0.1.0
 * @category accessors
 */
export const text: Effect.Effect<string> = Effect.flatMap(
  Effect.serviceOption(Exposition),
  (found) =>
    found._tag === "Some"
      ? found.value.text
      : Effect.scoped(Effect.flatMap(makeExposition({ process: false }), (exposition) => exposition.text))
)
