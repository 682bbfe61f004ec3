#!/usr/bin/env bash
# Cloud TPU pod slice: the same command on every worker; jax.distributed.initialize() detects the
# TPU topology itself (`--distributed`).
#
#   TPU_NAME=my-v4-32 ZONE=us-central2-b launch/tpu_pod.sh \
#       --config=configs/mi_fer/synthface.py --workdir=/mnt/shared/runs/synthface
#   TPU_NAME=my-v4-32 ZONE=us-central2-b launch/tpu_pod.sh \
#       --config=configs/stt/dfew.py:fold=0 --workdir=/mnt/shared/runs/stt_dfew_f0
# (every method's configs: docs/distributed.md)
#
# Prerequisites (once per pod): the repository checked out at $REPO_DIR on every worker and
# `pip install -e .` run there (e.g. with `--worker=all --command "git clone ... && pip install -e ."`),
# and a workdir every worker sees (Filestore/NFS or a gcsfuse mount): process 0 writes metrics and
# config.json there, every process writes its checkpoint shards. No credentials are handled here:
# gcloud uses your own login.
set -euo pipefail

: "${TPU_NAME:?set TPU_NAME}"
: "${ZONE:?set ZONE}"
REPO_DIR=${REPO_DIR:-fer-jax}
args=$(printf '%q ' "$@")

gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" --worker=all \
  --command "cd $REPO_DIR && fer-jax train --distributed $args"
