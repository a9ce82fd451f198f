#!/usr/bin/env bash
# Installs this checkout of hvg_jax with JAX's TPU build into a Python virtualenv (uv) on every
# worker of the slice (the TPU images' system Python is older than JAX needs), at the versions
# the test suite ran (launch/constraints.txt). Run it again after a code change or a failed
# try: it replaces the code and updates the virtualenv in place.
#   launch/tpu/setup.sh --project=my-project --zone=us-central2-b --name=hvg [--dry_run]
# The code sent is the checkout's last commit (git archive): commit before running it.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launch/common.sh
source "$HERE/../common.sh"
# shellcheck source=launch/tpu/tpu_settings.sh
source "$HERE/tpu_settings.sh"
setting repo HVG_REPO "$(cd "$HERE/../.." && pwd)" "the hvg_jax checkout to install"
setting jax_package HVG_JAX_PACKAGE "" "a pip requirement replacing the tested JAX (default: the [tpu] extra at launch/constraints.txt's versions)"
setting python HVG_PYTHON 3.12 "Python version of the workers' virtualenv (3.11 or newer: JAX 0.10's floor)"
parse_settings "$@"
check_tpu_settings
[[ -f "${S[repo]}/setup.py" && -d "${S[repo]}/hvg_jax" ]] || die "--repo=${S[repo]} is not an hvg_jax checkout"
git -C "${S[repo]}" rev-parse HEAD >/dev/null 2>&1 || die "--repo=${S[repo]} is not a git checkout (setup sends its last commit)"

[[ "${S[python]}" =~ ^3\.(1[1-9]|[2-9][0-9])$ ]] || die "--python=${S[python]}: JAX needs Python 3.11 or newer (e.g. 3.12)"

# uv (installed for the user if missing) makes the virtualenv, or keeps the one there
# (--allow-existing: uv 0.10 and later refuse an existing one otherwise), and installs into it.
venv_setup() {
  echo "(command -v uv >/dev/null || curl -LsSf https://astral.sh/uv/install.sh | sh) && export PATH=\"\$HOME/.local/bin:\$PATH\" && uv venv -q --allow-existing --python ${S[python]} --seed ~/${S[venv]} && . ~/${S[venv]}/bin/activate"
}
if [[ -n "${S[jax_package]}" ]]; then
  install="uv pip install -q -e ~/hvg_jax && uv pip install -q -U '${S[jax_package]}'"
else
  install="uv pip install -q -c ~/hvg_jax/launch/constraints.txt -e ~/hvg_jax'[tpu]'"
fi

archive="${TMPDIR:-/tmp}/hvg_jax-${S[name]}.tar.gz"
run git -C "${S[repo]}" archive --format=tar.gz --output="$archive" HEAD
# shellcheck disable=SC2046
run gcloud compute tpus tpu-vm scp "$archive" "${S[name]}:hvg_jax.tar.gz" $(tpu_flags) --worker=all
# shellcheck disable=SC2046
run gcloud compute tpus tpu-vm ssh "${S[name]}" $(tpu_flags) --worker=all --command="rm -rf ~/hvg_jax && mkdir -p ~/hvg_jax && tar -xzf ~/hvg_jax.tar.gz -C ~/hvg_jax && $(venv_setup) && $install && python -c 'import jax; print(jax.process_index(), jax.device_count(), jax.default_backend()); assert jax.default_backend() == \"tpu\", \"JAX found no TPU\"'"
