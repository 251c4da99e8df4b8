#!/usr/bin/env bash
# Runs every test (unit, Orleans TestCluster on real PostgreSQL) and prints "N passed, N failed" last.
# The tests start their own throwaway PostgreSQL servers; they need Debian's server binaries
# (sudo apt-get install -y postgresql) and the .NET 10 SDK.
set -uo pipefail
cd "$(dirname "$0")"

results="TestResults"
rm -rf "$results"
dotnet test Chat.sln --configuration Release \
  --logger "trx;LogFilePrefix=results" --logger "console;verbosity=normal" \
  --results-directory "$results" --blame-hang-timeout 5m
status=$?

passed=0
failed=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "dotnet test exited with $status (build error, crash or hang); see above"
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
