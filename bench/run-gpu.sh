#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and no network or package manager: build convcl against
# the OpenCL headers and loader that CUDA's toolkit ships, bring up the NVIDIA OpenCL
# platform (registering libnvidia-opencl.so.1 through OCL_ICD_VENDORS when no .icd file
# is installed), run the test suite and a PyTorch conformance sweep on it, then
# convcl-bench on the ResNet-50 suite at batch 1 and 32 (every algorithm, then auto with
# tuning; runs after the first on device-resident data, --resident, as cuDNN's are) beside
# PyTorch's cuDNN (TF32 off) on the same layers, writing CSVs and a plot. Everything it finds and does
# goes to OUTDIR/gpu-run.log, so a failure to bring OpenCL up is on record.
# Usage: bench/run-gpu.sh OUTDIR [BUILDDIR]   (BUILDDIR defaults to build-gpu in the source tree)
# CONVCL_GPU_ALGOS: the bench's --algo list (default all), to fit a short lease.
# CONVCL_GPU_CTEST_EXCLUDE: a regex of tests to leave out (ctest -E), for the same reason;
# every test runs under a 300 s limit.
set -uo pipefail
out=${1:?usage: bench/run-gpu.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$src/build-gpu}
algos=${CONVCL_GPU_ALGOS:-all}
mkdir -p "$build"
exec > >(tee "$out/gpu-run.log") 2>&1

echo "== machine ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

roots="/usr/local /usr/lib /usr/include /opt /etc/OpenCL"
first() { find $roots "$@" 2>/dev/null | head -n 1; }
clh=$(first -path '*CL/cl.h')
loader=$(first -name 'libOpenCL.so*')
icd_lib=$(first -name 'libnvidia-opencl.so*')
echo "cl.h: ${clh:-none}"
echo "libOpenCL: ${loader:-none}"
echo "libnvidia-opencl: ${icd_lib:-none}"
echo "installed .icd files: $(ls /etc/OpenCL/vendors 2>/dev/null | tr '\n' ' ')"
if [ -z "$clh" ] || [ -z "$loader" ]; then
  echo "OpenCL headers or loader not found: building the CPU path only"
  opencl_args=(-DCONVCL_WITH_OPENCL=OFF)
else
  opencl_args=(-DOpenCL_INCLUDE_DIR="$(dirname "$(dirname "$clh")")" -DOpenCL_LIBRARY="$loader")
fi
if [ -n "$icd_lib" ] && ! grep -qs nvidia /etc/OpenCL/vendors/*.icd; then
  mkdir -p "$build/icd"
  echo "$icd_lib" >"$build/icd/nvidia.icd"
  export OCL_ICD_VENDORS="$build/icd" OCL_ICD_FILENAMES="$icd_lib"
  echo "registered $icd_lib through OCL_ICD_VENDORS=$OCL_ICD_VENDORS"
fi

echo "== build"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release "${opencl_args[@]}" >"$build/cmake.log" 2>&1 ||
  { cat "$build/cmake.log"; exit 1; }
grep 'convcl' "$build/cmake.log"
cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1 || { tail -50 "$build/build.log"; exit 1; }

echo "== devices"
"$build/convcl" devices

echo "== tests"
exclude=()
[ -n "${CONVCL_GPU_CTEST_EXCLUDE:-}" ] && exclude=(-E "$CONVCL_GPU_CTEST_EXCLUDE") &&
  echo "left out: $CONVCL_GPU_CTEST_EXCLUDE"
ctest --test-dir "$build" --output-on-failure -j4 --timeout 300 "${exclude[@]}"

gpu=$("$build/convcl" devices | awk '$1 == "*" && $2 ~ /^opencl:/ {print $2}')
if [ -z "$gpu" ]; then
  echo "auto did not pick an OpenCL GPU: no GPU measurements"
  exit 1
fi
echo "== conformance on $gpu"
python3 "$src/tests/conformance.py" "$build/convcl" --device "$gpu" --count 200 2>&1 | tail -3

for batch in 1 32; do
  echo "== convcl-bench resnet50, batch $batch, $gpu"
  "$build/bench/convcl-bench" --suite resnet50 --device "$gpu" --algo "$algos" --batch "$batch" \
    --runs 10 --resident --format csv --output "$out/resnet50-b$batch-opencl.csv"
  echo "== convcl-bench resnet50, batch $batch, $gpu, tuned"
  "$build/bench/convcl-bench" --suite resnet50 --device "$gpu" --algo auto --tune --batch "$batch" \
    --runs 10 --resident --format csv --output "$out/resnet50-b$batch-opencl-tuned.csv"
  echo "== PyTorch cuDNN resnet50, batch $batch"
  python3 "$src/bench/torch_baseline.py" --suite resnet50 --device cuda --batch "$batch" \
    --runs 10 --output "$out/resnet50-b$batch-cudnn.csv"
  python3 "$src/bench/plot.py" "$out/resnet50-b$batch-opencl.csv" "$out/resnet50-b$batch-cudnn.csv" \
    -o "$out/resnet50-b$batch.png" --title "ResNet-50 batch $batch, $gpu vs cuDNN" || true
  python3 "$src/bench/compare.py" --baseline "$out/resnet50-b$batch-cudnn.csv" \
    "$out/resnet50-b$batch-opencl.csv" "$out/resnet50-b$batch-opencl-tuned.csv=tuned" || true
done
