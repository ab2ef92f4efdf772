/**
 * Shared building blocks for the wire schemas: open structs that keep unknown keys, exact optional fields,
 * JSON-safe numbers and values, and small arbitraries so property tests stay fast.
 *
 * @internal
 */
import * as Arbitrary from "effect/Arbitrary"
import * as Schema from "effect/Schema"

/**
 * Annotation key marking the refinement of an unknown variant (so error reporting can skip that branch).
 *
 * @internal
 */
export const UnknownVariantId: unique symbol = Symbol.for("@loopwire/protocol/UnknownVariant")

/** A JSON value arbitrary kept deliberately tiny (no -0, NaN or huge nesting, so JSON round trips are exact). */
const smallJson: Arbitrary.LazyArbitrary<unknown> = (fc) =>
  fc.oneof<Array<any>>(
    fc.string({ maxLength: 8 }),
    fc.integer({ min: -1000, max: 1000 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
    fc.dictionary(fc.constantFrom("a", "b"), fc.integer({ min: 0, max: 9 }), { maxKeys: 2 })
  )

/**
 * Any JSON value. Decoding accepts anything (values come from `JSON.parse`); the arbitrary yields small JSON.
 *
 * @internal
 */
export const Json: Schema.Schema<unknown> = Schema.Unknown.annotations({
  identifier: "Json",
  arbitrary: () => (fc) => smallJson(fc)
})

/** Keys of unknown fields in generated values: prefixed so they never collide with a known field name. */
const ExtraKey = Schema.String.annotations({
  arbitrary: () => (fc) => fc.constantFrom("x_extra", "x_future", "x_vendor")
})

/**
 * The index signature that makes a struct keep every key it does not know about.
 *
 * @internal
 */
export const Extra = Schema.Record({ key: ExtraKey, value: Json })

/**
 * A struct whose Type and Encoded sides are the wire JSON object, keeping unknown keys on decode and encode.
 *
 * @internal
 */
export const open = <Fields extends Schema.Struct.Fields>(fields: Fields) => Schema.Struct(fields, Extra)

/**
 * An optional field that is either present with a value or absent (never `undefined`), as in JSON.
 *
 * @internal
 */
export const opt = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/**
 * An integer as JSON carries it; generated values stay small.
 *
 * @internal
 */
export const Int = Schema.Int.annotations({ arbitrary: () => (fc) => fc.integer({ min: 0, max: 100_000 }) })

/**
 * A JSON number (floats allowed); generated values are finite, never -0.
 *
 * @internal
 */
export const Num = Schema.Number.annotations({
  arbitrary: () => (fc) => fc.integer({ min: 0, max: 200 }).map((n) => n / 100)
})

/**
 * Free text; generated values stay short.
 *
 * @internal
 */
export const Str = Schema.String.annotations({ arbitrary: () => (fc) => fc.string({ maxLength: 12 }) })

/**
 * An array whose generated values have at most `maxLength` elements (decoding is not limited).
 *
 * @internal
 */
export const arrayOf = <S extends Schema.Schema.Any>(item: S, maxLength = 3) =>
  Schema.Array(item).annotations({
    arbitrary: () => (fc) => fc.array(Arbitrary.makeLazy(item)(fc), { maxLength })
  })

/**
 * A free-form JSON object (tool parameters, metadata, ...).
 *
 * @internal
 */
export const JsonObject = Schema.Record({ key: Schema.String, value: Json }).annotations({
  arbitrary: () => (fc) => fc.dictionary(fc.constantFrom("k1", "k2", "k3"), smallJson(fc), { maxKeys: 2 })
})

/**
 * The string `type` of an unknown variant: any string except the known ones, so a known type with a bad field
 * never silently becomes "unknown".
 *
 * @internal
 */
export const unknownType = (known: ReadonlyArray<string>, identifier: string) => {
  const set = new Set(known)
  return Schema.String.pipe(
    Schema.filter((t) => !set.has(t), { message: () => `known ${identifier} type`, [UnknownVariantId]: true })
  ).annotations({
    identifier,
    arbitrary: () => (fc) => fc.constantFrom("x.future_type", "vendor.custom", "unknown_kind")
  })
}


/**
 * A field that must be absent (`opt(Absent)`): tells one union member from another that has the field. Its branch
 * is skipped in error reports. Schemas using it override their arbitrary; this one only exists for completeness.
 *
 * @internal
 */
export const Absent = Schema.Never.annotations({
  [UnknownVariantId]: true,
  arbitrary: () => (fc) => fc.constant(undefined as never)
})
