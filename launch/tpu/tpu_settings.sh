# shellcheck shell=bash
# The settings every Cloud TPU script takes (sourced after ../common.sh).
setting project HVG_PROJECT required "Google Cloud project id"
setting zone HVG_ZONE required "zone of the TPU, e.g. us-central2-b"
setting name HVG_TPU_NAME required "name of the TPU VM (or queued resource)"
setting venv HVG_TPU_VENV hvg_venv "the Python virtualenv in every worker's home directory (made by setup.sh)"

# gcloud's flags for the TPU named by the settings.
tpu_flags() {
  echo "--project=${S[project]}" "--zone=${S[zone]}"
}

check_tpu_settings() {
  [[ "${S[name]}" =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]] ||
    die "--name=${S[name]}: a TPU name is lower-case letters, digits and hyphens, starting with a letter"
  [[ "${S[zone]}" =~ ^[a-z]+-[a-z]+[0-9]+-[a-z0-9]+$ ]] ||
    die "--zone=${S[zone]} is not a zone (e.g. us-central2-b, europe-west4-a, us-central1-ai1a)"
  [[ "${S[venv]}" =~ ^[A-Za-z0-9._][A-Za-z0-9._/-]*$ ]] ||
    die "--venv=${S[venv]}: a directory under the workers' home (letters, digits, . _ - /)"
}

check_bool() {  # NAME VALUE
  [[ "$2" == true || "$2" == false ]] || die "--$1=$2: give true or false"
}

# The TPU software version the Cloud TPU runtimes page gives for an accelerator type.
runtime_for() {  # ACCELERATOR_TYPE
  case "$1" in
    v6e-*) echo v2-alpha-tpuv6e ;;
    v5p-*) echo v2-alpha-tpuv5 ;;
    v5litepod-* | v5e-*) echo v2-alpha-tpuv5-lite ;;
    v2-* | v3-* | v4-*) echo tpu-ubuntu2204-base ;;
    *) die "--accelerator_type=$1: no known runtime for it; give --runtime_version" ;;
  esac
}

# Waits until the queued resource named by the settings is ACTIVE (its slice allocated and
# running), at most MINUTES; a failed or suspended one, or the timeout, is a one-line error.
wait_until_active() {  # MINUTES
  local describe=(gcloud compute tpus queued-resources describe "${S[name]}" --project="${S[project]}"
                  --zone="${S[zone]}" --format='value(state.state)')
  if $DRY_RUN; then
    echo "# then, every ${HVG_POLL_SECONDS:-30} s for at most $1 minutes, until it says ACTIVE:"
    quote "${describe[@]}"
    return
  fi
  local deadline=$((SECONDS + $1 * 60)) state
  while :; do
    state=$("${describe[@]}") || die "could not describe the queued resource ${S[name]} (gcloud's message above)"
    case "$state" in
      ACTIVE) echo "# ${S[name]} is ACTIVE" >&2; return 0 ;;
      FAILED | SUSPENDED | SUSPENDING)
        die "the queued resource ${S[name]} is $state (preempted or refused); delete it and create it again: launch/tpu/recreate.sh with the same settings" ;;
    esac
    ((SECONDS < deadline)) ||
      die "the queued resource ${S[name]} is still ${state:-in no state} after $1 minutes (capacity can take hours): wait longer with --wait_minutes, or watch '${describe[*]}' and run launch/tpu/setup.sh once it says ACTIVE"
    echo "# ${S[name]}: $state, waiting..." >&2
    sleep "${HVG_POLL_SECONDS:-30}"
  done
}
