# A private one-node SLURM cluster for tests (sourced, not executed).
#
#   slurm_ensure_installed            # Debian's slurmctld slurmd slurm-client, installed with apt if missing
#   slurm_start DIR [CLEANUP_DIR]     # slurm.conf in DIR, private ports, daemons started by hand
#   slurm_wait_job ID TIMEOUT_S       # polls squeue until the job left the queue
#   slurm_stop                        # cancels jobs, stops the daemons by PID, kills leftovers
#
# Everything lives in DIR: configuration, state, spool, logs, pid files. The daemons and every job
# submitted with slurm_sbatch carry ASIM_TEST_SLURM_DIR=DIR in their environment (the test shell
# itself does not); slurm_stop uses that marker to find anything left behind (slurmstepd, job
# scripts, ranks), so it never touches another cluster's or another user's processes.
# A detached watchdog does the same (and removes CLEANUP_DIR) if the test shell is killed before
# it could call slurm_stop (a ctest timeout sends SIGKILL, which no trap sees).

SLURM_DIR=""
SLURMCTLD_PID=""
SLURMD_PID=""

slurm_ensure_installed() {
  local missing=() p
  for p in slurmctld slurmd slurm-client; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "FAIL: SLURM (${missing[*]}) is not installed and apt-get is not available to install it" >&2
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"
    else
      echo "FAIL: SLURM (${missing[*]}) is not installed; installing it needs root (or password-less sudo)" >&2
      return 1
    fi
  fi
  echo "     installing ${missing[*]} with apt-get (no recommends)"
  local log
  log=$(mktemp)
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q \
      --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    # a fresh machine may have no package lists yet
    $sudo apt-get -o DPkg::Lock::Timeout=900 update -q >>"$log" 2>&1 || true
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q \
        --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
      echo "FAIL: apt-get could not install ${missing[*]}:" >&2
      tail -20 "$log" >&2
      rm -f "$log"
      return 1
    fi
  fi
  rm -f "$log"
}

# Two free TCP ports (the kernel picks them; released just before the daemons bind them).
_free_ports() {
  /usr/bin/python3 - <<'EOF'
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])
for x in s: x.close()
EOF
}

# PIDs of the processes of the cluster in DIR: those with the marker in their environment
# (daemons, job scripts, ranks) and those holding a file in DIR open (slurmstepd clears its
# environment but keeps the slurmd log open). The calling shell is never listed.
_cluster_pids() { # DIR
  local p f
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    if { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qxF "ASIM_TEST_SLURM_DIR=$1"; then
      echo "${p#/proc/}"
      continue
    fi
    for f in "$p"/fd/*; do
      case $(readlink "$f" 2>/dev/null) in "$1"/*)
        echo "${p#/proc/}"
        break ;;
      esac
    done
  done
}

# Runs detached (parent: init): once the test shell PARENT is gone, kills what is left of the
# cluster in DIR (the daemons carry the marker too) and removes CLEANUP_DIR.
_slurm_watchdog() { # PARENT DIR CLEANUP_DIR
  local parent=$1 dir=$2 cleanup=$3 i
  echo $$ >"$dir/watchdog.pid"
  while kill -0 "$parent" 2>/dev/null; do sleep 2; done
  for i in 1 2 3; do
    kill -KILL $(_cluster_pids "$dir") 2>/dev/null
    sleep 1
  done
  if [ -n "$cleanup" ]; then rm -rf "$cleanup"; fi
}

slurm_start() {
  SLURM_DIR=$1
  local host cpus mem ctld_port d_port
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
  read -r ctld_port d_port < <(_free_ports)
  mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool" "$SLURM_DIR/pmix"
  cat >"$SLURM_DIR/slurm.conf" <<EOF
# one-node test cluster (tests/slurm.d/cluster.sh)
ClusterName=asimtest
FirstJobId=$((1000 + RANDOM % 30000))
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.log
PlugStackConfig=$SLURM_DIR/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
EnforcePartLimits=ALL
SchedulerParameters=sched_interval=2
MinJobAge=300
KillWait=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  : >"$SLURM_DIR/plugstack.conf"
  # PMIx's client directories default to /tmp/spmix_appdir_<uid>_<job>.<step>: a killed step leaves
  # its directory behind and the next cluster's job of the same id fails to launch. Keep them here.
  echo "PMIxCliTmpDirBase=$SLURM_DIR/pmix" >"$SLURM_DIR/mpi.conf"
  export SLURM_CONF=$SLURM_DIR/slurm.conf
  # -D: stay in the foreground so that $! is the daemon's PID
  ASIM_TEST_SLURM_DIR=$SLURM_DIR slurmctld -D -f "$SLURM_CONF" </dev/null >"$SLURM_DIR/slurmctld.out" 2>&1 &
  SLURMCTLD_PID=$!
  ASIM_TEST_SLURM_DIR=$SLURM_DIR slurmd -D -f "$SLURM_CONF" </dev/null >"$SLURM_DIR/slurmd.out" 2>&1 &
  SLURMD_PID=$!
  # the watchdog: double fork so that it is not a descendant of this shell
  ( setsid bash -c "$(declare -f _cluster_pids _slurm_watchdog); _slurm_watchdog $$ '$SLURM_DIR' '${2:-}'" \
      </dev/null >/dev/null 2>&1 & )
  local i
  for i in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -q -E '^(idle|mixed|allocated)'; then return 0; fi
    if ! kill -0 "$SLURMCTLD_PID" 2>/dev/null || ! kill -0 "$SLURMD_PID" 2>/dev/null; then break; fi
    sleep 0.5
  done
  echo "FAIL: the test cluster did not come up (node state: $(sinfo -h -o '%T' 2>&1))" >&2
  tail -15 "$SLURM_DIR/slurmctld.log" "$SLURM_DIR/slurmd.log" "$SLURM_DIR"/*.out >&2 2>/dev/null
  return 1
}

# slurm_wait_job ID TIMEOUT_S: 0 when the job left the queue, 1 on timeout
slurm_wait_job() {
  local id=$1 t_end=$((SECONDS + $2))
  while [ $SECONDS -lt "$t_end" ]; do
    if [ -z "$(squeue -h -j "$id" 2>/dev/null)" ]; then
      # squeue prints nothing for a finished job (and errors for a purged one)
      return 0
    fi
    sleep 1
  done
  return 1
}

# slurm_job_field ID FIELD: a field of `scontrol show job` (JobState, ExitCode, Restarts, ...)
# (an array's job id shows every task: the record of that id is picked)
slurm_job_field() {
  local rec
  rec=$(scontrol -o show job "$1" 2>/dev/null)
  if [[ $1 =~ ^[0-9]+$ ]]; then rec=$(grep "^JobId=$1 " <<<"$rec"); fi
  head -n 1 <<<"$rec" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# slurm_sbatch ARGS...: sbatch with the cluster's marker in the job's environment; prints the job id
slurm_sbatch() {
  ASIM_TEST_SLURM_DIR=$SLURM_DIR sbatch --parsable "$@" | cut -d';' -f1
}

slurm_stop() {
  [ -n "$SLURM_DIR" ] || return 0
  local i pids
  if [ -n "$SLURMCTLD_PID" ] && kill -0 "$SLURMCTLD_PID" 2>/dev/null; then
    scancel --full --quiet --signal=KILL --user="$(id -un)" 2>/dev/null || true
    for i in $(seq 1 20); do
      [ -z "$(squeue -h 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  for pid in $SLURMD_PID $SLURMCTLD_PID; do kill -TERM "$pid" 2>/dev/null || true; done
  for i in $(seq 1 20); do
    kill -0 "$SLURMD_PID" 2>/dev/null || kill -0 "$SLURMCTLD_PID" 2>/dev/null || break
    sleep 0.5
  done
  for pid in $SLURMD_PID $SLURMCTLD_PID; do kill -KILL "$pid" 2>/dev/null || true; done
  wait "$SLURMD_PID" "$SLURMCTLD_PID" 2>/dev/null || true
  # job scripts, slurmstepd, ranks: anything of this cluster still alive
  pids=$(_cluster_pids "$SLURM_DIR")
  if [ -n "$pids" ]; then
    echo "     stopping leftover processes of the test cluster: $(echo $pids)"
    kill -KILL $pids 2>/dev/null || true
  fi
  # the watchdog is no longer needed (its PID is in the file it wrote itself)
  if [ -s "$SLURM_DIR/watchdog.pid" ]; then kill -TERM "$(cat "$SLURM_DIR/watchdog.pid")" 2>/dev/null || true; fi
  SLURMCTLD_PID="" SLURMD_PID=""
}
