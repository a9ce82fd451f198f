#!/usr/bin/env bash
# Submits a multi-node GPU training job to SLURM: whole nodes, one task per GPU, every task
# seeing all of its node's GPUs (the layout JAX reads from SLURM to start jax.distributed and
# pick each task's GPU), every task running launch/gpu/train.sbatch's step.
#   launch/gpu/slurm.sh --nodes=16 --gpus_per_node=8 --config=configs/bdd_chain.py \
#       --workdir=/shared/runs/bdd [--partition=gpu] [--account=...] [--time=2-00:00:00] \
#       [--container_image=nvcr.io/nvidia/jax:<tag>] [--dry_run] [-- hvg_jax.main flags]
# The workdir must be one every node reaches (gs:// or a shared file system); the
# checkout (and its virtualenv, --venv) too.
# At --save_before seconds before the time limit the job checkpoints and requeues itself;
# a preempted job is requeued by SLURM (--requeue); either way it resumes from its checkpoint.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launch/common.sh
source "$HERE/../common.sh"
setting nodes HVG_NODES required "number of nodes"
setting gpus_per_node HVG_GPUS_PER_NODE 8 "GPUs on each node (0: a CPU-only job, with --platform=cpu)"
setting tasks_per_node HVG_TASKS_PER_NODE "" "processes on each node (default: one per GPU)"
setting cpus_per_task HVG_CPUS_PER_TASK 8 "CPU cores of each task: its input pipeline decodes and crops clips"
setting mem HVG_SLURM_MEM 0 "memory per node, as sbatch --mem (0: all of it)"
setting config HVG_CONFIG required "config file in the checkout, e.g. configs/bdd_chain.py"
setting workdir HVG_WORKDIR required "gs:// or shared-file-system directory"
setting partition HVG_SLURM_PARTITION "" "SLURM partition"
setting account HVG_SLURM_ACCOUNT "" "SLURM account"
setting time HVG_SLURM_TIME "" "time limit, e.g. 2-00:00:00 (default: the partition's; the job requeues itself at it)"
setting save_before HVG_SLURM_SAVE_BEFORE 300 "seconds before the time limit at which the job checkpoints and requeues"
setting job_name HVG_JOB_NAME hvg_jax "job name"
setting log_dir HVG_SLURM_LOG_DIR "" "where the job's log <job_name>-<job id>.log goes (default: the checkout)"
setting venv HVG_VENV "" "virtualenv every task activates (default: none)"
setting container_image HVG_CONTAINER_IMAGE "" "run every task in this container image (pyxis/enroot), e.g. nvcr.io/nvidia/jax:<tag>: the package must be importable in it"
setting platform HVG_PLATFORM gpu "the devices the run needs: gpu, or cpu (tests); it stops if JAX finds others"
parse_settings "$@"
REPO=$(cd "$HERE/../.." && pwd)
for n in nodes cpus_per_task save_before; do
  [[ "${S[$n]}" =~ ^[1-9][0-9]*$ ]] || die "--$n=${S[$n]}: give a positive integer"
done
[[ "${S[gpus_per_node]}" =~ ^[0-9]+$ ]] || die "--gpus_per_node=${S[gpus_per_node]}: give a whole number"
[[ -z "${S[tasks_per_node]}" || "${S[tasks_per_node]}" =~ ^[1-9][0-9]*$ ]] ||
  die "--tasks_per_node=${S[tasks_per_node]}: give a positive integer"
[[ "${S[platform]}" == gpu || "${S[platform]}" == cpu ]] || die "--platform=${S[platform]}: give gpu or cpu"
if [[ "${S[platform]}" == gpu ]]; then
  ((S[gpus_per_node] > 0)) || die "--gpus_per_node=0 with --platform=gpu: give the node's GPU count, or --platform=cpu"
  tasks=${S[tasks_per_node]:-${S[gpus_per_node]}}
else
  tasks=${S[tasks_per_node]:-1}
fi
[[ -z "${S[time]}" || "${S[time]}" =~ ^([0-9]+-)?[0-9]+(:[0-9]+){0,2}$ ]] ||
  die "--time=${S[time]}: give a SLURM time limit such as 2-00:00:00, 48:00:00 or 90 (minutes)"
[[ -f "$REPO/${S[config]%%:*}" ]] || die "--config=${S[config]}: no such config file in the checkout (configs/...)"
[[ -z "${S[venv]}" || -f "${S[venv]}/bin/activate" ]] || die "--venv=${S[venv]}: no bin/activate there"

# JAX's SLURM layout: one task per GPU, every task seeing its node's GPUs (JAX gives task i
# the local GPU $SLURM_LOCALID), whole nodes. --gpus-per-task=1 would hide them from all but one.
# --signal B:USR1: train.sbatch's shell turns it into SIGTERM for the tasks (a checkpoint)
# and requeues the job; --requeue: SLURM requeues a preempted job by itself.
options=(--nodes="${S[nodes]}" --ntasks-per-node="$tasks" --cpus-per-task="${S[cpus_per_task]}"
         --mem="${S[mem]}" --exclusive --requeue --open-mode=append
         --signal="B:USR1@${S[save_before]}"
         --job-name="${S[job_name]}" --output="${S[log_dir]:-$REPO}/${S[job_name]}-%j.log"
         --chdir="$REPO")
((S[gpus_per_node] > 0)) && options+=(--gpus-per-node="${S[gpus_per_node]}")
[[ -n "${S[time]}" ]] && options+=(--time="${S[time]}")
[[ -n "${S[partition]}" ]] && options+=(--partition="${S[partition]}")
[[ -n "${S[account]}" ]] && options+=(--account="${S[account]}")
run sbatch "${options[@]}" \
  --export=ALL,HVG_VENV="${S[venv]}",HVG_CONTAINER_IMAGE="${S[container_image]}",HVG_PLATFORM="${S[platform]}",HVG_REPO="$REPO" \
  "$HERE/train.sbatch" "${S[config]}" "${S[workdir]}" "${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}"
