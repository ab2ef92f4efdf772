/**
 * The `loopwire` command as the tests run it: `node` with these arguments, then the command's own (`serve …`).
 * It runs the TypeScript sources (tsx, and the `@loopwire/source` export condition for the `@loopwire/*` imports),
 * so no build is needed; the compiled, installed bin is what test/consumer runs.
 */
import { fileURLToPath } from "node:url"

export const binArgs: ReadonlyArray<string> = [
  "--conditions=@loopwire/source",
  "--import",
  "tsx",
  fileURLToPath(new URL("../../src/bin.ts", import.meta.url))
]
