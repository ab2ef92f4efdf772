/**
 * Entry point of the Loopwire gateway running alone in a child process (see `ChildServer`); its first argument is
 * the scripted backend's scenario as JSON (`Workload.gatewayScenario`).
 *
 * @internal
 */
import { serve } from "../ChildServer.js"
import { startGateway } from "./gatewayServer.js"

serve(async () => {
  const server = await startGateway(JSON.parse(process.argv[2] ?? "{\"turns\":[]}"))
  return { port: server.port, connections: server.connections, lanes: server.cachedLanes, close: server.close }
})
