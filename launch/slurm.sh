#!/usr/bin/env bash
# SLURM: one process per GPU across nodes; jax.distributed.initialize() reads the SLURM
# environment (coordinator, process count and id) itself, hence `--distributed`.
#
#   sbatch launch/slurm.sh --config=configs/mi_fer/ckplus.py:fold=3 --workdir=/shared/runs/ckplus_f3
#   sbatch launch/slurm.sh --config=configs/mi_fer/ckplus.py:baseline,fold=3 --workdir=/shared/runs/ckplus_f3_l0
#   sbatch launch/slurm.sh --config=configs/stt/dfew.py:fold=0 --workdir=/shared/runs/stt_dfew_f0
#   sbatch launch/slurm.sh --config=configs/rgb_baseline/synthface.py --workdir=/shared/runs/rgb
# (every method's configs: docs/distributed.md)
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
