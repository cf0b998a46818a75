#!/usr/bin/env bash
# Installs Debian's strace for the fault-injection sweep (test/real-faults/strace-fault-sweep.test.ts).
# Does nothing when strace is already there.
set -euo pipefail
if command -v strace >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends strace >/dev/null
strace -V | head -n 1
