import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { version } from "../src/Cli.js"
import { binArgs } from "./helpers/bin.js"

const packageVersion = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  readonly version: string
}).version

describe("Cli", () => {
  it("takes its version from the package's package.json", () => {
    expect(version).toBe(packageVersion)
  })

  it("prints that version for --version", () => {
    const out = execFileSync(process.execPath, [...binArgs, "--version"], { encoding: "utf8", timeout: 60_000 })
    expect(out.trim()).toBe(packageVersion)
  })
})
