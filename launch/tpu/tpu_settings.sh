# shellcheck shell=bash
# The settings every Cloud TPU script takes (sourced after ../common.sh).
setting project HVG_PROJECT required "Google Cloud project id"
setting zone HVG_ZONE required "zone of the TPU, e.g. us-central2-b"
setting name HVG_TPU_NAME required "name of the TPU VM (or queued resource)"

# gcloud's flags for the TPU named by the settings.
tpu_flags() {
  echo "--project=${S[project]}" "--zone=${S[zone]}"
}

check_tpu_settings() {
  [[ "${S[name]}" =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]] ||
    die "--name=${S[name]}: a TPU name is lower-case letters, digits and hyphens, starting with a letter"
  [[ "${S[zone]}" =~ ^[a-z]+-[a-z]+[0-9]+-[a-z]$ ]] ||
    die "--zone=${S[zone]} is not a zone (e.g. us-central2-b, europe-west4-a)"
}

check_bool() {  # NAME VALUE
  [[ "$2" == true || "$2" == false ]] || die "--$1=$2: give true or false"
}
