#!/usr/bin/env bash
# System packages the test suite needs, installed with apt-get when missing.
# (Issue 2 needs git for the pre-commit test; later issues add git-daemon, podman, a registry.)
set -euo pipefail
missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
