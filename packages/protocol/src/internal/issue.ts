/**
 * Turns a Schema parse issue into the single field a person should fix: a `param` path such as
 * `input[2].call_id`, an error code and a readable message.
 *
 * @internal
 */
import * as ParseResult from "effect/ParseResult"
import * as AST from "effect/SchemaAST"
import { UnknownVariantId } from "./schema.js"

interface Leaf {
  readonly path: ReadonlyArray<PropertyKey>
  readonly issue: ParseResult.ParseIssue
  /** Set when several union members failed at the same place: what each expected. */
  readonly alternatives?: ReadonlyArray<AST.AST>
}

const isMarked = (ast: AST.AST): boolean => ast.annotations[UnknownVariantId] === true

const walk = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>): Leaf | undefined => {
  switch (issue._tag) {
    case "Pointer":
      return walk(issue.issue, Array.isArray(issue.path) ? [...path, ...issue.path] : [...path, issue.path])
    case "Transformation":
      return walk(issue.issue, path)
    case "Refinement":
      if (isMarked(issue.ast)) return undefined
      return issue.kind === "From" ? walk(issue.issue, path) : { path, issue }
    case "Composite": {
      const issues: ReadonlyArray<ParseResult.ParseIssue> = Array.isArray(issue.issues) ?
        issue.issues :
        [issue.issues as ParseResult.ParseIssue]
      const leaves: Array<Leaf> = []
      for (const sub of issues) {
        const leaf = walk(sub, path)
        if (leaf !== undefined) leaves.push(leaf)
      }
      const [first, ...rest] = leaves
      if (first === undefined) return undefined
      if (!AST.isUnion(issue.ast) || rest.length === 0) return first
      // A union: the member that got furthest into the value is the one the sender meant.
      let best = first
      for (const leaf of rest) if (leaf.path.length > best.path.length) best = leaf
      if (best.path.length > path.length) return best
      const alternatives = leaves.flatMap((l): ReadonlyArray<AST.AST> =>
        l.alternatives ?? ("ast" in l.issue ? [l.issue.ast as AST.AST] : [])
      )
      return { path, issue: best.issue, alternatives }
    }
    case "Type":
    case "Missing":
      return isMarked(issue.ast as AST.AST) ? undefined : { path, issue }
    case "Unexpected":
    case "Forbidden":
      return { path, issue }
  }
}

/**
 * Formats a path as `input[2].call_id`.
 *
 * @internal
 */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string | null => {
  if (path.length === 0) return null
  let out = ""
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`
    else out += out === "" ? String(key) : `.${String(key)}`
  }
  return out
}

const describe = (actual: unknown): string => {
  if (actual === null) return "null"
  if (Array.isArray(actual)) return "an array"
  switch (typeof actual) {
    case "string": {
      const s = JSON.stringify(actual)
      return s.length > 60 ? `a string (${s.slice(0, 57)}..."` + ")" : s
    }
    case "number":
      return Number.isInteger(actual) ? `an integer (${actual})` : `a number (${actual})`
    case "boolean":
      return `a boolean (${actual})`
    case "object":
      return "an object"
    default:
      return typeof actual
  }
}

const expectedOf = (ast: AST.AST): string => {
  switch (ast._tag) {
    case "StringKeyword":
      return "a string"
    case "NumberKeyword":
      return "a number"
    case "BooleanKeyword":
      return "a boolean"
    case "Literal":
      return JSON.stringify(ast.literal)
    case "TupleType":
      return "an array"
    case "TypeLiteral":
      return "an object"
    case "NeverKeyword":
      return "nothing (remove the field)"
    case "Refinement": {
      const description = AST.getDescriptionAnnotation(ast)
      return description._tag === "Some" ? description.value : expectedOf(ast.from)
    }
    default: {
      const id = AST.getIdentifierAnnotation(ast)
      return id._tag === "Some" ? id.value : String(ast)
    }
  }
}

/**
 * The field to fix.
 *
 * @internal
 */
export interface FieldProblem {
  readonly param: string | null
  readonly code: "missing_required_parameter" | "invalid_type" | "invalid_value"
  readonly message: string
}

/**
 * Picks the most relevant leaf of a parse issue and describes it.
 *
 * @internal
 */
export const describeIssue = (issue: ParseResult.ParseIssue): FieldProblem => {
  const leaf = walk(issue, []) ?? { path: [], issue }
  const param = formatPath(leaf.path)
  const name = param === null ? "the event" : `'${param}'`
  const actual = leaf.issue.actual
  if (leaf.issue._tag === "Missing" && typeof leaf.path[leaf.path.length - 1] === "number") {
    // A required tuple element: the only such schema here is a non-empty list.
    const list = formatPath(leaf.path.slice(0, -1))
    return {
      param: list,
      code: "invalid_value",
      message: `Invalid value for ${list === null ? "the event" : `'${list}'`}: expected a non-empty array.`
    }
  }
  if (leaf.issue._tag === "Missing") {
    return { param, code: "missing_required_parameter", message: `Missing required parameter: ${name}.` }
  }
  const alternatives = leaf.alternatives
  if (alternatives !== undefined && alternatives.length > 0) {
    const allLiterals = alternatives.every(AST.isLiteral)
    const expected = [...new Set(alternatives.map(expectedOf))].join(" or ")
    return {
      param,
      code: allLiterals ? "invalid_value" : "invalid_type",
      message: allLiterals ?
        `Invalid value for ${name}: expected ${expected}, but got ${describe(actual)}.` :
        `Invalid type for ${name}: expected ${expected}, but got ${describe(actual)} instead.`
    }
  }
  if (leaf.issue._tag === "Type" && !AST.isLiteral(leaf.issue.ast) && leaf.issue.message === undefined) {
    return {
      param,
      code: "invalid_type",
      message: `Invalid type for ${name}: expected ${expectedOf(leaf.issue.ast)}, but got ${describe(actual)} instead.`
    }
  }
  const detail = ParseResult.TreeFormatter.formatIssueSync(leaf.issue)
  return { param, code: "invalid_value", message: `Invalid value for ${name}: ${detail}.` }
}
