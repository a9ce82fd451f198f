# shellcheck shell=bash
# Shared by the launch scripts (sourced): settings from --flags or the environment,
# checked before anything runs, and --dry_run that prints the commands instead.
#
# A script declares its settings with `setting NAME ENV_VAR DEFAULT "help"` (DEFAULT
# "required" for one without a default), then calls `parse_settings "$@"`; afterwards
# each NAME's value is ${S[NAME]}. Arguments after `--` go to hvg_jax.main as EXTRA_ARGS.

set -euo pipefail

# shellcheck disable=SC2034  # read by the scripts that source this file
declare -A S=()
SETTINGS=()
DRY_RUN=false
EXTRA_ARGS=()

setting() {  # NAME ENV_VAR DEFAULT HELP
  SETTINGS+=("$1|$2|$3|$4")
}

usage() {
  echo "usage: $(basename "$0") [--dry_run] [--NAME=VALUE ...] [-- hvg_jax.main flags]"
  echo "settings (flag, or environment variable; * = required):"
  local entry name env default help
  for entry in "${SETTINGS[@]}"; do
    IFS='|' read -r name env default help <<<"$entry"
    if [[ "$default" == required ]]; then
      printf '  --%-20s $%-24s * %s\n' "$name" "$env" "$help"
    else
      printf '  --%-20s $%-24s %s (default: %s)\n' "$name" "$env" "$help" "${default:-none}"
    fi
  done
}

die() {
  echo "error: $*" >&2
  exit 2
}

parse_settings() {
  local entry name env default help arg key value known
  declare -gA GIVEN=()
  while (($#)); do
    arg=$1
    shift
    case "$arg" in
      --)  # the rest goes to hvg_jax.main, except --dry_run, which is the script's wherever it is
        for arg in "$@"; do
          if [[ "$arg" == --dry_run ]]; then DRY_RUN=true; else EXTRA_ARGS+=("$arg"); fi
        done
        break ;;
      --dry_run) DRY_RUN=true ;;
      -h | --help) usage; exit 0 ;;
      --*=*)
        key=${arg%%=*}; key=${key#--}; value=${arg#*=}
        known=false
        for entry in "${SETTINGS[@]}"; do
          [[ "${entry%%|*}" == "$key" ]] && known=true
        done
        $known || die "unknown setting --$key ($(basename "$0") --help lists them)"
        GIVEN[$key]=$value ;;
      *) die "unexpected argument '$arg': settings are --NAME=VALUE ($(basename "$0") --help)" ;;
    esac
  done
  local missing=()
  for entry in "${SETTINGS[@]}"; do
    IFS='|' read -r name env default help <<<"$entry"
    if [[ -v "GIVEN[$name]" ]]; then
      value=${GIVEN[$name]}
    elif [[ -n "${!env:-}" ]]; then
      value=${!env}
    elif [[ "$default" == required ]]; then
      missing+=("--$name (or \$$env): $help")
      continue
    else
      value=$default
    fi
    # shellcheck disable=SC2034  # read by the scripts that source this file
    S[$name]=$value
  done
  if ((${#missing[@]})); then
    printf 'error: missing settings:\n' >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 2
  fi
}

# Its arguments as one shell line: plain words as they are, others in single quotes.
quote() {
  local arg words=()
  for arg in "$@"; do
    if [[ "$arg" =~ ^[-A-Za-z0-9_./:=@,+%]+$ ]]; then
      words+=("$arg")
    else
      words+=("'${arg//\'/\'\\\'\'}'")
    fi
  done
  echo "${words[*]}"
}

# Runs a command, or prints it (one line a shell can run) with --dry_run.
run() {
  if $DRY_RUN; then
    quote "$@"
  else
    "$@"
  fi
}

# The hvg_jax.main command line every worker runs.
main_command() {  # CONFIG WORKDIR PLATFORM: every process of a cluster run (JAX fills in the rest)
  quote python -m hvg_jax.main "--config=$1" "--workdir=$2" --distributed=on "--platform=$3" \
    "${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}"
}
