/**
 * How many sockets the gateway serves at once: WebSocket connections (from the accepted upgrade until the socket is
 * gone) and HTTP requests to `/v1/responses` (while their response runs), in total and per tenant. The transport
 * bounds each connection's outbound buffer (1 MiB), so the cap bounds every outbound buffer together, and the heap a
 * crowd of idle connections can hold. Past a cap an upgrade, and an HTTP request the same, is answered 503
 * `connection_limit_reached` with `Retry-After: 1` and nothing else is held for it.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import type { Tenant } from "./Auth.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  /** Sockets (WebSocket connections and running HTTP requests) of the whole gateway. */
  readonly total: number
  /** The same per tenant. */
  readonly perTenant: number
}

/**
 * Which cap refused a socket.
 *
 * @since 0.1.0
 * @category models
 */
export type Cap = "total" | "tenant"

/**
 * `loopwire_connection_slots` (sockets held against the caps: WebSocket connections and running HTTP requests) and
 * `loopwire_connections_refused` (exposed as `_total`; refused with `connection_limit_reached`, tagged
 * `limit=total|tenant`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  held: Metric.gauge("loopwire_connection_slots", {
    description: "Sockets held against the connection caps: WebSocket connections and running HTTP requests."
  }),
  refused: Metric.counter("loopwire_connections_refused", {
    description: "Upgrades and HTTP requests refused with connection_limit_reached (503), by limit (total, tenant).",
    incremental: true
  })
} as const

/**
 * One gateway's sockets. Plain, synchronous bookkeeping: one `acquire` per accepted upgrade or HTTP request, one
 * `release` when it ends (the returned function, which releases once however often it is called).
 *
 * @since 0.1.0
 * @category models
 */
export class ConnectionLimit {
  total = 0
  readonly byTenant = new Map<Tenant, number>()
  constructor(readonly limits: Limits) {}

  /** A slot for a socket of `tenant` (its release), or the cap it would exceed (nothing is held then). */
  acquire(tenant: Tenant): (() => void) | Cap {
    const held = this.byTenant.get(tenant) ?? 0
    if (this.total >= this.limits.total) return "total"
    if (held >= this.limits.perTenant) return "tenant"
    this.total++
    this.byTenant.set(tenant, held + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      this.total--
      const left = (this.byTenant.get(tenant) ?? 0) - 1
      if (left <= 0) this.byTenant.delete(tenant)
      else this.byTenant.set(tenant, left)
    }
  }
}

/**
 * The JSON body of a refusal (503, with `Retry-After: 1`): `error.code` `connection_limit_reached`, type
 * `server_error`, naming the cap.
 *
 * @since 0.1.0
 * @category encoding
 */
export const refusedBody = (cap: Cap, limit: number): string =>
  JSON.stringify({
    error: {
      type: "server_error",
      code: "connection_limit_reached",
      message: cap === "tenant"
        ? `This tenant already has ${limit} connections and requests open on this gateway; close one or retry later.`
        : `This gateway already serves ${limit} connections and requests; retry later (or connect to another instance).`,
      param: null
    }
  })

/**
 * The headers of a refusal.
 *
 * @since 0.1.0
 * @category encoding
 */
export const refusedHeaders: Readonly<Record<string, string>> = {
  "content-type": "application/json",
  "retry-after": "1"
}

/**
 * The status of a refusal.
 *
 * @since 0.1.0
 * @category constants
 */
export const refusedStatus = 503

const byConfig = new WeakMap<object, ConnectionLimit>()

/**
 * The caps of the gateway whose configuration is `config` (one per configuration object, shared by its WebSocket
 * upgrades and HTTP requests): `maxConnections`, `maxTenantConnections`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forConfig = (config: {
  readonly maxConnections: number
  readonly maxTenantConnections: number
}): ConnectionLimit => {
  let limit = byConfig.get(config)
  if (limit === undefined) {
    limit = new ConnectionLimit({ total: config.maxConnections, perTenant: config.maxTenantConnections })
    byConfig.set(config, limit)
  }
  return limit
}
