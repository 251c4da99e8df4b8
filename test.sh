#!/usr/bin/env bash
# Runs every test project (unit, integration, end to end, deployment) and prints "N passed, N failed" last.
# The tests start their own throwaway PostgreSQL servers; they need Debian's server binaries
# (sudo apt-get install -y postgresql) and the .NET 10 SDK.
set -uo pipefail
cd "$(dirname "$0")"

# One after another: the unit tests first (parallel inside, seconds); integration and end to end each start PostgreSQL
# servers, silos and processes, and on 2 cores they were only steady one class at a time, so never both at once.
projects=(Unit Integration EndToEnd Deployment)

results="TestResults"
rm -rf "$results"

passed=0
failed=0
ok=1

dotnet build Chat.sln --configuration Release
if [ $? -ne 0 ]; then
  echo "the build failed; no tests ran"
  echo "0 passed, 1 failed"
  exit 1
fi

# Adds the counters of the project's TRX files; a project whose run failed without a failed test in its TRX (crash,
# hang killed by --blame-hang-timeout, no TRX at all) counts as one failure, so it cannot pass unnoticed.
count() {
  local project=$1 status=$2 p f project_failed=0 trx counters
  shopt -s nullglob
  for trx in "$results/$project"/*.trx; do
    counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
    p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
    f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
    passed=$((passed + ${p:-0}))
    project_failed=$((project_failed + ${f:-0}))
  done
  if [ "$status" -ne 0 ] && [ "$project_failed" -eq 0 ]; then
    echo "Chat.Tests.$project: dotnet test exited with $status (crash or hang); see above"
    project_failed=1
  fi
  failed=$((failed + project_failed))
}

for project in "${projects[@]}"; do
  dotnet test "tests/Chat.Tests.$project" --configuration Release --no-build \
    --logger "trx;LogFilePrefix=results" --logger "console;verbosity=normal" \
    --results-directory "$results/$project" --blame-hang-timeout 5m
  status=$?
  [ "$status" -eq 0 ] || ok=0
  count "$project" "$status"
done

echo "$passed passed, $failed failed"
[ "$ok" -eq 1 ] && [ "$failed" -eq 0 ]
