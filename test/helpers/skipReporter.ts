/**
 * A vitest reporter (the README's `npm test` adds it after the default one): when tests that need a system package
 * were skipped because this machine lacks it, it prints one line at the end saying how many, in which files, and
 * how to run them. Two such packages: Redis (neither `redis-server` on the PATH nor `LOOPWIRE_TEST_REDIS_URL`) and
 * the official Prometheus parser (`python3-prometheus-client`, see ./prometheus.ts). Under `CI=true` nothing is
 * skipped (a missing package fails those tests), so it prints nothing there.
 */
import * as Path from "node:path"
import type { Reporter, TestModule } from "vitest/node"
import { skip, skipPrivate, suiteName } from "../../packages/server/test/helpers/redisSuite.js"
import * as Prometheus from "./prometheus.js"

const skippedUnder = (testModules: ReadonlyArray<TestModule>, suite: string): Map<string, number> => {
  const perFile = new Map<string, number>()
  for (const module of testModules) {
    for (const test of module.children.allTests("skipped")) {
      if (!under(test, suite)) continue
      const file = Path.relative(process.cwd(), module.moduleId)
      perFile.set(file, (perFile.get(file) ?? 0) + 1)
    }
  }
  return perFile
}

const summary = (perFile: Map<string, number>) => ({
  total: [...perFile.values()].reduce((a, b) => a + b, 0),
  files: [...perFile].map(([file, n]) => `${file} (${n})`).join(", ")
})

const under = (test: { readonly parent: unknown }, suite: string): boolean => {
  let node: unknown = test.parent
  while (typeof node === "object" && node !== null && (node as { readonly type?: unknown }).type === "suite") {
    if ((node as { readonly name: string }).name === suite) return true
    node = (node as { readonly parent: unknown }).parent
  }
  return false
}

export default class SkipReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    this.prometheus(testModules)
    // Nothing was skipped on purpose when redis-server is there (or under CI, where a missing one fails).
    if (!skipPrivate) return
    const perFile = skippedUnder(testModules, suiteName)
    if (perFile.size === 0) return
    const { files, total } = summary(perFile)
    const why = skip
      ? "no redis-server on the PATH, LOOPWIRE_TEST_REDIS_URL unset"
      : "no redis-server on the PATH; these start and stop their own server"
    process.stdout.write(
      `\n Redis: ${total} ${total === 1 ? "test" : "tests"} did not run (${why}): ${files}. ` +
        "To run them, install redis-server (Debian/Ubuntu: apt-get install redis-server) or set " +
        "LOOPWIRE_TEST_REDIS_URL=redis://127.0.0.1:6379; with CI=true they fail instead of skipping.\n"
    )
  }

  private prometheus(testModules: ReadonlyArray<TestModule>): void {
    const perFile = skippedUnder(testModules, Prometheus.suiteName)
    if (perFile.size === 0) return
    const { files, total } = summary(perFile)
    process.stdout.write(
      `\n Prometheus: ${total} ${total === 1 ? "test" : "tests"} did not run (the official parser, python3-prometheus-client for /usr/bin/python3, ` +
        `is not installed): ${files}. To run them, install it (Debian/Ubuntu: apt-get install ` +
        "python3-prometheus-client); with CI=true they fail instead of skipping.\n"
    )
  }
}
