import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import type { ResponsesServerEvent } from "openai/resources/responses/responses"
import * as Codec from "../src/Codec.js"
import * as ServerEvent from "../src/ServerEvent.js"

// The event types of reference/protocol.md §3.2 (table rows expanded: `.added` / `.done` pairs and the hosted-tool
// wildcards as the openai SDK names them), plus the WebSocket-only events of §3.1/§3.5.
const catalogue = [
  "response.queued",
  "response.created",
  "response.in_progress",
  "response.output_item.added",
  "response.content_part.added",
  "response.content_part.done",
  "response.output_text.delta",
  "response.output_text.done",
  "response.output_text.annotation.added",
  "response.refusal.delta",
  "response.refusal.done",
  "response.function_call_arguments.delta",
  "response.function_call_arguments.done",
  "response.custom_tool_call_input.delta",
  "response.custom_tool_call_input.done",
  "response.reasoning_summary_part.added",
  "response.reasoning_summary_part.done",
  "response.reasoning_summary_text.delta",
  "response.reasoning_summary_text.done",
  "response.reasoning_text.delta",
  "response.reasoning_text.done",
  "response.output_item.done",
  "response.completed",
  "response.incomplete",
  "response.failed",
  "error",
  // hosted tools: response.{web_search_call,file_search_call,code_interpreter_call,image_generation_call,mcp_call,mcp_list_tools}.*
  "response.web_search_call.in_progress",
  "response.web_search_call.searching",
  "response.web_search_call.completed",
  "response.file_search_call.in_progress",
  "response.file_search_call.searching",
  "response.file_search_call.completed",
  "response.code_interpreter_call.in_progress",
  "response.code_interpreter_call.interpreting",
  "response.code_interpreter_call.completed",
  "response.image_generation_call.in_progress",
  "response.image_generation_call.generating",
  "response.image_generation_call.partial_image",
  "response.image_generation_call.completed",
  "response.mcp_call.in_progress",
  "response.mcp_call.completed",
  "response.mcp_call.failed",
  "response.mcp_list_tools.in_progress",
  "response.mcp_list_tools.completed",
  "response.mcp_list_tools.failed",
  // response.mcp_call_arguments.*, response.code_interpreter_call_code.*, response.audio.*, response.audio.transcript.*
  "response.mcp_call_arguments.delta",
  "response.mcp_call_arguments.done",
  "response.code_interpreter_call_code.delta",
  "response.code_interpreter_call_code.done",
  "response.audio.delta",
  "response.audio.done",
  "response.audio.transcript.delta",
  "response.audio.transcript.done",
  // response.shell_call_command.*, response.shell_call_output_content.*, response.compaction.compacting
  "response.shell_call_command.added",
  "response.shell_call_command.delta",
  "response.shell_call_command.done",
  "response.shell_call_output_content.delta",
  "response.shell_call_output_content.done",
  "response.compaction.compacting",
  // steering (§3.5)
  "response.steer.accepted",
  "response.steer.pending",
  "response.steer.failed"
] as const

// Compile-time: every server event type of the official SDK has a schema here (this line fails to type-check
// when the SDK knows a type this package does not).
type Missing = Exclude<ResponsesServerEvent["type"], keyof typeof ServerEvent.schemasByType>
const sdkTypesCovered: [Missing] extends [never] ? true : Missing = true

describe("§3.2 event catalogue", () => {
  it("every SDK server event type has a schema", () => {
    assert.isTrue(sdkTypesCovered)
  })

  for (const type of catalogue) {
    it(type, () => {
      assert.isTrue(type in ServerEvent.schemasByType, `no schema for ${type}`)
      // A frame of this type missing its required fields is rejected by its own schema, not absorbed by the
      // unknown variant (only `response.audio.done` / `.transcript.done` have no required fields).
      const bare = Codec.decodeServerEvent(JSON.stringify({ type, sequence_number: 1 }))
      const emptyBodied = type === "response.audio.done" || type === "response.audio.transcript.done"
      assert.strictEqual(Either.isRight(bare), emptyBodied)
      if (Either.isLeft(bare)) {
        assert.strictEqual(bare.left.reason, "InvalidEvent")
        assert.strictEqual(bare.left.eventType, type)
      }
    })
  }

  it("the union knows exactly these types plus the extras", () => {
    const extras = ["response.inject.created", "response.inject.failed", "response.done"]
    assert.deepStrictEqual([...ServerEvent.knownServerEventTypes].sort(), [...catalogue, ...extras].sort())
  })

  it("an unknown event type is preserved, never a failure", () => {
    const frame = { type: "response.brand_new.thing", sequence_number: 3, payload: { a: [1, 2] } }
    const decoded = Either.getOrThrow(Codec.decodeServerEvent(JSON.stringify(frame)))
    assert.deepStrictEqual(decoded, frame)
    assert.isFalse(ServerEvent.isTerminal(decoded))
  })
})
