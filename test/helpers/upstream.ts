/**
 * For the upstream tests: a TCP proxy on loopback that counts the bytes a gateway sends to its upstream (the B→A
 * hop) and can cut every connection; two downstream clients that drive the same chain, the `openai` SDK over
 * WebSocket mode (`previous_response_id` + the new item) and a stateless client that POSTs the whole conversation
 * each turn; and the scripted scenario and turn inputs they share.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import OpenAI from "openai"
import { ResponsesWS } from "openai/resources/responses/ws"

export type Json = { readonly [key: string]: any }

/** A counting TCP proxy in front of `port`. */
export interface CountingProxy {
  readonly port: number
  /** `http://127.0.0.1:<port>/v1` */
  readonly baseUrl: string
  /** Bytes sent through it towards the target so far (request lines, headers, bodies, WebSocket frames). */
  readonly bytesUp: () => number
  /** Connections accepted so far. */
  readonly connections: () => number
  /** Destroys every open connection (both sides): the gateway sees its upstream socket drop. */
  readonly cutAll: () => void
}

export const countingProxy = (targetPort: number): Effect.Effect<CountingProxy, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: Net.Server; sockets: Set<Net.Socket>; proxy: CountingProxy }, Error>((resume) => {
      const sockets = new Set<Net.Socket>()
      const pairs = new Set<readonly [Net.Socket, Net.Socket]>()
      let bytesUp = 0
      let connections = 0
      const server = Net.createServer((client) => {
        connections++
        const target = Net.connect({ host: "127.0.0.1", port: targetPort })
        const pair = [client, target] as const
        pairs.add(pair)
        for (const socket of pair) {
          sockets.add(socket)
          socket.on("error", () => {
            client.destroy()
            target.destroy()
          })
          socket.once("close", () => {
            sockets.delete(socket)
            pairs.delete(pair)
            client.destroy()
            target.destroy()
          })
        }
        client.on("data", (chunk: Buffer) => {
          bytesUp += chunk.length
        })
        client.pipe(target)
        target.pipe(client)
      })
      server.once("error", (e) => resume(Effect.fail(e)))
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as Net.AddressInfo).port
        resume(Effect.succeed({
          server,
          sockets,
          proxy: {
            port,
            baseUrl: `http://127.0.0.1:${port}/v1`,
            bytesUp: () => bytesUp,
            connections: () => connections,
            cutAll: () => {
              for (const [client, target] of pairs) {
                client.destroy()
                target.destroy()
              }
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
  ).pipe(Effect.map(({ proxy }) => proxy))

/** A scripted scenario of `turns` answers, `Answer k.` padded to `answerChars`. */
export const chainScenario = (turns: number, answerChars = 300) => ({
  turns: Array.from({ length: turns }, (_, k) => ({
    output: [{ type: "message", text: `Answer ${k + 1}. ${"a".repeat(Math.max(0, answerChars - 12))}` }]
  }))
})

/** The user message of turn `k` (1-based), about `bytes` long. */
export const userText = (k: number, bytes = 4096): string => `Turn ${k}: ${"u".repeat(Math.max(0, bytes - 10))}`

/** 2 KB of instructions: the settings every turn carries. */
export const instructions = `You are a test model. ${"i".repeat(2048 - 22)}`

/** The assistant text of a response. */
export const outputText = (response: Json): string =>
  (response["output"] as ReadonlyArray<Json>)
    .filter((item) => item["type"] === "message")
    .flatMap((item) => (item["content"] as ReadonlyArray<Json>).map((part) => part["text"] as string))
    .join("")

/** Drives a chain with the `openai` SDK over WebSocket mode: the texts of every turn's answer, in order. */
export const sdkChain = (
  options: { readonly baseURL: string; readonly apiKey: string; readonly turns: number; readonly model?: string }
): Effect.Effect<ReadonlyArray<string>, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const ws = yield* Effect.acquireRelease(
      Effect.sync(() => new ResponsesWS(new OpenAI({ apiKey: options.apiKey, baseURL: options.baseURL, maxRetries: 0 }))),
      (ws) => Effect.sync(() => ws.close())
    )
    ws.on("error", () => {})
    const next = Effect.async<Json>((resume) => {
      const onEvent = (event: Json) => {
        if (["response.completed", "response.failed", "response.incomplete", "error"].includes(event.type)) {
          ws.off("event", onEvent)
          resume(Effect.succeed(event))
        }
      }
      ws.on("event", onEvent)
    }).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("no terminal event in 30 s") }))
    const texts: Array<string> = []
    let previous: string | undefined
    for (let k = 1; k <= options.turns; k++) {
      ws.send({
        type: "response.create",
        model: options.model ?? "m",
        instructions,
        store: false,
        ...(previous !== undefined ? { previous_response_id: previous } : {}),
        input: [{ type: "message", role: "user", content: userText(k) }]
      } as any)
      const event = yield* next
      if (event.type !== "response.completed") return yield* Effect.fail(new Error(`turn ${k}: ${JSON.stringify(event)}`))
      previous = event.response.id
      texts.push(outputText(event.response))
    }
    return texts
  })

/** One stateless `POST /v1/responses` (JSON answer) with the whole conversation. */
export const postTurn = (
  options: { readonly baseURL: string; readonly apiKey: string; readonly model?: string },
  input: ReadonlyArray<Json>
): Effect.Effect<Json, Error> =>
  Effect.tryPromise({
    try: async () => {
      const response = await fetch(`${options.baseURL}/responses`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${options.apiKey}` },
        body: JSON.stringify({ model: options.model ?? "m", instructions, store: false, input }),
        signal: AbortSignal.timeout(30_000)
      })
      const body = await response.json() as Json
      if (response.status !== 200) throw new Error(`POST answered ${response.status}: ${JSON.stringify(body)}`)
      return body
    },
    catch: (e) => (e instanceof Error ? e : new Error(String(e)))
  })

/** Drives a chain as a stateless client: each turn POSTs every item so far (outputs as received) + the new one. */
export const statelessChain = (
  options: { readonly baseURL: string; readonly apiKey: string; readonly turns: number; readonly model?: string }
): Effect.Effect<ReadonlyArray<string>, Error> =>
  Effect.gen(function*() {
    const input: Array<Json> = []
    const texts: Array<string> = []
    for (let k = 1; k <= options.turns; k++) {
      input.push({ type: "message", role: "user", content: userText(k) })
      const response = yield* postTurn(options, input)
      if (response["status"] !== "completed") return yield* Effect.fail(new Error(`turn ${k}: ${JSON.stringify(response)}`))
      input.push(...(response["output"] as ReadonlyArray<Json>))
      texts.push(outputText(response))
    }
    return texts
  })
