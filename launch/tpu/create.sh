#!/usr/bin/env bash
# Creates a Cloud TPU VM slice, directly or as a queued resource (capacity when it frees up).
#   launch/tpu/create.sh --project=my-project --zone=us-central2-b --name=hvg \
#       --accelerator_type=v4-128 [--queued=true] [--spot=true] [--dry_run]
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launch/common.sh
source "$HERE/../common.sh"
# shellcheck source=launch/tpu/tpu_settings.sh
source "$HERE/tpu_settings.sh"
setting accelerator_type HVG_ACCELERATOR_TYPE required "TPU type and size, e.g. v4-128, v5p-256, v5litepod-64"
setting runtime_version HVG_TPU_RUNTIME "" "TPU VM software version (default: the one for the accelerator type)"
setting queued HVG_TPU_QUEUED false "create through a queued resource (true/false)"
setting spot HVG_TPU_SPOT false "spot (preemptible) capacity (true/false)"
parse_settings "$@"
check_tpu_settings
check_bool queued "${S[queued]}"
check_bool spot "${S[spot]}"
[[ "${S[accelerator_type]}" =~ ^v[0-9][a-z]*-[0-9]+$ ]] ||
  die "--accelerator_type=${S[accelerator_type]} is not a TPU type (e.g. v4-128, v5p-256, v5litepod-64)"

if [[ -z "${S[runtime_version]}" ]]; then
  S[runtime_version]=$(runtime_for "${S[accelerator_type]}") || exit 2
fi
spot_flag=()
[[ ${S[spot]} == true ]] && spot_flag=(--spot)
# shellcheck disable=SC2046  # tpu_flags prints separate flags
if [[ ${S[queued]} == true ]]; then
  run gcloud compute tpus queued-resources create "${S[name]}" --node-id="${S[name]}" $(tpu_flags) \
    --accelerator-type="${S[accelerator_type]}" --runtime-version="${S[runtime_version]}" \
    "${spot_flag[@]+"${spot_flag[@]}"}"
  echo "# Queued; 'gcloud compute tpus queued-resources describe ${S[name]} $(tpu_flags)' shows when it is ACTIVE." >&2
else
  run gcloud compute tpus tpu-vm create "${S[name]}" $(tpu_flags) \
    --accelerator-type="${S[accelerator_type]}" --version="${S[runtime_version]}" \
    "${spot_flag[@]+"${spot_flag[@]}"}"
fi
