/**
 * Entry point of a floor server running alone in a child process (forked with `--import tsx`), so that scale
 * measurements see the server's memory and CPU without the client's. Speaks a tiny IPC protocol:
 * child → parent `{ type: "listening", port }` once, then answers `{ type: "stats", id }` with
 * `{ type: "stats", id, memory, cpu, connections, lanes, gc }`. Exits when the parent disconnects.
 *
 * @internal
 */
import { collectGarbage } from "./gc.js"
import { startFloorServer } from "./floorServer.js"

const send = (message: unknown) => process.send?.(message)

startFloorServer({ port: 0 }).then(
  (server) => {
    send({ type: "listening", port: server.port })
    process.on("message", (message: { type?: string; id?: number; gc?: boolean }) => {
      if (message?.type !== "stats") return
      const gc = message.gc === true ? collectGarbage() : false
      send({
        type: "stats",
        id: message.id,
        memory: process.memoryUsage(),
        cpu: process.cpuUsage(),
        connections: server.connections(),
        lanes: server.cachedLanes(),
        gc
      })
    })
    process.on("disconnect", () => {
      void server.close().finally(() => process.exit(0))
    })
  },
  (error: unknown) => {
    send({ type: "error", detail: String(error) })
    process.exit(1)
  }
)
