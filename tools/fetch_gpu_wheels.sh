#!/bin/sh
# Download here the wheels that the GPU check needs on the lent GPU machine (Python 3.12, x86-64, no network there)
# into .whl/ (git-ignored), which the device run carries and tools/gpu_check.sh installs. That machine's image has
# torch, torchvision, torchaudio, numpy, pyyaml, pillow, pytest, tqdm and tensorboard; of what the check imports
# it lacks only PyAV, fetched at the version pinned in pyproject.toml (its wheel bundles FFmpeg; no dependencies).
#
#   sh tools/fetch_gpu_wheels.sh
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
AV=$(sed -n 's/^ *"\(av==[^"]*\)",*$/\1/p' pyproject.toml)
if [ -z "$AV" ]; then
    echo "error: no av==VERSION pin in pyproject.toml" >&2
    exit 2
fi
mkdir -p .whl
rm -f .whl/av-*.whl  # one version of each package: two would stop the install there
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$AV"
du -sh .whl
