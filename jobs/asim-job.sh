# jobs/asim-job.sh — shared by the sbatch scripts in jobs/ (sourced, not run).
#
# Provides: the run directory, threads from --cpus-per-task, the launcher (srun with PMIx or
# mpirun), and the time-limit protocol:
#
#   #SBATCH --signal=B:USR1@SECONDS   SLURM sends SIGUSR1 to this batch shell SECONDS before the limit
#   asim_launch                       runs the program in the background and waits for it; on
#                                     SIGUSR1 it sends SIGTERM to the program's ranks (srun: every
#                                     task of the job's steps via scancel; mpirun: the ranks
#                                     themselves), which finish the round in flight, flush the
#                                     report and exit with status 75
#   asim_finish RC                    status 75 after the warning: `scontrol requeue`; the requeued
#                                     job runs this script again and continues with --resume
#
# Environment (all optional):
#   ASIM_HOME        source tree with jobs/ (found from the job's command or the submit directory)
#   ASIM_BIN         folder with asim-mpi / asim-train (default $ASIM_HOME/build, else PATH)
#   ASIM_RUN_DIR     run directory (default runs/<job name>-<job id>, relative to the submit dir)
#   ASIM_LAUNCHER    srun (default) or mpirun
#   ASIM_SRUN_MPI    srun --mpi plugin (default pmix; empty: the cluster's MpiDefault)
#   ASIM_SRUN_ARGS   extra srun arguments;  ASIM_MPIRUN_ARGS  extra mpirun arguments
#   ASIM_SET         extra overrides, whitespace-separated key=value words (each becomes --set)
#   ASIM_MAX_REQUEUE requeues allowed on time limits (default 20)

set -euo pipefail

asim_log() {
  local line id=${SLURM_JOB_ID:-}
  if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then id=${SLURM_ARRAY_JOB_ID}_$SLURM_ARRAY_TASK_ID; fi
  line="[asim-job $id $(date '+%F %T')] $*"
  echo "$line" >&2
  if [ -n "${RUN_DIR:-}" ] && [ -d "$RUN_DIR" ]; then echo "$line" >>"$RUN_DIR/events.log"; fi
}
asim_die() { # asim_die STATUS MESSAGE
  local st=$1
  shift
  asim_log "error: $*"
  exit "$st"
}

[ -n "${SLURM_JOB_ID:-}" ] || asim_die 2 "not inside a SLURM job: submit with sbatch (see jobs/README.md)"

asim_log "${ASIM_SCRIPT:-the job script} on $(hostname -s): ${SLURM_NTASKS:-1} task(s) x ${SLURM_CPUS_PER_TASK:-1} CPU(s), source tree $ASIM_HOME"

# ---- programs and threads --------------------------------------------------------------------
ASIM_BIN=${ASIM_BIN:-$ASIM_HOME/build}
asim_prog() { # the path of a program: $ASIM_BIN/NAME, else NAME on PATH
  if [ -x "$ASIM_BIN/$1" ]; then echo "$ASIM_BIN/$1"
  elif command -v "$1" >/dev/null 2>&1; then command -v "$1"
  else asim_die 1 "$1 not found in ASIM_BIN=$ASIM_BIN nor on PATH (build it, or set ASIM_BIN)"
  fi
}

# --cpus-per-task → compute threads per rank (OpenBLAS, OpenMP, run.threads)
THREADS=${SLURM_CPUS_PER_TASK:-1}
export OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS

# ---- run directory ---------------------------------------------------------------------------
asim_run_dir() { # asim_run_dir DEFAULT_NAME: sets RUN_DIR (absolute) and creates it
  RUN_DIR=${ASIM_RUN_DIR:-runs/$1}
  mkdir -p "$RUN_DIR" || asim_die 1 "cannot create the run directory $RUN_DIR"
  RUN_DIR=$(cd "$RUN_DIR" && pwd)
}

# ---- command line: CONFIG [program options...], ASIM_CONFIG / ASIM_SET ---------------------------
# Sets CONFIG and USER_ARGS (the program options: --set k=v, --group G, ...).
asim_parse_args() {
  CONFIG=${ASIM_CONFIG:-}
  if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then CONFIG=$1; shift; fi
  [ -n "$CONFIG" ] || asim_die 2 "no configuration: sbatch ${ASIM_SCRIPT:-the job script} CONFIG.cfg [--set key=value]... (or ASIM_CONFIG=...)"
  [ -r "$CONFIG" ] || asim_die 2 "configuration $CONFIG is not readable (relative paths start at the submit directory $PWD)"
  USER_ARGS=("$@")
  local w words=()
  read -r -a words <<<"${ASIM_SET:-}" # words, without glob expansion
  for w in "${words[@]}"; do
    case $w in *=*) USER_ARGS+=(--set "$w") ;; *) asim_die 2 "ASIM_SET: '$w' is not key=value" ;; esac
  done
}

# ---- launching and the time-limit protocol ------------------------------------------------------
ASIM_TIMELIMIT=0 # 1 once the time-limit warning arrived
ASIM_TRAPPED=0   # a trapped signal interrupted `wait`
ASIM_STEP_PID=""
ASIM_STEP_PROG=""

# Sends SIG to every process named NAME of this job on this node (what mpirun cannot forward).
_asim_signal_local() { # SIG NAME JOBID
  local p
  for p in $(pgrep -x "$2" -u "$(id -u)" || true); do
    if { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "SLURM_JOB_ID=$3"; then
      kill -s "$1" "$p" 2>/dev/null || true
    fi
  done
}

# SIGTERM to the ranks, as SLURM itself does at a time limit: they finish the round in flight.
asim_stop_step() {
  [ -n "$ASIM_STEP_PID" ] || return 0
  local name
  name=$(basename "$ASIM_STEP_PROG")
  case ${ASIM_LAUNCHER:-srun} in
    srun)
      scancel --signal=TERM "$SLURM_JOB_ID" 2>/dev/null ||
        asim_log "scancel --signal=TERM $SLURM_JOB_ID failed; the ranks were not signalled" ;;
    mpirun)
      # Open MPI's mpirun terminates the job on SIGTERM (and cannot forward it): signal the ranks
      if [ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ]; then
        srun --overlap --nodes="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --ntasks="$SLURM_JOB_NUM_NODES" \
          --mpi=none bash -c "$(declare -f _asim_signal_local); _asim_signal_local TERM '$name' '$SLURM_JOB_ID'" ||
          asim_log "could not signal the ranks on every node"
      else
        _asim_signal_local TERM "$name" "$SLURM_JOB_ID"
      fi ;;
  esac
}

_asim_on_usr1() {
  ASIM_TRAPPED=1
  if [ "$ASIM_TIMELIMIT" = 1 ]; then return 0; fi
  ASIM_TIMELIMIT=1
  asim_log "time-limit warning (SIGUSR1): SIGTERM to the ranks of $(basename "$ASIM_STEP_PROG")" \
    "(asim-mpi stops after the round in flight)"
  asim_stop_step
}
_asim_on_term() {
  ASIM_TRAPPED=1
  asim_log "SIGTERM (scancel, or the time limit without an earlier warning): waiting for the ranks to flush"
}
trap _asim_on_usr1 USR1
trap _asim_on_term TERM

# asim_launch PROGRAM ARGS...: runs PROGRAM on the job's tasks; sets ASIM_RC.
asim_launch() {
  ASIM_STEP_PROG=$1
  local cmd=() extra=()
  case ${ASIM_LAUNCHER:-srun} in
    srun)
      cmd=(srun --cpus-per-task="$THREADS")
      if [ -n "${ASIM_SRUN_MPI-pmix}" ]; then cmd+=(--mpi="${ASIM_SRUN_MPI-pmix}"); fi
      read -r -a extra <<<"${ASIM_SRUN_ARGS:-}"
      cmd+=("${extra[@]}") ;;
    mpirun)
      cmd=(mpirun -n "${SLURM_NTASKS:-1}" -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
      if [ -n "${OPENBLAS_CORETYPE:-}" ]; then cmd+=(-x OPENBLAS_CORETYPE); fi
      if [ "$THREADS" -gt 1 ]; then cmd+=(--bind-to none); fi # threads of a rank need more than one core
      read -r -a extra <<<"${ASIM_MPIRUN_ARGS:-}"
      cmd+=("${extra[@]}") ;;
    *) asim_die 2 "ASIM_LAUNCHER=$ASIM_LAUNCHER: must be srun or mpirun" ;;
  esac
  cmd+=("$@")
  asim_log "run: ${cmd[*]}"
  "${cmd[@]}" &
  ASIM_STEP_PID=$!
  while :; do
    ASIM_TRAPPED=0
    ASIM_RC=0
    wait "$ASIM_STEP_PID" || ASIM_RC=$?
    [ "$ASIM_TRAPPED" = 1 ] || break # else a trap interrupted wait: the step may still run
  done
  ASIM_STEP_PID=""
  asim_log "$(basename "$ASIM_STEP_PROG") exited with status $ASIM_RC"
}

# modification time and size of a file ("none" when missing): progress marks
# asim_expect_output FILE: a launcher that reports success without the program having written
# FILE (srun does so when a step fails to launch) is turned into status 1.
asim_expect_output() {
  if [ "$ASIM_RC" -eq 0 ] && [ ! -e "$1" ]; then
    asim_log "error: $(basename "$ASIM_STEP_PROG") reported success but $1 was not written (failed launch?)"
    ASIM_RC=1
  fi
}

asim_mtime() { stat -c '%Y %s' "$1" 2>/dev/null || echo none; }

# asim_finish RC RESUMABLE: after the time-limit warning, requeue when the run can continue
# (RESUMABLE=1: status 75, or killed after writing progress), else exit with RC.
asim_finish() {
  local rc=$1 resumable=$2 restarts=${SLURM_RESTART_COUNT:-0}
  if [ "$rc" -ne 0 ] && [ "$ASIM_TIMELIMIT" = 1 ]; then
    if [ "$resumable" != 1 ]; then
      asim_die "$rc" "stopped by the time-limit warning before making progress: not requeueing. The warning" \
        "(--signal=B:USR1@SECONDS) must come well before the limit (--time), and SLURM may send it up to a minute early"
    fi
    if [ "$restarts" -ge "${ASIM_MAX_REQUEUE:-20}" ]; then
      asim_die "$rc" "stopped by the time limit after $restarts requeues (ASIM_MAX_REQUEUE); resubmit with ASIM_RUN_DIR=$RUN_DIR to continue"
    fi
    asim_log "stopped at the time limit; requeueing job $SLURM_JOB_ID (restart $((restarts + 1))): it continues from $RUN_DIR"
    if scontrol requeue "$SLURM_JOB_ID"; then
      exit 0 # SLURM ends this instance of the script now; the requeued one starts after SLURM's delay
    fi
    asim_die "$rc" "scontrol requeue failed; resubmit with ASIM_RUN_DIR=$RUN_DIR to continue"
  fi
  if [ "$rc" -eq 0 ]; then asim_log "done: $RUN_DIR"
  elif [ "$rc" -eq 75 ]; then asim_log "interrupted; resumable: resubmit with ASIM_RUN_DIR=$RUN_DIR"
  fi
  exit "$rc"
}

# asim_resumable_report RC BEFORE REPORT: 1 when asim-mpi can continue REPORT with --resume:
# status 75 (stopped cleanly), or killed (e.g. before its signal handler was installed) after the
# report changed since BEFORE (its mtime at the start).
asim_resumable_report() {
  if [ "$1" -eq 75 ]; then echo 1
  elif [ "$1" -ne 0 ] && [ -f "$3" ] && [ "$(asim_mtime "$3")" != "$2" ]; then echo 1
  else echo 0
  fi
}
