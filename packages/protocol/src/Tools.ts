/**
 * Tool definitions of a request's (and a response's) `tools`, as on the wire.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { arrayOf, JsonObject, open, opt, Str, unknownType } from "./internal/schema.js"

/**
 * `{ type: "function", name, description?, parameters?, strict? }` — `parameters` is a JSON Schema object.
 *
 * @since 0.1.0
 * @category tools
 */
export const FunctionTool = open({
  type: Schema.Literal("function"),
  name: Str,
  description: opt(Schema.NullOr(Str)),
  parameters: opt(Schema.NullOr(JsonObject)),
  strict: opt(Schema.NullOr(Schema.Boolean))
}).annotations({ identifier: "FunctionTool" })
/**
 * @since 0.1.0
 * @category tools
 */
export type FunctionTool = typeof FunctionTool.Type

/**
 * `{ type: "text" }` — a custom tool taking free text.
 *
 * @since 0.1.0
 * @category tools
 */
export const TextFormat = open({ type: Schema.Literal("text") }).annotations({ identifier: "TextFormat" })

/**
 * `{ type: "grammar", syntax: "lark" | "regex", definition }` — a custom tool whose input follows a grammar.
 *
 * @since 0.1.0
 * @category tools
 */
export const GrammarFormat = open({
  type: Schema.Literal("grammar"),
  syntax: Schema.Literal("lark", "regex"),
  definition: Str
}).annotations({ identifier: "GrammarFormat" })

/**
 * Input format of a custom tool (text, grammar, or a newer kind kept as received).
 *
 * @since 0.1.0
 * @category tools
 */
export const CustomToolFormat = Schema.Union(
  TextFormat,
  GrammarFormat,
  open({ type: unknownType(["text", "grammar"], "custom tool format") })
).annotations({ identifier: "CustomToolFormat" })
/**
 * @since 0.1.0
 * @category tools
 */
export type CustomToolFormat = typeof CustomToolFormat.Type

/**
 * `{ type: "custom", name, description?, format? }` — a tool called with free-form (or grammar-constrained) text.
 *
 * @since 0.1.0
 * @category tools
 */
export const CustomTool = open({
  type: Schema.Literal("custom"),
  name: Str,
  description: opt(Str),
  format: opt(CustomToolFormat)
}).annotations({ identifier: "CustomTool" })
/**
 * @since 0.1.0
 * @category tools
 */
export type CustomTool = typeof CustomTool.Type

/**
 * Hosted (server-side) tool types this package recognises; their settings are kept as received.
 *
 * @since 0.1.0
 * @category tools
 */
export const hostedToolTypes = [
  "web_search",
  "web_search_preview",
  "web_search_2025_08_26",
  "file_search",
  "code_interpreter",
  "image_generation",
  "mcp",
  "computer_use_preview",
  "local_shell",
  "shell",
  "apply_patch",
  "tool_search"
] as const

/**
 * A hosted tool: `{ type: "web_search" | "tool_search" | ..., ...settings }`.
 *
 * @since 0.1.0
 * @category tools
 */
export const HostedTool = open({ type: Schema.Literal(...hostedToolTypes) }).annotations({ identifier: "HostedTool" })
/**
 * @since 0.1.0
 * @category tools
 */
export type HostedTool = typeof HostedTool.Type

/**
 * A tool of a type this package does not know, kept as received.
 *
 * @since 0.1.0
 * @category tools
 */
export const UnknownTool = open({
  type: unknownType(["function", "custom", "namespace", ...hostedToolTypes], "tool")
}).annotations({ identifier: "UnknownTool" })
/**
 * @since 0.1.0
 * @category tools
 */
export type UnknownTool = typeof UnknownTool.Type

/**
 * `{ type: "namespace", name, description?, tools }` — groups function/custom tools under one name.
 *
 * @since 0.1.0
 * @category tools
 */
export const NamespaceTool = open({
  type: Schema.Literal("namespace"),
  name: Str,
  description: opt(Str),
  tools: arrayOf(Schema.Union(FunctionTool, CustomTool, UnknownTool), 2)
}).annotations({ identifier: "NamespaceTool" })
/**
 * @since 0.1.0
 * @category tools
 */
export type NamespaceTool = typeof NamespaceTool.Type

/**
 * Any tool definition.
 *
 * @since 0.1.0
 * @category tools
 */
export const Tool = Schema.Union(FunctionTool, CustomTool, NamespaceTool, HostedTool, UnknownTool).annotations({
  identifier: "Tool"
})
/**
 * @since 0.1.0
 * @category tools
 */
export type Tool = typeof Tool.Type

/**
 * `tool_choice`: `"none" | "auto" | "required"` or an object naming a tool (kept as received).
 *
 * @since 0.1.0
 * @category tools
 */
export const ToolChoice = Schema.Union(Schema.Literal("none", "auto", "required"), JsonObject).annotations({
  identifier: "ToolChoice"
})
/**
 * @since 0.1.0
 * @category tools
 */
export type ToolChoice = typeof ToolChoice.Type
