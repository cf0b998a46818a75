#!/usr/bin/env bash
# Installs, from Debian's packages, the tools the test suite drives and a bare machine lacks:
# Chromium (the Swagger UI browser test), strace (the disk-fault sweep), openssl (the TLS test's
# self-signed certificate), chattr and unshare (the lock tests). Installs only what is missing.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation)
command -v strace >/dev/null || missing+=(strace)
command -v openssl >/dev/null || missing+=(openssl)
command -v chattr >/dev/null || missing+=(e2fsprogs)
command -v unshare >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
