#!/usr/bin/env bash
# The library (src/ outside the CLI executable: src/cli, src/bench, src/serve) never writes to stdout or stderr: output
# goes through callbacks. Fails listing the lines that do.
set -euo pipefail
cd "$1"
if grep -rnE 'std::(cout|cerr|clog)|(^|[^a-z_])(printf|fprintf|puts|fputs|perror|putchar)\(|\bstderr\b|\bstdout\b' src \
     --include='*.cpp' --include='*.h' | grep -vE '^src/(cli|bench|serve)/'; then
  echo "library sources above write to stdout/stderr" >&2
  exit 1
fi
echo "no library source prints"
