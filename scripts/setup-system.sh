#!/usr/bin/env bash
# Debian packages the test suite needs beyond npm: Jupyter's own client, nbclient and the
# reference kernel test suite (run on /usr/bin/python3), Chromium to open the HTML report, and for
# the server and its deployment: an independent protocol client (requests, grpcio, protoc with
# python3-protobuf, which also parses Triton configs), haproxy to balance replicas, yamllint.
# Installs only what is missing; as non-root it prints the apt-get line instead.
set -euo pipefail
PACKAGES=(python3-jupyter-client python3-jupyter-kernel-test python3-nbclient python3-nbformat python3-ipykernel chromium
  python3-requests python3-grpcio python3-protobuf protobuf-compiler haproxy yamllint)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-system: Debian packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: missing Debian packages: ${missing[*]}" >&2
  echo "setup-system: run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
