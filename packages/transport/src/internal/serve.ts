import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Connection } from "../Connection.js"
import type { Decision, Handler, UpgradeRequest } from "../Upgrade.js"
import { reject } from "../Upgrade.js"

/** Runs `onUpgrade`, turning failures and defects into a 500 rejection. @internal */
export const decide = <R>(handler: Handler<R>, request: UpgradeRequest): Effect.Effect<Decision, never, R> =>
  handler.onUpgrade === undefined
    ? Effect.succeed({ _tag: "Accept", headers: {} })
    : handler.onUpgrade(request).pipe(
      Effect.catchAllCause((cause) =>
        Effect.as(
          Effect.logWarning("upgrade decision failed; answering 500", Cause.pretty(cause)),
          reject(500, "internal error while accepting the connection")
        )
      )
    )

/** Runs `handle` for an accepted connection, then closes it (1000; 1001 when interrupted). @internal */
export const serveConnection = <R>(
  handler: Handler<R>,
  connection: Connection,
  request: UpgradeRequest
): Effect.Effect<void, never, R> =>
  Effect.suspend(() => handler.handle(connection, request)).pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.failCause(cause as Cause.Cause<never>)
        : Effect.logWarning(`connection ${connection.id}: handler failed`, Cause.pretty(cause))
    ),
    Effect.onExit((exit) =>
      Exit.isInterrupted(exit) ? connection.close(1001, "server shutting down") : connection.close(1000)
    )
  )
