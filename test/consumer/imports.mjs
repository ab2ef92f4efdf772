// Plain `node` (no loader, no flags): every public module of every installed @loopwire package imports, and the
// internal ones are refused. Run from the consumer project (test/consumer/run.sh).
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import * as Path from "node:path"

const names = JSON.parse(readFileSync("package.json", "utf8")).loopwirePackages
const failures = []
let count = 0
for (const name of names) {
  const dir = Path.join("node_modules", ...name.split("/"))
  const pkg = JSON.parse(readFileSync(Path.join(dir, "package.json"), "utf8"))
  const blocked = Object.entries(pkg.exports).filter(([, target]) => target === null).map(([key]) => key)
  const modules = readdirSync(Path.join(dir, "dist"))
    .filter((f) => f.endsWith(".js"))
    .map((f) => f.slice(0, -3))
    .filter((m) => !blocked.includes(`./${m}`))
  for (const specifier of [name, ...modules.map((m) => `${name}/${m}`)]) {
    try {
      const module = await import(specifier)
      if (Object.keys(module).length === 0) failures.push(`${specifier}: no exports`)
      count++
    } catch (error) {
      failures.push(`${specifier}: ${error.code ?? ""} ${error.message}`)
    }
  }
  const internalDir = Path.join(dir, "dist", "internal")
  const internals = existsSync(internalDir) ? readdirSync(internalDir).filter((f) => f.endsWith(".js")) : []
  for (const file of internals) {
    const specifier = `${name}/internal/${file.slice(0, -3)}`
    try {
      await import(specifier)
      failures.push(`${specifier}: importable, but internal modules must not be exported`)
    } catch (error) {
      if (error.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") failures.push(`${specifier}: ${error.code} ${error.message}`)
    }
  }
  try {
    createRequire(import.meta.url).resolve(`${name}/internal/x`)
    failures.push(`${name}/internal/x resolves`)
  } catch {}
}
if (failures.length > 0) {
  console.error(`consumer: ${failures.length} import failures:\n  ${failures.join("\n  ")}`)
  process.exit(1)
}
console.log(`consumer: ${count} public modules of ${names.length} packages import under plain node; internal ones are refused`)
