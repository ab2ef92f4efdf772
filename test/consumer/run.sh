#!/usr/bin/env bash
# The consumer test (`npm run test:consumer`; .ci/run runs it after `npm test`): what a user of the published
# packages gets. It packs every publishable workspace package (its `prepack` builds it), checks what each tarball
# holds, installs the tarballs into a fresh project outside the repository with registry dependencies only, then:
#   1. type-checks a strict consumer (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess,
#      skipLibCheck: false) that imports every package: no error anywhere;
#   2. imports every public module of every package from plain `node` (no tsx), and checks internals are refused;
#   3. runs the installed `loopwire serve --port 0` and gets a completed response from `POST /v1/responses`;
#   4. runs the installed `loopwire bench`, which must say how to get @loopwire/bench (not installed).
# Any failure stops it with a message and exit code 1. Needs the npm registry (or a warm npm cache).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/test/consumer"
work="$(mktemp -d "${TMPDIR:-/tmp}/loopwire-consumer.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "consumer test FAILED: $*" >&2
  exit 1
}
step() { echo "consumer: $*"; }

cd "$root"
# Publishable = every workspace package that is not private.
mapfile -t packages < <(node -e '
  const root = require("./package.json")
  for (const dir of root.workspaces) {
    const pkg = require(`./${dir}/package.json`)
    if (pkg.private !== true) console.log(`${dir} ${pkg.name}`)
  }')
[ "${#packages[@]}" -gt 0 ] || fail "no publishable packages"

step "packing ${#packages[@]} packages"
mkdir -p "$work/tarballs"
pack_args=()
names=()
for entry in "${packages[@]}"; do
  pack_args+=(-w "${entry%% *}")
  names+=("${entry#* }")
done
npm pack "${pack_args[@]}" --pack-destination "$work/tarballs" --silent >/dev/null || fail "npm pack"
tarballs=("$work"/tarballs/*.tgz)
[ "${#tarballs[@]}" -eq "${#packages[@]}" ] || fail "expected ${#packages[@]} tarballs, got ${#tarballs[@]}"

# What each tarball holds: the build, package.json, README.md, LICENSE; no tests, fixtures or tsconfig files.
for tarball in "${tarballs[@]}"; do
  listing="$(tar -tzf "$tarball")"
  for required in package/package.json package/README.md package/LICENSE package/dist/index.js package/dist/index.d.ts \
    package/dist/index.js.map; do
    grep -qx "$required" <<<"$listing" || fail "$(basename "$tarball") lacks ${required#package/}"
  done
  if grep -E '^package/(test|fixtures|build)/|tsconfig[^/]*\.json$|\.tsbuildinfo$|\.test\.' <<<"$listing"; then
    fail "$(basename "$tarball") holds the files above, which are not for users"
  fi
done

step "installing the tarballs into $work/app (registry dependencies only)"
mkdir -p "$work/app"
cp "$here/consumer.ts" "$here/tsconfig.json" "$here/imports.mjs" "$work/app/"
cd "$work/app"
node -e '
  const names = process.argv.slice(1)
  require("fs").writeFileSync("package.json", JSON.stringify({
    name: "loopwire-consumer", private: true, type: "module", loopwirePackages: names
  }, null, 2))' -- "${names[@]}"
# The peers (effect, @effect/platform, @effect/platform-node, @effect/ai) at the versions the packages accept;
# the consumer's own TypeScript and Node types.
npm install --no-audit --no-fund --loglevel=error "${tarballs[@]}" \
  "effect@^3.22.4" "@effect/platform@^0.97.2" "@effect/platform-node@^0.108.2" \
  "typescript@~5.9.3" "@types/node@^20.19.0" || fail "npm install of the tarballs"
for absent in tsx openai @loopwire/bench; do
  [ ! -e "node_modules/$absent" ] || fail "$absent was installed, but no published package may need it"
done
copies="$(find . -path '*/node_modules/effect/package.json' | wc -l)"
[ "$copies" -eq 1 ] || fail "$copies copies of effect installed (peers must give one)"

step "type-checking a strict consumer (skipLibCheck: false)"
node_modules/.bin/tsc -p tsconfig.json || fail "the strict consumer does not type-check"

step "importing every package from plain node"
node imports.mjs || fail "plain-node imports"

step "the installed loopwire prints the packed version"
expected_version="$(node -p 'require("./node_modules/@loopwire/cli/package.json").version')"
[ "$(node_modules/.bin/loopwire --version)" = "$expected_version" ] || fail "loopwire --version is not $expected_version"

step "running the installed loopwire serve"
node_modules/.bin/loopwire serve --port 0 >"$work/serve.log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 1 200); do
  url="$(grep -oE 'listening on http://[^ ]+' "$work/serve.log" | head -n1 | sed 's/^listening on //')" || true
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; fail "loopwire serve exited"; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/serve.log" >&2; fail "loopwire serve did not print its address within 20 s"; }
URL="$url" node --input-type=module -e '
  const response = await fetch(`${process.env.URL}/v1/responses`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "any", input: "Hello" })
  })
  const body = await response.json()
  if (response.status !== 200 || body.status !== "completed") {
    console.error(`POST /v1/responses: ${response.status} ${JSON.stringify(body)}`)
    process.exit(1)
  }
  console.log(`consumer: POST ${process.env.URL}/v1/responses -> ${body.status} (${body.id})`)
' || fail "POST /v1/responses on the installed loopwire serve"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""

step "loopwire bench without @loopwire/bench"
set +e
bench_output="$(node_modules/.bin/loopwire bench 2>&1)"
bench_code=$?
set -e
[ "$bench_code" -eq 1 ] || fail "loopwire bench exited with $bench_code: $bench_output"
grep -q "npm run bench" <<<"$bench_output" || fail "loopwire bench does not say how to get the bench: $bench_output"

step "passed"
