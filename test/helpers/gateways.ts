/**
 * Gateway PROCESSES for the scale-out tests: `loopwire serve --port 0 --redis URL ...` children started through
 * the command (from its sources through tsx; test/consumer runs the installed bin), their printed address, `/metrics`, SIGKILL; a
 * round-robin TCP load balancer without stickiness in front of them; a raw WebSocket client that reads the 101
 * headers. Everything is bounded in time and released with its scope; a child that outlives its scope (a crashed
 * worker) is killed when the test process exits.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as WS from "ws"
import { binArgs } from "../../packages/cli/test/helpers/bin.js"
import * as Prometheus from "./prometheus.js"


// Children of this test process, killed on exit whatever happened to their scopes.
const children = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL")
})

/** A running `loopwire serve` process. */
export interface GatewayProcess {
  readonly name: string
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** `ws://127.0.0.1:<port>/v1/responses` */
  readonly wsUrl: string
  readonly port: number
  readonly pid: number
  /** Everything it printed so far (stdout and stderr). */
  readonly output: () => string
  /** SIGKILL, then waits for the exit. */
  readonly kill9: Effect.Effect<void>
  /** Sends `signal` (default SIGTERM) and waits for the exit; yields the exit code (null when killed by a signal). */
  readonly stop: (signal?: NodeJS.Signals) => Effect.Effect<number | null>
  readonly alive: () => boolean
  /** Its metric families (`GET /metrics`, read with `Prometheus.read`), by name. */
  readonly metrics: Effect.Effect<ReadonlyMap<string, Prometheus.Family>, Error>
}

export interface SpawnOptions {
  readonly name: string
  readonly args: ReadonlyArray<string>
  /** The CLI's own options, before `serve` (e.g. `--log-level=debug`). */
  readonly globalArgs?: ReadonlyArray<string> | undefined
  readonly env?: Record<string, string> | undefined
  /** How long to wait for the address line. Default 45 s (tsx compiles the sources at startup). */
  readonly startTimeoutMs?: number | undefined
}

const waitExit = (child: ChildProcess, signal: NodeJS.Signals, graceMs: number) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill(signal)
    if (signal !== "SIGKILL") setTimeout(() => child.kill("SIGKILL"), graceMs).unref()
  })

/** Starts `loopwire serve <args>` and waits for its address; SIGTERM (then SIGKILL after 2 s) with the scope. */
export const spawnGateway = (options: SpawnOptions): Effect.Effect<GatewayProcess, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcess; readonly url: string; readonly output: () => string }, Error>(
      (resume) => {
        const child = spawn(process.execPath, [...binArgs, ...(options.globalArgs ?? []), "serve", ...options.args], {
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, ...options.env }
        })
        children.add(child)
        child.once("exit", () => children.delete(child))
        let output = ""
        let done = false
        const finish = (effect: Effect.Effect<{ child: ChildProcess; url: string; output: () => string }, Error>) => {
          if (done) return
          done = true
          clearTimeout(timer)
          resume(effect)
        }
        const timer = setTimeout(() => {
          child.kill("SIGKILL")
          finish(Effect.fail(new Error(`${options.name}: no address within ${options.startTimeoutMs ?? 45_000} ms:\n${output}`)))
        }, options.startTimeoutMs ?? 45_000)
        const onData = (chunk: Buffer) => {
          output += chunk.toString("utf8")
          const match = /listening on (http:\/\/\S+)/.exec(output)
          if (match) finish(Effect.succeed({ child, url: match[1]!, output: () => output }))
        }
        child.stdout!.on("data", onData)
        child.stderr!.on("data", onData)
        child.once("error", (error) => finish(Effect.fail(new Error(`${options.name}: ${error.message}`))))
        child.once("exit", (code, signal) =>
          finish(Effect.fail(new Error(`${options.name} exited (${code ?? signal}) before listening:\n${output}`))))
        // Interrupted while starting (e.g. a sibling failed): kill it.
        return Effect.sync(() => {
          done = true
          clearTimeout(timer)
          child.kill("SIGKILL")
        })
      }
    ),
    ({ child }) => Effect.promise(() => waitExit(child, "SIGTERM", 2_000))
  ).pipe(Effect.map(({ child, output, url }): GatewayProcess => {
    const port = Number(new URL(url).port)
    return {
      name: options.name,
      url,
      wsUrl: `${url.replace(/^http/, "ws")}/v1/responses`,
      port,
      pid: child.pid!,
      output,
      kill9: Effect.promise(() => waitExit(child, "SIGKILL", 0)),
      stop: (signal = "SIGTERM") =>
        Effect.async<number | null>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(child.exitCode))
          child.once("exit", (code) => resume(Effect.succeed(code)))
          child.kill(signal)
        }),
      alive: () => child.exitCode === null && child.signalCode === null,
      metrics: Effect.tryPromise({
        try: async () => {
          const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })
          if (response.status !== 200) throw new Error(`${options.name}: /metrics answered ${response.status}`)
          return Prometheus.read(await response.text())
        },
        catch: (e) => (e instanceof Error ? e : new Error(String(e)))
      })
    }
  }))

/** Starts several gateways in parallel (all or none: a failure stops the others with the scope). */
export const spawnGateways = (
  count: number,
  options: (index: number) => SpawnOptions
): Effect.Effect<ReadonlyArray<GatewayProcess>, Error, Scope.Scope> =>
  Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) => spawnGateway(options(i)), { concurrency: "unbounded" })

/** Model generations counted by a gateway's scripted backend. */
export const generations = (gateway: GatewayProcess): Effect.Effect<number, Error> =>
  Effect.map(gateway.metrics, (m) => Prometheus.counter(m, "loopwire_model_generations", { backend: "scripted" }))

/** Redis store reads (`get`s: only on a connection-cache miss) of a gateway. */
export const storeReads = (gateway: GatewayProcess): Effect.Effect<number, Error> =>
  Effect.map(gateway.metrics, (m) => Prometheus.counter(m, "loopwire_response_store_reads", { store: "redis" }))

/** Writes `value` as JSON to a fresh temporary file, removed with the scope. */
export const tempJson = (name: string, value: unknown): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "loopwire-scale-"))
      const file = Path.join(dir, name)
      Fs.writeFileSync(file, JSON.stringify(value))
      return { dir, file }
    }),
    ({ dir }) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map(({ file }) => file))

// ---------------------------------------------------------------------------------------------------------------
// Load balancer

/** A round-robin TCP balancer without stickiness: each new connection goes to the next live target. */
export interface Balancer {
  readonly url: string
  readonly wsUrl: string
  /** The target index of every connection accepted so far, in order. */
  readonly routed: () => ReadonlyArray<number>
  /** The head (request line and headers, at most 4 KiB) of every connection's first request, in order. */
  readonly heads: () => ReadonlyArray<string>
  /** The target indexes of the connections open now. */
  readonly open: () => ReadonlyArray<number>
  /** Cuts every open connection (both TCP sides destroyed): the client sees a drop, the gateway an unclean close. */
  readonly cutAll: () => void
  /** Takes a target out of rotation (its open connections stay) or puts it back. */
  readonly setInRotation: (target: number, inRotation: boolean) => void
}

export const balancer = (
  targets: ReadonlyArray<{ readonly port: number; readonly alive: () => boolean }>
): Effect.Effect<Balancer, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: Net.Server; balancer: Balancer; sockets: Set<Net.Socket> }, Error>((resume) => {
      const sockets = new Set<Net.Socket>()
      const routed: Array<number> = []
      const heads: Array<string> = []
      const open = new Map<Net.Socket, number>()
      const excluded = new Set<number>()
      let next = 0
      const pick = (): number | undefined => {
        for (let i = 0; i < targets.length; i++) {
          const candidate = (next + i) % targets.length
          if (targets[candidate]!.alive() && !excluded.has(candidate)) {
            next = candidate + 1
            return candidate
          }
        }
        return undefined
      }
      const server = Net.createServer((client) => {
        sockets.add(client)
        client.once("close", () => {
          sockets.delete(client)
          open.delete(client)
        })
        client.on("error", () => client.destroy())
        client.pause()
        const dial = (attempt: number) => {
          const target = pick()
          if (target === undefined || attempt >= targets.length + 1) return client.destroy()
          const upstream = Net.connect({ host: "127.0.0.1", port: targets[target]!.port })
          sockets.add(upstream)
          upstream.once("close", () => sockets.delete(upstream))
          let connected = false
          upstream.once("error", () => {
            upstream.destroy()
            // A refused dial (a dead target) tries the next one; a failure after connecting drops the client.
            if (!connected) dial(attempt + 1)
            else client.destroy()
          })
          upstream.once("connect", () => {
            connected = true
            routed.push(target)
            open.set(client, target)
            client.once("data", (chunk: Buffer) => {
              const text = chunk.subarray(0, 4096).toString("latin1")
              heads.push(text.slice(0, text.indexOf("\r\n\r\n") === -1 ? text.length : text.indexOf("\r\n\r\n")))
            })
            client.pipe(upstream)
            upstream.pipe(client)
            client.resume()
            upstream.once("close", () => client.destroy())
            client.once("close", () => upstream.destroy())
          })
        }
        dial(0)
      })
      server.once("error", (e) => resume(Effect.fail(e)))
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as Net.AddressInfo
        const url = `http://127.0.0.1:${address.port}`
        resume(Effect.succeed({
          server,
          sockets,
          balancer: {
            url,
            wsUrl: `ws://127.0.0.1:${address.port}/v1/responses`,
            routed: () => routed.slice(),
            heads: () => heads.slice(),
            open: () => Array.from(open.values()),
            cutAll: () => {
              for (const socket of open.keys()) socket.destroy()
            },
            setInRotation: (target, inRotation) => {
              if (inRotation) excluded.delete(target)
              else excluded.add(target)
            }
          }
        }))
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ balancer }) => balancer))

// ---------------------------------------------------------------------------------------------------------------
// Raw WebSocket client

export type Json = { readonly [key: string]: any }

const terminalTypes = new Set(["response.completed", "response.incomplete", "response.failed", "error"])

/** Whether a server event ends its request (a terminal event or an `error` frame). */
export const isTerminal = (event: Json): boolean => terminalTypes.has(event["type"])

/** One WebSocket, its 101 headers, and its inbound events as a queue. */
export interface RawSocket {
  readonly headers: Readonly<Record<string, string>>
  readonly send: (event: Json) => Effect.Effect<void>
  /** The next inbound event (fails after `timeoutMs`, default 15 s, or when the socket closes first). */
  readonly next: (timeoutMs?: number) => Effect.Effect<Json, Error>
  /** Events up to and including the next terminal one. */
  readonly untilTerminal: (timeoutMs?: number) => Effect.Effect<ReadonlyArray<Json>, Error>
  /** An unclean drop (TCP destroyed, no close frame). */
  readonly drop: Effect.Effect<void>
}

export const openSocket = (
  url: string,
  headers: Record<string, string> = {}
): Effect.Effect<RawSocket, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ ws: WS.WebSocket; socket: RawSocket }, Error>((resume) => {
      const ws = new WS.WebSocket(url, { headers, handshakeTimeout: 10_000 })
      const inbox: Array<Json> = []
      const waiters: Array<(event: Json | Error) => void> = []
      let closed: Error | undefined
      let upgradeHeaders: Record<string, string> = {}
      const push = (item: Json | Error) => {
        const waiter = waiters.shift()
        if (waiter !== undefined) waiter(item)
        else if (!(item instanceof Error)) inbox.push(item)
      }
      ws.on("upgrade", (response) => {
        const collected: Record<string, string> = {}
        for (const [k, v] of Object.entries(response.headers)) if (typeof v === "string") collected[k] = v
        upgradeHeaders = collected
      })
      ws.on("message", (data) => push(JSON.parse(String(data))))
      ws.on("error", () => {})
      ws.on("unexpected-response", (_request, response) => {
        response.resume()
        resume(Effect.fail(new Error(`upgrade refused with ${response.statusCode}`)))
      })
      ws.on("close", (code) => {
        closed = new Error(`socket closed (${code})`)
        for (const waiter of waiters.splice(0)) waiter(closed)
      })
      const next = (timeoutMs = 15_000) =>
        Effect.async<Json, Error>((resumeNext) => {
          const queued = inbox.shift()
          if (queued !== undefined) return resumeNext(Effect.succeed(queued))
          if (closed !== undefined) return resumeNext(Effect.fail(closed))
          const waiter = (item: Json | Error) => {
            clearTimeout(timer)
            resumeNext(item instanceof Error ? Effect.fail(item) : Effect.succeed(item))
          }
          const timer = setTimeout(() => {
            waiters.splice(waiters.indexOf(waiter), 1)
            resumeNext(Effect.fail(new Error(`no event within ${timeoutMs} ms`)))
          }, timeoutMs)
          waiters.push(waiter)
        })
      const untilTerminal = (timeoutMs = 15_000) =>
        Effect.gen(function*() {
          const events: Array<Json> = []
          // Bounded: a response of the scenarios here has well under 10 000 events.
          for (let i = 0; i < 10_000; i++) {
            const event = yield* next(timeoutMs)
            events.push(event)
            if (isTerminal(event)) return events
          }
          return yield* Effect.fail(new Error("no terminal event within 10 000 events"))
        })
      ws.once("open", () =>
        resume(Effect.succeed({
          ws,
          socket: {
            headers: upgradeHeaders,
            send: (event) => Effect.sync(() => ws.send(JSON.stringify(event))),
            next,
            untilTerminal,
            drop: Effect.sync(() => ws.terminate())
          }
        })))
      return Effect.sync(() => ws.terminate())
    }),
    ({ ws }) => Effect.sync(() => ws.terminate())
  ).pipe(Effect.map(({ socket }) => socket))

/** The text of a completed response's assistant messages. */
export const outputText = (response: Json): string =>
  (response["output"] as ReadonlyArray<Json>)
    .filter((item) => item["type"] === "message")
    .flatMap((item) => (item["content"] as ReadonlyArray<Json>).map((part) => part["text"] as string))
    .join("")
