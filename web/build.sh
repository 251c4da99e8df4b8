#!/usr/bin/env bash
# Rebuilds the web client and writes it where the gateway embeds it (src/Frontend/WebClient): run after changing
# web/src or proto/chat/v1/chat.proto, then commit both. The stack and the tests use the committed files: no npm at run time.
set -euo pipefail
cd "$(dirname "$0")"
out=../src/Frontend/WebClient
npm ci --no-audit --no-fund
npx buf generate ../proto --template buf.gen.yaml
npx tsc --noEmit
mkdir -p "$out"
npx esbuild src/main.ts --bundle --minify --format=esm --target=es2022 --legal-comments=none --outfile="$out/app.js"
echo "built $out: $(wc -c < "$out/app.js") bytes of JavaScript"
