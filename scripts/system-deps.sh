#!/usr/bin/env bash
# System packages the test suite needs, installed with apt-get when missing:
# git (and its daemon), podman with runc (a Docker-compatible engine), Debian's docker-registry,
# openssl (a certificate for the private git server), chromium and its driver (the web UI's
# browser tests), PostgreSQL's server (a Prefect server on PostgreSQL, as teams run it),
# redis-server (the benchmark's multi-worker Prefect server).
set -euo pipefail
missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
[ -x /usr/lib/git-core/git-daemon ] || missing+=(git-daemon-sysvinit)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
