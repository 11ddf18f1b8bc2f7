#!/usr/bin/env bash
# The GPU checks and timings in one run, most important first, each under its own time limit so
# that one slow step cannot take the rest with it (3 minutes on one H200; the limits add up to 10):
#
#   bash benchmarks/gpu_check.sh JOBS LOG
#
# JOBS: a folder of job specs made beforehand, where Snakemake is installed, by
#   python benchmarks/job_time.py spec etg_sprites config/presets/paper.yaml > JOBS/etg_sprites.json
#   python benchmarks/job_time.py spec ivae_fig2a config/presets/paper.yaml > JOBS/ivae_fig2a.json
# LOG: where the whole output is copied. identvae must be importable (PYTHONPATH=src will do)
# with its numeric packages, zuko and pytest-xdist (the tests run with -n 8); Snakemake is not
# needed.
set -u
jobs=$1
log=$2
export PYTHONUNBUFFERED=1
exec > >(tee "$log") 2>&1

step() {  # step SECONDS TITLE COMMAND...: run a command under a time limit, say how it ended
    local limit=$1 title=$2
    shift 2
    echo
    echo "=== $title"
    local t0=$SECONDS
    timeout "$limit" "$@"
    echo "=== $title: exit $? after $((SECONDS - t0)) s"
}

step 20 "the machine" bash -c 'nvidia-smi --query-gpu=name,memory.total,driver_version \
    --format=csv; python -c "import torch; print(torch.__version__, torch.version.cuda,
    torch.cuda.get_device_name(0), torch.backends.cudnn.version())"'
# every method's together = alone and kill/resume invariants on CUDA, and the conv, Sprites and
# c_IMA paths against the CPU
step 200 "CUDA tests" python -m pytest -q -rfEs --durations=5 -p no:cacheprovider -k cuda -n 8 \
    tests/test_ensemble.py tests/test_resume.py tests/test_conv.py tests/test_sprites.py \
    tests/test_metrics_ima.py
step 120 "an E5 job of the paper preset" \
    python benchmarks/job_time.py run "$jobs/etg_sprites.json" --epochs 3 --device cuda
step 60 "conv VAE steps, E5's paper sizes" python benchmarks/conv_stacking.py --device cuda \
    --runs 10 --batch 512 --resolution 64 --steps 10 --rounds 5 --warmup 2 --kernel-variants
step 60 "E1 ensemble throughput" python benchmarks/train_throughput.py --device cuda \
    --steps 300 --ks 1 10 100 1000 --baseline-runs 2 --repeats 2
step 40 "Sprites rendering" python benchmarks/sprites_render.py --device cuda
step 90 "an iVAE Fig. 2a job of the paper preset" \
    python benchmarks/job_time.py run "$jobs/ivae_fig2a.json" --epochs 2 --device cuda
