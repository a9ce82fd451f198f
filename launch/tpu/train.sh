#!/usr/bin/env bash
# Trains a level or a whole chain on every worker of the slice (one process per worker in
# setup.sh's virtualenv, jax.distributed started from the TPU's environment); the logs go to
# ~/hvg_train.log.
#   launch/tpu/train.sh --project=my-project --zone=us-central2-b --name=hvg \
#       --config=configs/bdd_chain.py --workdir=gs://my-bucket/bdd [--dry_run] \
#       [-- --config.data.dir=gs://my-bucket/data]
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launch/common.sh
source "$HERE/../common.sh"
# shellcheck source=launch/tpu/tpu_settings.sh
source "$HERE/tpu_settings.sh"
setting config HVG_CONFIG required "config file in the checkout, e.g. configs/bdd_chain.py"
setting workdir HVG_WORKDIR required "gs:// directory every worker writes to"
parse_settings "$@"
check_tpu_settings
[[ -f "$HERE/../../${S[config]%%:*}" ]] || die "--config=${S[config]}: no such config file in the checkout (configs/...)"
[[ "${S[workdir]}" == gs://* ]] || die "--workdir=${S[workdir]}: the workers of a slice share no disk; give a gs:// path"

# shellcheck disable=SC2046
run gcloud compute tpus tpu-vm ssh "${S[name]}" $(tpu_flags) --worker=all --command="cd ~/hvg_jax && . ~/${S[venv]}/bin/activate && nohup $(main_command "${S[config]}" "${S[workdir]}" tpu) > ~/hvg_train.log 2>&1 &"
echo "# Follow it: launch/tpu/logs.sh --project=${S[project]} --zone=${S[zone]} --name=${S[name]}" >&2
