/**
 * Writing a response's events: each batch of encoded frames to the resume log, then to the socket that accepted
 * the response (while it is attached); steer events share the response's numbering.
 *
 * @internal
 */
import { type ServerEvent, withEnvelope } from "@loopwire/protocol/ServerEvent"
import * as Effect from "effect/Effect"
import * as Turn from "../turn.js"
import type { Writer } from "../../ResumeLog.js"
import { type Output, type SessionState, ignoreLogError } from "./state.js"


// The socket write of a response: only while the socket that accepted it is attached (after a drop the client
// gets the rest with `loopwire.resume`, from the log).
export const deliver = (state: SessionState, output: Output, text: string): Effect.Effect<void> => {
  const attached = state.attached
  return attached !== undefined && attached.epoch === output.epoch ? attached.send(text) : Effect.void
}

export const deliverAll = (state: SessionState, output: Output, frames: ReadonlyArray<Turn.Frame>): Effect.Effect<void> => {
  const attached = state.attached
  if (attached === undefined || attached.epoch !== output.epoch) return Effect.void
  return frames.length === 1 ? attached.send(frames[0]!.text) : attached.sendAll(frames.map((frame) => frame.text))
}

// Appended before it is written, so the log holds every event the client may have seen.
export const record = (output: Output, sequenceNumber: number, text: string): Effect.Effect<void> =>
  output.writer === undefined
    ? Effect.void
    : Effect.catchAll(output.writer.append(sequenceNumber, text), ignoreLogError("append failed"))

export const recordAll = (writer: Writer, frames: ReadonlyArray<Turn.Frame>): Effect.Effect<void> =>
  frames.length === 1
    ? Effect.catchAll(writer.append(frames[0]!.seq, frames[0]!.text), ignoreLogError("append failed"))
    : writer.appendAll !== undefined
    ? Effect.catchAll(writer.appendAll(frames), ignoreLogError("append failed"))
    : Effect.catchAll(
      Effect.forEach(frames, (frame) => writer.append(frame.seq, frame.text), { discard: true }),
      ignoreLogError("append failed")
    )

// The turn encoded each event once; its text goes to the log, then to the socket, a batch at a time.
export const sinkFor = (state: SessionState, output: Output): Turn.Sink => (frames) => {
  const writer = output.writer
  return writer === undefined
    ? deliverAll(state, output, frames)
    : Effect.zipRight(recordAll(writer, frames), Effect.suspend(() => deliverAll(state, output, frames)))
}

export const beginOutput = (
  state: SessionState,
  lane: string,
  requestId: string | undefined,
  epoch: number
): Effect.Effect<Output> =>
  Effect.gen(function*() {
    const responseId = Turn.responseId()
    const lock = state.env.backend.supportsSteering ? (yield* Effect.makeSemaphore(1)).withPermits(1) : undefined
    const output: Output = { responseId, epoch, writer: undefined, lock }
    state.outputs.set(responseId, output)
    const resume = state.resume
    if (resume !== undefined && state.token !== undefined) {
      output.writer = yield* resume.log.begin({
        session: { tenant: state.tenant, token: state.token },
        responseId,
        lane,
        requestId
      }).pipe(
        Effect.catchAll((error) => Effect.as(ignoreLogError("begin failed")(error), undefined))
      )
    }
    return output
  })

export const endOutput = (state: SessionState, output: Output): Effect.Effect<void> =>
  Effect.suspend(() => {
    state.outputs.delete(output.responseId)
    return output.writer === undefined ? Effect.void : Effect.catchAll(output.writer.end, ignoreLogError("end failed"))
  })

export const steerEvent = (state: SessionState, target: Turn.Running, event: Turn.WireEvent): Effect.Effect<void> => {
  const output = state.outputs.get(target.id)
  const write = Effect.suspend(() => {
    const seq = target.seq++
    const text = JSON.stringify(withEnvelope(event as ServerEvent, seq, target.streamId))
    if (output === undefined) {
      const attached = state.attached
      return attached === undefined ? Effect.void : attached.send(text)
    }
    return sinkFor(state, output)([{ type: event.type, seq, text }])
  })
  return output?.lock === undefined ? write : output.lock(write)
}
