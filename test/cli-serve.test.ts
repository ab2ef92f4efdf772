/**
 * `loopwire serve` as a user runs it (from its sources through tsx; test/consumer runs the installed, compiled bin), flags, the printed address, both modes.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as WS from "ws"
import { binArgs } from "../packages/cli/test/helpers/bin.js"


/** Starts the bin with `args` and yields the base URL it prints; the process is killed with the scope. */
const serve = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly output: () => string; readonly child: ReturnType<typeof spawn> }, Error>(
      (resume) => {
        const child = spawn(process.execPath, [...binArgs, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] })
        let output = ""
        const onData = (chunk: Buffer) => {
          output += chunk.toString("utf8")
          const match = /listening on (http:\/\/\S+)/.exec(output)
          if (match) resume(Effect.succeed({ url: match[1]!, output: () => output, child }))
        }
        child.stdout.on("data", onData)
        child.stderr.on("data", onData)
        child.on("exit", (code) => resume(Effect.fail(new Error(`serve exited with ${code}: ${output}`))))
      }
    ),
    ({ child }) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
      })
  )

describe("loopwire serve", () => {
  it.live("prints where it listens and serves both modes with the given keys", () =>
    Effect.scoped(Effect.gen(function*() {
      const { output, url } = yield* serve(["--port", "0", "--api-keys", "sk-cli:alice", "--script", "builtin:demo"])
      assert.match(output(), /WebSocket mode: ws:\/\/127\.0\.0\.1:\d+\/v1\/responses/)
      const health = yield* Effect.promise(() => fetch(`${url}/healthz`))
      assert.strictEqual(health.status, 200)
      const denied = yield* Effect.promise(() => fetch(`${url}/v1/responses`, { method: "POST", body: "{}" }))
      assert.strictEqual(denied.status, 401)
      const events = yield* Effect.async<Array<{ type: string }>>((resume) => {
        const ws = new WS.WebSocket(`${url.replace("http", "ws")}/v1/responses`, {
          headers: { authorization: "Bearer sk-cli" }
        })
        const seen: Array<{ type: string }> = []
        ws.on("error", () => {})
        ws.on("open", () => ws.send(JSON.stringify({ type: "response.create", model: "m", input: "hi" })))
        ws.on("message", (data) => {
          const event = JSON.parse(String(data))
          seen.push(event)
          if (event.type === "response.completed" || event.type === "error") {
            ws.close()
            resume(Effect.succeed(seen))
          }
        })
      })
      assert.strictEqual(events[events.length - 1]!.type, "response.completed")
    })), { timeout: 60_000 })

  it.live("--reject-websocket answers upgrades with 426", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* serve(["--port", "0", "--reject-websocket"])
      const status = yield* Effect.async<number>((resume) => {
        const ws = new WS.WebSocket(`${url.replace("http", "ws")}/v1/responses`)
        ws.on("error", () => {})
        ws.on("unexpected-response", (_req, res) => {
          resume(Effect.succeed(res.statusCode ?? 0))
          res.resume()
          ws.terminate()
        })
        ws.on("open", () => resume(Effect.succeed(101)))
      })
      assert.strictEqual(status, 426)
    })), { timeout: 60_000 })

  it.live("a bad flag is a usage error with a non-zero exit", () =>
    Effect.gen(function*() {
      const code = yield* Effect.async<number | null>((resume) => {
        const child = spawn(process.execPath, [...binArgs, "serve", "--max-connection-age", "soon"], { stdio: "ignore" })
        child.on("exit", (code) => resume(Effect.succeed(code)))
      })
      assert.strictEqual(code, 1)
    }), { timeout: 60_000 })
})
