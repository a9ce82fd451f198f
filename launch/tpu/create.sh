#!/usr/bin/env bash
# Creates a Cloud TPU VM slice, directly or as a queued resource (capacity when it frees up).
#   launch/tpu/create.sh --project=my-project --zone=us-central2-b --name=hvg \
#       --accelerator_type=v4-128 [--queued=true] [--spot=true] [--wait_minutes=60] [--dry_run]
# A queued resource is waited for until it is ACTIVE (then run setup.sh); a preempted one is
# SUSPENDED and never comes back by itself: launch/tpu/recreate.sh deletes, creates and sets up.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launch/common.sh
source "$HERE/../common.sh"
# shellcheck source=launch/tpu/tpu_settings.sh
source "$HERE/tpu_settings.sh"
setting accelerator_type HVG_ACCELERATOR_TYPE required "TPU type and size, e.g. v4-128, v5p-256, v5litepod-64"
setting runtime_version HVG_TPU_RUNTIME "" "TPU VM software version (default: the one for the accelerator type)"
setting queued HVG_TPU_QUEUED false "create through a queued resource (true/false)"
setting spot HVG_TPU_SPOT false "spot (preemptible) capacity (true/false)"
setting wait_minutes HVG_TPU_WAIT_MINUTES 60 "how long to wait for a queued resource to be ACTIVE (0: do not wait)"
parse_settings "$@"
check_tpu_settings
check_bool queued "${S[queued]}"
check_bool spot "${S[spot]}"
[[ "${S[wait_minutes]}" =~ ^[0-9]+$ ]] || die "--wait_minutes=${S[wait_minutes]}: give a whole number of minutes (0: do not wait)"
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
  if ((S[wait_minutes] > 0)); then
    wait_until_active "${S[wait_minutes]}"
  else
    echo "# Queued; 'gcloud compute tpus queued-resources describe ${S[name]} $(tpu_flags)' shows when it is ACTIVE: run setup.sh then." >&2
  fi
else
  run gcloud compute tpus tpu-vm create "${S[name]}" $(tpu_flags) \
    --accelerator-type="${S[accelerator_type]}" --version="${S[runtime_version]}" \
    "${spot_flag[@]+"${spot_flag[@]}"}"
fi
