#!/usr/bin/env bash
# Installs the system packages scope-profiler builds and tests against
# (Debian 12): HDF5 (always), Open MPI + libclang (feature `mpi`), h5dump,
# python3-venv for the Python compatibility tests, and OTF2 + otf2-print
# (pproc's feature `otf2`), tmux for the test that drives `pproc watch` in a terminal.
set -euo pipefail
packages=(libhdf5-dev pkg-config hdf5-tools libopenmpi-dev openmpi-bin libclang-dev python3-venv libotf2-trace-dev otf2-tools tmux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system packages already installed"
  exit 0
fi
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
