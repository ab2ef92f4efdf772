#!/usr/bin/env node
// Runs the CLI from its TypeScript sources (no build step): tsx registers the loader, then the entry point runs.
import { register } from "tsx/esm/api"

register()
await import("../src/bin.ts")
