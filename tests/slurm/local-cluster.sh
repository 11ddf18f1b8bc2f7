#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, and the smoke preset run through it.
#
# As root on Debian: installs slurm-wlm and munge if missing, writes a one-node configuration,
# starts munged, slurmctld and slurmd on the loopback address, runs `snakemake --executor slurm` with the project's SLURM profile (GPU
# requests zeroed: this node has none), checks the outputs and that the training jobs went through
# SLURM, and stops the daemons it started by their process ids.
#
#   sudo tests/slurm/local-cluster.sh            # from the repository root, venv active
#   KEEP=1 tests/slurm/local-cluster.sh          # keep the scratch directory for inspection
#
# Takes about a minute; .ci/run calls it. Everything lives in a scratch directory except
# /etc/slurm/slurm.conf: the plugin's job step strips SLURM_CONF from the environment of the srun
# it starts inside each job, so srun only finds the configuration at its default path. The script
# writes that file only if it is absent (or left by an earlier run of this script) and removes it
# at the end; on a machine with a real SLURM configuration it refuses to run.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python}

if [ "$(id -u)" != 0 ]; then
  echo "local-cluster.sh: needs root (it installs packages and starts daemons)" >&2
  exit 2
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
  || ! command -v munged >/dev/null; then
  echo "== installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

SYSTEM_CONF=/etc/slurm/slurm.conf
MARKER="# written by identvae tests/slurm/local-cluster.sh"
if [ -e "$SYSTEM_CONF" ] && ! grep -qF "$MARKER" "$SYSTEM_CONF"; then
  echo "local-cluster.sh: $SYSTEM_CONF exists and is not ours; run this on a throwaway machine" >&2
  exit 2
fi

WORK=$(mktemp -d /tmp/identvae-slurm.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  local status=$?
  if [ -n "${SNAKEMAKE_PID:-}" ] && kill -0 "$SNAKEMAKE_PID" 2>/dev/null; then
    kill "$SNAKEMAKE_PID" 2>/dev/null || true
  fi
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]; then
    scancel --quiet --user root 2>/dev/null || true
  fi
  for pidfile in "${PIDS[@]}"; do
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
  done
  sleep 1
  if [ -f "$SYSTEM_CONF" ] && grep -qF "$MARKER" "$SYSTEM_CONF"; then
    rm -f "$SYSTEM_CONF"
  fi
  if [ $status -ne 0 ]; then
    echo "== local cluster failed; daemon logs:" >&2
    tail -n 20 "$WORK"/*.log >&2 2>/dev/null || true
  fi
  if [ -z "${KEEP:-}" ]; then
    rm -rf "$WORK"
  else
    echo "kept $WORK"
  fi
  exit $status
}
trap cleanup EXIT

echo "== starting munged"
mkdir -p "$WORK/munge" && chmod 700 "$WORK/munge"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$WORK/munge/munge.key"
munged --force --key-file="$WORK/munge/munge.key" --socket="$WORK/munge/munge.socket" \
  --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munged.log" \
  --seed-file="$WORK/munge/munged.seed"
PIDS+=("$WORK/munge/munged.pid")

echo "== writing a one-node slurm.conf"
mkdir -p "$WORK/state" "$WORK/spool"
CPUS=$(nproc)
MEM_MB=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10))
# Free ports, so a system slurm (or another copy of this test) is not disturbed.
read -r CTLD_PORT SLURMD_PORT < <("$PYTHON" - <<'EOF'
import socket
ports = []
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
    ports.append(s.getsockname()[1])
print(*ports)
EOF
)
export SLURM_CONF="$SYSTEM_CONF"
mkdir -p "$(dirname "$SYSTEM_CONF")"
cat >"$SLURM_CONF" <<EOF
$MARKER (removed when it ends)
ClusterName=identvae-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$WORK/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue for 10 minutes: the plugin reads their state from there,
# since this cluster has no accounting database for sacct.
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=identvae Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF

echo "== starting slurmctld and slurmd"
slurmctld -f "$SLURM_CONF"
PIDS+=("$WORK/slurmctld.pid")
slurmd -f "$SLURM_CONF" -N localhost
PIDS+=("$WORK/slurmd.pid")
for _ in $(seq 60); do
  if sinfo --noheader --states=idle 2>/dev/null | grep -q debug; then
    break
  fi
  sleep 1
done
sinfo
sinfo --noheader --states=idle | grep -q debug || { echo "the node never became idle" >&2; exit 1; }

echo "== test profile: the project's SLURM profile, GPU requests zeroed"
mkdir -p "$WORK/profile"
"$PYTHON" - "$ROOT/workflow/profiles/slurm/profile.yaml" "$WORK/profile/profile.yaml" <<'EOF'
import sys

import yaml

profile = yaml.safe_load(open(sys.argv[1]))
profile["set-resources"]["train"]["gpu"] = 0  # the test node has no GPU
profile["latency-wait"] = 5  # one local file system
profile["slurm-init-seconds-before-status-checks"] = 2
profile["slurm-status-command"] = "squeue"  # no accounting database here, so no sacct
profile["slurm-keep-successful-logs"] = True  # the check below reads them
yaml.safe_dump(profile, open(sys.argv[2], "w"))
EOF

echo "== smoke preset through --executor slurm"
RUN="$WORK/run"
mkdir -p "$RUN"
cd "$ROOT"
# The profile reads the partition from the environment: a non-default one, checked below.
IDENTVAE_SLURM_PARTITION=identvae "$PYTHON" -m snakemake --workflow-profile "$WORK/profile" --directory "$RUN" \
  --configfile config/presets/smoke.yaml --cores 2 >"$WORK/snakemake.log" 2>&1 &
SNAKEMAKE_PID=$!
if ! wait "$SNAKEMAKE_PID"; then
  tail -n 60 "$WORK/snakemake.log" >&2
  exit 1
fi
SNAKEMAKE_PID=

echo "== checking the outputs"
"$PYTHON" - "$RUN" <<'EOF'
import json
import sys
from pathlib import Path

import pandas as pd

run = Path(sys.argv[1])
results = run / "results"
assert (results / "claims.csv").stat().st_size > 0
chunks, n_runs = [], 0
for summary_path in sorted(results.glob("*/summary.csv")):
    exp = summary_path.parent
    summary = pd.read_csv(summary_path)
    assert len(summary) > 0 and (summary["status"] == "ok").all(), (exp.name, summary)
    assert (results / "tables" / f"{exp.name}.csv").stat().st_size > 0, exp.name
    exp_chunks = sorted(exp.glob("chunks/*.json"))
    runs = [r for c in exp_chunks for r in json.loads(c.read_text())["runs"]]
    assert sorted(runs) == sorted(summary["run_id"]), (exp.name, runs)
    chunks += exp_chunks
    n_runs += len(summary)
assert chunks, "no training chunk was written"
# Each chunk went through SLURM: the plugin keeps one SLURM log per job.
slurm_logs = sorted((run / ".snakemake/slurm_logs/rule_train").rglob("*.log"))
assert len(slurm_logs) == len(chunks), (slurm_logs, chunks)
print(f"ok: {n_runs} runs in {len(chunks)} SLURM training jobs")
print(len(chunks), file=open(run / "n_chunks", "w"))
EOF
squeue --states=all --noheader --format="%i %P %T" | tee "$WORK/jobs.txt"
COMPLETED=$(grep -c "identvae COMPLETED" "$WORK/jobs.txt" || true)
CHUNKS=$(cat "$RUN/n_chunks")
if [ "$COMPLETED" -lt "$CHUNKS" ]; then
  echo "expected $CHUNKS completed jobs in partition identvae, squeue shows $COMPLETED" >&2
  exit 1
fi
echo "== local SLURM cluster: smoke workflow passed ($COMPLETED SLURM jobs completed)"
