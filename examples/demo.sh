#!/usr/bin/env bash
# The demo after `aishell-run bootstrap` and `aishell-run build`: a
# locked-down, throw-away container from the foundation image on
# examples/sample-project, mounted at its exact host path, that runs the
# agent CLI and writes a file the host user owns. (`aishell-run claude`, the
# interactive sandbox with network policy, is the next step of the roadmap.)
set -euo pipefail
project="$(cd "$(dirname "$0")/sample-project" && pwd -P)"
image="localhost/aishell-foundation:latest"
owner="${SUDO_UID:-$(id -u)}:${SUDO_GID:-$(id -g)}"

echo "Sandbox on ${project} (as ${owner}, no capabilities, no network, read-only root):"
docker run --rm --init \
  --user "${owner}" --cap-drop ALL --security-opt no-new-privileges \
  --network none --read-only --tmpfs /tmp --pids-limit 256 --memory 1g \
  --env HOME=/tmp \
  --volume "${project}:${project}" --workdir "${project}" \
  "${image}" sh -c '
    echo "  inside: $(pwd) as uid $(id -u)"
    echo "  claude: $(claude --version)"
    echo "  python: $(python3 hello.py)"
    date > sandbox-was-here.txt'

echo "On the host:"
ls -ln "${project}/sandbox-was-here.txt" | awk '{print "  " $3 ":" $4 "  " $9}'
