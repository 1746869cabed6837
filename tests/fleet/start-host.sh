#!/bin/sh
# Entry point of a fleet test host: the developer account (its home on the
# tmpfs mounted at /home, reached over SSH with the same key as root), sshd
# in the background, then wait for ever.
set -eu
if ! id dev >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash dev
  install -d -o dev -g dev -m 0700 /home/dev/.ssh
  install -o dev -g dev -m 0600 /root/.ssh/authorized_keys /home/dev/.ssh/authorized_keys
fi
/usr/sbin/sshd
exec sleep infinity
