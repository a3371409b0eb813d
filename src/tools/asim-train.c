/* asim-train — ASiM's training recipe (spec §8: QAT, NAT with trim noise) on MPI ranks, data
 * parallel: mpirun -n N asim-train CONFIG.cfg [--set key=value]... [--resume CKPT].
 * docs/training.md describes the recipe, the reductions and the files written. */
#include <cblas.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asim/config.h"
#include "asim/train.h"

#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 75 /* sysexits EX_TEMPFAIL, as asim-mpi: stopped, resumable */

static void usage(FILE *f) {
  fprintf(f,
          "usage: asim-train CONFIG.cfg [--set key=value]... [--resume CHECKPOINT.h5] [--quiet]\n"
          "                  [--max-steps N] [--no-valid] [--help] [--version]\n"
          "Trains an ASiM network (QAT / NAT, spec 8) data-parallel over MPI ranks: the global batch\n"
          "train_bs is split across ranks, gradients are summed with MPI_Allreduce.\n"
          "  --set key=value   override a configuration key (ASiM names; own groups as run.seed)\n"
          "  --resume CKPT     continue from a checkpoint written by asim-train (checkpoint_last.h5)\n"
          "  --quiet           no per-iteration lines (epoch lines are always printed)\n"
          "  --max-steps N     stop after N optimiser steps (tests, throughput measurements)\n"
          "  --no-valid        skip the per-epoch validation\n"
          "Writes report.checkpoint_dir/{checkpoint_best.h5, checkpoint_<max_epoch>.h5,\n"
          "checkpoint_last.h5, history.h5, train.log}. Exit status: 0 done, 1 error, 2 bad command\n"
          "line or configuration, 75 stopped by SIGTERM/SIGINT (checkpoint_last.h5 written: --resume it).\n"
          "See docs/training.md.\n");
}

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { stop_requested = sig; }

int main(int argc, char **argv) {
  /* before MPI_Init: a SLURM time limit can come at any moment */
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const char *config = NULL;
  const char **sets = calloc((size_t)argc + 1, sizeof(char *));
  int n_sets = 0, bad = 0;
  asim_train_opts o;
  memset(&o, 0, sizeof o);
  o.stop = &stop_requested;
  for (int i = 1; i < argc && !bad; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      if (!rank) usage(stdout);
      free(sets);
      MPI_Finalize();
      return 0;
    } else if (!strcmp(a, "--version")) {
      if (!rank) printf("asim-train %s (%s)\n", ASIM_VERSION, ASIM_GIT_REVISION);
      free(sets);
      MPI_Finalize();
      return 0;
    } else if (!strcmp(a, "--set") && i + 1 < argc) sets[n_sets++] = argv[++i];
    else if (!strncmp(a, "--set=", 6)) sets[n_sets++] = a + 6;
    else if (!strcmp(a, "--resume") && i + 1 < argc) o.resume = argv[++i];
    else if (!strcmp(a, "--max-steps") && i + 1 < argc) o.max_steps = atoi(argv[++i]);
    else if (!strcmp(a, "--quiet")) o.quiet = 1;
    else if (!strcmp(a, "--no-valid")) o.no_valid = 1;
    else if (a[0] == '-') {
      if (!rank) fprintf(stderr, "asim-train: unknown or incomplete option '%s'\n", a), usage(stderr);
      bad = 1;
    } else if (!config) config = a;
    else {
      if (!rank) fprintf(stderr, "asim-train: more than one configuration file ('%s', '%s')\n", config, a);
      bad = 1;
    }
  }
  if (!bad && !config) {
    if (!rank) usage(stderr);
    bad = 1;
  }
  if (bad) {
    free(sets);
    MPI_Finalize();
    return EXIT_USAGE;
  }
  asim_config cfg;
  asim_status st = asim_config_load_bcast(&cfg, config, sets, n_sets, MPI_COMM_WORLD);
  int code = 0;
  if (st) {
    if (!rank) fprintf(stderr, "asim-train: %s\n", asim_errmsg());
    code = EXIT_USAGE;
  } else {
    /* compute threads per rank: OPENBLAS_NUM_THREADS when set, else run.threads (default 1) */
    if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(cfg.run.threads > 0 ? cfg.run.threads : 1);
    st = asim_train_run(&cfg, &o, MPI_COMM_WORLD);
    if (st) {
      if (!rank) fprintf(stderr, "asim-train: error: %s\n", asim_errmsg());
      code = st == ASIM_EINVAL ? EXIT_USAGE : st == ASIM_EINTR ? EXIT_INTERRUPTED : 1;
    }
  }
  free(sets);
  MPI_Finalize();
  return code;
}
