/**
 * What a server frame's text alone rules out, so that a reader holding the text can skip the structural walk
 * (`FrameLimits.check`) of the value it parsed from it: the usual delta event is a few hundred bytes.
 *
 * @internal
 */

/**
 * True when the value `JSON.parse(text)` made can be neither nested deeper than `maxDepth` (each level needs an
 * opening and a closing bracket, so a text shorter than `2 × (maxDepth + 1)` characters cannot) nor hold a
 * `__proto__` key (the name does not occur in the text, nor any `\u` escape that could spell it).
 *
 * @internal
 */
export const cannotViolate = (text: string, maxDepth: number): boolean =>
  text.length < 2 * (maxDepth + 1) && !text.includes("__proto__") && !text.includes("\\u")
