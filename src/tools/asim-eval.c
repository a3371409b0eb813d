/* asim-eval — accuracy of a checkpoint on the test set under a configuration, for several noise
 * seeds, MPI-parallel over ASiM batches (test_bs consecutive samples; batch k on rank k mod n,
 * so results do not depend on the rank count). A small measuring tool for noise sweeps
 * (scripts/noise-table.sh, docs/training.md); simulations with reports are asim-mpi's job.
 *   mpirun -n 2 asim-eval CONFIG.cfg --checkpoint M.h5 [--set key=value]... [--samples N]
 *                         [--seeds 1,2,3] [--label TEXT]
 * Prints one line per seed and a summary line:
 *   eval<TAB>label<TAB>images<TAB>seed<TAB>accuracy %<TAB>seconds
 *   summary<TAB>label<TAB>images<TAB>seeds<TAB>mean %<TAB>std %<TAB>min %<TAB>max % */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asim/checkpoint.h"
#include "asim/config.h"
#include "asim/dataset.h"
#include "asim/model.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static asim_status agree(asim_status st, MPI_Comm comm) {
  int bad = st != ASIM_OK, any = 0;
  MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm);
  if (any && !st) return ASIM_ERR(ASIM_EMPI, "another rank failed");
  return st;
}

static void usage(FILE *f) {
  fprintf(f, "usage: asim-eval CONFIG.cfg --checkpoint PATH [--set key=value]... [--samples N] [--seeds 1,2,3]\n"
             "                 [--label TEXT]\n"
             "Test accuracy of a checkpoint under a configuration (e.g. Simulation mode with noise) for each seed.\n");
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, n;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
  const char *config = NULL, *ckpt = NULL, *label = "";
  const char **sets = calloc((size_t)argc + 1, sizeof(char *));
  int n_sets = 0, bad = 0, nseeds = 0;
  long long samples = 0;
  uint32_t seeds[64];
  for (int i = 1; i < argc && !bad; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help")) {
      if (!rank) usage(stdout);
      MPI_Finalize();
      return 0;
    } else if (!strcmp(a, "--set") && i + 1 < argc) sets[n_sets++] = argv[++i];
    else if (!strcmp(a, "--checkpoint") && i + 1 < argc) ckpt = argv[++i];
    else if (!strcmp(a, "--samples") && i + 1 < argc) samples = atoll(argv[++i]);
    else if (!strcmp(a, "--label") && i + 1 < argc) label = argv[++i];
    else if (!strcmp(a, "--seeds") && i + 1 < argc) {
      char *s = argv[++i], *e;
      while (*s && nseeds < 64) {
        seeds[nseeds++] = (uint32_t)strtoul(s, &e, 10);
        if (e == s) break;
        s = *e == ',' ? e + 1 : e;
      }
    } else if (a[0] != '-' && !config) config = a;
    else bad = 1;
  }
  if (bad || !config || !ckpt) {
    if (!rank) usage(stderr);
    MPI_Finalize();
    return 2;
  }
  asim_config cfg;
  asim_status st = asim_config_load_bcast(&cfg, config, sets, n_sets, MPI_COMM_WORLD);
  asim_model m;
  memset(&m, 0, sizeof m);
  asim_dataset *ds = NULL;
  if (!st) {
    asim_model_settings s;
    asim_model_settings_from_config(&cfg, &s);
    st = asim_model_init(&m, asim_model_id_name(cfg.model_name), cfg.cls_num, asim_config_channels(&cfg),
                         cfg.input_size, &s, 0);
    asim_state ck = {0};
    /* every rank reads the (small) checkpoint */
    if (!st) st = asim_ckpt_read(ckpt, &ck, NULL);
    if (!st) st = asim_model_load_state(&m, &ck, 0);
    asim_state_free(&ck);
    asim_dataset_opts o;
    memset(&o, 0, sizeof o);
    o.format = asim_config_data_format_name(cfg.data.format);
    o.path = cfg.test_dir;
    o.task = asim_task_name(cfg.task);
    o.split = "test";
    o.input_size = cfg.input_size;
    o.channels = asim_config_channels(&cfg);
    if (!st) st = asim_dataset_open(&ds, &o);
  }
  st = agree(st, MPI_COMM_WORLD);
  if (st) {
    if (!rank) fprintf(stderr, "asim-eval: %s\n", asim_errmsg());
    asim_model_free(&m);
    asim_dataset_close(ds);
    MPI_Finalize();
    return 1;
  }
  if (!nseeds) seeds[nseeds++] = cfg.run.seed;
  int64_t N = asim_dataset_size(ds);
  if (samples > 0 && samples < N) N = samples;
  const int bs = cfg.test_bs, K = m.classes;
  const int64_t in_n = (int64_t)m.in_ch * m.image_size * m.image_size, nb = (N + bs - 1) / bs;
  float *x = malloc(sizeof(float) * (size_t)(bs * in_n)), *logits = malloc(sizeof(float) * (size_t)bs * K);
  int *y = malloc(sizeof(int) * (size_t)bs);
  double acc[64];
  for (int si = 0; si < nseeds && !st; si++) {
    const double t0 = now_s();
    long long correct = 0;
    for (int64_t b = rank; b < nb && !st; b += n) {
      const int64_t i0 = b * bs;
      const int B = (int)(N - i0 < bs ? N - i0 : bs);
      for (int j = 0; j < B && !st; j++) st = asim_dataset_get(ds, i0 + j, x + j * in_n, &y[j]);
      asim_exec ex = {.seed = seeds[si], .sample0 = i0};
      if (!st) st = asim_model_forward(&m, logits, x, B, &ex, NULL, NULL);
      for (int j = 0; j < B && !st; j++) {
        int best = 0;
        for (int k = 1; k < K; k++)
          if (logits[j * K + k] > logits[j * K + best]) best = k;
        correct += best == y[j];
      }
    }
    st = agree(st, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &correct, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    acc[si] = 100.0 * (double)correct / (double)N;
    if (!rank && !st)
      printf("eval\t%s\t%lld\t%u\t%.2f\t%.1f\n", label, (long long)N, seeds[si], acc[si], now_s() - t0), fflush(stdout);
  }
  if (!st && !rank) {
    double mean = 0, var = 0, mn = 1e9, mx = -1e9;
    for (int i = 0; i < nseeds; i++) mean += acc[i], mn = fmin(mn, acc[i]), mx = fmax(mx, acc[i]);
    mean /= nseeds;
    for (int i = 0; i < nseeds; i++) var += (acc[i] - mean) * (acc[i] - mean);
    const double sd = nseeds > 1 ? sqrt(var / (nseeds - 1)) : 0.0;
    printf("summary\t%s\t%lld\t%d\t%.2f\t%.2f\t%.2f\t%.2f\n", label, (long long)N, nseeds, mean, sd, mn, mx);
  }
  if (st && !rank) fprintf(stderr, "asim-eval: %s\n", asim_errmsg());
  free(x), free(logits), free(y), free(sets);
  asim_model_free(&m);
  asim_dataset_close(ds);
  MPI_Finalize();
  return st ? 1 : 0;
}
