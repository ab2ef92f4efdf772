/**
 * The conformance suite against the real gateway over loopback: every check passes (the scripted scenario makes
 * the model call a tool on its first turn, so `function-call-round-trip` runs), and the 401 / 426 modes are
 * verified when the suite is told about them. The `loopwire conformance` command is run too.
 */
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import { command } from "@loopwire/cli/Conformance"
import * as Auth from "@loopwire/server/Auth"
import * as Gateway from "@loopwire/server/Gateway"
import type * as GatewayConfig from "@loopwire/server/GatewayConfig"
import * as Conformance from "@loopwire/testkit/Conformance"
import * as Scenarios from "@loopwire/testkit/Scenarios"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"

// Turn 0 of every chain calls a tool, turn 1 answers; later turns get the fallback text.
const scenario = Scenarios.toolCallsThenAnswer({
  calls: [{ name: "conformance_lookup", arguments: { key: "alpha" } }],
  answer: "The value is 42."
})

/** The gateway (`Gateway.layerLocal`: every service in process) on 127.0.0.1, port 0; yields its WebSocket URL. */
const startGateway = (options: {
  readonly config?: Partial<GatewayConfig.GatewayConfigShape> | undefined
  readonly auth?: Auth.Options | undefined
} = {}) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Gateway.layerLocal({
      config: { host: "127.0.0.1", port: 0, ...options.config },
      auth: options.auth,
      scenario
    }))
    const base = yield* Effect.provide(Gateway.baseUrl, context)
    return `${base.replace(/^http/, "ws")}${Gateway.path}`
  })

const failures = (report: Conformance.Report) =>
  report.results.filter((r) => r.status === "failed").map((r) => `${r.id}: ${r.reason}`)

describe("conformance suite against the Loopwire gateway", () => {
  it.live("every check passes (mode checks not applicable in the default mode)", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* startGateway()
      const report = yield* Conformance.run({ url, timeout: "10 seconds" })
      assert.deepStrictEqual(failures(report), [], Conformance.formatReport(report))
      assert.isTrue(report.ok)
      assert.deepStrictEqual(
        report.results.filter((r) => r.status === "not_applicable").map((r) => r.id),
        ["auth-rejected", "upgrade-required"]
      )
      assert.strictEqual(report.passed, Conformance.checkIds.length - 2)
    })))

  it.live("with static keys: 401 without or with a wrong key, and the suite passes with the right one", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* startGateway({ auth: { _tag: "StaticKeys", keys: [["sk-conformance", "tenant-a"]] } })
      const report = yield* Conformance.run({
        url,
        apiKey: "sk-conformance",
        requiresAuth: true,
        checks: ["auth-rejected", "basic-create", "previous-response-chain"],
        timeout: "10 seconds"
      })
      assert.deepStrictEqual(failures(report), [], Conformance.formatReport(report))
      assert.deepStrictEqual(report.results.map((r) => r.status), ["passed", "passed", "passed"])
    })))

  it.live("in reject-WebSocket mode the upgrade gets 426", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* startGateway({ config: { rejectWebSocket: true } })
      const report = yield* Conformance.run({ url, rejectsWebSocket: true, timeout: "10 seconds" })
      assert.deepStrictEqual(failures(report), [], Conformance.formatReport(report))
      assert.strictEqual(report.passed, 1)
      assert.strictEqual(report.results.find((r) => r.id === "upgrade-required")?.status, "passed")
    })))

  it.live("`loopwire conformance` succeeds against the gateway and fails when told the wrong mode", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* startGateway()
      const cli = Command.run(Command.make("loopwire").pipe(Command.withSubcommands([command])), {
        name: "loopwire",
        version: "0.1.0"
      })
      // Capture what the command prints instead of writing it to the test output.
      const printed: Array<string> = []
      const run = (args: ReadonlyArray<string>) =>
        Effect.consoleWith((console) =>
          Effect.exit(cli(["node", "loopwire", "conformance", "--url", url, ...args])).pipe(
            Effect.withConsole({
              ...console,
              log: (...items: ReadonlyArray<unknown>) => Effect.sync(() => void printed.push(items.join(" ")))
            }),
            Effect.provide(NodeContext.layer)
          )
        )
      const ok = yield* run(["--check", "basic-create", "--json", "--header", "OpenAI-Beta=responses_websockets=2026-02-06"])
      assert.isTrue(Exit.isSuccess(ok))
      const json = JSON.parse(printed.join("\n"))
      assert.strictEqual(json.ok, true)
      assert.deepStrictEqual(json.results.map((r: { id: string }) => r.id), ["basic-create"])
      printed.length = 0
      const wrongMode = yield* run(["--rejects-websocket", "--timeout", "5"])
      assert.isTrue(Exit.isFailure(wrongMode))
      assert.include(printed.join("\n"), "FAIL  upgrade-required")
    })))
})
