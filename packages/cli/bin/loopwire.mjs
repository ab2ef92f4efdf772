#!/usr/bin/env node
// The `loopwire` command: the compiled entry point (`npm run build`, or `prepack` when packing). In the repository,
// `npm run demo` / `npm run bench` and the tests run the TypeScript sources instead (see the README).
import "../dist/bin.js"
