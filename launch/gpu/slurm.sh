#!/usr/bin/env bash
# Submits a multi-node GPU training job to SLURM: whole nodes, one task per GPU, every task
# seeing all of its node's GPUs (the layout JAX reads from SLURM to start jax.distributed and
# pick each task's GPU), every task running launch/gpu/train.sbatch's step.
#   launch/gpu/slurm.sh --nodes=16 --gpus_per_node=8 --config=configs/bdd_chain.py \
#       --workdir=gs://my-bucket/bdd [--partition=gpu] [--account=...] [--time=7-00:00:00] \
#       [--dry_run] [-- hvg_jax.main flags]
# The workdir must be one every node reaches (gs:// or a shared file system); the
# checkout (and its virtualenv, --venv) too.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launch/common.sh
source "$HERE/../common.sh"
setting nodes HVG_NODES required "number of nodes"
setting gpus_per_node HVG_GPUS_PER_NODE 8 "GPUs on each node"
setting config HVG_CONFIG required "config file in the checkout, e.g. configs/bdd_chain.py"
setting workdir HVG_WORKDIR required "gs:// or shared-file-system directory"
setting partition HVG_SLURM_PARTITION "" "SLURM partition"
setting account HVG_SLURM_ACCOUNT "" "SLURM account"
setting time HVG_SLURM_TIME 7-00:00:00 "time limit (the job resumes from its checkpoint when resubmitted)"
setting job_name HVG_JOB_NAME hvg_jax "job name"
setting venv HVG_VENV "" "virtualenv every task activates (default: none)"
parse_settings "$@"
REPO=$(cd "$HERE/../.." && pwd)
for n in nodes gpus_per_node; do
  [[ "${S[$n]}" =~ ^[1-9][0-9]*$ ]] || die "--$n=${S[$n]}: give a positive integer"
done
[[ -f "$REPO/${S[config]%%:*}" ]] || die "--config=${S[config]}: no such config file in the checkout (configs/...)"
[[ -z "${S[venv]}" || -f "${S[venv]}/bin/activate" ]] || die "--venv=${S[venv]}: no bin/activate there"

# JAX's SLURM layout: one task per GPU, every task seeing its node's GPUs (JAX gives task i
# the local GPU $SLURM_LOCALID), whole nodes. --gpus-per-task=1 would hide them from all but one.
options=(--nodes="${S[nodes]}" --ntasks-per-node="${S[gpus_per_node]}"
         --gpus-per-node="${S[gpus_per_node]}" --exclusive
         --job-name="${S[job_name]}" --time="${S[time]}" --output="${S[job_name]}-%j.log"
         --chdir="$REPO")
[[ -n "${S[partition]}" ]] && options+=(--partition="${S[partition]}")
[[ -n "${S[account]}" ]] && options+=(--account="${S[account]}")
run sbatch "${options[@]}" --export=ALL,HVG_VENV="${S[venv]}" "$HERE/train.sbatch" \
  "${S[config]}" "${S[workdir]}" "${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}"
