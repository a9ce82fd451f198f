#!/usr/bin/env bash
# Deletes the slice (and its queued resource). Checkpoints live in the gs:// workdir.
#   launch/tpu/delete.sh --project=my-project --zone=us-central2-b --name=hvg [--queued=true]
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launch/common.sh
source "$HERE/../common.sh"
# shellcheck source=launch/tpu/tpu_settings.sh
source "$HERE/tpu_settings.sh"
setting queued HVG_TPU_QUEUED false "it was created through a queued resource (true/false)"
parse_settings "$@"
check_tpu_settings
check_bool queued "${S[queued]}"
# shellcheck disable=SC2046
if [[ ${S[queued]} == true ]]; then
  run gcloud compute tpus queued-resources delete "${S[name]}" $(tpu_flags) --force --quiet
else
  run gcloud compute tpus tpu-vm delete "${S[name]}" $(tpu_flags) --quiet
fi
