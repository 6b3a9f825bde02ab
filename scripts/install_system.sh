#!/usr/bin/env bash
# System packages the sandbox and the report test need, and a running Docker engine for the docker backend tests.
# Idempotent and non-interactive: installs only what is missing, starts dockerd only when
# `docker info` does not answer. Called by `scripts/install.sh test` (run as root, Debian).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# bubblewrap: namespaces for the local backend; docker.io: engine (+ containerd, runc);
# libseccomp2: the library pyseccomp loads; procps: ps/pgrep used by the leak checks;
# chromium: the browser the report test drives through Playwright (no browser download).
pkgs=(bubblewrap docker.io libseccomp2 procps chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install_system: installing ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if docker info >/dev/null 2>&1; then
  echo "install_system: docker engine already running"
  exit 0
fi
if ! command -v dockerd >/dev/null; then
  echo "install_system: dockerd not found after installing docker.io" >&2
  exit 1
fi
echo "install_system: starting dockerd"
mkdir -p /var/log
nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "install_system: docker engine is up"
    exit 0
  fi
  sleep 1
done
echo "install_system: dockerd did not answer within 60 s; last log lines:" >&2
tail -n 30 /var/log/dockerd.log >&2 || true
exit 1
