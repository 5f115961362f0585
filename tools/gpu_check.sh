#!/bin/sh
# The GPU check on a machine whose Python lacks PyAV, such as the lent GPU machine: installs the wheels carried in
# .whl/ (made here by tools/fetch_gpu_wheels.sh) into /tmp/avsa-site, never from the network, then runs
# tools/gpu_check.py with its output in $OUT (the device tool's output folder) or else results/gpu-check.
#
#   sh tools/gpu_check.sh [tools/gpu_check.py options]
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import av" 2>/dev/null; then
    if ! ls .whl/*.whl >/dev/null 2>&1; then
        echo "error: PyAV is not installed and .whl/ holds no wheels (run sh tools/fetch_gpu_wheels.sh here first)" >&2
        exit 2
    fi
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/avsa-site \
        .whl/*.whl
    PYTHONPATH="/tmp/avsa-site${PYTHONPATH:+:$PYTHONPATH}"
    export PYTHONPATH
fi
PYTHONUNBUFFERED=1
export PYTHONUNBUFFERED
exec "$PYTHON" tools/gpu_check.py --out "${OUT:-results/gpu-check}" "$@"
