// Bundles the compiled CLI (dist/bin.js) into one file, dist/loopwire.mjs, which bin/loopwire.mjs runs. Node resolves
// and loads each of the ~1,500 ESM files of effect, @effect/* and OpenTelemetry one by one; from one file `loopwire
// serve` listens in about 0.4 s instead of about 1.1 s (and idles at about 110 MB instead of 145 MB). The bundle is for
// the command only: the package's modules (`@loopwire/cli/*`) are the unbundled dist/ files, sharing the consumer's
// `effect`. `@loopwire/bench` stays outside (it is not a dependency; `loopwire bench` imports it when installed).
import { build } from "esbuild"
import { fileURLToPath } from "node:url"

const here = fileURLToPath(new URL("..", import.meta.url))

await build({
  absWorkingDir: here,
  entryPoints: ["dist/bin.js"],
  outfile: "dist/loopwire.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["@loopwire/bench", "@loopwire/bench/*"],
  // CommonJS dependencies (ws, ioredis, undici) call require(); an ESM bundle has none of its own.
  banner: { js: "import { createRequire as __loopwireRequire } from 'node:module'; const require = __loopwireRequire(import.meta.url);" },
  legalComments: "none",
  logLevel: "warning"
})
