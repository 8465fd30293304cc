#!/usr/bin/env bash
# Single executables with Node's own SEA support: esbuild bundle (CJS) -> SEA blob -> postject into a
# Node 24 LTS runtime taken from the npm registry (integrity pinned in runtimes.json).
# Usage: installer/sea/build.sh [OUT_DIR]   (default dist/). Env: RMAGENT_VERSION overrides package.json's, RMAGENT_BUILD
# the build number (default: the commit count; scripts/package.sh sets both);
# RMAGENT_SEA_SRC builds the entries of another source tree (default: this checkout) with this checkout's build
# machinery (loader, payload writer, shims).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${1:-$ROOT/dist}"
CACHE="$ROOT/installer/.cache"
RUNTIMES="$ROOT/installer/sea/runtimes.json"
FUSE=NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2
SRC="${RMAGENT_SEA_SRC:-$ROOT}"
cd "$ROOT"
mkdir -p "$OUT" "$CACHE/runtimes" "$CACHE/bundle"

VERSION="${RMAGENT_VERSION:-$(node -p 'require("./package.json").version')}"
BUILD="${RMAGENT_BUILD:-$(git rev-list --count HEAD 2>/dev/null || echo 0)}"
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
NODE_VERSION="$(node -p "require('$RUNTIMES').version")"
json() { node -p "require('$RUNTIMES').targets['$1'].$2"; }

# Fetch (once) and verify one runtime tarball; prints the path of the extracted node binary.
runtime() {
  local target="$1" pkg binary want tgz dir have
  pkg="$(json "$target" package)"; binary="$(json "$target" binary)"; want="$(json "$target" integrity)"
  tgz="$CACHE/runtimes/$pkg-$NODE_VERSION.tgz"
  if [ ! -f "$tgz" ]; then
    (cd "$CACHE/runtimes" && npm pack --silent "$pkg@$NODE_VERSION" >/dev/null)
  fi
  have="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$have" != "$want" ]; then
    echo "runtime $pkg@$NODE_VERSION: integrity mismatch (have $have, want $want); delete $tgz and retry" >&2
    return 1
  fi
  dir="$CACHE/runtimes/$pkg-$NODE_VERSION"
  if [ ! -f "$dir/package/$binary" ]; then
    rm -rf "$dir"; mkdir -p "$dir"; tar -xzf "$tgz" -C "$dir" "package/$binary"
  fi
  echo "$dir/package/$binary"
}

# Three of winston's dependencies are bundled as the small stand-ins listed in shims/aliases.json (why: each file's
# header): Node's own streams for its copy of them, a silent tracer for its DEBUG-only one (-1.2 MB idle RSS for the
# two), and the colour library logform's colorize loads, loaded on first use (never, for the logs the agent writes).
mapfile -t SHIMS < <(node -e 'const a = require(process.argv[1]); for (const [k, v] of Object.entries(a)) console.log(`--alias:${k}=${require("path").join(process.argv[2], v)}`)' "$ROOT/installer/sea/shims/aliases.json" "$ROOT/installer/sea/shims")
[ "${#SHIMS[@]}" -gt 0 ] || { echo "installer/sea/shims/aliases.json: no aliases read" >&2; exit 1; }

# One CommonJS file per entry; version facts baked in (src/version.ts). Fully minified: the source string lives in
# the heap for the life of the process (short names: -0.75 MB idle RSS). Stack traces then show short names;
# the external source map of the same build ($CACHE/bundle/NAME.cjs.map, not shipped) maps them back.
bundle() {
  local name="$1" entry="$2" external=() assets=''
  if [ "$name" = rmagent ]; then
    # systeminformation and re2js (log-check patterns) travel as assets, run on first use (src/system/sea-module.ts):
    # 312 KB and ~130 KB less main script, whose source stays in the heap for the life of the process.
    local module list=''
    for module in systeminformation re2js; do
      npx --no-install esbuild "$(node -p "require.resolve('$module', { paths: ['$SRC'] })")" --bundle --platform=node \
        --format=cjs --target=node24 --log-level=warning --legal-comments=none --minify --outfile="$CACHE/bundle/$module.cjs"
      external+=("--external:$module")
      list+="${list:+, }\"$module.cjs\": \"$CACHE/bundle/$module.cjs\""
    done
    assets=", \"assets\": { $list }"
    # ws is the agent's one user of http and https, for its upgrade request only: src/system/http-upgrade.ts stands in
    # for both (-1 MB idle RSS: Node's HTTP stack is never loaded). The server keeps Node's http.
    external+=("--alias:http=$SRC/src/system/http-upgrade.ts" "--alias:https=$SRC/src/system/http-upgrade.ts")
    # ws requires zlib when it loads, for a permessage-deflate the agent's server never negotiates: bundled as a
    # stand-in that loads Node's zlib on first use (installer/sea/shims/zlib-lazy.cjs, -0.4 MB idle RSS). The agent's
    # own backup code imports `node:zlib`, which the alias leaves alone.
    external+=("--alias:zlib=$ROOT/installer/sea/shims/zlib-lazy.cjs")
    # Default imports of node:path and node:fs read through stand-ins whose prototype is the module, so esbuild's copy of
    # the module for each importing file has no getters to make (installer/sea/shims/node-path.cjs, -0.1 MB idle heap).
    external+=("--alias:node:path=$ROOT/installer/sea/shims/node-path.cjs" "--alias:node:fs=$ROOT/installer/sea/shims/node-fs.cjs")
  fi
  npx --no-install esbuild "$entry" --bundle --platform=node --format=cjs --target=node24 "${external[@]}" "${SHIMS[@]}" \
    --define:__RMAGENT_VERSION__="\"$VERSION+$BUILD\"" --define:__RMAGENT_COMMIT__="\"$COMMIT\"" \
    --log-level=warning --legal-comments=none --minify --sourcemap=external \
    --outfile="$CACHE/bundle/$name.cjs"
  # The V8 flags the agent runs with (AGENT_FLAGS, below) become the blobs' execArgv; the server keeps V8's defaults.
  # The agent's runtime flags are extended only by a `--node-options=` argument, never by NODE_OPTIONS (execArgvExtension
  # "cli"): the backup job turns --lite-mode off that way (src/services/backup/job-launcher.ts), which NODE_OPTIONS
  # does not allow, and the root daemon takes no runtime flags from its environment.
  local argv='[]' flags=() extension=env
  if [ "$name" = rmagent ]; then
    flags=("${AGENT_FLAGS[@]}")
    extension=cli
    argv="[$(printf '"%s", ' "${flags[@]}" | sed 's/, $//')]"
  fi
  # A portable blob (no code cache: V8's cache is only valid on the machine kind that made it)...
  blob "$name" "$CACHE/bundle/$name.cjs" false
  if [ "$name" = rmagent ]; then
    # ...and for the Linux agents, a blob whose main script is only the loader: the code itself is appended to the
    # executable after the end of the ELF file (scripts/sea-payload.ts), where no segment maps it (-0.35 MB idle RSS).
    npx --no-install esbuild "$ROOT/src/cli/sea-loader.ts" --bundle --platform=node --format=cjs --target=node24 \
      --log-level=warning --legal-comments=none --minify --outfile="$CACHE/bundle/$name-loader.cjs"
    blob "$name-loader" "$CACHE/bundle/$name-loader.cjs" false
  else
    # ...or one with a code cache for linux-x64, whose runtime writes both (compiles ~2 MB of JS in ~70 ms without it).
    blob "$name-cached" "$CACHE/bundle/$name.cjs" true
  fi
}

# One SEA blob: NAME MAIN USE_CODE_CACHE (reads argv, flags and assets of the calling bundle()).
blob() {
  local out="$1" main="$2" cached="$3"
  cat > "$CACHE/bundle/$out.sea.json" <<EOF
{ "main": "$main", "output": "$CACHE/bundle/$out.blob", "useCodeCache": $cached, "disableExperimentalSEAWarning": true, "useSnapshot": false, "execArgv": $argv, "execArgvExtension": "$extension"$assets }
EOF
  # The blob format belongs to the runtime version, so the linux-x64 Node 24 (runs here) writes it. V8 rejects a
  # code cache made under other flags ("Code cache data rejected"): make it under the execArgv.
  "$HOST_NODE" "${flags[@]}" --experimental-sea-config "$CACHE/bundle/$out.sea.json" >/dev/null
}

inject() {
  local name="$1" target="$2" base="$3" blob="${4:-$1}" ext="" out
  [ "$target" = win-x64 ] && ext=".exe"
  out="$OUT/$name-$target$ext"
  rm -f "$out"; cp "$base" "$out"; chmod 0755 "$out"
  npx --no-install postject "$out" NODE_SEA_BLOB "$CACHE/bundle/$blob.blob" --sentinel-fuse "$FUSE" >/dev/null
  echo "built $out"
}

# The agent is idle almost always and I/O-bound when not: it runs with a small young generation
# (--max-semi-space-size=1, ~3 MB less RSS), without V8's optimising compilers (--lite-mode, ~7 MB less RSS; commands
# and inventory measured no slower within noise, docs/benchmarks.md) and drops the bytecode of functions that did not
# run since the last full GC (--bytecode-old-age=1: start-up code, -1.2 MB), with one V8 worker thread rather than one
# per core (--v8-pool-size=1: the GC's helper for a heap of ~9 MB, -0.2 MB). --single-threaded (no helper, -0.3 MB)
# was left out: command p99 came out worse with it (bench/analysis.md). --expose-gc: the daemon asks for one collection
# ~10 s after each heavy job (src/system/idle-gc.ts), which an idle process would otherwise not do (-0.6 MB idle RSS
# as deployed with the inventory state no longer re-read every minute, docs/benchmarks.md).
AGENT_FLAGS=(--max-semi-space-size=1 --lite-mode --bytecode-old-age=1 --v8-pool-size=1 --expose-gc)
HOST_NODE="$(runtime linux-x64)"
# What went in, for the package checks (the tree may move on while a build runs).
printf '{"version":"%s","build":%s,"commit":"%s","node":"%s"}\n' "$VERSION" "$BUILD" "$COMMIT" "$NODE_VERSION" > "$OUT/build-info.json"
"$HOST_NODE" --version >/dev/null
ENTRIES=(rmagent)
[ -f "$SRC/src/cli/rmagent-server.ts" ] && ENTRIES+=(rmagent-server) || echo "note: src/cli/rmagent-server.ts not present yet; server executables skipped" >&2
for name in "${ENTRIES[@]}"; do
  bundle "$name" "$SRC/src/cli/$name.ts"
done
# The agent: on Linux the loader blob plus the appended code (with a code cache made here under the agent's flags for
# linux-x64; none for arm64, made on another machine kind); on Windows the code stays in the blob (Authenticode
# signing appends its own data to the file).
npx --no-install esbuild "$ROOT/scripts/sea-payload.ts" --bundle --platform=node --format=esm --target=node20 \
  --log-level=warning --outfile="$CACHE/bundle/sea-payload.mjs"
inject rmagent linux-x64 "$HOST_NODE" rmagent-loader
"$HOST_NODE" "${AGENT_FLAGS[@]}" "$CACHE/bundle/sea-payload.mjs" "$OUT/rmagent-linux-x64" "$CACHE/bundle/rmagent.cjs" --code-cache
inject rmagent linux-arm64 "$(runtime linux-arm64)" rmagent-loader
"$HOST_NODE" "$CACHE/bundle/sea-payload.mjs" "$OUT/rmagent-linux-arm64" "$CACHE/bundle/rmagent.cjs"
inject rmagent win-x64 "$(runtime win-x64)" rmagent
# The Windows executables carry our version resource instead of Node's (scripts/exe-version.ts, resedit).
npx --no-install esbuild "$ROOT/scripts/exe-version.ts" --bundle --platform=node --format=esm --target=node20 \
  --log-level=warning --outfile="$CACHE/bundle/exe-version.mjs"
"$HOST_NODE" "$CACHE/bundle/exe-version.mjs" "$OUT/rmagent-win-x64.exe" rmagent "$VERSION" "$BUILD"
# The server (its SQLite is node:sqlite, inside every runtime: nothing native to add per target).
if [[ " ${ENTRIES[*]} " == *" rmagent-server "* ]]; then
  inject rmagent-server linux-x64 "$HOST_NODE" rmagent-server-cached
  inject rmagent-server linux-arm64 "$(runtime linux-arm64)" rmagent-server
  inject rmagent-server win-x64 "$(runtime win-x64)" rmagent-server
  "$HOST_NODE" "$CACHE/bundle/exe-version.mjs" "$OUT/rmagent-server-win-x64.exe" rmagent-server "$VERSION" "$BUILD"
fi
