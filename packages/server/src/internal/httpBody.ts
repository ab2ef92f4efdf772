/**
 * Reading an HTTP request body under a byte limit, answering instead of resetting: a body declared (or found)
 * larger than the limit is not read further, and what the client still sends is drained by Node after the answer
 * (`IncomingMessage` dumping), so the client reads its 413 instead of a reset.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Http from "node:http"

export type BodyResult =
  | { readonly _tag: "Body"; readonly text: string }
  | { readonly _tag: "TooLarge" }
  | { readonly _tag: "Failed"; readonly message: string }

/** The UTF-8 body of `message`, unless it is larger than `maxBytes`. */
export const read = (message: Http.IncomingMessage, maxBytes: number): Effect.Effect<BodyResult> =>
  Effect.async<BodyResult>((resume) => {
    const declared = Number(message.headers["content-length"])
    if (Number.isFinite(declared) && declared > maxBytes) {
      message.resume()
      return resume(Effect.succeed({ _tag: "TooLarge" }))
    }
    const chunks: Array<Buffer> = []
    let size = 0
    const cleanup = () => {
      message.off("data", onData)
      message.off("end", onEnd)
      message.off("error", onError)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBytes) return void chunks.push(chunk)
      cleanup()
      chunks.length = 0
      // Keep discarding what the client still sends: the answer comes first, then Node drains the rest.
      message.resume()
      resume(Effect.succeed({ _tag: "TooLarge" }))
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed({ _tag: "Body", text: Buffer.concat(chunks, size).toString("utf8") }))
    }
    const onError = (error: Error) => {
      cleanup()
      resume(Effect.succeed({ _tag: "Failed", message: error.message }))
    }
    if (message.readableEnded) return resume(Effect.succeed({ _tag: "Body", text: "" }))
    message.on("data", onData)
    message.on("end", onEnd)
    message.on("error", onError)
    return Effect.sync(cleanup)
  })
