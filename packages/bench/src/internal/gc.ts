/**
 * A best-effort full garbage collection, for memory measurements (no `--expose-gc` flag needed).
 *
 * @internal
 */
import * as V8 from "node:v8"
import * as Vm from "node:vm"

let cached: (() => void) | null | undefined = undefined

/** @internal */
export const collectGarbage = (): boolean => {
  if (cached === undefined) {
    try {
      V8.setFlagsFromString("--expose_gc")
      cached = Vm.runInNewContext("gc") as () => void
    } catch {
      cached = null
    }
  }
  if (cached === null) return false
  cached()
  cached()
  return true
}
