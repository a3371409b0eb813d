#!/usr/bin/env bash
# Installs every Debian package asim-mpi needs to build, test and run its demo.
# Usage: sudo bash scripts/setup-debian.sh   (idempotent; safe to re-run)
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
  libconfig-dev libopenblas-dev libcunit1-dev librandom123-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev
  dataset-fashion-mnist
  python3-numpy python3-h5py python3-torch python3-pil python3-matplotlib
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}"
fi
echo "setup-debian: all packages present"
