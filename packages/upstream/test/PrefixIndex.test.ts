import { assert, describe, it } from "@effect/vitest"
import * as PrefixIndex from "@loopwire/upstream/PrefixIndex"
import * as Effect from "effect/Effect"

const user = (text: string) => ({ type: "message", role: "user", content: text })
const answer = (text: string, id = "msg_1") => ({
  id,
  type: "message",
  role: "assistant",
  status: "completed",
  content: [{ type: "output_text", text, annotations: [] }]
})

describe("PrefixIndex digests", () => {
  it.effect("extend over the new items equals the digest of the whole prefix (O(new input) per turn)", () =>
    Effect.sync(() => {
      const items = [user("a"), answer("b"), user("c"), answer("d"), user("e")]
      const all = PrefixIndex.prefixes(items)
      assert.strictEqual(all.length, items.length)
      for (let k = 0; k <= items.length; k++) {
        const head = k === 0 ? PrefixIndex.empty : all[k - 1]!
        assert.strictEqual(PrefixIndex.extend(head, items.slice(k)), all[items.length - 1])
      }
    }))

  it.effect("replayed items match as the continuation rule compares them; content does not", () =>
    Effect.sync(() => {
      // Key order, ids, statuses, empty annotations and the short message form do not matter.
      const long = { type: "message", role: "assistant", content: [{ type: "output_text", text: "b" }] }
      const short = { content: "b", role: "assistant" }
      const d = PrefixIndex.step(PrefixIndex.empty, answer("b", "msg_9"))
      assert.strictEqual(PrefixIndex.step(PrefixIndex.empty, long), d)
      assert.strictEqual(PrefixIndex.step(PrefixIndex.empty, short), d)
      assert.notStrictEqual(PrefixIndex.step(PrefixIndex.empty, answer("B")), d)
      // Order of items matters.
      assert.notStrictEqual(PrefixIndex.extend(PrefixIndex.empty, [user("a"), user("b")]), PrefixIndex.extend(PrefixIndex.empty, [user("b"), user("a")]))
    }))

  it.effect("scopes differ by tenant and by settings, not by routing fields", () =>
    Effect.sync(() => {
      const settings = { model: "m", instructions: "x", tools: [{ type: "function", name: "f" }] }
      assert.notStrictEqual(PrefixIndex.scopeOf("alice", settings), PrefixIndex.scopeOf("bob", settings))
      assert.notStrictEqual(PrefixIndex.scopeOf("alice", settings), PrefixIndex.scopeOf("alice", { ...settings, instructions: "y" }))
      assert.strictEqual(
        PrefixIndex.scopeOf("alice", settings),
        PrefixIndex.scopeOf("alice", { tools: settings.tools, instructions: "x", model: "m", stream: true, stream_id: "l" })
      )
    }))
})

describe("PrefixIndex lookups", () => {
  const conversation = [user("a"), answer("b"), user("c"), answer("d"), user("e")]
  const digests = PrefixIndex.prefixes(conversation)

  it.effect("the longest registered strict prefix wins; the whole input is not a prefix of itself", () =>
    Effect.sync(() => {
      const index = PrefixIndex.make<string>()
      index.register("s", digests[1]!, 2, "after-b")
      index.register("s", digests[3]!, 4, "after-d")
      assert.deepStrictEqual(index.longest("s", digests), { _tag: "Hit", value: "after-d", length: 4 })
      assert.deepStrictEqual(index.longest("s", digests.slice(0, 4)), { _tag: "Hit", value: "after-b", length: 2 })
      assert.deepStrictEqual(index.longest("s", digests.slice(0, 2)), { _tag: "Miss" })
      assert.deepStrictEqual(index.longest("other", digests), { _tag: "Miss" })
    }))

  it.effect("two heads with one context are ambiguous: no match until forgotten; remove is by owner", () =>
    Effect.sync(() => {
      const index = PrefixIndex.make<string>({ maxAmbiguous: 1 })
      index.register("s", digests[3]!, 4, "x")
      index.remove("s", digests[3]!, "y")
      assert.strictEqual(index.size(), 1)
      index.register("s", digests[3]!, 4, "y")
      assert.deepStrictEqual(index.longest("s", digests), { _tag: "Ambiguous", length: 4 })
      assert.strictEqual(index.size(), 0)
      // A newer ambiguity pushes the oldest out (bounded memory); the digest can then be registered again.
      index.register("s", digests[1]!, 2, "p")
      index.register("s", digests[1]!, 2, "q")
      index.register("s", digests[3]!, 4, "z")
      assert.deepStrictEqual(index.longest("s", digests), { _tag: "Hit", value: "z", length: 4 })
      index.remove("s", digests[3]!, "z")
      assert.deepStrictEqual(index.longest("s", digests), { _tag: "Ambiguous", length: 2 })
    }))
})
