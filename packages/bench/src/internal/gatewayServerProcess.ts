/**
 * Entry point of the Loopwire gateway running alone in a child process (see `ChildServer`); its first argument is
 * the path of a file holding the scripted backend's scenario as JSON (`Workload.gatewayScenario`).
 *
 * @internal
 */
import * as Fs from "node:fs/promises"
import { serve } from "../ChildServer.js"
import { startGateway } from "./gatewayServer.js"

serve(async () => {
  const file = process.argv[2]
  // The scripted backend's cost model (ScriptedBackend `inputCostMicrosPerKb`), off unless set.
  const inputCostMicrosPerKb = Number(process.env["LOOPWIRE_SCRIPTED_INPUT_COST_US_PER_KB"] ?? 0)
  const server = await startGateway(file === undefined ? { turns: [] } : JSON.parse(await Fs.readFile(file, "utf8")), {
    inputCostMicrosPerKb
  })
  return { port: server.port, connections: server.connections, lanes: server.cachedLanes, close: server.close }
})
