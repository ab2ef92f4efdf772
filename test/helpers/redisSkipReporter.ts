/**
 * A vitest reporter (the README's `npm test` adds it after the default one): when tests that need Redis were
 * skipped because this machine has neither `redis-server` on the PATH nor `LOOPWIRE_TEST_REDIS_URL`, it prints
 * one line at the end saying how many, in which files, and how to run them. Under `CI=true` nothing is skipped
 * (see packages/server/test/helpers/redisServer.ts), so it prints nothing there.
 */
import * as Path from "node:path"
import type { Reporter, TestModule } from "vitest/node"
import { skip, skipPrivate, suiteName } from "../../packages/server/test/helpers/redisSuite.js"

const underRedisSuite = (test: { readonly parent: unknown }): boolean => {
  let node: unknown = test.parent
  while (typeof node === "object" && node !== null && (node as { readonly type?: unknown }).type === "suite") {
    if ((node as { readonly name: string }).name === suiteName) return true
    node = (node as { readonly parent: unknown }).parent
  }
  return false
}

export default class RedisSkipReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    // Nothing was skipped on purpose when redis-server is there (or under CI, where a missing one fails).
    if (!skipPrivate) return
    const perFile = new Map<string, number>()
    for (const module of testModules) {
      for (const test of module.children.allTests("skipped")) {
        if (!underRedisSuite(test)) continue
        const file = Path.relative(process.cwd(), module.moduleId)
        perFile.set(file, (perFile.get(file) ?? 0) + 1)
      }
    }
    if (perFile.size === 0) return
    const total = [...perFile.values()].reduce((a, b) => a + b, 0)
    const why = skip
      ? "no redis-server on the PATH, LOOPWIRE_TEST_REDIS_URL unset"
      : "no redis-server on the PATH; these start and stop their own server"
    const files = [...perFile].map(([file, n]) => `${file} (${n})`).join(", ")
    process.stdout.write(
      `\n Redis: ${total} tests did not run (${why}): ${files}. ` +
        "To run them, install redis-server (Debian/Ubuntu: apt-get install redis-server) or set " +
        "LOOPWIRE_TEST_REDIS_URL=redis://127.0.0.1:6379; with CI=true they fail instead of skipping.\n"
    )
  }
}
