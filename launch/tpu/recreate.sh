#!/usr/bin/env bash
# Brings a preempted (SUSPENDED) or failed slice back: deletes it (a queued resource is never
# allocated again while it exists), creates it again, waits until it is ACTIVE and sets it
# up. Then train.sh with the same --workdir resumes from the last checkpoint.
#   launch/tpu/recreate.sh --project=my-project --zone=us-central2-b --name=hvg \
#       --accelerator_type=v5p-256 --queued=true [--spot=true] [--dry_run]
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launch/common.sh
source "$HERE/../common.sh"
# shellcheck source=launch/tpu/tpu_settings.sh
source "$HERE/tpu_settings.sh"
setting accelerator_type HVG_ACCELERATOR_TYPE required "TPU type and size, as create.sh"
setting runtime_version HVG_TPU_RUNTIME "" "as create.sh"
setting queued HVG_TPU_QUEUED false "a queued resource (true/false)"
setting spot HVG_TPU_SPOT false "spot (preemptible) capacity (true/false)"
setting wait_minutes HVG_TPU_WAIT_MINUTES 60 "as create.sh"
setting repo HVG_REPO "$(cd "$HERE/../.." && pwd)" "as setup.sh"
setting python HVG_PYTHON 3.12 "as setup.sh"
setting jax_package HVG_JAX_PACKAGE "" "as setup.sh"
parse_settings "$@"
check_tpu_settings
common=(--project="${S[project]}" --zone="${S[zone]}" --name="${S[name]}" --venv="${S[venv]}")
dry=()
$DRY_RUN && dry=(--dry_run)
"$HERE/delete.sh" "${common[@]}" --queued="${S[queued]}" "${dry[@]+"${dry[@]}"}"
"$HERE/create.sh" "${common[@]}" --accelerator_type="${S[accelerator_type]}" \
  --runtime_version="${S[runtime_version]}" --queued="${S[queued]}" --spot="${S[spot]}" \
  --wait_minutes="${S[wait_minutes]}" "${dry[@]+"${dry[@]}"}"
"$HERE/setup.sh" "${common[@]}" --repo="${S[repo]}" --python="${S[python]}" \
  --jax_package="${S[jax_package]}" "${dry[@]+"${dry[@]}"}"
