/**
 * The bytes of the requests a gateway holds while they wait in a lane or run (a queued `response.create` keeps its
 * whole decoded input): bounded per connection, per tenant and in total, so no client can make the gateway hold
 * more than the budget by pipelining large creates. A create over a budget is refused with 429
 * `request_bytes_limit_reached` (the connection stays open; retry when responses have finished). A budget that
 * holds nothing always admits, so a single create up to `maxFrameBytes` always fits each budget.
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
  /** Bytes of waiting and running requests per connection. */
  readonly perConnection: number
  /** The same per tenant (all its connections). */
  readonly perTenant: number
  /** The same for the whole gateway. */
  readonly total: number
}

/**
 * `loopwire_held_request_bytes` (bytes of requests waiting or running, all connections) and
 * `loopwire_request_bytes_refused` (exposed as `_total`) (creates refused with `request_bytes_limit_reached`, tagged
 * `budget=connection|tenant|total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  held: Metric.gauge("loopwire_held_request_bytes", {
    description: "Bytes of requests waiting or running (frame text), all connections and HTTP requests."
  }),
  refused: Metric.counter("loopwire_request_bytes_refused", {
    description: "Creates refused with request_bytes_limit_reached, by budget (connection, tenant, total).",
    incremental: true
  })
} as const

/**
 * Which budget a refused create hit.
 *
 * @since 0.1.0
 * @category models
 */
export type Budget = "connection" | "tenant" | "total"

/**
 * One gateway's held request bytes. Plain, synchronous bookkeeping (one call per accepted create and one when it
 * ends); the metric is updated by the caller.
 *
 * @since 0.1.0
 * @category models
 */
export class RequestBudget {
  total = 0
  readonly byTenant = new Map<Tenant, number>()
  constructor(readonly limits: Limits) {}

  /**
   * Holds `bytes` for a request of `tenant` on a connection that holds `connectionHeld` already; the budget it
   * would exceed otherwise (nothing is held then). A budget that holds nothing yet always admits (so one create
   * up to `maxFrameBytes` always fits).
   */
  hold(tenant: Tenant, connectionHeld: number, bytes: number): Budget | undefined {
    const tenantHeld = this.byTenant.get(tenant) ?? 0
    if (connectionHeld > 0 && connectionHeld + bytes > this.limits.perConnection) return "connection"
    if (tenantHeld > 0 && tenantHeld + bytes > this.limits.perTenant) return "tenant"
    if (this.total > 0 && this.total + bytes > this.limits.total) return "total"
    this.total += bytes
    this.byTenant.set(tenant, tenantHeld + bytes)
    return undefined
  }

  /** Releases what `hold` took. */
  release(tenant: Tenant, bytes: number): void {
    this.total -= bytes
    const left = (this.byTenant.get(tenant) ?? 0) - bytes
    if (left <= 0) this.byTenant.delete(tenant)
    else this.byTenant.set(tenant, left)
  }
}

const byConfig = new WeakMap<object, RequestBudget>()

/**
 * The budget of the gateway whose configuration is `config` (one per configuration object, shared by its
 * WebSocket connections and HTTP requests): limits `maxHeldRequestBytes`, `maxTenantHeldRequestBytes`,
 * `maxTotalHeldRequestBytes`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forConfig = (config: {
  readonly maxHeldRequestBytes: number
  readonly maxTenantHeldRequestBytes: number
  readonly maxTotalHeldRequestBytes: number
}): RequestBudget => {
  let budget = byConfig.get(config)
  if (budget === undefined) {
    budget = new RequestBudget({
      perConnection: config.maxHeldRequestBytes,
      perTenant: config.maxTenantHeldRequestBytes,
      total: config.maxTotalHeldRequestBytes
    })
    byConfig.set(config, budget)
  }
  return budget
}
