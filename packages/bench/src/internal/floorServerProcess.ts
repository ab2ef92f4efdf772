/**
 * Entry point of a floor server running alone in a child process (see `ChildServer`).
 *
 * @internal
 */
import { serve } from "../ChildServer.js"
import { startFloorServer } from "./floorServer.js"

serve(async () => {
  const server = await startFloorServer({ port: 0 })
  return { port: server.port, connections: server.connections, lanes: server.cachedLanes, close: server.close }
})
