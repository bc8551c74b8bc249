#!/usr/bin/env bash
# The GPU checks, as one prepared run for a session that is lent a device machine (an
# NVIDIA GPU with PyTorch and JAX but no TensorFlow or Keras).
#
#   here, once:   bash benchmarks/gpu_check.sh --fetch   (.whl/ is in .gitignore)
#   on the GPU:   the device tool's run with command "bash benchmarks/gpu_check.sh",
#                 carry [".whl"], timeout_s 560
#
# It installs the carried Keras wheels, then for torch and JAX: the fused-kernel tests of
# the recurrent core (issue #2: fused vs generic paths, right-padded masks, Keras's cuDNN
# kernels) on the GPU; the DeepMoji training step of benchmarks/pretrain_throughput.py
# (issue #16: full model, batch 256, hard-sigmoid and sigmoid gates, against the matmul
# floor; its preparation/reading part needs TensorFlow and is skipped);
# benchmarks/rnn.py (short config: rnnkit vs keras.layers, which uses cuDNN there, and the
# hard-sigmoid LSTM against the per-step loop); MinGRU/MinLSTM beside GRU/LSTM at
# T = 50, 500, 4096 (issue #20); and prepare_corpus with 1, 4 and all processes (issue
# #16; RNNKIT_DATA pointing at a carried copy of the DeepMoji data folder). Every part has
# its own time limit and the whole run stops starting parts after GPU_CHECK_BUDGET seconds
# (default 470), so it ends inside the device call's limit even when parts hang. Results land in $OUT (gpu.txt,
# tests.txt, bench.txt, pretrain.txt, minrnn.txt, prepare.txt and their .json files,
# times.txt); record them in benchmarks/RESULTS.md.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--fetch" ]; then
  # the device's python3 is CPython 3.12 on x86-64 (see the device tool's README); keras's
  # other requirements (absl-py, numpy, rich, h5py, ml-dtypes, packaging) are there
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "keras==3.15.1" namex optree
  exit
fi

# GPU_CHECK_WHEELS (another wheel folder) and GPU_CHECK_PRETRAIN_ARGS (extra arguments,
# e.g. "--embed 16 --units 16") are for rehearsing this script on a CPU machine
budget="${GPU_CHECK_BUDGET:-470}"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site "${GPU_CHECK_WHEELS:-.whl}"/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
out="${OUT:-/tmp/gpu_check}"
mkdir -p "$out"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
else
  echo "no nvidia-smi: running on CPU" | tee "$out/gpu.txt"
fi

# part NAME LIMIT LOG TAIL COMMAND...: runs COMMAND under `timeout` (LIMIT seconds, cut to
# what is left of the budget), appends the last TAIL lines of its output to $out/LOG and
# its exit status and seconds to $out/times.txt
part() {
  local name=$1 limit=$2 log=$3 lines=$4
  shift 4
  local left=$((budget - SECONDS))
  if [ "$left" -lt 20 ]; then
    echo "== $name: skipped (budget of $budget s spent)" | tee -a "$out/$log" "$out/times.txt"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit $limit s)" | tee -a "$out/$log"
  local start=$SECONDS
  timeout -s INT -k 15 "$limit" "$@" 2>&1 | tail -"$lines" | tee -a "$out/$log"
  local rc=${PIPESTATUS[0]}
  echo "$name: rc $rc, $((SECONDS - start)) s (limit $limit)" | tee -a "$out/times.txt"
}

# GPU_CHECK_PARTS picks parts (default: all): tests, pretrain, rnn, minrnn, prepare
parts=" ${GPU_CHECK_PARTS:-tests pretrain rnn minrnn prepare} "
want() { [[ "$parts" == *" $1 "* ]]; }

# issue 16: corpus preparation with 1 process and with the GPU machine's cores (pure
# Python, no TensorFlow needed; reading is skipped there). Needs the DeepMoji data folder
# ($RNNKIT_DATA/deepmoji: vocabulary.json, wanted_emojis.csv), carried by the device call.
want prepare && part "prepare corpus" 150 prepare.txt 20 env KERAS_BACKEND=jax python3 \
  benchmarks/pretrain_throughput.py --skip-train --n "${GPU_CHECK_PREPARE_N:-300000}" \
  --workers 1 4 "$(nproc)" --vocabulary given --markdown --json "$out/prepare.json"

tests="fused or right_padded or keras_kernels or other_masks or closed_form"
# GPU_CHECK_BACKENDS picks backends (default: torch jax)
for backend in ${GPU_CHECK_BACKENDS:-torch jax}; do
  export KERAS_BACKEND=$backend
  want tests && part "$backend tests" 80 tests.txt 15 python3 -m pytest -q -p no:cacheprovider \
    tests/multibackend/test_recurrent_layers.py -k "$tests"
  want pretrain && part "$backend pretrain throughput" 75 pretrain.txt 20 python3 \
    benchmarks/pretrain_throughput.py --skip-prepare --repeats 10 --warmup 2 --markdown \
    --json "$out/pretrain-$backend.json" ${GPU_CHECK_PRETRAIN_ARGS:-}
  want rnn && part "$backend rnn benchmark" 80 bench.txt 25 python3 benchmarks/rnn.py \
    --configs short --repeats 5 --markdown --json "$out/rnn-$backend.json"
  # issue 20: the parallel-scan layers beside the sequential GRU / LSTM at T = 50, 500, 4096
  want minrnn && part "$backend parallel-scan benchmark" 150 minrnn.txt 30 python3 \
    benchmarks/rnn.py --configs short long xlong --kinds gru mingru lstm minlstm \
    --repeats 3 --markdown --json "$out/minrnn-$backend.json"
done
echo "total $SECONDS s" | tee -a "$out/times.txt"
