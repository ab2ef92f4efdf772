import { assert, describe, it } from "@effect/vitest"
import type { InputItem, OutputItem } from "@loopwire/protocol/Items"
import * as Chain from "../src/internal/chain.js"

const userMsg = (text: string) => ({ type: "message", role: "user", content: text }) as InputItem
const call = (id: string) => ({ type: "function_call", call_id: id, name: "f", arguments: "{}" }) as OutputItem
const output = (id: string) => ({ type: "function_call_output", call_id: id, output: "1" }) as InputItem

describe("chain", () => {
  it("continueContext shares every item by reference and returns the parent context when nothing is added", () => {
    const context = [userMsg("a")]
    const out = [call("c1")]
    const added = [output("c1")]
    const next = Chain.continueContext(context, out, added)
    assert.deepStrictEqual(next.length, 3)
    assert.strictEqual(next[0], context[0])
    assert.strictEqual(next[1], out[0] as unknown)
    assert.strictEqual(next[2], added[0])
    assert.strictEqual(Chain.continueContext(context, [], []), context)
  })

  it("unmatchedToolOutput finds outputs answering no call of the chain", () => {
    assert.isUndefined(Chain.unmatchedToolOutput([output("c1")], [call("c1")], []))
    assert.isUndefined(Chain.unmatchedToolOutput([output("c0")], [], [userMsg("x"), call("c0") as InputItem]))
    assert.isUndefined(Chain.unmatchedToolOutput([call("c2") as InputItem, output("c2")], [], []))
    assert.deepStrictEqual(Chain.unmatchedToolOutput([output("c2"), call("c2") as InputItem], [], []), {
      index: 0,
      callId: "c2"
    })
    assert.deepStrictEqual(Chain.unmatchedToolOutput([output("c1"), output("zz")], [call("c1")], []), {
      index: 1,
      callId: "zz"
    })
    const custom = { type: "custom_tool_call_output", call_id: "k", output: "x" } as InputItem
    assert.deepStrictEqual(Chain.unmatchedToolOutput([custom], [call("k")], []), { index: 0, callId: "k" })
    assert.isUndefined(
      Chain.unmatchedToolOutput([custom], [{ type: "custom_tool_call", call_id: "k", name: "g", input: "" } as OutputItem], [])
    )
  })

  it("countModelResponses counts runs of model output", () => {
    const assistant = { type: "message", role: "assistant", content: "ok" }
    const reasoning = { type: "reasoning", summary: [] }
    assert.strictEqual(Chain.countModelResponses([]), 0)
    assert.strictEqual(Chain.countModelResponses([userMsg("a")]), 0)
    assert.strictEqual(
      Chain.countModelResponses([userMsg("a"), reasoning, call("1"), call("2"), output("1"), output("2"), assistant]),
      2
    )
    assert.strictEqual(Chain.countModelResponses([userMsg("a"), { role: "assistant", content: "short" }, userMsg("b")]), 1)
  })

  it("inputItems turns a string into one user message", () => {
    assert.deepStrictEqual(Chain.inputItems("hi"), [
      { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }
    ])
    assert.deepStrictEqual(Chain.inputItems(undefined), [])
  })
})
