import { assert, describe, it } from "@effect/vitest"
import type { InputItem, OutputItem } from "@loopwire/protocol/Items"
import * as ChainContext from "@loopwire/server/ChainContext"
import * as Chain from "../src/internal/chain.js"

const userMsg = (text: string) => ({ type: "message", role: "user", content: text }) as InputItem
const call = (id: string) => ({ type: "function_call", call_id: id, name: "f", arguments: "{}" }) as OutputItem
const output = (id: string) => ({ type: "function_call_output", call_id: id, output: "1" }) as InputItem

describe("chain", () => {
  it("continueContext shares every item by reference and returns the parent context when nothing is added", () => {
    const items = [userMsg("a")]
    const context = ChainContext.fromArray(items)
    const out = [call("c1")]
    const added = [output("c1")]
    const next = Chain.continueContext(context, out, added)
    assert.strictEqual(next.length, 3)
    // The parent is shared as a segment, not copied.
    assert.strictEqual(next.parent, context)
    assert.strictEqual(next.bytes, JSON.stringify(items[0]).length + JSON.stringify(out[0]).length + JSON.stringify(added[0]).length)
    const all = ChainContext.toArray(next)
    assert.strictEqual(all[0], items[0])
    assert.strictEqual(all[1], out[0] as unknown)
    assert.strictEqual(all[2], added[0])
    const same = Chain.continueContext(context, [], [])
    assert.strictEqual(same.parent, context)
    assert.strictEqual(same.length, context.length)
    assert.deepStrictEqual(ChainContext.toArray(same), items)
  })

  it("a 200-turn chain holds O(N) items: each turn adds one segment of its new items, whatever its index", () => {
    let context = ChainContext.fromArray([userMsg("start")])
    const contexts = [context]
    for (let turn = 1; turn <= 200; turn++) {
      const next = Chain.continueContext(context, [call(`c${turn}`)], [output(`c${turn}`)])
      // The new segment is the parent's output + the new items: its size does not grow with the turn index.
      assert.strictEqual(next.items.length, 2)
      assert.strictEqual(next.parent, context)
      context = next
      contexts.push(context)
    }
    // Every context of the chain kept alive at once (as a cache of all its responses would) shares its segments:
    // the distinct items held are 1 + 2 per turn, not 1 + 2 + 4 + ... (quadratic).
    const held = new Set<unknown>()
    for (const c of contexts) {
      for (let s: ChainContext.ChainContext | undefined = c; s !== undefined; s = s.parent) held.add(s.items)
    }
    let items = 0
    for (const segment of held) items += (segment as ReadonlyArray<unknown>).length
    assert.strictEqual(items, 1 + 2 * 200)
    assert.strictEqual(context.length, 401)
    assert.strictEqual(context.bytes, JSON.stringify(ChainContext.toArray(context)).length - 2 - 400)
    // An output answering a call 200 turns back is still found (the rare path walks the segments).
    assert.isUndefined(Chain.unmatchedToolOutput([output("c1")], [], context))
    assert.deepStrictEqual(Chain.unmatchedToolOutput([output("nope")], [], context), { index: 0, callId: "nope" })
  })

  it("unmatchedToolOutput finds outputs answering no call of the chain", () => {
    assert.isUndefined(Chain.unmatchedToolOutput([output("c1")], [call("c1")], ChainContext.empty))
    assert.isUndefined(Chain.unmatchedToolOutput([output("c0")], [], ChainContext.append(ChainContext.fromArray([userMsg("x"), call("c0") as InputItem]), [userMsg("y")])))
    assert.isUndefined(Chain.unmatchedToolOutput([call("c2") as InputItem, output("c2")], [], ChainContext.empty))
    assert.deepStrictEqual(Chain.unmatchedToolOutput([output("c2"), call("c2") as InputItem], [], ChainContext.empty), {
      index: 0,
      callId: "c2"
    })
    assert.deepStrictEqual(Chain.unmatchedToolOutput([output("c1"), output("zz")], [call("c1")], ChainContext.empty), {
      index: 1,
      callId: "zz"
    })
    const custom = { type: "custom_tool_call_output", call_id: "k", output: "x" } as InputItem
    assert.deepStrictEqual(Chain.unmatchedToolOutput([custom], [call("k")], ChainContext.empty), { index: 0, callId: "k" })
    assert.isUndefined(
      Chain.unmatchedToolOutput([custom], [{ type: "custom_tool_call", call_id: "k", name: "g", input: "" } as OutputItem], ChainContext.empty)
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
