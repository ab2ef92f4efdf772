/**
 * The Loopwire gateway as a bench server: `Gateway.layerRoutes` on a Node server the bench owns (listen backlog
 * 4,096 like the floor server, and a count of open connections), the scripted backend loaded with the bench
 * scenario, the default services otherwise (allow-all auth, LatestPerLane cache, in-memory store). Plain
 * promises, because this also runs alone in a child process (`gatewayServerProcess.ts`).
 *
 * @internal
 */
import * as Auth from "@loopwire/server/Auth"
import * as Gateway from "@loopwire/server/Gateway"
import * as GatewayConfig from "@loopwire/server/GatewayConfig"
import * as ResponseStore from "@loopwire/server/ResponseStore"
import * as ScenarioFile from "@loopwire/server/Scenario"
import * as ScriptedBackend from "@loopwire/server/ScriptedBackend"
import * as StateCache from "@loopwire/server/StateCache"
import * as WebSocketServer from "@loopwire/transport/WebSocketServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type * as Net from "node:net"
import type { JsonObject } from "../Workload.js"

/** As the floor server: 1,000 loops connecting at once overflow Node's default backlog of 511. */
const LISTEN_BACKLOG = 4096

/** @internal */
export interface GatewayHandle {
  readonly host: string
  readonly port: number
  /** Open TCP connections (WebSocket connections and HTTP keep-alive sockets). */
  readonly connections: () => number
  /** Entries of the state cache (cached lanes). */
  readonly cachedLanes: () => number
  readonly close: () => Promise<void>
}

/**
 * Start the gateway on 127.0.0.1 (ephemeral port) with `script` (a `Workload.gatewayScenario` JSON value).
 *
 * @internal
 */
export const startGateway = async (
  script: JsonObject,
  options: { readonly inputCostMicrosPerKb?: number | undefined } = {}
): Promise<GatewayHandle> => {
  const scenario = Either.getOrThrow(ScenarioFile.decodeUnknown(script))
  // The gateway's own HTTP server settings (keep-alive timeout), as `Gateway.layer` makes them.
  const server = Gateway.makeHttpServer(GatewayConfig.defaults)
  const sockets = new Set<Net.Socket>()
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })
  const services = Layer.mergeAll(
    // The memory-at-scale test opens 10,000 connections: above the default connection caps.
    GatewayConfig.layer({ port: 0, host: "127.0.0.1", maxConnections: 1_000_000, maxTenantConnections: 1_000_000 }),
    Auth.layer(),
    ScriptedBackend.layer({ scenario, inputCostMicrosPerKb: options.inputCostMicrosPerKb }),
    StateCache.layer(),
    ResponseStore.layerMemory()
  )
  const layer = Gateway.layerRoutes.pipe(
    Layer.provideMerge(WebSocketServer.layerHttpServer(() => server, {
      port: 0,
      host: "127.0.0.1",
      backlog: LISTEN_BACKLOG
    })),
    Layer.provideMerge(services)
  )
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  const cache = Context.get(context, StateCache.StateCache)
  const address = server.address() as Net.AddressInfo
  return {
    host: "127.0.0.1",
    port: address.port,
    connections: () => sockets.size,
    cachedLanes: () => Effect.runSync(cache.stats).entries,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}
