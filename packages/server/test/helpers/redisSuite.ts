/**
 * Whether the tests that need Redis can run here, and the name of the suite that wraps them (redisServer.ts
 * declares them; the reporter test/helpers/skipReporter.ts finds the skipped ones by it). Kept apart from
 * redisServer.ts: the reporter runs in vitest's main process and cannot import vitest.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

export const suiteName = "needs redis-server"

const onPath = (command: string): boolean =>
  (process.env["PATH"] ?? "").split(Path.delimiter).some((dir) => {
    if (dir === "") return false
    try {
      Fs.accessSync(Path.join(dir, command), Fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })

/** `CI` set to anything but empty, `0` or `false`. */
export const inCi = (): boolean => {
  const ci = process.env["CI"]
  return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false"
}

/** True when tests that start their own `redis-server` cannot run here (never under CI). */
export const skipPrivate: boolean = !inCi() && !onPath("redis-server")

/** True when tests that use any Redis (`LOOPWIRE_TEST_REDIS_URL`, else their own) cannot run here (never under CI). */
export const skip: boolean = skipPrivate && (process.env["LOOPWIRE_TEST_REDIS_URL"] ?? "") === ""
