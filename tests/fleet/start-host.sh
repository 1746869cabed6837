#!/bin/sh
# Entry point of a fleet test host: the developer account (its home on the
# tmpfs mounted at /home), sshd in the background, then wait for ever.
set -eu
id dev >/dev/null 2>&1 || useradd --create-home --shell /bin/bash dev
/usr/sbin/sshd
exec sleep infinity
