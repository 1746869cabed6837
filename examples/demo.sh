#!/usr/bin/env bash
# The demo after `aishell-run bootstrap` and `aishell-run build`: a real,
# throw-away sandbox session on examples/sample-project through
# `aishell-run exec`: the project at its exact host path, the agent CLI
# inside, and a file written inside that belongs to you on the host.
set -euo pipefail
project="$(cd "$(dirname "$0")/sample-project" && pwd -P)"
aishell_run="${AISHELL_RUN:-aishell-run}"

echo "A sandbox session on ${project}:"
"${aishell_run}" exec --project "${project}" -- sh -c '
    echo "  inside: $(pwd) as uid $(id -u), capabilities: $(grep CapEff /proc/self/status | cut -f2)"
    echo "  claude: $(claude --version)"
    echo "  python: $(python3 hello.py)"
    echo "  network: example.com answered $(curl -s -o /dev/null -w "%{http_connect}" https://example.com/) (the egress proxy: not on the allowlist)"
    date > sandbox-was-here.txt'

echo "On the host:"
ls -ln "${project}/sandbox-was-here.txt" | awk '{print "  owner " $3 ":" $4 "  " $9}'
echo "What the proxy refused the sample project's sessions:"
"${aishell_run}" logs --network --project "${project}"
