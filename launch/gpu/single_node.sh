#!/usr/bin/env bash
# Trains a level or a chain on one machine's GPUs: one process, every visible GPU in the
# data-parallel mesh (the global batch split over them, BatchNorm statistics global).
#   launch/gpu/single_node.sh --config=configs/kinetics_chain.py --workdir=/data/runs/kinetics \
#       [--gpus=0,1,2,3] [--dry_run] [-- --config.levels.level2.train.batch_size=64]
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launch/common.sh
source "$HERE/../common.sh"
setting config HVG_CONFIG required "config file in the checkout, e.g. configs/bdd_chain.py"
setting workdir HVG_WORKDIR required "where checkpoints, logs and samples go (local or gs://)"
setting gpus HVG_GPUS all "which GPUs (comma-separated ids) or all"
setting platform HVG_PLATFORM gpu "the devices the run needs (gpu; cpu or any to try it without GPUs): it stops if JAX finds others"
parse_settings "$@"
REPO=$(cd "$HERE/../.." && pwd)
[[ -f "$REPO/${S[config]%%:*}" ]] || die "--config=${S[config]}: no such config file in the checkout (configs/...)"
[[ "${S[gpus]}" == all || "${S[gpus]}" =~ ^[0-9]+(,[0-9]+)*$ ]] ||
  die "--gpus=${S[gpus]}: give all or comma-separated GPU ids (e.g. 0,1,2,3)"
[[ "${S[platform]}" =~ ^(gpu|cpu|any)$ ]] || die "--platform=${S[platform]}: give gpu, cpu or any"

cd "$REPO" || exit 2
command=(python3 -m hvg_jax.main "--config=${S[config]}" "--workdir=${S[workdir]}" --distributed=off
         "--platform=${S[platform]}"
         "${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}")
if [[ "${S[gpus]}" == all ]]; then
  run "${command[@]}"
else
  run env CUDA_VISIBLE_DEVICES="${S[gpus]}" "${command[@]}"
fi
