/**
 * The standard proxy variables for both upstream transports: `HTTPS_PROXY` for `https`/`wss` upstreams,
 * `HTTP_PROXY` for `http`/`ws` ones (lower-case names too), hosts in `NO_PROXY` reached directly. WebSocket mode
 * tunnels through the proxy with `CONNECT` (`https-proxy-agent`, chosen by `proxy-from-env`); HTTP goes through
 * undici's `EnvHttpProxyAgent`. Both read the process environment.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { HttpsProxyAgent } from "https-proxy-agent"
import type * as Http from "node:http"
import type * as NodeTls from "node:tls"
import { getProxyForUrl } from "proxy-from-env"
import { Agent, EnvHttpProxyAgent } from "undici"

/**
 * The proxy URL for an upstream URL (`ws`/`wss` are looked up as `http`/`https`), if the environment names one
 * and `NO_PROXY` does not exempt the host.
 *
 * @since 0.1.0
 * @category proxy
 */
export const proxyFor = (url: string): string | undefined => {
  const proxy = getProxyForUrl(url.replace(/^ws(s?):/, "http$1:"))
  return proxy === "" ? undefined : proxy
}

/**
 * The agent a WebSocket to `url` connects through: a `CONNECT` tunnel when a proxy applies, else none.
 *
 * @since 0.1.0
 * @category proxy
 */
export const webSocketAgent = (url: string): Http.Agent | undefined => {
  const proxy = proxyFor(url)
  return proxy === undefined ? undefined : new HttpsProxyAgent(proxy)
}

/**
 * undici's dispatcher for the HTTP transport, closed with the layer: `EnvHttpProxyAgent` (it follows
 * `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`), or a plain `Agent` with `proxy: false`; `tls` for `https` targets.
 *
 * @since 0.1.0
 * @category layers
 */
export const dispatcherLayer = (
  options: { readonly proxy?: boolean | undefined; readonly tls?: NodeTls.ConnectionOptions | undefined } = {}
): Layer.Layer<NodeHttpClient.Dispatcher> =>
  Layer.scoped(
    NodeHttpClient.Dispatcher,
    Effect.acquireRelease(
      Effect.sync(() => {
        // undici's option types are exact; the TLS options are passed through as they are.
        const tls = options.tls as Agent.Options["connect"] & EnvHttpProxyAgent.Options["requestTls"]
        const connect = tls === undefined ? {} : { connect: tls, requestTls: tls }
        return options.proxy === false ? new Agent(connect) : new EnvHttpProxyAgent(connect)
      }),
      (dispatcher) => Effect.promise(() => dispatcher.destroy())
    )
  )
