/**
 * Does a `loopwire serve` process give its memory back after a load? Starts the gateway (the compiled bin when it
 * was built, else the sources through tsx), reads its RSS and heap idle, runs the fault suite's loads against it
 * (`Faults.connectionChurn`: 2,000 connections with one turn each, half of them cut so their sessions wait out the
 * resume grace; `Faults.pipelinedFlood`; `Faults.storeFlood` of `store: false` creates), waits idle past the resume
 * grace, and reads them again. With `--snapshots`, the gateway writes a V8 heap snapshot before and after
 * (`--heapsnapshot-signal`), and the objects that grew are listed by constructor.
 *
 *   npx tsx --conditions=@loopwire/source packages/bench/src/memoryAfterLoad.ts [--snapshots] [--idle 90]
 *     [--connections 2000] [--node-flag=--max-semi-space-size=4] [--store-true 270] [-- <serve args>]
 *
 * Prints one JSON report. Plain Node; not part of the bench suite.
 *
 * @internal
 */
import * as Faults from "@loopwire/testkit/Faults"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { createRequire } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"

const args = process.argv.slice(2)
const flag = (name: string) => args.includes(`--${name}`)
const value = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback
}
const dashdash = args.indexOf("--")
const serveArgs = dashdash >= 0 ? args.slice(dashdash + 1) : []
const nodeFlags = args.filter((a) => a.startsWith("--node-flag=")).map((a) => a.slice("--node-flag=".length))
const idleSeconds = Number(value("idle", "90"))
const connections = Number(value("connections", "2000"))
/** `--store-true <creates>`: instead of the load, that many `store: true` creates of 15 MiB (270: about 4 GB). */
const storeTrue = Number(value("store-true", "0"))

const root = fileURLToPath(new URL("../../../", import.meta.url))
const bundled = Path.join(root, "packages/cli/dist/loopwire.mjs")
// As an operator starts it: the package's bin, which may run the gateway as its child (see bin/loopwire.mjs).
const bin = Fs.existsSync(bundled)
  ? [Path.join(root, "packages/cli/bin/loopwire.mjs")]
  : [
    "--conditions=@loopwire/source",
    // Resolved here: the child runs in a temporary directory, where a bare `tsx` does not resolve.
    "--import",
    pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href,
    Path.join(root, "packages/cli/src/bin.ts")
  ]
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "lw-mem-"))

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** RSS and anonymous memory of a process, bytes (Linux /proc). */
const rssOf = (pid: number) => {
  const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") }
}

/**
 * Resident memory by kind of mapping (Linux `/proc/<pid>/smaps`), MB: `brk` (glibc's main arena, `[heap]`),
 * `anon64` (anonymous mappings inside 64 MiB-aligned reservations of at most 64 MiB: glibc's per-thread arenas),
 * `anonOther` (other anonymous mappings: V8's heap pages, large `mmap`ed malloc blocks, stacks), `file` (code, ICU).
 */
const mappingsOf = (pid: number) => {
  const out = { brk: 0, anon64: 0, anonOther: 0, file: 0, largestAnon: [] as Array<string> }
  const anon: Array<{ start: number; size: number; rss: number; perms: string }> = []
  let current: { start: number; size: number; name: string; perms: string } | undefined
  for (const line of Fs.readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (head !== null) {
      const start = parseInt(head[1]!, 16)
      current = { start, size: parseInt(head[2]!, 16) - start, perms: head[3]!, name: head[4]! }
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss === null || current === undefined) continue
    const bytes = Number(rss[1]) * 1024
    if (current.name === "[heap]") out.brk += bytes
    else if (current.name === "") anon.push({ start: current.start, size: current.size, rss: bytes, perms: current.perms })
    else out.file += bytes
  }
  const arena = 64 * 1024 * 1024
  for (const m of anon) {
    // A glibc arena heap starts on a 64 MiB boundary; its rw part is followed by its ---p reserve.
    if (m.start % arena === 0 && m.size <= arena) out.anon64 += m.rss
    else out.anonOther += m.rss
  }
  out.largestAnon = anon.sort((x, y) => y.rss - x.rss).slice(0, 8).map((m) =>
    `${m.start.toString(16)} ${m.perms} size ${Math.round(m.size / 1e5) / 10} rss ${Math.round(m.rss / 1e5) / 10}`
  )
  const mb = (n: number) => Math.round(n / 1e5) / 10
  return { brk: mb(out.brk), anon64: mb(out.anon64), anonOther: mb(out.anonOther), file: mb(out.file), largestAnon: out.largestAnon }
}

/** The gateway's own view: V8 heap and process metrics from `/metrics`. */
const metricsOf = async (url: string) => {
  const text = await (await fetch(`${url}/metrics`)).text()
  const pick: Record<string, number> = {}
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue
    const match = /^(\S+?)(\{[^}]*\})?\s+(\S+)$/.exec(line)
    if (match === null) continue
    const name = match[1]!
    if (
      /^loopwire_(idle_collection|connection_slots|connections_active|state_cache_bytes|response_store_bytes|resume_log_bytes|held_request_bytes|resumable)/
        .test(name) ||
      /heap|external|array_buffer/.test(name)
    ) pick[`${name}${match[2] ?? ""}`] = Number(match[3])
  }
  return pick
}

// --- heap snapshot summary by constructor ---------------------------------------------------------------------
interface Summary {
  readonly [name: string]: { readonly count: number; readonly bytes: number }
}
const summarize = (file: string): Summary => {
  const snapshot = JSON.parse(Fs.readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: Array<string>; node_types: [Array<string>] } }
    nodes: Array<number>
    strings: Array<string>
  }
  const fields = snapshot.snapshot.meta.node_fields
  const types = snapshot.snapshot.meta.node_types[0]
  const width = fields.length
  const at = (f: string) => fields.indexOf(f)
  const [iType, iName, iSize] = [at("type"), at("name"), at("self_size")]
  const out: Record<string, { count: number; bytes: number }> = {}
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + iType]!]!
    if (type === "hidden" || type === "synthetic") continue
    const name = type === "object" || type === "closure"
      ? `${type}:${snapshot.strings[snapshot.nodes[i + iName]!]}`
      : `(${type})`
    const entry = (out[name] ??= { count: 0, bytes: 0 })
    entry.count++
    entry.bytes += snapshot.nodes[i + iSize]!
  }
  return out
}
const grew = (before: Summary, after: Summary, top = 25) =>
  Object.entries(after)
    .map(([name, a]) => ({
      name,
      count: a.count - (before[name]?.count ?? 0),
      bytes: a.bytes - (before[name]?.bytes ?? 0)
    }))
    .filter((d) => d.count > 0 || d.bytes > 0)
    .sort((x, y) => y.bytes - x.bytes)
    .slice(0, top)

const snapshotNow = async (pid: number, url: string) => {
  const existing = new Set(Fs.readdirSync(dir))
  process.kill(pid, "SIGUSR2")
  for (let i = 0; i < 600; i++) {
    await sleep(500)
    const fresh = Fs.readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot") && !existing.has(f))
    // Written once complete: wait until its size stops changing.
    if (fresh.length > 0) {
      // The snapshot is written on the gateway's main thread: once it answers again, the file is complete.
      await fetch(`${url}/healthz`).then((response) => response.text())
      return Path.join(dir, fresh[0]!)
    }
  }
  throw new Error("no heap snapshot written")
}

const main = async () => {
  const snapshots = flag("snapshots")
  const child = spawn(process.execPath, [
    ...nodeFlags,
    ...(snapshots ? ["--heapsnapshot-signal=SIGUSR2"] : []),
    ...bin,
    "serve",
    "--port",
    "0",
    ...serveArgs
  ], { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LOOPWIRE_ERROR_BURST: "1000000" } })
  let output = ""
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8")
      const match = /listening on (http:\/\/\S+)/.exec(output)
      if (match) resolve(match[1]!)
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("exit", (code) => reject(new Error(`gateway exited (${code}):\n${output}`)))
  })
  // The bin's child when it re-ran itself with the allocator environment, else the process started here.
  const children = (pid: number) =>
    Fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter((p) => p !== "").map(Number)
  const wrapper = child.pid!
  const pid = children(wrapper)[0] ?? wrapper
  try {
    await sleep(5_000)
    const before = { ...rssOf(pid), mappings: mappingsOf(pid), metrics: await metricsOf(url) }
    const snapBefore = snapshots ? await snapshotNow(pid, url) : undefined
    const target = { baseUrl: url }
    const started = Date.now()
    if (storeTrue > 0) {
      let peakRss = 0
      const sampler = setInterval(() => {
        peakRss = Math.max(peakRss, rssOf(pid).rss)
      }, 250)
      const store = await Effect.runPromise(
        Faults.storeFlood({ ...target, creates: storeTrue, inputBytes: 15 * 1024 * 1024, store: true })
      ).finally(() => clearInterval(sampler))
      const health = await fetch(`${url}/healthz`).then((response) => response.status)
      const mb = (n: number) => Math.round(n / 1e5) / 10
      console.log(JSON.stringify({
        bin: bin.join(" "),
        storeTrue: { creates: storeTrue, sentMB: mb(storeTrue * 15 * 1024 * 1024), seconds: (Date.now() - started) / 1000 },
        store,
        healthz: health,
        rssMB: { before: mb(before.rss), peak: mb(peakRss), end: mb(rssOf(pid).rss) },
        metricsEnd: await metricsOf(url)
      }, null, 2))
      return
    }
    const churn = await Effect.runPromise(
      Effect.all([
        Faults.connectionChurn({ ...target, connections: connections / 2, concurrency: 200, inputBytes: 8 * 1024 }),
        Faults.connectionChurn({
          ...target,
          connections: connections / 2,
          concurrency: 200,
          inputBytes: 8 * 1024,
          drop: true
        })
      ], { concurrency: 2 })
    )
    const flood = await Effect.runPromise(Faults.pipelinedFlood({ ...target, frames: 50_000 }))
    const store = await Effect.runPromise(
      Faults.storeFlood({ ...target, creates: 40, inputBytes: 15 * 1024 * 1024, store: false })
    )
    const loadSeconds = (Date.now() - started) / 1000
    const peak = rssOf(pid)
    const samples: Array<{ readonly t: number; readonly rss: number }> = []
    for (let t = 0; t <= idleSeconds; t += 10) {
      samples.push({ t, rss: rssOf(pid).rss })
      if (t < idleSeconds) await sleep(10_000)
    }
    const after = { ...rssOf(pid), mappings: mappingsOf(pid), metrics: await metricsOf(url) }
    const snapAfter = snapshots ? await snapshotNow(pid, url) : undefined
    const mb = (n: number) => Math.round(n / 1e5) / 10
    const report = {
      bin: bin.join(" "),
      nodeFlags,
      serveArgs,
      loadSeconds,
      churn,
      flood: { answers: flood.answers, closeCode: flood.closeCode, turnsDuring: flood.turnsDuring.length },
      store,
      ...(pid !== wrapper ? { wrapperRssMB: mb(rssOf(wrapper).rss) } : {}),
      rssMB: { before: mb(before.rss), peak: mb(peak.rss), after: mb(after.rss), ratio: after.rss / before.rss },
      anonMB: { before: mb(before.anon), after: mb(after.anon) },
      mappingsMB: { before: before.mappings, after: after.mappings },
      env: Object.fromEntries(
        Fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").map((e) => e.split("=", 2))
          .filter(([k]) => k!.startsWith("MALLOC_") || k === "UV_THREADPOOL_SIZE" || k === "LOOPWIRE_MALLOC_ENV")
      ),
      idleRssMB: samples.map((s) => `${s.t}s:${mb(s.rss)}`).join(" "),
      metricsBefore: before.metrics,
      metricsAfter: after.metrics,
      ...(snapBefore !== undefined && snapAfter !== undefined
        ? { grewByConstructor: grew(summarize(snapBefore), summarize(snapAfter)) }
        : {})
    }
    console.log(JSON.stringify(report, null, 2))
  } finally {
    child.kill("SIGTERM")
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
