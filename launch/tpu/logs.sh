#!/usr/bin/env bash
# Follows the training log of one worker (process 0 writes the summaries; others log too).
#   launch/tpu/logs.sh --project=my-project --zone=us-central2-b --name=hvg [--worker=0]
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launch/common.sh
source "$HERE/../common.sh"
# shellcheck source=launch/tpu/tpu_settings.sh
source "$HERE/tpu_settings.sh"
setting worker HVG_TPU_WORKER 0 "which worker's log"
parse_settings "$@"
check_tpu_settings
[[ "${S[worker]}" =~ ^[0-9]+$ ]] || die "--worker=${S[worker]}: give a worker number (0, 1, ...)"
# shellcheck disable=SC2046
run gcloud compute tpus tpu-vm ssh "${S[name]}" $(tpu_flags) --worker="${S[worker]}" --command="tail -n 200 -F ~/hvg_train.log"
