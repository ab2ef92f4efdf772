/**
 * The resume reconnect loop (docs/resume.md): after a drop on a socket whose server offered a resume token, dial
 * again presenting it, backing off, inside the announced grace period. On `loopwire-resumed: 1` the lost
 * connection's state is ours again: ask for the rest of every in-flight response (`loopwire.resume`, in send
 * order) and carry on; otherwise give up, and the requests fail with `ConnectionLost` (their sessions take the
 * standard ladder).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import type { ResponsesError } from "../../ResponsesError.js"
import * as Resume from "../../Resume.js"
import type { Socket } from "./socket.js"

const giveUp = (socket: Socket, reason: Resume.RefusalReason, error: ResponsesError) =>
  Effect.suspend(() => {
    if (socket.dead !== undefined) return Effect.void
    const requests = socket.lanes.inOrder()
    for (const p of requests) p.notify?.({ _tag: "ResumeRefused", reason })
    socket.options.onEvent?.({
      _tag: "ResumeRefused",
      generation: socket.options.generation,
      reason,
      requests: requests.length
    })
    socket.resuming = false
    return socket.die(Resume.refusalError(reason, error))
  })

/**
 * Reconnects with backoff inside the grace period of `lostOffer`, presenting its token.
 *
 * @internal
 */
export const reconnect = (socket: Socket, lostOffer: Resume.Offer, error: ResponsesError): Effect.Effect<void> =>
  Effect.gen(function*() {
    const policy = socket.options.resume!
    const reopen = socket.options.reopen!
    const droppedAt = yield* Clock.currentTimeMillis
    const deadline = droppedAt + lostOffer.graceMillis
    let attempts = 0
    let refused = 0
    for (;;) {
      if (socket.dead !== undefined) return
      const delay = Resume.delayMillis(policy, attempts, yield* Random.next)
      if ((yield* Clock.currentTimeMillis) + delay >= deadline) return yield* giveUp(socket, "grace_expired", error)
      if (delay > 0) yield* Effect.sleep(delay)
      attempts++
      if (socket.dead !== undefined) return
      const scope = yield* Scope.fork(socket.scope, ExecutionStrategy.sequential)
      const opened = yield* reopen({ [Resume.TOKEN_HEADER]: lostOffer.token }).pipe(Scope.extend(scope), Effect.either)
      if (Either.isLeft(opened)) {
        yield* Scope.close(scope, Exit.void)
        const status = opened.left.status
        if (status === 401 || status === 403 || status === 404 || status === 426) {
          return yield* giveUp(socket, "connect_failed", opened.left)
        }
        continue
      }
      const connection = opened.right
      if (socket.dead !== undefined) return yield* Scope.close(scope, Exit.void)
      const headers = connection.handshake.responseHeaders
      if (!Resume.wasResumed(headers)) {
        // A fresh connection with nothing in it: close it (cleanly) and try again, or give up.
        yield* Scope.close(scope, Exit.void)
        if (++refused > policy.refusedRetries) return yield* giveUp(socket, "not_resumed", error)
        continue
      }
      // The lost connection's state is ours again: ask for the rest of every response, in send order.
      socket.current = connection
      socket.currentScope = scope
      socket.offer = Resume.offerOf(headers)
      socket.lastInbound = yield* Clock.currentTimeMillis
      socket.resumes++
      yield* socket.startReader(connection)
      const requests = socket.lanes.inOrder()
      for (const p of requests) {
        p.resumed = true
        p.notify?.({ _tag: "Resumed", startingAfter: p.lastSeq })
        yield* socket.write(connection, Resume.encodeResume(p.requestId, p.lastSeq))
      }
      // Dropped again while asking: the reader started another round, which owns the socket now.
      if (socket.current !== connection) return
      socket.resuming = false
      socket.options.onEvent?.({
        _tag: "Resumed",
        generation: socket.options.generation,
        requests: requests.length,
        attempts,
        downMillis: (yield* Clock.currentTimeMillis) - droppedAt
      })
      yield* socket.pump()
      return yield* socket.maybeCloseRetired()
    }
  })
