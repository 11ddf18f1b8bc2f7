#!/usr/bin/env bash
# Wall time of the whole workflow for one preset, run from scratch in a fresh work directory, then
# the compute cost per rule from Snakemake's benchmark files (results/tables/compute_cost.csv).
# See docs/performance.md, "Workflow wall time and compute cost".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"

usage() {
    cat <<EOF
usage: benchmarks/workflow_time.sh [options] [PRESET [CORES [OUTDIR]]]

Runs the workflow end to end in a fresh work directory, times it and aggregates the jobs'
benchmark files into OUTDIR/results/tables/compute_cost.csv (and .md).

  PRESET   quick (default) | smoke | paper | path to a config file merged on top of
           config/config.yaml
  CORES    snakemake --cores (default: all = $(nproc) here)
  OUTDIR   work directory; must not exist or be empty
           (default: benchmarks/out/workflow_time/<preset>-<UTC timestamp>)

options:
  --only EXP   build only experiment EXP's figures and table (repeatable; claims are skipped),
               e.g. --only etg_moebius_gamma for the E1 sweep alone
  -n           dry run: print snakemake's plan (in a throwaway directory), measure nothing
  -h, --help   this text

The environment with identvae and snakemake must be active (or set PYTHON=/path/to/python).
The last line printed is: workflow_time preset=<p> wall_s=<s> cores=<n> ...
EOF
}

die() {
    echo "workflow_time.sh: $*" >&2
    echo >&2
    usage >&2
    exit 2
}

ONLY=()
DRY_RUN=0
POSITIONAL=()
while (($#)); do
    case "$1" in
        -h | --help)
            usage
            exit 0
            ;;
        -n | --dry-run) DRY_RUN=1 ;;
        --only)
            (($# >= 2)) || die "--only needs an experiment name"
            ONLY+=("$2")
            shift
            ;;
        --only=*) ONLY+=("${1#--only=}") ;;
        -*) die "unknown option: $1" ;;
        *) POSITIONAL+=("$1") ;;
    esac
    shift
done
((${#POSITIONAL[@]} <= 3)) || die "too many arguments: ${POSITIONAL[*]}"

PRESET="${POSITIONAL[0]:-quick}"
CORES="${POSITIONAL[1]:-all}"
OUTDIR="${POSITIONAL[2]:-}"

case "$PRESET" in
    quick) CONFIG_ARGS=() ;; # config/config.yaml is the quick preset
    smoke | paper) CONFIG_ARGS=(--configfile "$ROOT/config/presets/$PRESET.yaml") ;;
    *)
        [[ -f "$PRESET" ]] || die "PRESET must be quick, smoke, paper or an existing config file: $PRESET"
        CONFIG_ARGS=(--configfile "$(cd "$(dirname "$PRESET")" && pwd)/$(basename "$PRESET")")
        ;;
esac

if [[ "$CORES" == all ]]; then
    CORES="$(nproc)"
fi
[[ "$CORES" =~ ^[1-9][0-9]*$ ]] || die "CORES must be a positive integer or 'all': $CORES"

for exp in "${ONLY[@]+"${ONLY[@]}"}"; do
    [[ "$exp" =~ ^[A-Za-z0-9_]+$ ]] || die "not an experiment name: $exp"
done

LABEL="$(basename "$PRESET" .yaml)"
if ((DRY_RUN)); then
    # a throwaway directory: planning writes .snakemake/ there, and OUTDIR must stay fresh
    OUTDIR="$(mktemp -d)"
    trap 'rm -rf "$OUTDIR"' EXIT
elif [[ -z "$OUTDIR" ]]; then
    OUTDIR="$ROOT/benchmarks/out/workflow_time/$LABEL-$(date -u +%Y%m%dT%H%M%SZ)"
fi
if [[ -e "$OUTDIR" && -n "$(ls -A "$OUTDIR")" ]]; then
    die "OUTDIR is not empty (the run must start from scratch): $OUTDIR"
fi
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"

"$PYTHON" -c "import identvae, snakemake" 2>/dev/null \
    || die "$PYTHON cannot import identvae and snakemake; activate the environment (. .venv/bin/activate)"

TARGETS=()
for exp in "${ONLY[@]+"${ONLY[@]}"}"; do
    # every figure the experiment draws (E5 has four), by the registry's names
    figures="$("$PYTHON" -c 'import sys; from identvae.experiments import registry
print(" ".join(registry.FIGURES[registry.get(sys.argv[1]).name]))' "$exp")" \
        || die "--only: unknown experiment $exp"
    for fig in $figures; do
        TARGETS+=("results/figures/$fig.pdf" "results/figures/$fig.png")
    done
    TARGETS+=("results/tables/$exp.csv")
done

# Run from the repository root (Snakemake reads profiles/default beside the Snakefile); --directory
# puts results/ and .snakemake/ in OUTDIR. Targets come first: --configfile takes several values.
SNAKEMAKE=("$PYTHON" -m snakemake "${TARGETS[@]+"${TARGETS[@]}"}" -s "$ROOT/Snakefile"
    --directory "$OUTDIR" --cores "$CORES" "${CONFIG_ARGS[@]+"${CONFIG_ARGS[@]}"}")
cd "$ROOT"

if ((DRY_RUN)); then
    "${SNAKEMAKE[@]}" -n
    exit 0
fi

LOG="$OUTDIR/snakemake.log"
TIME_FILE="$OUTDIR/time.txt"
echo "workflow_time.sh: preset $PRESET, $CORES cores, work directory $OUTDIR (log: $LOG)"
TIMER=()
if [[ -x /usr/bin/time ]]; then
    TIMER=(/usr/bin/time -v -o "$TIME_FILE")
fi

start=$(date +%s.%N)
set +e
"${TIMER[@]+"${TIMER[@]}"}" "${SNAKEMAKE[@]}" >"$LOG" 2>&1
status=$?
set -e
end=$(date +%s.%N)
WALL_S=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

if ((status != 0)); then
    tail -n 40 "$LOG" >&2
    echo "workflow_time.sh: snakemake failed (exit $status) after ${WALL_S}s; full log: $LOG" >&2
    exit "$status"
fi

EXTRA=""
if [[ -s "$TIME_FILE" ]]; then
    # user + system CPU seconds of snakemake and every job; the largest resident set of any one
    # process (GNU time reports KB)
    EXTRA=$(awk -F': ' '
        /User time \(seconds\)/ { cpu += $2 }
        /System time \(seconds\)/ { cpu += $2 }
        /Maximum resident set size/ { rss = $2 / 1024 }
        END { printf " cpu_s=%.1f max_rss_mb=%.0f", cpu, rss }' "$TIME_FILE")
fi

"$PYTHON" -m identvae.cli cost "$OUTDIR/results"
ONLY_LABEL="all"
if ((${#ONLY[@]})); then
    ONLY_LABEL=$(IFS=,; echo "${ONLY[*]}")
fi
SUMMARY="workflow_time preset=$LABEL wall_s=$WALL_S cores=$CORES experiments=$ONLY_LABEL$EXTRA"
echo "$SUMMARY" >"$OUTDIR/workflow_time.txt"
echo "$SUMMARY"
