import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import { readFileSync } from "node:fs"
import * as Accumulator from "../src/Accumulator.js"
import * as ClientEvent from "../src/ClientEvent.js"
import * as Codec from "../src/Codec.js"
import * as Items from "../src/Items.js"
import * as ServerEvent from "../src/ServerEvent.js"

// Frames in the shapes real clients and servers send (reference/protocol.md §2, §3, §7).
const lines = (name: string): ReadonlyArray<string> =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8").split("\n").filter((l) => l.trim() !== "")

describe("client frames of real clients", () => {
  for (const file of ["codex-client.jsonl", "sdk-client.jsonl"]) {
    lines(file).forEach((frame, i) => {
      const raw = JSON.parse(frame)
      it(`${file}:${i + 1} ${raw.type}`, () => {
        const decoded = Codec.decodeClientEvent(frame)
        if (raw.type === "response.processed") {
          // Codex's fire-and-forget ack: reported as unknown, with its type, so a server can choose to ignore it.
          assert.isTrue(Either.isLeft(decoded) && decoded.left.reason === "UnknownType")
          assert.isTrue(Either.isLeft(decoded) && decoded.left.eventType === "response.processed")
          return
        }
        if (Either.isLeft(decoded)) assert.fail(decoded.left.message)
        // Nothing dropped, nothing added.
        assert.deepStrictEqual(JSON.parse(Codec.encodeClientEvent(decoded.right)), raw)
      })
    })
  }

  it("keeps the Codex prewarm's WebSocket fields and tool shapes typed", () => {
    const prewarm = Either.getOrThrow(Codec.decodeClientEvent(lines("codex-client.jsonl")[0]))
    if (!ClientEvent.isResponseCreate(prewarm)) return assert.fail("not a response.create")
    assert.strictEqual(prewarm.generate, false)
    assert.strictEqual(prewarm.stream, true)
    assert.deepStrictEqual(Object.keys(prewarm.client_metadata ?? {}), ["x-codex-window-id", "x-openai-subagent", "traceparent"])
    const [fn, custom, ns, web, search] = prewarm.tools ?? []
    assert.strictEqual(fn.type, "function")
    assert.deepStrictEqual(custom.format, {
      type: "grammar",
      syntax: "lark",
      definition: (JSON.parse(lines("codex-client.jsonl")[0]).tools[1].format.definition as string)
    })
    assert.strictEqual(ns.type, "namespace")
    assert.strictEqual((ns.tools as ReadonlyArray<{ name: string }>)[0].name, "get_issue")
    assert.strictEqual(web.external_web_access, false)
    assert.strictEqual(search.type, "tool_search")
  })

  it("keeps client ids on tool outputs", () => {
    const turn = Either.getOrThrow(Codec.decodeClientEvent(lines("codex-client.jsonl")[2]))
    const input = turn.input as ReadonlyArray<Items.InputItem>
    assert.isTrue(Items.isFunctionCallOutput(input[0]) && input[0].id === "fco_client_7f3a")
    assert.isTrue(Items.isCustomToolCallOutput(input[1]) && input[1].id === "ctco_client_19b2")
  })

  it("tags the SDK's lane", () => {
    const laned = Either.getOrThrow(Codec.decodeClientEvent(lines("sdk-client.jsonl")[2]))
    assert.strictEqual(laned.stream_id, "subagent.research-1")
  })
})

describe("server frames", () => {
  for (const file of ["openai-server.jsonl", "other-server.jsonl"]) {
    lines(file).forEach((frame, i) => {
      const raw = JSON.parse(frame)
      it(`${file}:${i + 1} ${raw.type}`, () => {
        const decoded = Codec.decodeServerEvent(frame)
        if (Either.isLeft(decoded)) assert.fail(decoded.left.message)
        assert.deepStrictEqual(JSON.parse(Codec.encodeServerEvent(decoded.right)), raw)
        assert.strictEqual(raw.type in ServerEvent.schemasByType, raw.type !== "codex.rate_limits")
      })
    })
  }

  it("folds an OpenAI function-call turn into its completed response", () => {
    const events = lines("openai-server.jsonl").map((l) => Either.getOrThrow(Codec.decodeServerEvent(l)))
    const response = Either.getOrThrow(Accumulator.fold(events))
    assert.deepStrictEqual(response, events[events.length - 1].response)
    const call = response.output[1]
    assert.isTrue(Items.isFunctionCall(call) && call.arguments === "{\"city\":\"Paris\"}")
  })

  it("tells the two error shapes apart and classifies terminal events", () => {
    const events = lines("other-server.jsonl").map((l) => Either.getOrThrow(Codec.decodeServerEvent(l)))
    const envelope = events[0]
    assert.isTrue(ServerEvent.is(envelope, "error") && "error" in envelope && envelope.stream_id === "subagent.research-1")
    assert.isTrue(ServerEvent.isTerminal(events[4]) && events[4].code === "server_error" && !("error" in events[4]))
    assert.isTrue(ServerEvent.isResponseTerminal(events[8]))
    assert.isFalse(ServerEvent.isTerminal(events[6])) // response.steer.pending
    assert.isTrue(ServerEvent.isTerminal(events[11])) // Codex backend response.done
    assert.isFalse(ServerEvent.isResponseTerminal(events[11]))
  })
})
