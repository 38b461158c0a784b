#!/usr/bin/env bash
# Make sure Fashion-MNIST is readable by ctslib: a copy already found ($CTS_DATA, the user cache,
# /usr/share/datasets/fashion-mnist), else the Debian package where apt is available, else a download
# from the official source.
set -euo pipefail
PYTHON="${1:-python3}"
found() { "$PYTHON" -c "from ctslib.data import load_dataset; load_dataset('fashion_mnist', 'test', download=False)" 2>/dev/null; }

if found; then exit 0; fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "ctslib: installing Fashion-MNIST from the Debian package dataset-fashion-mnist"
  if $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
     || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist; }; then
    found && exit 0
  fi
fi
echo "ctslib: downloading Fashion-MNIST from the official source"
"$PYTHON" -c "from ctslib.data import load_dataset; load_dataset('fashion_mnist', 'train'); load_dataset('fashion_mnist', 'test')"
