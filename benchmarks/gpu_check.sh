#!/usr/bin/env bash
# Issue 19's GPU checks in one run (<= 8 minutes on one H100 with 16 host cores):
#   1. bench_inference at 112² and at CoViAR's 340x256: bare decode, compressed (numpy and jax backends),
#      decoded-image path on all frames; --workers processes; goals: compressed >= 3x rgb_all, <= 1.25x
#      bare decode.
#   2. bench_train at batch 256 bf16: fer-jax vs PyTorch eager bf16 and torch.compile (both with bf16
#      autocast + channels_last + fused AdamW) in the same run, with MFU.
#   3. bench_train --profile: per-phase breakdown and HLO op counts of the bf16 step (+ a trace in $OUT).
# Prints one compact JSON line per step (full logs and JSON under $OUT). Each step runs under `timeout`,
# so a hang costs at most its own slot. No TensorFlow is needed anywhere; PyAV is (carry its wheel).
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine (after the wheel installs)
#   bash benchmarks/gpu_check.sh --smoke    # tiny sizes, CPU, a few minutes: checks the script itself
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${OUT:-$(mktemp -d /tmp/gpu_check.XXXX)}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1

# --- carried wheels (the lead's prefix): e.g. WHEELS=/path/to/wheels --------------------------------
if [ -n "${WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --find-links "$WHEELS" av >"$OUT/pip.log" 2>&1 || echo '{"step":"pip","rc":1}'
fi

WORKERS=${WORKERS:-14}
if [ $SMOKE = 1 ]; then
  INF="--batch 2 --clips 4 --frames 26 --arch tiny --width 8 --repeats 1 --workers 2 --no-canonicalise"
  INF340="$INF"; SIZE340=68x52
  TRAIN="--batch 2 --segments 1 --size 32 --arch tiny --width 8 --steps 1 --repeats 1 --dtype float32 --torch eager"
  PROF="--batch 2 --segments 1 --size 32 --arch tiny --width 8 --steps 1 --repeats 1 --dtype float32 --no-torch"
  T_INF=300; T_INF340=300; T_TRAIN=600; T_PROF=600
else
  INF="--batch 16 --clips 128 --repeats 3 --workers $WORKERS"
  INF340="--batch 16 --clips 64 --repeats 2 --workers $WORKERS --no-canonicalise"; SIZE340=340x256
  TRAIN="--batch 256 --dtype bfloat16 --torch-device cuda --torch eager_bf16 compile --steps 5 --repeats 3"
  TRAIN="$TRAIN --peak-tflops 989.4"
  PROF="--batch 256 --dtype bfloat16 --no-torch --steps 3 --repeats 1 --peak-tflops 989.4"
  T_INF=85; T_INF340=95; T_TRAIN=200; T_PROF=80  # sum 460 s: the 8-minute budget with the env line
fi

step() {  # name timeout_s command...: run, keep the log, print its last line (the JSON) or the failure
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  if [ $rc = 0 ]; then
    tail -n 1 "$OUT/$name.log"
  else
    printf '{"step":"%s","rc":%d,"seconds":%d,"tail":%s}\n' "$name" $rc $((SECONDS - t0)) \
      "$(tail -n 3 "$OUT/$name.log" | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()[-400:]))')"
  fi
}

$PY - <<'EOF'
import json, os, subprocess, sys
import jax
try:
    import av; av_v = av.__version__
except ImportError:
    av_v = None
try:
    import torch; torch_v = torch.__version__; cuda = torch.cuda.is_available()
except ImportError:
    torch_v, cuda = None, False
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                     capture_output=True, text=True).stdout.strip() if cuda else None
print(json.dumps({"step": "env", "gpu": gpu, "jax_device": str(jax.devices()[0]), "cpus": os.cpu_count(),
                  "python": sys.version.split()[0], "jax": jax.__version__, "av": av_v, "torch": torch_v,
                  "tensorflow_importable": __import__("importlib").util.find_spec("tensorflow") is not None},
                 separators=(",", ":")))
EOF

step inference_112 $T_INF $PY benchmarks/bench_inference.py $INF --json "$OUT/inference_112.json"
step inference_340x256 $T_INF340 $PY benchmarks/bench_inference.py $INF340 --size $SIZE340 \
  --json "$OUT/inference_340x256.json"
XLA_PYTHON_CLIENT_MEM_FRACTION=0.45 step train_bf16 $T_TRAIN $PY benchmarks/bench_train.py $TRAIN \
  --json "$OUT/train.json"
step train_profile $T_PROF $PY benchmarks/bench_train.py $PROF --profile "$OUT/profile" --json "$OUT/profile.json"
if [ -f "$OUT/profile.json" ]; then
  $PY -c 'import json,sys; p=json.load(open(sys.argv[1]))["profile"]; print(json.dumps({"step":"profile", **{d: {k: v[k] for k in ("phases_ms","shares_of_step","hlo_ops")} for d, v in p.items()}}, separators=(",",":")))' "$OUT/profile.json"
fi
echo "{\"step\":\"done\",\"seconds\":$SECONDS,\"out\":\"$OUT\"}"
