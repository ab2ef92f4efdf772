/**
 * Browser-facing safety of the gateway: which `Origin`s and `Host`s may reach it (docs/server.md, "Browser-facing
 * safety"). Pure decisions, applied to every WebSocket upgrade and every HTTP request before anything else.
 *
 * - `Origin`: a request that carries one (only browsers send it) is refused unless it is in `allowedOrigins`
 *   (exact `scheme://host[:port]`, or `*`). By default no browser origin is allowed; requests without `Origin`
 *   (SDKs, curl, other servers) are unaffected.
 * - `Host`: against DNS rebinding (a page on `evil.example` whose name then resolves to 127.0.0.1), the `Host` must
 *   be an IP literal, `localhost` (or a `*.localhost` name), the listening host, or a name in `allowedHosts`
 *   (`*` allows any; `.example.com` allows its subdomains). Checked while authentication is allow-all (the
 *   rebinding page would otherwise get the gateway's upstream key for free), and always once `allowedHosts` is set.
 *
 * Both refusals are `403` with the Responses API error body, codes `origin_not_allowed` and `host_not_allowed`.
 *
 * @since 0.1.0
 */
import * as ProtocolError from "@loopwire/protocol/ProtocolError"
import type { ErrorEnvelope } from "@loopwire/protocol/ServerEvent"
import { isIP } from "node:net"

/**
 * What the guard needs to know.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  /** Browser origins allowed (exact `scheme://host[:port]`; `*` = any). Empty: none. */
  readonly allowedOrigins: ReadonlyArray<string>
  /** Host names allowed besides IP literals, `localhost` and the listening host (`*` = any). */
  readonly allowedHosts: ReadonlyArray<string>
  /** The listening host (`GatewayConfig.host`). */
  readonly listenHost: string
  /** Whether authentication lets anyone in (then the `Host` check always applies). */
  readonly openAuth: boolean
}

/**
 * The status of both refusals.
 *
 * @since 0.1.0
 * @category constants
 */
export const refusedStatus = 403

const normalizeOrigin = (origin: string): string => origin.trim().toLowerCase().replace(/\/+$/, "")

/**
 * The host name of a `Host` header value (port and IPv6 brackets removed, lower case, no trailing dot).
 *
 * @since 0.1.0
 * @category parsing
 */
export const hostName = (host: string): string => {
  const value = host.trim().toLowerCase()
  const name = value.startsWith("[")
    ? value.slice(1, value.indexOf("]") < 0 ? undefined : value.indexOf("]"))
    : value.replace(/:\d*$/, "")
  return name.replace(/\.$/, "")
}

/**
 * Whether a request with this `Origin` header (undefined when absent) may proceed.
 *
 * @since 0.1.0
 * @category decisions
 */
export const originAllowed = (policy: Pick<Policy, "allowedOrigins">, origin: string | undefined): boolean => {
  if (origin === undefined) return true
  const normalized = normalizeOrigin(origin)
  return policy.allowedOrigins.some((allowed) => allowed === "*" || normalizeOrigin(allowed) === normalized)
}

/**
 * Whether a request with this `Host` header (undefined when absent: not a browser) may proceed.
 *
 * @since 0.1.0
 * @category decisions
 */
export const hostAllowed = (policy: Omit<Policy, "allowedOrigins">, host: string | undefined): boolean => {
  if (host === undefined || (!policy.openAuth && policy.allowedHosts.length === 0)) return true
  const name = hostName(host)
  if (isIP(name) !== 0 || name === "localhost" || name.endsWith(".localhost")) return true
  if (name === hostName(policy.listenHost)) return true
  return policy.allowedHosts.some((entry) => {
    const allowed = entry.trim().toLowerCase()
    if (allowed === "*") return true
    if (allowed.startsWith(".")) return name.endsWith(allowed) || name === allowed.slice(1)
    return hostName(allowed) === name
  })
}

const refusal = (code: string, what: string, flag: string): ErrorEnvelope =>
  ProtocolError.errorFrame({
    status: refusedStatus,
    type: "invalid_request_error",
    code,
    message: `${what} (start the gateway with ${flag} to allow it).`,
    param: null
  })

/**
 * The refusal for a request with these headers, or undefined when it may proceed.
 *
 * @since 0.1.0
 * @category decisions
 */
export const check = (
  policy: Policy,
  headers: { readonly origin?: string | undefined; readonly host?: string | undefined }
): ErrorEnvelope | undefined => {
  if (!originAllowed(policy, headers.origin)) {
    return refusal("origin_not_allowed", `Origin '${headers.origin}' is not allowed`, "--allowed-origins")
  }
  if (!hostAllowed(policy, headers.host)) {
    return refusal("host_not_allowed", `Host '${headers.host}' is not allowed`, "--allowed-hosts")
  }
  return undefined
}

/**
 * Parses a comma-separated list (flags and environment variables), dropping empty entries.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseList = (text: string): ReadonlyArray<string> =>
  text.split(",").map((entry) => entry.trim()).filter((entry) => entry.length > 0)
