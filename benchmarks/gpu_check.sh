#!/usr/bin/env bash
# The GPU checks of the recurrent core (issue #2), as one prepared run for a session that
# is lent a device machine (an NVIDIA GPU with PyTorch and JAX but no TensorFlow or Keras).
#
#   here, once:   bash benchmarks/gpu_check.sh --fetch   (.whl/ is in .gitignore)
#   on the GPU:   the device tool's run with command "bash benchmarks/gpu_check.sh",
#                 carry [".whl"], timeout_s 560
#
# It installs the carried Keras wheels, runs the fused-kernel tests (fused vs generic
# paths, right-padded masks, Keras's cuDNN kernels) on the GPU under torch and JAX, then
# benchmarks/rnn.py (short config: rnnkit vs keras.layers, which uses cuDNN there, and the
# hard-sigmoid LSTM against the per-step loop). Results land in $OUT (tests.txt,
# bench.txt, rnn-<backend>.json); record them in benchmarks/RESULTS.md.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--fetch" ]; then
  # the device's python3 is CPython 3.12 on x86-64 (see the device tool's README)
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "keras==3.15.1" namex optree
  exit
fi

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
out="${OUT:-/tmp/gpu_check}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
tests="fused or right_padded or keras_kernels or other_masks"
for backend in torch jax; do
  echo "== $backend tests" | tee -a "$out/tests.txt"
  KERAS_BACKEND=$backend timeout 150 python3 -m pytest -q -p no:cacheprovider \
    tests/multibackend/test_recurrent_layers.py -k "$tests" 2>&1 | tail -15 | tee -a "$out/tests.txt"
  echo "== $backend benchmark" | tee -a "$out/bench.txt"
  KERAS_BACKEND=$backend timeout 180 python3 benchmarks/rnn.py --configs short --repeats 5 \
    --markdown --json "$out/rnn-$backend.json" 2>&1 | tail -25 | tee -a "$out/bench.txt"
done
