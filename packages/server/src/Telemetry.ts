/**
 * Traces of the gateway over OTLP/HTTP, configured the OpenTelemetry way: on when `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and `OTEL_TRACES_EXPORTER` is not `none`, off otherwise. The
 * resource honours `OTEL_SERVICE_NAME` (default `loopwire-gateway`) and `OTEL_RESOURCE_ATTRIBUTES`; the exporter
 * (`@opentelemetry/exporter-trace-otlp-http`, JSON over HTTP) reads its own `OTEL_EXPORTER_OTLP_*` settings
 * (headers, timeout) and the batch processor its `OTEL_BSP_*` ones. Effect's spans (`Effect.withSpan`,
 * `Effect.fn`) become OpenTelemetry spans through `@effect/opentelemetry`.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * Where traces go, when they go anywhere.
 *
 * @since 0.1.0
 * @category models
 */
export interface TracingSettings {
  /** The OTLP endpoint (base, or the traces endpoint itself). */
  readonly endpoint: string
  readonly serviceName: string
}

/**
 * The default `service.name`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultServiceName = "loopwire-gateway"

const nonEmpty = (name: string) =>
  Config.option(Config.string(name)).pipe(Config.map(Option.filter((value) => value.trim() !== "")))

/**
 * The tracing settings from the standard environment variables; none when traces are off.
 *
 * @since 0.1.0
 * @category config
 */
export const tracingConfig: Config.Config<Option.Option<TracingSettings>> = Config.all({
  endpoint: Config.zipWith(
    nonEmpty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
    nonEmpty("OTEL_EXPORTER_OTLP_ENDPOINT"),
    (traces, base) => Option.orElse(traces, () => base)
  ),
  exporter: nonEmpty("OTEL_TRACES_EXPORTER"),
  serviceName: nonEmpty("OTEL_SERVICE_NAME"),
  attributes: nonEmpty("OTEL_RESOURCE_ATTRIBUTES")
}).pipe(Config.map(({ attributes, endpoint, exporter, serviceName }) =>
  Option.isSome(exporter) && exporter.value.trim() === "none"
    ? Option.none()
    : Option.map(endpoint, (url): TracingSettings => ({
      endpoint: url,
      serviceName: Option.getOrElse(
        Option.orElse(serviceName, () => serviceNameIn(Option.getOrElse(attributes, () => ""))),
        () => defaultServiceName
      )
    }))
))

// `service.name` given in OTEL_RESOURCE_ATTRIBUTES (k=v,k=v).
const serviceNameIn = (attributes: string): Option.Option<string> =>
  Option.fromNullable(
    attributes.split(",").map((pair) => pair.split("=")).find(([key]) => key?.trim() === "service.name")?.[1]?.trim()
  )

/**
 * The OpenTelemetry tracer for `settings`: a batch span processor and the OTLP/HTTP exporter; flushed when the
 * layer is released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTracing = (settings: TracingSettings): Layer.Layer<never> =>
  // The OpenTelemetry SDK is loaded only when traces are on (it adds about a second to a cold start).
  Layer.unwrapEffect(Effect.promise(async () => {
    const [NodeSdk, { OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
      import("@effect/opentelemetry/NodeSdk"),
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/sdk-trace-base")
    ])
    return Layer.discard(NodeSdk.layer(() => ({
      // The exporter reads OTEL_EXPORTER_OTLP_* itself; the resource comes from OTEL_SERVICE_NAME and
      // OTEL_RESOURCE_ATTRIBUTES (NodeSdk), with our default name when neither names the service.
      spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter()),
      resource: { serviceName: settings.serviceName }
    })))
  }))

/**
 * Tracing as the environment says: {@link layerTracing} when an OTLP endpoint is set, nothing otherwise.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromEnv: Layer.Layer<never, never> = Layer.unwrapEffect(
  Effect.map(
    Effect.orElseSucceed(tracingConfig, () => Option.none()),
    Option.match({ onNone: () => Layer.empty, onSome: layerTracing })
  )
)
