#!/usr/bin/env bash
# GPU check of cleora_tensor on a machine with an NVIDIA GPU, in under 8 minutes.
#
# Run from the repository root:   bash benchmarks/gpu_check.sh 2>&1 | tee gpu_check.log
#
#  1. fails at once (exit 2) when there is no GPU: nvidia-smi missing or failing;
#     prints the GPU (name, memory, driver)
#  2. creates/uses a virtualenv and installs the project with its dev, torch and
#     cupy extras (pip install ".[dev,torch,cupy]"); exit 3 if that fails
#  3. checks that torch sees CUDA (exit 4 if not) and that CuPy runs a cuSPARSE
#     product; if CuPy cannot load its CUDA libraries, tries once
#     `pip install "cupy-cuda12x[ctk]"` with the installed nvidia-* packages
#     pinned (so torch's CUDA libraries are left as they are)
#  4. runs the GPU tests (pytest -k "cuda or cupy") and prints pass/skip counts;
#     a failure, an error or a GPU case that skips makes the exit status 1
#  5. times 1e7 synthetic edges on scipy, torch-CUDA and CuPy, default schedule
#     and --preset pycleora, dim 256, and prints one markdown table
#     (benchmarks/gpu_bench.py); the table is printed even when tests failed
#
# Every step runs under `timeout`, within one budget for the whole script.
# Environment:
#   CLEORA_GPU_CHECK_NO_VENV=1       use the current python environment, no venv
#   CLEORA_GPU_CHECK_VENV=DIR        the venv (default: benchmarks/.data/gpu-venv, git-ignored)
#   CLEORA_GPU_CHECK_SKIP_INSTALL=1  do not pip install (everything already there, or no network)
#   CLEORA_GPU_CHECK_BUDGET_S=N      seconds for the whole script (default 470)
#   CLEORA_GPU_CHECK_EDGES=N         edges of the timed file (default 1e7)
# Exit status: 0 all good; 1 tests or timings failed; 2 no GPU; 3 install failed;
# 4 torch cannot use CUDA.

set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
if [[ ! -f pyproject.toml || ! -f benchmarks/gpu_bench.py ]]; then
    echo "gpu_check: run from a cleora_tensor checkout (pyproject.toml not found)" >&2
    exit 2
fi

BUDGET=${CLEORA_GPU_CHECK_BUDGET_S:-470}
EDGES=${CLEORA_GPU_CHECK_EDGES:-1e7}
START=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cleora_gpu_check.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT

say() { printf '\n== %s (%ss elapsed)\n' "$*" "$((SECONDS - START))"; }
die() { local code=$1; shift; printf '\ngpu_check: FAILED: %s\n' "$*" >&2; exit "$code"; }
# Seconds for a step: at most $1 and what the budget still allows, at least 1
# (`timeout 0` would mean no limit).
left() {
    local rest=$((BUDGET - (SECONDS - START)))
    ((rest < 1)) && rest=1
    if ((rest < $1)); then echo "$rest"; else echo "$1"; fi
}

# --- 1. the GPU -----------------------------------------------------------------------
say "GPU"
command -v nvidia-smi >/dev/null 2>&1 || die 2 "no GPU: nvidia-smi not found (this check needs an NVIDIA GPU and its driver)"
timeout 30 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    || die 2 "no GPU: nvidia-smi failed (no device, or the driver is not loaded)"

# --- 2. environment and install ---------------------------------------------------------
if [[ ${CLEORA_GPU_CHECK_NO_VENV:-0} == 1 ]]; then
    PY=$(command -v python || command -v python3) || die 3 "no python on PATH"
    say "Environment: current python ($PY)"
else
    VENV=${CLEORA_GPU_CHECK_VENV:-benchmarks/.data/gpu-venv}
    say "Environment: venv $VENV"
    if [[ ! -x $VENV/bin/python ]]; then
        timeout "$(left 120)" python3 -m venv "$VENV" || die 3 "could not create the venv $VENV (python3 -m venv; on Debian/Ubuntu apt-get install python3-venv, or set CLEORA_GPU_CHECK_NO_VENV=1)"
    fi
    PY=$VENV/bin/python
fi
"$PY" --version

if [[ ${CLEORA_GPU_CHECK_SKIP_INSTALL:-0} != 1 ]]; then
    say "Install: pip install \".[dev,torch,cupy]\" (torch==2.13.0 with its CUDA libraries: some GB the first time)"
    timeout "$(left 240)" "$PY" -m pip install --quiet --disable-pip-version-check ".[dev,torch,cupy]" \
        || die 3 "pip install \".[dev,torch,cupy]\" failed or timed out (exit $?); with everything installed already, rerun with CLEORA_GPU_CHECK_SKIP_INSTALL=1"
fi

# --- 3. torch and CuPy see the GPU -------------------------------------------------------
say "CUDA from torch and CuPy"
timeout "$(left 60)" "$PY" - <<'EOF' || die 4 "torch cannot use the GPU (see above): no CUDA device for torch"
import torch
print(f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, cuda available: {torch.cuda.is_available()}")
if not torch.cuda.is_available():
    raise SystemExit("torch.cuda.is_available() is False: a CPU-only torch wheel, or a driver older than the wheel's CUDA")
print(f"torch device 0: {torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} device(s)")
EOF

cupy_probe() {
    timeout "$(left 90)" "$PY" - <<'EOF'
import cupy, cupyx.scipy.sparse as sparse, numpy as np
print(f"cupy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, "
      f"driver {cupy.cuda.runtime.driverGetVersion()}, {cupy.cuda.runtime.getDeviceCount()} device(s)")
m = sparse.csr_matrix(cupy.asarray(np.eye(4, dtype=np.float32)))
x = cupy.arange(8, dtype=cupy.float32).reshape(4, 2)
assert float(abs(m @ x - x).max()) == 0.0 and float((x.T @ x)[0, 0]) == 56.0
print("cupy: cuSPARSE and cuBLAS products ok")
EOF
}
if ! cupy_probe; then
    if [[ ${CLEORA_GPU_CHECK_SKIP_INSTALL:-0} != 1 ]]; then
        echo "cupy cannot run; trying cupy-cuda12x[ctk] (CUDA 12 libraries from pip), the nvidia-* packages torch installed pinned"
        "$PY" -m pip freeze 2>/dev/null | grep -i '^nvidia-' >"$WORK/pins.txt"
        timeout "$(left 150)" "$PY" -m pip install --quiet --disable-pip-version-check -c "$WORK/pins.txt" "cupy-cuda12x[ctk]" \
            && cupy_probe || echo "gpu_check: WARNING: CuPy still cannot use the GPU; its tests and timings will fail"
    else
        echo "gpu_check: WARNING: CuPy cannot use the GPU; its tests and timings will fail"
    fi
fi

# --- 4. GPU tests ----------------------------------------------------------------------
say "GPU tests: pytest -k \"cuda or cupy\""
timeout "$(left 150)" "$PY" -m pytest -q -p no:cacheprovider -k "cuda or cupy" --junitxml="$WORK/gpu-tests.xml" tests
TESTS_RC=$?
if [[ -f $WORK/gpu-tests.xml ]]; then
    "$PY" benchmarks/gpu_bench.py --pytest-report "$WORK/gpu-tests.xml"
    REPORT_RC=$?
else
    echo "GPU tests: no report (pytest exit $TESTS_RC)"
    REPORT_RC=1
fi
((TESTS_RC == 124)) && echo "gpu_check: the GPU tests timed out"
TESTS_OK=$(( TESTS_RC == 0 && REPORT_RC == 0 ))

# --- 5. timings ------------------------------------------------------------------------
REST=$((BUDGET - (SECONDS - START)))
say "Timings: $EDGES edges, dim 256, scipy / torch-CUDA / CuPy x default / pycleora preset (${REST}s left)"
BENCH_RC=1
if ((REST > 60)); then
    # The script stops its runs 10 s before its own deadline and prints the table.
    timeout "$REST" "$PY" benchmarks/gpu_bench.py --edges "$EDGES" --dim 256 \
        --backends scipy torch cupy --presets default pycleora \
        --work-dir "$WORK/bench" --deadline-s "$((REST - 10))"
    BENCH_RC=$?
else
    echo "gpu_check: no time left for the timings (rerun: the install is then quick)"
fi

say "Done"
echo "GPU tests: $( ((TESTS_OK)) && echo ok || echo FAILED); timings: $( ((BENCH_RC == 0)) && echo 'all ran' || echo "some did not run (exit $BENCH_RC)")"
((TESTS_OK && BENCH_RC == 0)) || exit 1
exit 0
