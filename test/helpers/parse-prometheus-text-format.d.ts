// The parser ships no types: it returns prom2json-shaped families (see ./prometheus.ts).
declare module "parse-prometheus-text-format" {
  const parsePrometheusTextFormat: (text: string) => ReadonlyArray<unknown>
  export default parsePrometheusTextFormat
}
