#!/usr/bin/env bash
# SLURM: one process per GPU across nodes; jax.distributed.initialize() reads the SLURM
# environment (coordinator, process count and id) itself, hence `--distributed`.
#
#   sbatch launch/slurm.sh --config=configs/mi_fer/ckplus.py:fold=3 --workdir=/shared/runs/ckplus_f3
#
# The workdir must be on a filesystem every node sees (NFS, Lustre, ...): all processes write their
# checkpoint shards there and resume from it. Re-submitting the same command resumes the run.
# Adjust the resources below to your cluster; nothing here is site-specific.
#SBATCH --job-name=fer-jax
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --output=fer-jax-%j.log
set -euo pipefail

srun --kill-on-bad-exit=1 fer-jax train --distributed "$@"
