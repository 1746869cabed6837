#!/usr/bin/env bash
# The demo after `aishell-run bootstrap`: a locked-down, throw-away container
# on examples/sample-project, mounted at its exact host path, that writes a
# file the host user owns. (The full agent sandbox, `aishell-run claude`, is
# the next step of the roadmap; this shows the engine and the mount model.)
set -euo pipefail
project="$(cd "$(dirname "$0")/sample-project" && pwd -P)"
image="localhost/aishell-verify:busybox"
owner="${SUDO_UID:-$(id -u)}:${SUDO_GID:-$(id -g)}"

echo "Sandbox on ${project} (as ${owner}, no capabilities, no network, read-only root):"
docker run --rm \
  --user "${owner}" --cap-drop ALL --security-opt no-new-privileges \
  --network none --read-only --pids-limit 64 --memory 64m \
  --volume "${project}:${project}" --workdir "${project}" \
  "${image}" sh -c 'echo "  inside: $(pwd), uid $(id -u)"; date > sandbox-was-here.txt'

echo "On the host:"
ls -ln "${project}/sandbox-was-here.txt" | awk '{print "  " $3 ":" $4 "  " $9}'
