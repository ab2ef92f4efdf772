/**
 * The WebSocket-mode upstream's recovery rungs and prefix matching, end to end over real loopback sockets: a
 * scripted gateway A, a counting proxy on the B→A hop, and a gateway B whose backend is `Upstream` in front of it.
 * Downstream turns are stateless POSTs (the prefix-matching path) or raw WebSocket frames.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Gateway from "@loopwire/server/Gateway"
import type * as GatewayConfig from "@loopwire/server/GatewayConfig"
import type { ModelBackend } from "@loopwire/server/ModelBackend"
import * as Scenario from "@loopwire/server/Scenario"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import * as StateCache from "@loopwire/server/StateCache"
import * as Upstream from "@loopwire/upstream/Upstream"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Http from "node:http"
import * as Net from "node:net"
import { openSocket } from "./helpers/gateways.js"
import { chainScenario, countingProxy, type Json, outputText, postTurn, userText } from "./helpers/upstream.js"

const serve = (options: Gateway.LocalOptions) =>
  Effect.flatMap(Layer.build(Gateway.layerLocal({ ...options, config: { port: 0, ...options.config } })), (context) =>
    Effect.provide(Gateway.baseUrl, context))

// A: a scripted gateway (its generation count readable), behind a counting proxy.
const startA = (
  scenario: unknown,
  options: { readonly config?: Partial<GatewayConfig.GatewayConfigShape>; readonly cache?: StateCache.Options } = {}
) =>
  Effect.gen(function*() {
    const scripted = yield* Layer.build(ScriptedBackend.layer({ scenario: Either.getOrThrow(Scenario.decodeUnknown(scenario)) }))
    const url = yield* serve({
      backend: Layer.succeedContext(scripted) as Layer.Layer<ModelBackend>,
      auth: { _tag: "StaticKeys", keys: [["sk-a", "b"]] },
      ...(options.config !== undefined ? { config: options.config } : {}),
      ...(options.cache !== undefined ? { cache: options.cache } : {})
    })
    const proxy = yield* countingProxy(Number(new URL(url).port))
    const generations = scripted.unsafeMap.get(ScriptedBackend.ScriptedBackend.key) as ScriptedBackend.ScriptedBackend["Type"]
    return { url, proxy, generations: generations.generations }
  })

const startB = (
  baseUrl: string,
  options: Partial<Upstream.Options> = {},
  config?: Partial<GatewayConfig.GatewayConfigShape>
) =>
  Effect.map(
    serve({
      backend: Upstream.layer({ baseUrl, apiKey: "sk-a", ...options }),
      auth: { _tag: "StaticKeys", keys: [["sk-x", "tenant-x"], ["sk-y", "tenant-y"]] },
      ...(config !== undefined ? { config } : {})
    }),
    (url) => `${url}/v1`
  )

const counterValue = (name: string, tags: Record<string, string>) => {
  let metric = Metric.counter(name, { incremental: true })
  for (const [k, v] of Object.entries(tags)) metric = metric.pipe(Metric.tagged(k, v))
  return Effect.map(Metric.value(metric), (state) => state.count as number)
}
const requests = (transport: string, mode: string) =>
  counterValue("loopwire_upstream_requests", { transport, mode })
const lookups = (result: string) => counterValue("loopwire_upstream_prefix_lookups", { result })

const user = (k: number): Json => ({ type: "message", role: "user", content: userText(k, 256) })

// A stateless chain: every POST carries the whole conversation; returns the conversation and the texts.
const chain = (baseURL: string, apiKey: string) => {
  const input: Array<Json> = []
  return (k: number) =>
    Effect.gen(function*() {
      input.push(user(k))
      const response = yield* postTurn({ baseURL, apiKey }, input)
      input.push(...(response["output"] as ReadonlyArray<Json>))
      return outputText(response)
    })
}

// In front of A: answers every upgrade with `status`, passes plain HTTP requests through.
const refusingFront = (targetPort: number, status: number) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((request, response) => {
        const upstream = Http.request(
          { host: "127.0.0.1", port: targetPort, method: request.method, path: request.url, headers: request.headers },
          (answer) => {
            response.writeHead(answer.statusCode ?? 502, answer.headers)
            answer.pipe(response)
          }
        )
        upstream.on("error", () => response.destroy())
        request.pipe(upstream)
      })
      server.on("upgrade", (_request, socket: Net.Socket) => {
        socket.end(`HTTP/1.1 ${status} Refused\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}/v1`))

// A forward proxy on loopback: `CONNECT host:port` tunnels (and absolute-URI requests), counted.
const forwardProxy = Effect.acquireRelease(
  Effect.async<{ readonly server: Http.Server; readonly tunnels: Array<string> }>((resume) => {
    const tunnels: Array<string> = []
    const server = Http.createServer((request, response) => {
      tunnels.push(`GET ${request.url}`)
      const url = new URL(request.url ?? "")
      const upstream = Http.request(
        { host: url.hostname, port: url.port, method: request.method, path: url.pathname, headers: request.headers },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(response)
        }
      )
      upstream.on("error", () => response.destroy())
      request.pipe(upstream)
    })
    server.on("connect", (request, client: Net.Socket, head) => {
      tunnels.push(`CONNECT ${request.url}`)
      const [host, port] = (request.url ?? "").split(":")
      const target = Net.connect(Number(port), host!, () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
        target.write(head)
        target.pipe(client)
        client.pipe(target)
      })
      target.on("error", () => client.destroy())
      client.on("error", () => target.destroy())
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, tunnels })))
  }),
  ({ server }) => Effect.async<void>((resume) => {
    server.closeAllConnections()
    server.close(() => resume(Effect.void))
  })
).pipe(Effect.map(({ server, tunnels }) => ({
  url: `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`,
  tunnels
})))

// Sets proxy variables for the scope (both spellings: proxy-from-env reads the lower-case one first).
const withEnv = (vars: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const saved = new Map<string, string | undefined>()
      for (const [k, v] of Object.entries(vars)) {
        for (const key of [k.toUpperCase(), k.toLowerCase()]) {
          saved.set(key, process.env[key])
          process.env[key] = v
        }
      }
      return saved
    }),
    (saved) => Effect.sync(() => {
      for (const [key, value] of saved) {
        if (value === undefined) delete process.env[key]
        else process.env[key] = value
      }
    })
  )

// Starts a response on B over a raw socket, cuts the B→A hop once output has reached the client, returns the
// terminal event the client gets.
const cutAfterFirstDelta = (proxy: { readonly cutAll: () => void }, b: string) =>
  Effect.gen(function*() {
    const socket = yield* openSocket(`${b.replace(/^http/, "ws")}/responses`, { authorization: "Bearer sk-x" })
    yield* socket.send({ type: "response.create", model: "m", store: false, input: "hi" })
    for (;;) {
      const event = yield* socket.next()
      if (event.type === "response.output_text.delta") break
    }
    proxy.cutAll()
    const events = yield* socket.untilTerminal()
    return events[events.length - 1]!
  })

const answer = (k: number) => chainScenario(4).turns[k - 1]!.output[0]!.text

describe("Upstream recovery rungs (real sockets)", () => {
  it.live("previous_response_not_found upstream: one full resend, the chain goes on, nothing generated twice", () =>
    Effect.scoped(Effect.gen(function*() {
      // A keeps one response per connection: two chains on one upstream socket evict each other's.
      const a = yield* startA(chainScenario(4), { cache: { policy: StateCache.lru(1) } })
      const b = yield* startB(a.proxy.baseUrl, { transport: "websocket", poolSize: 1 })
      const x = chain(b, "sk-x"), y = chain(b, "sk-y")
      const full0 = yield* requests("websocket", "full"), delta0 = yield* requests("websocket", "delta")
      assert.strictEqual(yield* x(1), answer(1))
      assert.strictEqual(yield* y(1), answer(1))
      assert.strictEqual(yield* x(2), answer(2))
      // x's delta was refused (its parent evicted by y's turn), then resent in full once.
      assert.strictEqual((yield* requests("websocket", "delta")) - delta0, 1)
      assert.strictEqual((yield* requests("websocket", "full")) - full0, 3)
      assert.strictEqual(yield* a.generations, 3)
      // And x continues as a delta again.
      assert.strictEqual(yield* x(3), answer(3))
      assert.strictEqual((yield* requests("websocket", "delta")) - delta0, 2)
    })))

  it.live("socket age: rotated between turns (a fresh socket, the next turn in full)", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* startA(chainScenario(4))
      const b = yield* startB(a.proxy.baseUrl, { transport: "websocket", poolSize: 1, maxAge: "1 second" })
      const x = chain(b, "sk-x")
      const full0 = yield* requests("websocket", "full")
      assert.strictEqual(yield* x(1), answer(1))
      assert.strictEqual(a.proxy.connections(), 1)
      yield* Effect.sleep("1200 millis")
      assert.strictEqual(yield* x(2), answer(2))
      assert.strictEqual(a.proxy.connections(), 2)
      assert.strictEqual((yield* requests("websocket", "full")) - full0, 2)
      assert.strictEqual(yield* a.generations, 2)
    })))

  it.live("refused upgrade (426): HTTP upstream, remembered; `websocket` alone fails the turn with the status", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* startA(chainScenario(4), { config: { rejectWebSocket: true } })
      const b = yield* startB(a.proxy.baseUrl, { transport: "auto" })
      const x = chain(b, "sk-x")
      const refusals0 = yield* counterValue("loopwire_upstream_upgrade_refusals", {})
      const http0 = yield* requests("http", "full")
      assert.strictEqual(yield* x(1), answer(1))
      assert.strictEqual(yield* x(2), answer(2))
      assert.strictEqual(yield* x(3), answer(3))
      assert.strictEqual((yield* counterValue("loopwire_upstream_upgrade_refusals", {})) - refusals0, 1)
      assert.strictEqual((yield* requests("http", "full")) - http0, 3)

      const strict = yield* startB(a.proxy.baseUrl, { transport: "websocket" })
      const failed = yield* Effect.either(postTurn({ baseURL: strict, apiKey: "sk-x" }, [user(1)]))
      assert.isTrue(Either.isLeft(failed))
      assert.match(Either.isLeft(failed) ? failed.left.message : "", /426/)
    })))

  for (const status of [404, 405]) {
    it.live(`refused upgrade (${status}): HTTP upstream at once, remembered`, () =>
      Effect.scoped(Effect.gen(function*() {
        const a = yield* startA(chainScenario(4))
        const front = yield* refusingFront(a.proxy.port, status)
        const b = yield* startB(front, { transport: "auto" })
        const x = chain(b, "sk-x")
        const refusals0 = yield* counterValue("loopwire_upstream_upgrade_refusals", {})
        assert.strictEqual(yield* x(1), answer(1))
        assert.strictEqual(yield* x(2), answer(2))
        assert.strictEqual((yield* counterValue("loopwire_upstream_upgrade_refusals", {})) - refusals0, 1)
        assert.strictEqual(yield* a.generations, 2)
      })))
  }

  it.live("long silence upstream: the socket is kept alive with pings, the response arrives, nothing re-issued", () =>
    Effect.scoped(Effect.gen(function*() {
      const quiet = { turns: [{ output: [{ type: "message", text: "after a long think" }], latency: { time_to_first_token_ms: 1500 } }] }
      const a = yield* startA(quiet)
      // Pings every 100 ms, 300 ms to answer, and an idle timeout shorter than the silence: answered pings are life,
      // so a silent model on a live socket is waited for (not re-issued, not failed).
      const b = yield* startB(a.proxy.baseUrl, {
        transport: "websocket",
        heartbeat: { interval: "100 millis", timeout: "300 millis" },
        idleTimeout: "600 millis"
      })
      const socket = yield* openSocket(`${b.replace(/^http/, "ws")}/responses`, { authorization: "Bearer sk-x" })
      yield* socket.send({ type: "response.create", model: "m", store: false, input: "think" })
      for (;;) {
        const event = yield* socket.next()
        if (event.type === "response.in_progress") break
      }
      const before = a.proxy.bytesUp()
      const events = yield* socket.untilTerminal()
      const last = events[events.length - 1]!
      assert.strictEqual(last.type, "response.completed", JSON.stringify(last))
      assert.strictEqual(outputText(last.response), "after a long think")
      // Only pings went up during the silence (the request was sent before `response.in_progress`).
      assert.isAbove(a.proxy.bytesUp() - before, 0)
      assert.strictEqual(a.proxy.connections(), 1)
      assert.strictEqual(yield* a.generations, 1)
    })))

  it.live("socket lost mid-response, no resume upstream: a documented failure downstream, never regenerated", () =>
    Effect.scoped(Effect.gen(function*() {
      const slow = { turns: [{ output: [{ type: "message", text: "s".repeat(2000) }], latency: { delta_delay_ms: 20 } }] }
      const a = yield* startA(slow, { config: { resume: false } })
      const b = yield* startB(a.proxy.baseUrl, { transport: "websocket", backoff: { initialMillis: 50 } })
      const last = yield* cutAfterFirstDelta(a.proxy, b)
      assert.strictEqual(last.type, "response.failed", JSON.stringify(last))
      assert.strictEqual(last.response.error.code, Upstream.connectionLostCode)
      // Nothing was re-issued upstream: the next turn is the second generation.
      const again = yield* postTurn({ baseURL: b, apiKey: "sk-x" }, [user(1)])
      assert.strictEqual(again["status"], "completed")
      assert.strictEqual(yield* a.generations, 2)
    })))

  it.live("socket lost mid-response, upstream offers resume: the upstream response is resumed, not regenerated", () =>
    Effect.scoped(Effect.gen(function*() {
      const text = "r".repeat(2000)
      const a = yield* startA({ turns: [{ output: [{ type: "message", text }], latency: { delta_delay_ms: 20 } }] })
      const b = yield* startB(a.proxy.baseUrl, { transport: "websocket" })
      const last = yield* cutAfterFirstDelta(a.proxy, b)
      assert.strictEqual(last.type, "response.completed", JSON.stringify(last))
      assert.strictEqual(outputText(last.response), text)
      assert.strictEqual(yield* a.generations, 1)
      assert.isAtLeast(a.proxy.connections(), 2)
    })))
})

describe("Upstream pool (real sockets)", () => {
  it.live("a full pool: the least recently used idle chain gives its place up (its next turn in full)", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* startA(chainScenario(4))
      // One socket without lanes: one chain held at a time (as for xAI or Azure).
      const b = yield* startB(a.proxy.baseUrl, { transport: "websocket", poolSize: 1, lanes: false })
      // Two tenants: y's first turn cannot continue x's chain (it takes its place).
      const x = chain(b, "sk-x"), y = chain(b, "sk-y")
      const delta0 = yield* requests("websocket", "delta"), full0 = yield* requests("websocket", "full")
      assert.strictEqual(yield* x(1), answer(1))
      assert.strictEqual(yield* x(2), answer(2))
      assert.strictEqual(yield* y(1), answer(1))
      assert.strictEqual(yield* x(3), answer(3))
      assert.strictEqual(yield* x(4), answer(4))
      // x: full, delta, (evicted by y) full, delta; y: full.
      assert.strictEqual((yield* requests("websocket", "delta")) - delta0, 2)
      assert.strictEqual((yield* requests("websocket", "full")) - full0, 3)
      assert.strictEqual(a.proxy.connections(), 1)
    })))

  it.live("a downstream client gone mid-turn: its chain gives its place back", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* startA({ turns: [{ output: [{ type: "message", text: "late" }], latency: { time_to_first_token_ms: 500 } }] })
      // B keeps nothing of a dropped downstream connection: the drop interrupts the running turn.
      const b = yield* startB(a.proxy.baseUrl, { transport: "websocket", poolSize: 1, lanes: false }, { resume: false })
      const http0 = yield* requests("http", "full"), full0 = yield* requests("websocket", "full")
      yield* Effect.scoped(Effect.gen(function*() {
        const socket = yield* openSocket(`${b.replace(/^http/, "ws")}/responses`, { authorization: "Bearer sk-x" })
        yield* socket.send({ type: "response.create", model: "m", store: false, input: "bye" })
        for (;;) {
          const event = yield* socket.next()
          if (event.type === "response.in_progress") break
        }
        yield* socket.drop
      }))
      // The only place in the pool is free again: the next turn goes over WebSocket mode, not HTTP.
      const next = yield* postTurn({ baseURL: b, apiKey: "sk-x" }, [user(1)])
      assert.strictEqual(outputText(next), "late")
      assert.strictEqual((yield* requests("http", "full")) - http0, 0)
      assert.strictEqual((yield* requests("websocket", "full")) - full0, 2)
    })))

  it.live("every place busy: the turn goes over HTTP in full, nothing waits", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* startA({ turns: [{ output: [{ type: "message", text: "slow" }], latency: { time_to_first_token_ms: 300 } }] })
      const b = yield* startB(a.proxy.baseUrl, { transport: "websocket", poolSize: 1, lanes: false })
      const http0 = yield* requests("http", "full"), full0 = yield* requests("websocket", "full")
      const answers = yield* Effect.all(
        [1, 2].map((k) => postTurn({ baseURL: b, apiKey: "sk-x" }, [user(k)])),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(answers.map(outputText), ["slow", "slow"])
      assert.strictEqual((yield* requests("http", "full")) - http0, 1)
      assert.strictEqual((yield* requests("websocket", "full")) - full0, 1)
    })))
})

describe("Proxy (real sockets)", () => {
  for (const transport of ["websocket", "http"] as const) {
    it.live(`HTTP_PROXY carries the ${transport} transport; NO_PROXY bypasses it`, () =>
      Effect.scoped(Effect.gen(function*() {
        const a = yield* startA(chainScenario(4))
        const proxy = yield* forwardProxy
        const target = `127.0.0.1:${a.proxy.port}`
        yield* Effect.scoped(Effect.gen(function*() {
          yield* withEnv({ http_proxy: proxy.url, no_proxy: "" })
          const b = yield* startB(a.proxy.baseUrl, { transport })
          assert.strictEqual(yield* chain(b, "sk-x")(1), answer(1))
        }))
        assert.isAbove(proxy.tunnels.length, 0)
        assert.isTrue(proxy.tunnels.every((t) => t.includes(target)), JSON.stringify(proxy.tunnels))
        const tunnels = proxy.tunnels.length
        yield* Effect.scoped(Effect.gen(function*() {
          yield* withEnv({ http_proxy: proxy.url, no_proxy: "127.0.0.1" })
          const b = yield* startB(a.proxy.baseUrl, { transport })
          assert.strictEqual(yield* chain(b, "sk-x")(1), answer(1))
        }))
        assert.strictEqual(proxy.tunnels.length, tunnels)
      })))
  }
})

describe("Prefix matching (real sockets)", () => {
  it.live("tenant-scoped: another tenant's identical conversation is never continued; the same tenant's is", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* startA(chainScenario(4))
      const b = yield* startB(a.proxy.baseUrl, { transport: "websocket" })
      const first = yield* postTurn({ baseURL: b, apiKey: "sk-x" }, [user(1)])
      const replay = [user(1), ...(first["output"] as ReadonlyArray<Json>), user(2)]
      const hit0 = yield* lookups("hit"), miss0 = yield* lookups("miss")

      const other = yield* postTurn({ baseURL: b, apiKey: "sk-y" }, replay)
      assert.strictEqual(outputText(other), answer(2))
      assert.strictEqual((yield* lookups("hit")) - hit0, 0)
      assert.strictEqual((yield* lookups("miss")) - miss0, 1)

      const same = yield* postTurn({ baseURL: b, apiKey: "sk-x" }, replay)
      assert.strictEqual(outputText(same), answer(2))
      assert.strictEqual((yield* lookups("hit")) - hit0, 1)
    })))

  it.live("two forks of one response at once: one continues the held chain, the other goes in full, both right", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* startA({
        turns: [
          { output: [{ type: "message", text: "one" }] },
          { output: [{ type: "message", text: "two" }], latency: { time_to_first_token_ms: 300 } }
        ]
      })
      const b = yield* startB(a.proxy.baseUrl, { transport: "websocket" })
      const first = yield* postTurn({ baseURL: b, apiKey: "sk-x" }, [user(1)])
      const history = [user(1), ...(first["output"] as ReadonlyArray<Json>)]
      const delta0 = yield* requests("websocket", "delta"), full0 = yield* requests("websocket", "full")
      const hit0 = yield* lookups("hit"), miss0 = yield* lookups("miss")
      const forks = yield* Effect.all(
        [2, 3].map((k) => postTurn({ baseURL: b, apiKey: "sk-x" }, [...history, user(k)])),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(forks.map(outputText), ["two", "two"])
      assert.strictEqual((yield* requests("websocket", "delta")) - delta0, 1)
      assert.strictEqual((yield* requests("websocket", "full")) - full0, 1)
      // The running chain is claimed (out of the index): the second fork finds nothing.
      assert.strictEqual((yield* lookups("hit")) - hit0, 1)
      assert.strictEqual((yield* lookups("miss")) - miss0, 1)
      assert.strictEqual(yield* a.generations, 3)
    })))

  it.live("Codex's full resend after a reconnect (WebSocket, no previous_response_id) continues upstream as a delta", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* startA(chainScenario(4))
      const b = yield* startB(a.proxy.baseUrl, { transport: "websocket" })
      const url = `${b.replace(/^http/, "ws")}/responses`
      const turn = (input: ReadonlyArray<Json>) =>
        Effect.scoped(Effect.gen(function*() {
          const socket = yield* openSocket(url, { authorization: "Bearer sk-x" })
          yield* socket.send({ type: "response.create", model: "m", instructions: "codex", store: false, input })
          const events = yield* socket.untilTerminal()
          return events[events.length - 1]!
        }))
      const first = yield* turn([user(1)])
      assert.strictEqual(first.type, "response.completed")
      const hit0 = yield* lookups("hit"), delta0 = yield* requests("websocket", "delta")
      // A new socket (the old one is gone) and the whole conversation again.
      const second = yield* turn([user(1), ...first.response.output, user(2)])
      assert.strictEqual(second.type, "response.completed")
      assert.strictEqual(outputText(second.response), answer(2))
      assert.strictEqual((yield* lookups("hit")) - hit0, 1)
      assert.strictEqual((yield* requests("websocket", "delta")) - delta0, 1)
    })))

  it.live("a changed history: no match, a full upstream request", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* startA(chainScenario(4))
      const b = yield* startB(a.proxy.baseUrl, { transport: "websocket" })
      const first = yield* postTurn({ baseURL: b, apiKey: "sk-x" }, [user(1)])
      const output = first["output"] as ReadonlyArray<Json>
      const hit0 = yield* lookups("hit")
      const full0 = yield* requests("websocket", "full")
      // The model's answer edited by the client: not the upstream's context any more.
      const edited = [user(1), { ...output[0], content: [{ type: "output_text", text: "edited" }] }, user(2)]
      assert.strictEqual((yield* postTurn({ baseURL: b, apiKey: "sk-x" }, edited))["status"], "completed")
      assert.strictEqual((yield* lookups("hit")) - hit0, 0)
      assert.strictEqual((yield* requests("websocket", "full")) - full0, 1)
    })))
})
