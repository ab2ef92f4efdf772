import { describe, expect, it } from "vitest"
import * as Encode from "../src/internal/encode.js"

describe("Encode.settingsBytes", () => {
  const tools = [{ type: "function", name: "read", parameters: { type: "object", properties: { path: { type: "string" } } } }]
  const cases: ReadonlyArray<{ readonly [key: string]: unknown }> = [
    { model: "m", instructions: "be brief \"quoted\"", tools, input: [{ role: "user", content: "hi" }], store: true },
    { instructions: "only instructions", input: "x" },
    { tools, input: [] },
    { model: "m", input: "x" },
    { input: "x" }
  ]
  it("is the length of the settings' JSON (request without input), from the turn's echo", () => {
    for (const settings of cases) {
      const echo = Encode.makeEcho({ instructions: settings["instructions"], tools: settings["tools"] })
      expect(Encode.settingsBytes(echo, settings)).toBe(JSON.stringify({ ...settings, input: undefined }).length)
    }
  })
  it("measures the settings themselves when their values are not the echo's", () => {
    const settings = { instructions: "mine, longer than the echo", tools, input: "x" }
    const echo = Encode.makeEcho({ instructions: "other", tools })
    expect(Encode.settingsBytes(echo, settings)).toBe(JSON.stringify({ ...settings, input: undefined }).length)
  })
})
