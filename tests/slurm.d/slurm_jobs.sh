#!/usr/bin/env bash
# The job scripts of jobs/ on a real one-node SLURM cluster (slurmctld + slurmd started by hand
# from a slurm.conf in a temporary directory, private ports): a simulation (srun, PMIx), a sweep
# (mpirun inside the allocation), a two-task job array, and the time-limit path: SLURM's warning
# signal (the SIGUSR1 of `--signal=B:USR1@...`) makes the job stop its ranks, requeue itself and
# continue with --resume, giving the same results as the uninterrupted simulation.
#   usage: slurm_jobs.sh BUILD_DIR
#   ASIM_SLURM_TIMELIMIT=1: also let a real time limit (--time=2 --signal=B:USR1@80) do it (+3 min)
#   ASIM_SLURM_KEEP=1: keep the temporary directory (configuration, logs, job output, reports)
set -uo pipefail
BIN=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/slurm.d/cluster.sh"
TMP=$(mktemp -d /tmp/asim-slurm-test.XXXXXX)
cleanup() {
  slurm_stop
  if [ "${ASIM_SLURM_KEEP:-0}" = 1 ]; then echo "     kept $TMP (ASIM_SLURM_KEEP=1)"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'echo "FAIL: interrupted"; exit 1' INT TERM HUP
T_START=$SECONDS
DEADLINE=$((SECONDS + ${ASIM_SLURM_TEST_BUDGET:-270})) # well inside the ctest TIMEOUT
fail=0
say() { echo "     [$((SECONDS - T_START)) s] $*"; }
bad() {
  echo "FAIL: $*"
  fail=1
}

for t in h5dump h5ls; do
  command -v $t >/dev/null || { echo "FAIL: $t not found (Debian: hdf5-tools)"; exit 1; }
done
[ -x "$BIN/asim-mpi" ] && [ -x "$BIN/asim-init" ] || { echo "FAIL: asim-mpi / asim-init not built in $BIN"; exit 1; }
slurm_ensure_installed || exit 1
if [ "$(id -u)" -ne 0 ]; then
  echo "FAIL: the test cluster needs root (slurmd runs jobs as their user; this test starts it as SlurmdUser=root)"
  exit 1
fi

# ---- inputs: the driver tests' tiny dataset and a random ResNet-18 at input 8 ----------------
NDATA=32
/usr/bin/python3 "$SRC/tests/driver.d/make_datasets.py" "$TMP/data" $NDATA >/dev/null || { echo "FAIL: datasets"; exit 1; }
"$BIN/asim-init" ResNet-18 "$TMP/ck.h5" --classes 10 --size 8 >/dev/null || { echo "FAIL: asim-init"; exit 1; }
WORK=$TMP/work
mkdir -p "$WORK"
# write_cfg FILE SAMPLES [extra lines...]: 4-bit layers (BITS=...) keep the bit-serial simulation quick
write_cfg() {
  local f=$1 n=$2 b=${BITS:-4} bs=${BS:-2}
  shift 2
  cat >"$f" <<EOF
task = "CIFAR-10";
model_name = "ResNet-18";
input_size = 8;
cls_num = 10;
test_dir = "$TMP/data/cifar10_png";
pretrain_model_path = "$TMP/ck.h5";
test_bs = $bs;
asim_conv_mode = "Simulation";
asim_linear_mode = "Simulation";
asim_conv_wbit = $b;
asim_conv_xbit = $b;
asim_linear_wbit = $b;
asim_linear_xbit = $b;
asim_conv_rand_noise_sigma = 1.0;
data = { format = "folders"; max_samples = $n; };
run = { seed = 11; };
EOF
  local l
  for l in "$@"; do echo "$l" >>"$f"; done
}
# the simulation (and its requeued twin) in 32 batches of one: rounds to stop between
BS=1 write_cfg "$WORK/sim.cfg" 32
write_cfg "$WORK/small.cfg" 4
write_cfg "$WORK/sweep.cfg" 4 "sweep = { asim_conv_adc_prec = [4, 6]; repeats = 2; };"
printf '# two points\nasim_conv_adc_prec=4\n\nasim_conv_adc_prec=6\n' >"$WORK/points.txt"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1
if OPENBLAS_NUM_THREADS=1 "$BIN/asim-mpi" "$WORK/sweep.cfg" --dry-run >"$TMP/dry.log" 2>&1; then
  SWEEP=1
else
  SWEEP=0
  say "asim-mpi has no sweep support yet ($(grep -m1 -o 'sweep[^;]*' "$TMP/dry.log" | head -c 80)):" \
    "the sweep job runs the plain configuration; only its exit status and report are checked"
  write_cfg "$WORK/sweep.cfg" 4
fi

# ---- the cluster -------------------------------------------------------------------------------
slurm_start "$TMP/slurm" "$([ "${ASIM_SLURM_KEEP:-0}" = 1 ] || echo "$TMP")" || exit 1
say "cluster up: $(sinfo -h -o '%n %c CPUs %T')"
export ASIM_BIN=$BIN # ASIM_HOME is left to the scripts to find (from the job's command)
OVERCOMMIT=()
[ "$(nproc)" -lt 2 ] && OVERCOMMIT=(--overcommit) # two ranks on a one-CPU node
sub() { slurm_sbatch --chdir="$WORK" "${OVERCOMMIT[@]}" "$@"; }

# the requeue job first: it gets the node while the others queue behind it
RQ=$(sub -J requeue -n 2 "$SRC/jobs/simulate.sbatch" sim.cfg) || { echo "FAIL: sbatch"; exit 1; }
SIM=$(ASIM_SET="report.logits=true" sub -J sim -n 2 "$SRC/jobs/simulate.sbatch" sim.cfg --quiet)
SW=$(ASIM_LAUNCHER=mpirun sub -J sweep -n 2 "$SRC/jobs/sweep.sbatch" sweep.cfg)
ARR=$(sub -J array -n 1 --array=0-1 "$SRC/jobs/array.sbatch" small.cfg points.txt)
TR=""
TR_EPOCHS=12
if [ -x "$BIN/asim-train" ]; then
  # a small ResNet-8 training (about 0.1 s an epoch): long enough to be stopped part way
  cat >"$WORK/train.cfg" <<EOF
task = "CIFAR-10";
model_name = "ResNet-8";
input_size = 8;
origin_size = 8;
cls_num = 10;
train_dir = "$TMP/data/cifar10_png";
valid_dir = "$TMP/data/cifar10_png";
test_dir = "$TMP/data/cifar10_png";
pretrain_model_path = "None";
train_bs = 8;
valid_bs = 8;
max_epoch = $TR_EPOCHS;
asim_conv_mode = "Train";
asim_linear_mode = "Train";
data = { format = "folders"; };
run = { job = "train"; seed = 3; };
EOF
  TR=$(sub -J train -n 2 -c 1 "$SRC/jobs/train.sbatch" train.cfg --quiet) || bad "sbatch of the training job"
fi
say "submitted: requeue $RQ, simulation $SIM, sweep $SW (mpirun), array $ARR (2 tasks)${TR:+, training $TR}"
[ -x "$BIN/asim-train" ] || say "no asim-train in $BIN: the training job is not tested"

# The time-limit path, made deterministic whatever the machine's speed: the job's ranks are frozen
# (SIGSTOP) at a moment when some progress is written and work remains; then the batch shell gets
# the signal that `--signal=B:USR1@...` sends near the limit, the shell passes SIGTERM on to the
# ranks, and once every rank holds it pending they are thawed (SIGCONT): they stop after the
# round (or epoch) in flight, the job requeues itself and continues. SLURM holds a requeued job
# for 120 s (BeginTime): the test releases it early, but not within the second of the requeue
# (slurmd rejects a launch credential as old as the revocation of the previous one).
declare -A SIGNALLED RELEASED PENDING_SINCE
# job_pids PROG ID: the PIDs of PROG (asim-mpi, asim-train) running in job ID's run directory
job_pids() {
  local p
  for p in $(pgrep -x "$1"); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "/runs/[a-z]*-$2/" && echo "$p"
  done
}
# sig_bit PID FIELD: 0 when SIGTERM (15) is in the mask FIELD (SigCgt, SigPnd, ShdPnd) of PID
sig_bit() {
  local m
  m=$(sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" 2>/dev/null)
  [ -n "$m" ] && (((0x$m >> 14) & 1))
}
# freeze_if_ready PROG ID NRANKS READY: stops every rank of the job (all with their SIGTERM
# handler installed), then keeps them stopped when READY says there is progress worth keeping
# and work left; else thaws them and fails (try again later).
FROZEN=""
freeze_if_ready() {
  local prog=$1 id=$2 nranks=$3 ready=$4 pids p
  pids=$(job_pids "$prog" "$id")
  [ "$(wc -w <<<"$pids")" -eq "$nranks" ] || return 1
  for p in $pids; do sig_bit "$p" SigCgt || return 1; done
  kill -STOP $pids 2>/dev/null
  sleep 0.2 # let the files the ranks were writing settle before reading them
  if $ready; then FROZEN=$pids; return 0; fi
  kill -CONT $pids 2>/dev/null
  return 1
}
# signal_frozen ID: the warning signal to the batch shell, then thaw once SIGTERM is pending everywhere
signal_frozen() {
  local id=$1 p n=0 all
  scancel --batch --signal=USR1 "$id" || { kill -CONT $FROZEN 2>/dev/null; return 1; }
  while [ $n -lt 100 ]; do
    all=1
    for p in $FROZEN; do
      [ -d "/proc/$p" ] || continue
      sig_bit "$p" ShdPnd || sig_bit "$p" SigPnd || all=0
    done
    [ $all = 1 ] && break
    sleep 0.1
    n=$((n + 1))
  done
  [ $all = 1 ] || say "job $id: SIGTERM not pending on every rank after 10 s; thawing anyway"
  kill -CONT $FROZEN 2>/dev/null
  FROZEN=""
}
# requeue_step ID NAME PROG NRANKS READY: one polling step. Returns 1 once the job has left the queue.
requeue_step() {
  local id=$1 name=$2 prog=$3 nranks=$4 ready=$5 state reason
  state=$(slurm_job_field "$id" JobState)
  if [ -z "${SIGNALLED[$id]:-}" ] && [ "$state" = RUNNING ] && freeze_if_ready "$prog" "$id" "$nranks" "$ready"; then
    signal_frozen "$id" && SIGNALLED[$id]=1
    say "$name job: frozen with progress written and work left; SIGUSR1 to its batch shell, SIGTERM pending on its ranks, thawed"
  fi
  if [ -n "${SIGNALLED[$id]:-}" ] && [ -z "${RELEASED[$id]:-}" ] && [ "$state" = PENDING ]; then
    [ -n "${PENDING_SINCE[$id]:-}" ] || PENDING_SINCE[$id]=$SECONDS
    reason=$(slurm_job_field "$id" Reason)
    if [ "$reason" = BeginTime ] || [ $((SECONDS - PENDING_SINCE[$id])) -ge 5 ]; then
      sleep 2
      say "$name job is pending again ($reason), restarts: $(slurm_job_field "$id" Restarts); releasing it"
      scontrol update JobId="$id" StartTime=now && RELEASED[$id]=1
    fi
  fi
  case $state in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | "") return 1 ;; esac
  return 0
}
RQREP=$WORK/runs/requeue-$RQ/report.h5
# some batches done and some left (/progress/batch_done holds a 0/1 flag per batch)
rq_ready() {
  local d
  d=$(h5dump -d /progress/batch_done "$RQREP" 2>/dev/null | sed -n '/DATA {/,/}/p')
  grep -q ' 1' <<<"$d" && grep -q ' 0' <<<"$d"
}
TRDIR=$WORK/runs/train-$TR
# a checkpoint written and epochs left (history.h5 has one entry per finished epoch)
tr_ready() {
  local e
  [ -f "$TRDIR/checkpoints/checkpoint_last.h5" ] || return 1
  e=$(h5ls "$TRDIR/checkpoints/history.h5/valid_acc" 2>/dev/null | grep -o '{[0-9]*' | tr -d '{')
  [ -n "$e" ] && [ "$e" -lt $((TR_EPOCHS - 1)) ]
}
rq_live=1 tr_live=$([ -n "$TR" ] && echo 1 || echo 0)
while [ $SECONDS -lt $DEADLINE ] && [ $((rq_live + tr_live)) -gt 0 ]; do
  if [ $rq_live = 1 ] && ! requeue_step "$RQ" requeue asim-mpi 2 rq_ready; then rq_live=0; fi
  if [ $tr_live = 1 ] && ! requeue_step "$TR" training asim-train 2 tr_ready; then tr_live=0; fi
  sleep 0.05
done
[ -n "${SIGNALLED[$RQ]:-}" ] || bad "the requeue job finished before it could be signalled (state $(slurm_job_field "$RQ" JobState))"
[ -z "$TR" ] || [ -n "${SIGNALLED[$TR]:-}" ] ||
  bad "the training job finished before it could be signalled (state $(slurm_job_field "$TR" JobState))"

for id in $SIM $SW $ARR; do
  slurm_wait_job "$id" $((DEADLINE - SECONDS)) || bad "job $id still queued/running after the time budget"
done
say "all jobs left the queue"

# ---- checks -----------------------------------------------------------------------------------
h5attr() { h5dump -a "$2" "$1" 2>/dev/null | sed -n 's/^ *(0): //p' | head -1; }
# h5values FILE DATASET [h5dump options]: the values, one a line, in storage order
h5values() {
  local f=$1 d=$2
  shift 2
  h5dump -y -d "$d" "$@" "$f" 2>/dev/null | sed -n '/DATA {/,/^ *}/p' | sed '1d;$d' | tr ',' '\n' | tr -d ' ' | grep -v '^$'
}
# check_job ID NAME FILE [any]: COMPLETED with exit 0, FILE written and (unless "any") a complete report
check_job() {
  local id=$1 name=$2 rep=$3 kind=${4:-report} st ec
  st=$(slurm_job_field "$id" JobState) ec=$(slurm_job_field "$id" ExitCode)
  if [ "$st" != COMPLETED ] || [ "$ec" != 0:0 ]; then
    bad "$name job $id: state $st, exit code $ec"
    tail -n 25 "$WORK"/*"$id"*.out 2>/dev/null
    return 1
  fi
  if [ ! -f "$rep" ]; then bad "$name job: no $rep"; return 1; fi
  if [ "$kind" = report ] && [ "$(h5attr "$rep" /complete)" != 1 ]; then bad "$name job: report not complete"; return 1; fi
  return 0
}
# same_results A B: per-sample results and the confusion matrix identical
same_results() {
  local d
  for d in /samples/index /samples/label /samples/pred /samples/top5 /samples/logits /summary/confusion; do
    h5diff -q "$1" "$2" "$d" "$d" >/dev/null 2>&1 || { echo "  $d differs"; return 1; }
  done
}

SIMREP=$WORK/runs/sim-$SIM/report.h5
if check_job "$SIM" simulation "$SIMREP"; then
  n=$(h5attr "$SIMREP" /summary/n_samples) top1=$(h5attr "$SIMREP" /summary/top1)
  conf=$(h5values "$SIMREP" /summary/confusion | awk '{s += $1} END {print s}')
  if [ "$n" = 32 ] && [ -n "$top1" ] && [ "$conf" = 32 ]; then
    say "ok simulation (srun, PMIx): 32 samples, top-1 $top1, confusion sums to 32, threads from --cpus-per-task"
  else
    bad "simulation report: n_samples '$n', top1 '$top1', confusion sum '$conf'"
  fi
  grep -q 'srun --cpus-per-task=1 --mpi=pmix' "$WORK/runs/sim-$SIM/events.log" ||
    bad "simulation job: not launched with srun --mpi=pmix (events.log)"
  grep -q -- '--set run.threads=1 --quiet --set report.logits=true --output' "$WORK/runs/sim-$SIM/events.log" ||
    bad "simulation job: run.threads, the arguments or ASIM_SET not passed on (events.log)"
fi

if check_job "$RQ" requeue "$RQREP"; then
  restarts=$(slurm_job_field "$RQ" Restarts)
  if [ "${restarts:-0}" -lt 1 ]; then
    bad "requeue job: not requeued (Restarts=$restarts)"
  elif ! grep -q 'exited with status 75' "$WORK/runs/requeue-$RQ/events.log" ||
    ! grep -q 'continuing' "$WORK/runs/requeue-$RQ/events.log"; then
    bad "requeue job: no stop with status 75 followed by a --resume run:"
    cat "$WORK/runs/requeue-$RQ/events.log"
  elif [ -f "$SIMREP" ] && ! same_results "$SIMREP" "$RQREP"; then
    bad "requeue job: the resumed report differs from the uninterrupted simulation"
  else
    say "ok time-limit signal: ranks stopped with status 75, job requeued ($restarts restart), resumed;" \
      "results identical to the uninterrupted job"
  fi
fi

SWREP=$WORK/runs/sweep-$SW/report.h5
if check_job "$SW" sweep "$SWREP"; then
  grep -q 'run: mpirun ' "$WORK/runs/sweep-$SW/events.log" || bad "sweep job: not launched with mpirun"
  if [ $SWEEP = 1 ]; then
    shape=$(h5ls "$SWREP/sweep/top1" 2>/dev/null | grep -o '{[^}]*}')
    if [ "$shape" = "{2, 2}" ] && h5ls "$SWREP/sweep/points" >/dev/null 2>&1; then
      say "ok sweep (mpirun in the allocation): /sweep/top1 $shape (2 points x 2 repeats), /sweep/points present"
    else
      bad "sweep report: /sweep/top1 shape '$shape' (expected {2, 2}) or /sweep/points missing"
      h5ls -r "$SWREP" | head -30
    fi
  else
    say "ok sweep job (mpirun in the allocation) exited 0 with a complete report (no /sweep: feature not merged)"
  fi
fi

for task in 0 1; do
  rep=$WORK/runs/array-$ARR/point-$task.h5
  tid=$(scontrol -o show job "${ARR}_$task" 2>/dev/null | grep -o 'JobId=[0-9]*' | head -1 | cut -d= -f2)
  check_job "${tid:-${ARR}_$task}" "array task $task" "$rep" || continue
  prec=$(h5dump -d /config "$rep" 2>/dev/null | grep -o 'asim_conv_adc_prec = [0-9]*' | head -1 | grep -o '[0-9]*$')
  want=$([ $task = 0 ] && echo 4 || echo 6)
  if [ "$prec" != "$want" ]; then bad "array task $task: asim_conv_adc_prec = '$prec' in the report, expected $want"; continue; fi
  if [ $SWEEP = 1 ] && [ -f "$SWREP" ]; then
    # the sweep's point k, repeat 0 (seed run.seed) is the same computation as array task k
    a="$(h5attr "$rep" /summary/top1) $(h5attr "$rep" /summary/top5)"
    s="$(h5values "$SWREP" /sweep/top1 | sed -n "$((1 + task * 2))p") $(h5values "$SWREP" /sweep/top5 | sed -n "$((1 + task * 2))p")"
    if /usr/bin/python3 -c "import sys; a, b = '$a'.split(), '$s'.split(); sys.exit(len(a) != 2 or len(b) != 2 or
                           any(abs(float(x) - float(y)) > 1e-12 for x, y in zip(a, b)))" 2>/dev/null &&
      [ -n "$(h5values "$rep" /summary/confusion)" ] &&
      diff <(h5values "$rep" /summary/confusion) \
        <(h5values "$SWREP" /sweep/confusion -s "$task,0,0,0" -c "1,1,10,10") >/dev/null; then
      say "ok array task $task: adc_prec $prec; top-1/top-5 ($a) and confusion = the sweep's point $task, repeat 0"
    else
      bad "array task $task: top-1/top-5 $a and confusion; the sweep's point $task repeat 0 has $s"
    fi
  else
    say "ok array task $task: adc_prec $prec from the points file, report complete"
  fi
done

if [ -n "$TR" ]; then
  if check_job "$TR" training "$TRDIR/checkpoints/checkpoint_$TR_EPOCHS.h5" any; then
    epochs=$(h5ls "$TRDIR/checkpoints/history.h5/valid_acc" 2>/dev/null | grep -o '{[0-9]*' | tr -d '{')
    if [ "$(slurm_job_field "$TR" Restarts)" -lt 1 ] || ! grep -q 'continuing from .*checkpoint_last.h5' "$TRDIR/events.log"; then
      bad "training job: not requeued and resumed from checkpoint_last.h5:"
      cat "$TRDIR/events.log"
    elif [ "$epochs" != "$TR_EPOCHS" ]; then
      bad "training job: history.h5 has '$epochs' epochs, expected $TR_EPOCHS"
    else
      say "ok training (asim-train): stopped by the time-limit signal, requeued, resumed from checkpoint_last.h5;" \
        "$TR_EPOCHS epochs in history.h5"
    fi
  fi
fi

# ---- optional: a real time limit --------------------------------------------------------------
if [ "${ASIM_SLURM_TIMELIMIT:-0}" = 1 ]; then
  DEADLINE=$((SECONDS + 400))
  # SLURM checks time limits about every 30 s and may send the warning up to a minute early:
  # the signal comes 10..40 s after the start; the run needs longer than that
  BITS=8 write_cfg "$WORK/long.cfg" 32
  TL=$(sub -J timelimit -n 2 --time=2 --signal=B:USR1@80 "$SRC/jobs/simulate.sbatch" long.cfg)
  say "time-limit job $TL: --time=2 --signal=B:USR1@80"
  while [ $SECONDS -lt $DEADLINE ]; do
    state=$(slurm_job_field "$TL" JobState)
    if [ "$state" = PENDING ] && [ "$(slurm_job_field "$TL" Restarts)" -gt 0 ]; then
      scontrol update JobId="$TL" StartTime=now 2>/dev/null
    fi
    case $state in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | "") break ;; esac
    sleep 1
  done
  if check_job "$TL" timelimit "$WORK/runs/timelimit-$TL/report.h5" &&
    [ "$(slurm_job_field "$TL" Restarts)" -ge 1 ]; then
    say "ok real time limit: $(slurm_job_field "$TL" Restarts) requeue(s), report complete"
    grep -E 'warning|requeue|continuing|exited' "$WORK/runs/timelimit-$TL/events.log" | sed 's/^/       /'
  else
    bad "real time limit: state $(slurm_job_field "$TL" JobState), restarts $(slurm_job_field "$TL" Restarts)"
    cat "$WORK/runs/timelimit-$TL/events.log" 2>/dev/null
  fi
fi

if [ $fail != 0 ]; then
  echo "---- slurmctld.log (tail)"; tail -n 20 "$TMP/slurm/slurmctld.log"
  for f in "$WORK"/*.out; do echo "---- $f"; tail -n 15 "$f"; done
fi
say "done"
exit $fail
