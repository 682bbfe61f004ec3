#!/usr/bin/env bash
# Run one `fer-jax train` job as N cooperating processes on THIS machine (jax.distributed on
# localhost). Useful to test multi-host code paths without a cluster, or to give each GPU of a
# workstation its own process.
#
#   launch/local_multiprocess.sh N --config=configs/mi_fer/synthface.py:tiny --workdir=runs/x [flags...]
#
# Per method (CPU-sized, random data; tests/train/test_launch_methods.py trains every method this way, all in
# one pair of processes, through tests/train/train_every_method.py as FER_JAX_CMD):
#   launch/local_multiprocess.sh 2 --config=configs/mi_fer/synthface.py:tiny,random --workdir=runs/mi_fer
#   launch/local_multiprocess.sh 2 --config=configs/mi_fer/synthface.py:tiny,random,baseline --workdir=runs/l0
#   launch/local_multiprocess.sh 2 --config=configs/rgb_baseline/synthface.py:tiny \
#       --config.input.dataset=random --workdir=runs/rgb
#   launch/local_multiprocess.sh 2 --config=configs/stt/synthface_wild.py:tiny,random --workdir=runs/stt
# Full-size commands per method and dataset: docs/distributed.md.
#
# Environment:
#   DEVICES_PER_PROCESS  CPU only: simulated devices per process (default 1)
#   GPUS_PER_PROCESS     GPU only: give process i the GPUs [i*G, (i+1)*G) via CUDA_VISIBLE_DEVICES
#   PORT                 coordinator port on localhost (default: a free one)
#   LOGDIR               per-process logs go to $LOGDIR/process_<i>.log (default: the terminal)
#   FER_JAX_CMD          the command to run (default: fer-jax), e.g. "python -m fer_jax.cli"
# All processes must see the same --workdir (it is on this machine, so they do).
# Exit status: 0 if every process succeeded, else the first non-zero status.
set -euo pipefail

N=${1:?usage: $0 NUM_PROCESSES --config=... --workdir=... [flags...]}
shift
PORT=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("localhost", 0)); print(s.getsockname()[1])')}
CMD=${FER_JAX_CMD:-fer-jax}

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup INT TERM

for ((i = 0; i < N; i++)); do
  env_args=()
  if [[ -n "${GPUS_PER_PROCESS:-}" ]]; then
    gpus=$(seq -s, $((i * GPUS_PER_PROCESS)) $(((i + 1) * GPUS_PER_PROCESS - 1)))
    env_args+=("CUDA_VISIBLE_DEVICES=$gpus")
  else
    env_args+=("XLA_FLAGS=--xla_force_host_platform_device_count=${DEVICES_PER_PROCESS:-1} ${XLA_FLAGS:-}")
  fi
  # shellcheck disable=SC2086  # FER_JAX_CMD may be several words
  if [[ -n "${LOGDIR:-}" ]]; then
    mkdir -p "$LOGDIR"
    env "${env_args[@]}" $CMD train --coordinator_address="localhost:$PORT" --num_processes="$N" \
      --process_id="$i" "$@" >"$LOGDIR/process_$i.log" 2>&1 &
  else
    env "${env_args[@]}" $CMD train --coordinator_address="localhost:$PORT" --num_processes="$N" \
      --process_id="$i" "$@" &
  fi
  pids+=($!)
done

status=0
for pid in "${pids[@]}"; do
  rc=0
  wait "$pid" || rc=$?
  if [[ $status -eq 0 && $rc -ne 0 ]]; then status=$rc; fi
done
exit "$status"
