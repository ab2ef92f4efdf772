import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, FastCheck as fc } from "effect"
import * as ClientEvent from "../src/ClientEvent.js"
import * as Continuation from "../src/Continuation.js"
import * as Items from "../src/Items.js"
import * as Response from "../src/Response.js"

const request = Arbitrary.make(ClientEvent.ResponseCreate)
const completed = Arbitrary.make(Response.Response).map((r): Response.Response => ({ ...r, status: "completed" }))
const newItems = fc.array(Arbitrary.make(Items.InputItem), { maxLength: 3 })
// How a client replays an output item: verbatim, or without the `id`/`status` it may not keep.
const replay = (item: Items.OutputItem, strip: boolean): Items.InputItem => {
  if (!strip) return item as Items.InputItem
  const { id: _id, status: _status, ...rest } = item
  return rest as Items.InputItem
}

const scenario = fc.record({ previous: request, response: completed, added: newItems, strip: fc.boolean() })
  .map(({ added, previous, response, strip }) => {
    const context = Continuation.inputItems(previous.input)
    const full = [...context, ...response.output.map((o) => replay(o, strip)), ...added]
    const { previous_response_id: _p, ...settings } = previous
    const next: ClientEvent.ResponseCreate = { ...settings, input: full }
    return { previous: { request: previous, response }, next, added, context }
  })

describe("Continuation.decide", () => {
  it.prop("previous context + output + delta = the full input", [scenario], ([s]) => {
    const decision = Continuation.decide(s.previous, s.next)
    assert.strictEqual(decision._tag, "Delta")
    if (decision._tag !== "Delta") return
    assert.strictEqual(decision.previous_response_id, s.previous.response.id)
    assert.deepStrictEqual(decision.input, s.added)
    const rebuilt = Continuation.extend(s.context, s.previous.response.output, decision.input)
    assert.strictEqual(rebuilt.length, Continuation.inputItems(s.next.input).length)
    const wire = Continuation.toRequest(s.next, decision)
    assert.deepStrictEqual(wire.input, s.added)
    assert.strictEqual(wire.previous_response_id, s.previous.response.id)
  }, { fastCheck: { numRuns: 60 } })

  it.prop("ignored fields may change", [scenario, fc.boolean(), fc.string({ maxLength: 5 })], ([s, b, str]) => {
    const next = { ...s.next, generate: b, stream: !b, client_metadata: { turn: str }, stream_id: "lane.2" }
    assert.strictEqual(Continuation.decide(s.previous, next)._tag, "Delta")
  }, { fastCheck: { numRuns: 30 } })

  const changes: ReadonlyArray<[string, (r: ClientEvent.ResponseCreate) => ClientEvent.ResponseCreate]> = [
    ["model", (r) => ({ ...r, model: `${r.model ?? ""}-other` })],
    ["instructions", (r) => ({ ...r, instructions: `${r.instructions ?? ""} and more` })],
    ["tools", (r) => ({ ...r, tools: [...(r.tools ?? []), { type: "function", name: "added_tool" }] })],
    ["store", (r) => ({ ...r, store: r.store === false })],
    ["temperature", (r) => ({ ...r, temperature: (r.temperature ?? 0) + 0.5 })],
    ["reasoning", (r) => ({ ...r, reasoning: { effort: `e${JSON.stringify(r.reasoning)}` } })],
    ["x_vendor_setting", (r) => ({ ...r, x_vendor_setting: [r.x_vendor_setting] })]
  ]

  it.prop("any changed setting gives Full(SettingsChanged)", [scenario, fc.nat(changes.length - 1)], ([s, k]) => {
    const [field, change] = changes[k]
    const decision = Continuation.decide(s.previous, change(s.next))
    assert.deepStrictEqual(decision, { _tag: "Full", reason: { _tag: "SettingsChanged", field } })
  }, { fastCheck: { numRuns: 60 } })

  it.prop("a mutated or missing prefix item gives Full(PrefixMismatch)", [scenario, fc.nat(), fc.boolean()], ([s, k, cut]) => {
    const items = Continuation.inputItems(s.next.input)
    const prefix = s.context.length + s.previous.response.output.length
    fc.pre(prefix > 0)
    const i = k % prefix
    const marker: Items.InputItem = { type: "message", role: "user", content: "mutated-prefix-item-marker" }
    const mutated = cut ? items.slice(0, i) : items.map((item, j) => (j === i ? marker : item))
    const decision = Continuation.decide(s.previous, { ...s.next, input: mutated })
    assert.deepStrictEqual(decision, { _tag: "Full", reason: { _tag: "PrefixMismatch", index: i } })
  }, { fastCheck: { numRuns: 60 } })

  it.prop("a previous response that did not complete gives Full", [scenario, fc.constantFrom("failed", "incomplete", "cancelled", "in_progress")], ([s, status]) => {
    const previous = { ...s.previous, response: { ...s.previous.response, status } as Response.Response }
    assert.deepStrictEqual(Continuation.decide(previous, s.next), {
      _tag: "Full",
      reason: { _tag: "PreviousNotCompleted", status }
    })
  }, { fastCheck: { numRuns: 20 } })

  it("no previous response gives Full(NoPrevious), and toRequest drops previous_response_id", () => {
    const next: ClientEvent.ResponseCreate = { type: "response.create", model: "m", previous_response_id: "resp_old", input: "hi" }
    const decision = Continuation.decide(undefined, next)
    assert.deepStrictEqual(decision, { _tag: "Full", reason: { _tag: "NoPrevious" } })
    assert.deepStrictEqual(Continuation.toRequest(next, decision), { type: "response.create", model: "m", input: "hi" })
  })

  it("matches a short-form / string input against its long form, and a warm-up gives an empty delta", () => {
    const warmup: ClientEvent.ResponseCreate = { type: "response.create", model: "m", generate: false, input: "hello" }
    const response: Response.Response = { id: "resp_w", object: "response", created_at: 0, status: "completed", model: "m", output: [] }
    const next: ClientEvent.ResponseCreate = {
      type: "response.create",
      model: "m",
      input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hello" }] }]
    }
    assert.deepStrictEqual(Continuation.decide({ request: warmup, response }, next), {
      _tag: "Delta",
      previous_response_id: "resp_w",
      input: []
    })
  })

  it("accepts replayed output with or without ids, status and empty annotations", () => {
    const previous: ClientEvent.ResponseCreate = { type: "response.create", model: "m", input: [Items.userText("weather?")] }
    const response: Response.Response = {
      id: "resp_1",
      object: "response",
      created_at: 0,
      status: "completed",
      model: "m",
      output: [
        { type: "reasoning", id: "rs_1", summary: [], encrypted_content: "enc" },
        { type: "function_call", id: "fc_1", call_id: "call_1", name: "weather", arguments: "{}", status: "completed" },
        {
          type: "message",
          id: "msg_1",
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text: "checking", annotations: [] }]
        }
      ]
    }
    const output = Items.functionCallOutput("call_1", "sunny")
    const replayed: ReadonlyArray<Items.InputItem> = [
      { type: "reasoning", summary: [], encrypted_content: "enc" },
      { type: "function_call", call_id: "call_1", name: "weather", arguments: "{}" },
      { role: "assistant", content: "checking" }
    ]
    const next: ClientEvent.ResponseCreate = { type: "response.create", model: "m", input: [Items.userText("weather?"), ...replayed, output] }
    assert.deepStrictEqual(Continuation.decide({ request: previous, response }, next), {
      _tag: "Delta",
      previous_response_id: "resp_1",
      input: [output]
    })
    // A replayed call with different arguments is a different context.
    const wrong = [Items.userText("weather?"), replayed[0], { ...replayed[1], arguments: "{\"x\":1}" }, replayed[2], output]
    assert.deepStrictEqual(Continuation.decide({ request: previous, response }, { ...next, input: wrong }), {
      _tag: "Full",
      reason: { _tag: "PrefixMismatch", index: 2 }
    })
  })
})
