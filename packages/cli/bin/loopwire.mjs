#!/usr/bin/env node
// The `loopwire` command: the compiled CLI bundled into one file (`npm run build`, or `prepack` when packing; see
// scripts/bundle.mjs for why). In the repository, `npm run demo` / `npm run bench` and the tests run the TypeScript
// sources instead (see the README).
import "../dist/loopwire.mjs"
