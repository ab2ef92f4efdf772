/**
 * The done-when test of the WebSocket-mode upstream: two gateways on loopback, B (`--backend upstream`) in front
 * of A (scripted), a byte-counting proxy on the B→A hop. The same 20-turn chain is driven on B by the `openai` SDK
 * over WebSocket mode and by a stateless client POSTing the whole conversation each turn, once with
 * `--upstream-transport websocket` and once with `http`: WebSocket mode puts at most 0.3× the bytes on the hop
 * (4 KB new per turn, 2 KB of settings: about 0.14× in theory), and the transcripts are identical.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawnGateway, tempJson } from "./helpers/gateways.js"
import * as Prometheus from "./helpers/prometheus.js"
import { chainScenario, countingProxy, sdkChain, statelessChain } from "./helpers/upstream.js"

const turns = 20

describe("WebSocket-mode upstream, two gateways in a row", () => {
  it.live("20-turn chains, SDK over WebSocket mode and a stateless client: ≤ 0.3× the B→A bytes, same transcripts", () =>
    Effect.scoped(Effect.gen(function*() {
      const script = yield* tempJson("chain.json", chainScenario(turns))
      const a = yield* spawnGateway({ name: "A", args: ["--port", "0", "--script", script, "--api-keys", "sk-a:b"] })
      const toA = { websocket: yield* countingProxy(a.port), http: yield* countingProxy(a.port) }
      const [bWs, bHttp] = yield* Effect.all(
        (["websocket", "http"] as const).map((transport) =>
          spawnGateway({
            name: `B-${transport}`,
            args: [
              "--port", "0", "--backend", "upstream", "--upstream-url", toA[transport].baseUrl,
              "--upstream-key", "sk-a", "--upstream-transport", transport,
              "--api-keys", "sk-sdk:sdk-tenant,sk-post:post-tenant"
            ]
          })
        ),
        { concurrency: "unbounded" }
      )
      const measure = <A>(proxy: { readonly bytesUp: () => number }, run: Effect.Effect<A, Error>) =>
        Effect.gen(function*() {
          const before = proxy.bytesUp()
          const result = yield* run
          return { result, bytes: proxy.bytesUp() - before }
        })
      const sdk = (url: string) => Effect.scoped(sdkChain({ baseURL: `${url}/v1`, apiKey: "sk-sdk", turns }))
      const stateless = (url: string) => statelessChain({ baseURL: `${url}/v1`, apiKey: "sk-post", turns })

      const sdkWs = yield* measure(toA.websocket, sdk(bWs!.url))
      const sdkHttp = yield* measure(toA.http, sdk(bHttp!.url))
      const postWs = yield* measure(toA.websocket, stateless(bWs!.url))
      const postHttp = yield* measure(toA.http, stateless(bHttp!.url))

      const expected = chainScenario(turns).turns.map((t) => t.output[0]!.text)
      assert.deepStrictEqual(sdkWs.result, expected)
      assert.deepStrictEqual(sdkHttp.result, expected)
      assert.deepStrictEqual(postWs.result, expected)
      assert.deepStrictEqual(postHttp.result, expected)

      const sdkRatio = sdkWs.bytes / sdkHttp.bytes
      const postRatio = postWs.bytes / postHttp.bytes
      console.log(
        `B→A bytes over ${turns} turns: SDK ws ${sdkWs.bytes} / http ${sdkHttp.bytes} = ${sdkRatio.toFixed(3)}; ` +
          `stateless ws ${postWs.bytes} / http ${postHttp.bytes} = ${postRatio.toFixed(3)}`
      )
      assert.isBelow(sdkRatio, 0.3)
      assert.isBelow(postRatio, 0.3)
      // Every turn after the first went upstream as a delta, for both clients.
      const metrics = yield* bWs!.metrics
      assert.strictEqual(Prometheus.counter(metrics, "loopwire_upstream_requests", { transport: "websocket", mode: "delta" }), 2 * (turns - 1))
      assert.strictEqual(Prometheus.counter(metrics, "loopwire_upstream_requests", { transport: "websocket", mode: "full" }), 2)
      // The stateless client's turns 2..20 were matched by prefix (the SDK's continued by previous_response_id).
      assert.strictEqual(Prometheus.counter(metrics, "loopwire_upstream_prefix_lookups", { result: "hit" }), turns - 1)
    })), 180_000)
})
