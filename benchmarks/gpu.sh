#!/usr/bin/env bash
# The GPU measurements of one run (at most 8 minutes on one H200): the environment, the
# training iteration at paper sizes (hvg_jax.benchmark), the memory figure with allocator
# peaks, and the PyTorch reference of the same level-2 iteration side by side.
#   OUT=/path/out bash benchmarks/gpu.sh             # on the GPU machine
#   OUT=/tmp/out HVG_GPU_TINY=1 bash benchmarks/gpu.sh   # rehearsal on a CPU, tiny sizes
# Writes $OUT/gpu.log (every command and its output), one JSON per measurement and
# $OUT/summary.json (samples/s per device, MFU, memory; the ratios against the papers'
# anchors and PyTorch). Installs nothing: it runs with the jax the machine has. A step that
# fails is logged with its exit code and the others still run.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
OUT=${OUT:?set OUT to the directory the results go to}
mkdir -p "$OUT"
LOG="$OUT/gpu.log"
TINY=${HVG_GPU_TINY:-0}
STEP_TIMEOUT=${HVG_GPU_STEP_TIMEOUT:-150}  # seconds per measurement, compile included
BUDGET=${HVG_GPU_BUDGET:-450}  # seconds: later steps are skipped (logged) past this
START=$(date +%s)
PY=${PYTHON:-python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the checkout, installed or not

step() {  # NAME COMMAND...: runs it under the timeout, logs it, never stops the script
  local name=$1 start rc
  shift
  start=$(date +%s)
  if ((start - START > BUDGET)); then
    echo "== $name: skipped, past the ${BUDGET} s budget" | tee -a "$LOG"
    return
  fi
  echo "== $name: $*" >>"$LOG"
  timeout "$STEP_TIMEOUT" "$@" >>"$LOG" 2>&1
  rc=$?
  echo "== $name: exit $rc after $(($(date +%s) - start)) s" | tee -a "$LOG"
}

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) tiny=$TINY" | tee "$LOG"
step environment bash -c "nvidia-smi || true; $PY -c 'import jax, jaxlib, flax, optax, orbax.checkpoint as o; print(\"jax\", jax.__version__, \"jaxlib\", jaxlib.__version__, \"flax\", flax.__version__, \"optax\", optax.__version__, \"orbax\", o.__version__); print(jax.devices()); from jax._src.lib import cuda_versions as c; print(\"cudnn\", c.cudnn_get_version() if c else None)'"
step imports "$PY" -c "import hvg_jax.benchmark, hvg_jax.models"

if [[ "$TINY" == 1 ]]; then
  # The same commands on the demo's levels: what can run on a CPU in a minute each.
  L2=(--config=configs/demo.py --level=2 --batch_per_device=2)
  STAGE1=(--config=configs/demo.py --level=1 --batch_per_device=2)
  TOP=(--config=configs/demo.py --level=2 --batch_per_device=1)
  REMAT=--config.levels.level2.model.remat=True
  MEMORY=(--models=level2 "--lengths=24")
  TIMING=(--steps=2 --warmup=1)
else
  L2=(--config=configs/kinetics_chain.py --level=2 --batch_per_device=4)
  STAGE1=(--config=configs/ssw_bdd_chain.py --level=1 --batch_per_device=4)
  TOP=(--config=configs/bdd_chain.py --level=3 --batch_per_device=2)
  REMAT=--config.levels.level3.model.remat=True
  MEMORY=("--lengths=24,96,192" --run)
  TIMING=(--steps=10 --warmup=2)
fi
bench() {  # NAME ARGS...
  local name=$1
  shift
  step "$name" "$PY" -m hvg_jax.benchmark "$@" "${TIMING[@]}" --nosampling --output="$OUT/$name.json"
}
# The targets' measurements first, in case the budget runs out.
bench kinetics_level2_bf16 "${L2[@]}" --dtype=bfloat16
if "$PY" -c "import torch" 2>/dev/null; then
  device=cuda
  [[ "$TINY" == 1 ]] && device=cpu
  step torch_level2 "$PY" benchmarks/torch_level2.py "${L2[@]}" --dtype=bfloat16 \
    --device="$device" "${TIMING[@]}" --output="$OUT/torch_level2.json"
else
  echo "== torch_level2: skipped, no torch on this machine" | tee -a "$LOG"
fi
bench kinetics_level2_bf16_b1 "${L2[@]}" --dtype=bfloat16 --batch_per_device=1  # memory per sample
step memory "$PY" benchmarks/memory_vs_length.py "${MEMORY[@]}" --batch_per_device=1 \
  --dtype=bfloat16 --output_dir="$OUT/memory"
bench kinetics_level2_f32 "${L2[@]}" --dtype=float32
bench ssw_stage1_bf16 "${STAGE1[@]}" --dtype=bfloat16
bench bdd_level3_bf16 "${TOP[@]}" --dtype=bfloat16
bench bdd_level3_bf16_remat "${TOP[@]}" --dtype=bfloat16 "$REMAT"
BUDGET=100000 step summary "$PY" benchmarks/gpu_summary.py --out="$OUT"
cat "$OUT/summary.json" 2>/dev/null
