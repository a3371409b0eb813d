/* asim-mpi — the distributed ASiM simulation driver.
 *
 *   mpirun -n N asim-mpi CONFIG.cfg [--set key=value]... [--output report.h5] [--resume]
 *                                   [--dry-run] [--quiet] [--help] [--version]
 *
 * configuration (rank 0 validates, broadcasts) → model + checkpoint (rank 0 reads, broadcasts)
 * → dataset shard (ASiM batches of test_bs, spread over rank groups) → bit-wise simulation →
 * parallel HDF5 report written as batches finish. Results do not depend on the rank count.
 * Exit status: 0 done, 1 run-time error, 2 bad command line or configuration, 75 interrupted
 * by SIGTERM/SIGINT (resumable with --resume). */
#include <cblas.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asim/checkpoint.h"
#include "asim/config.h"
#include "asim/dataset.h"
#include "asim/model.h"
#include "asim/report.h"
#include "driver.h"

#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 75

typedef struct {
  const char *config, *output;
  const char **sets;
  int n_sets, resume, dry_run, quiet, group;
} cli;

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { stop_requested = sig; }

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: asim-mpi CONFIG.cfg [--set key=value]... [--output report.h5] [--resume]\n"
          "                [--dry-run] [--group G] [--quiet] [--help] [--version]\n"
          "Bit-wise ASiM simulation of a network on a dataset, distributed over MPI ranks.\n"
          "  --set key=value  override a configuration key (ASiM names; own groups as run.seed)\n"
          "  --output PATH    report file (same as --set report.path=\"PATH\")\n"
          "  --resume         continue an interrupted report instead of starting a new one\n"
          "  --dry-run        validate, load model and dataset headers, print the plan, exit\n"
          "  --group G        ranks cooperating on one batch (default: chosen for balance)\n"
          "  --quiet          no progress lines\n"
          "Exit status: 0 done, 1 error, 2 bad command line or configuration, 75 interrupted\n"
          "(resumable). See README.md and docs/config.md.\n");
}

static int parse_cli(int argc, char **argv, cli *c, int rank) {
  memset(c, 0, sizeof *c);
  c->sets = calloc((size_t)argc, sizeof(char *));
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      if (!rank) usage(stdout);
      return 0;
    } else if (!strcmp(a, "--version")) {
      if (!rank) printf("asim-mpi %s (%s)\n", ASIM_VERSION, ASIM_GIT_REVISION);
      return 0;
    } else if (!strcmp(a, "--set") && i + 1 < argc) c->sets[c->n_sets++] = argv[++i];
    else if (!strncmp(a, "--set=", 6)) c->sets[c->n_sets++] = a + 6;
    else if (!strcmp(a, "--output") && i + 1 < argc) c->output = argv[++i];
    else if (!strcmp(a, "--group") && i + 1 < argc) {
      char *end;
      c->group = (int)strtol(argv[++i], &end, 10);
      if (*end || c->group < 1) {
        if (!rank) fprintf(stderr, "asim-mpi: --group '%s': must be a positive integer\n", argv[i]);
        return -1;
      }
    }
    else if (!strcmp(a, "--resume")) c->resume = 1;
    else if (!strcmp(a, "--dry-run")) c->dry_run = 1;
    else if (!strcmp(a, "--quiet")) c->quiet = 1;
    else if (a[0] == '-') {
      if (!rank) fprintf(stderr, "asim-mpi: unknown or incomplete option '%s'\n", a), usage(stderr);
      return -1;
    } else if (!c->config) c->config = a;
    else {
      if (!rank) fprintf(stderr, "asim-mpi: more than one configuration file ('%s', '%s')\n", c->config, a);
      return -1;
    }
  }
  if (!c->config) {
    if (!rank) usage(stderr);
    return -1;
  }
  return 1;
}

/* Every rank learns whether any failed; the lowest failing rank prints its message once. */
static asim_status agree(asim_status st, MPI_Comm comm) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int mine = st ? rank : size, first;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return ASIM_OK;
  int code = st;
  MPI_Bcast(&code, 1, MPI_INT, first, comm);
  if (rank == first) fprintf(stderr, "asim-mpi: %s\n", asim_errmsg());
  return (asim_status)code;
}

static float group_max(float m, void *arg) {
  MPI_Allreduce(MPI_IN_PLACE, &m, 1, MPI_FLOAT, MPI_MAX, *(MPI_Comm *)arg);
  return m;
}

/* Top-5 (best first, first index wins ties) and the prediction of one logit row. */
static void top5_of(const float *z, int C, int32_t *t5) {
  for (int k = 0; k < 5; k++) t5[k] = -1;
  for (int c = 0; c < C; c++) {
    int pos = 5;
    while (pos > 0 && (t5[pos - 1] < 0 || z[c] > z[t5[pos - 1]])) pos--;
    if (pos >= 5) continue;
    for (int k = 4; k > pos; k--) t5[k] = t5[k - 1];
    t5[pos] = c;
  }
}

typedef struct {
  asim_config cfg;
  asim_model model;
  asim_dataset *ds;
  asim_plan plan;
  asim_report report;
  int report_open;
  char *config_text;
  float mean[3], std[3];
} run_state;

static asim_status load_inputs(const run_state *r, int64_t s0, int64_t n, float *x, int32_t *labels) {
  const int C = r->model.in_ch, S = r->model.image_size;
  const int64_t per = (int64_t)C * S * S;
  if (r->cfg.data.n_mean == 0) {
    for (int64_t i = 0; i < n; i++) {
      int lab;
      ASIM_CHECK(asim_dataset_get(r->ds, s0 + i, x + i * per, &lab));
      labels[i] = lab;
    }
    return ASIM_OK;
  }
  uint8_t *u8;
  ASIM_CHECK(asim_malloc(&u8, (size_t)per));
  asim_status st = ASIM_OK;
  for (int64_t i = 0; i < n && !st; i++) { /* data.mean / data.std replace the task's constants */
    int lab;
    st = asim_dataset_get_u8(r->ds, s0 + i, u8, &lab);
    labels[i] = lab;
    for (int c = 0; c < C && !st; c++)
      for (int64_t p = 0; p < (int64_t)S * S; p++)
        x[i * per + c * S * S + p] = ((float)u8[p * C + c] / 255.0f - r->mean[c]) / r->std[c];
  }
  free(u8);
  return st;
}

static asim_status setup(run_state *r, const cli *c, MPI_Comm comm, int rank) {
  /* 1. configuration: rank 0 validates and broadcasts the effective text */
  const char **ov = calloc((size_t)c->n_sets + 1, sizeof(char *));
  char outset[ASIM_CONFIG_STR + 32];
  if (!ov) return ASIM_ERR(ASIM_ENOMEM, "overrides");
  for (int i = 0; i < c->n_sets; i++) ov[i] = c->sets[i];
  int nov = c->n_sets;
  if (c->output) snprintf(outset, sizeof outset, "report.path=\"%s\"", c->output), ov[nov++] = outset;
  asim_status st = asim_config_load_bcast(&r->cfg, c->config, ov, nov, comm);
  free(ov);
  if (st) {
    if (rank == 0) fprintf(stderr, "asim-mpi: %s\n", asim_errmsg());
    return st;
  }
  asim_config *cfg = &r->cfg;
  st = ASIM_OK;
  if (cfg->run.job != ASIM_JOB_SIMULATE)
    st = ASIM_ERR(ASIM_EINVAL, "%s: run.job = \"train\": training runs use asim-train", c->config);
  else if (!cfg->pretrain_model_path[0])
    st = ASIM_ERR(ASIM_EINVAL, "%s: pretrain_model_path is None: a simulation needs a checkpoint", c->config);
  ASIM_CHECK(agree(st, comm));
  ASIM_CHECK(agree(asim_config_to_text(cfg, &r->config_text), comm));

  /* 2. model (every rank builds it; rank 0 reads and checks the checkpoint, then broadcasts it) */
  asim_model_settings s;
  asim_model_settings_from_config(cfg, &s);
  st = asim_model_init(&r->model, asim_model_id_name(cfg->model_name), cfg->cls_num, asim_config_channels(cfg),
                       cfg->input_size, &s, 0);
  ASIM_CHECK(agree(st, comm));
  asim_state ckpt = {0};
  st = ASIM_OK;
  if (rank == 0) {
    asim_ckpt_meta meta;
    st = asim_ckpt_read(cfg->pretrain_model_path, &ckpt, &meta);
    if (!st) st = asim_model_load_state(&r->model, &ckpt, 0);
    if (st) asim_error_trace(st, __FILE__, __LINE__, cfg->pretrain_model_path);
  }
  ASIM_CHECK(agree(st, comm));
  ASIM_CHECK(agree(asim_state_bcast(&r->model.params, 0, comm), comm));

  /* 3. dataset (every rank opens it; opening validates listings and headers only) */
  asim_dataset_opts o;
  memset(&o, 0, sizeof o);
  o.format = asim_config_data_format_name(cfg->data.format);
  o.path = cfg->test_dir;
  o.task = asim_task_name(cfg->task);
  o.split = "test";
  o.input_size = cfg->input_size;
  o.channels = asim_config_channels(cfg);
  o.label_mode = cfg->compat.label_index_counts_files ? ASIM_LABELS_ASIM : ASIM_LABELS_STRICT;
  st = asim_dataset_open(&r->ds, &o);
  if (!st && asim_dataset_classes(r->ds) > cfg->cls_num)
    st = ASIM_ERR(ASIM_EINVAL, "%s: %s has %d classes but cls_num = %d", c->config, asim_dataset_name(r->ds),
                  asim_dataset_classes(r->ds), cfg->cls_num);
  if (!st && (asim_dataset_channels(r->ds) != r->model.in_ch || asim_dataset_input_size(r->ds) != r->model.image_size))
    st = ASIM_ERR(ASIM_EINVAL, "%s: %s delivers %dx%dx%d samples, the model takes %dx%dx%d", c->config,
                  asim_dataset_name(r->ds), asim_dataset_channels(r->ds), asim_dataset_input_size(r->ds),
                  asim_dataset_input_size(r->ds), r->model.in_ch, r->model.image_size, r->model.image_size);
  ASIM_CHECK(agree(st, comm));
  asim_dataset_norm(r->ds, r->mean, r->std);
  for (int i = 0; i < cfg->data.n_mean && i < 3; i++) r->mean[i] = (float)cfg->data.mean[i];
  for (int i = 0; i < cfg->data.n_std && i < 3; i++) r->std[i] = (float)cfg->data.std[i];
  return ASIM_OK;
}

static void print_plan(const run_state *r, const cli *c, int64_t n) {
  const asim_plan *p = &r->plan;
  printf("configuration: %s\n", c->config);
  printf("dataset: %s (%s): %lld samples%s\n", asim_dataset_name(r->ds), asim_dataset_path(r->ds), (long long)n,
         r->cfg.data.max_samples ? " (data.max_samples)" : "");
  printf("checkpoint: %s\n", r->cfg.pretrain_model_path);
  asim_model_describe(&r->model, stdout);
  printf("plan: %lld batches of %d (ASiM test_bs; the last has %lld), %d ranks in %d group(s) of %d, %lld round(s), "
         "%lld batch(es) to do%s\n",
         (long long)p->n_batches, r->cfg.test_bs, (long long)(n - (p->n_batches - 1) * p->batch_size), p->nranks,
         p->ngroups, p->group, (long long)p->rounds, (long long)p->n_pending, c->resume ? " (resume)" : "");
  printf("report: %s\n", r->cfg.report.path);
}

/* The sweep points: each point's layer settings (validated as a whole configuration), and the
 * value of each swept key as a number for the report (text values by their position among the
 * key's listed values, names in labels). */
typedef struct {
  int64_t n_points;
  asim_model_settings *settings;
  double *values;
  char keys[ASIM_SWEEP_MAX_KEYS][64];
  char *labels[ASIM_SWEEP_MAX_KEYS];
} sweep_plan;

static void sweep_free(sweep_plan *sp) {
  free(sp->settings);
  free(sp->values);
  for (int k = 0; k < ASIM_SWEEP_MAX_KEYS; k++) free(sp->labels[k]);
  memset(sp, 0, sizeof *sp);
}

static asim_status sweep_prepare(sweep_plan *sp, const asim_config *cfg, const char *config_path) {
  memset(sp, 0, sizeof *sp);
  const int nk = cfg->sweep.n_keys;
  sp->n_points = asim_config_sweep_points(cfg);
  ASIM_CHECK(ASIM_ALLOC(sp->settings, (size_t)sp->n_points));
  ASIM_CHECK(ASIM_ALLOC(sp->values, (size_t)(sp->n_points * (nk ? nk : 1))));
  for (int k = 0; k < nk; k++) {
    snprintf(sp->keys[k], sizeof sp->keys[k], "%s", cfg->sweep.key[k]);
    int text = 0;
    for (int v = 0; v < cfg->sweep.n_values[k]; v++) text |= cfg->sweep.value[k][v][0] == '"';
    if (text) { /* "Simulation","Inference" or "None": labels in listed order */
      size_t len = 0;
      for (int v = 0; v < cfg->sweep.n_values[k]; v++) len += strlen(cfg->sweep.value[k][v]) + 1;
      ASIM_CHECK(asim_calloc(&sp->labels[k], len + 1, 1));
      for (int v = 0; v < cfg->sweep.n_values[k]; v++) {
        const char *t = cfg->sweep.value[k][v];
        size_t tl = strlen(t);
        if (v) strcat(sp->labels[k], ",");
        strncat(sp->labels[k], t[0] == '"' ? t + 1 : t, t[0] == '"' && tl >= 2 ? tl - 2 : tl);
      }
    }
  }
  for (int64_t pt = 0; pt < sp->n_points; pt++) {
    char assign[ASIM_SWEEP_MAX_KEYS][128], label[96];
    const char *a[ASIM_SWEEP_MAX_KEYS];
    int n = asim_config_sweep_point(cfg, pt, assign);
    for (int k = 0; k < n; k++) a[k] = assign[k];
    asim_config pc = *cfg;
    snprintf(label, sizeof label, "%s: sweep point %lld", config_path, (long long)pt);
    ASIM_CHECK(asim_config_apply(&pc, a, n, label));
    /* a sweep varies the simulated hardware, not the network or the data */
    if (pc.task != cfg->task || pc.model_name != cfg->model_name || pc.input_size != cfg->input_size ||
        pc.cls_num != cfg->cls_num || pc.test_bs != cfg->test_bs || pc.PACT != cfg->PACT ||
        strcmp(pc.test_dir, cfg->test_dir) || strcmp(pc.pretrain_model_path, cfg->pretrain_model_path) ||
        memcmp(&pc.data, &cfg->data, sizeof pc.data) || memcmp(&pc.run, &cfg->run, sizeof pc.run))
      return ASIM_ERR(ASIM_EINVAL, "%s: sweep keys may not change the task, model, data, batch size, checkpoint or "
                      "run settings (point %lld: %s)", config_path, (long long)pt, n ? assign[0] : "");
    asim_model_settings_from_config(&pc, &sp->settings[pt]);
    for (int k = 0; k < nk; k++) {
      const int v = asim_config_sweep_index(cfg, pt, k);
      const char *t = cfg->sweep.value[k][v];
      sp->values[pt * nk + k] = sp->labels[k] ? (double)v : (!strcmp(t, "true") ? 1.0 : !strcmp(t, "false") ? 0.0 : strtod(t, NULL));
    }
  }
  return ASIM_OK;
}

static asim_status simulate(run_state *r, const cli *c, MPI_Comm comm, int rank, int nranks) {
  asim_config *cfg = &r->cfg;
  int64_t n = asim_dataset_size(r->ds);
  if (cfg->data.max_samples > 0 && cfg->data.max_samples < n) n = cfg->data.max_samples;
  const int64_t nb = (n + cfg->test_bs - 1) / cfg->test_bs;
  const int C = r->model.classes;
  const int logits = cfg->report.logits == ASIM_AUTO ? C <= 100 : cfg->report.logits;
  sweep_plan sw;
  asim_status st = agree(sweep_prepare(&sw, cfg, c->config), comm);
  if (st) {
    sweep_free(&sw);
    return st;
  }
  const int repeats = cfg->sweep.repeats;
  const int64_t n_runs = sw.n_points * repeats;
  asim_report_info info = {r->config_text, r->model.name, asim_task_name(cfg->task), cfg->run.seed, C, logits, n, nb,
                           sw.n_points, repeats, cfg->sweep.n_keys, (const char(*)[64])sw.keys, sw.values,
                           (const char *const *)sw.labels};
  uint8_t *done = calloc((size_t)(nb * n_runs + 1), 1);
  if (!done) {
    sweep_free(&sw);
    return ASIM_ERR(ASIM_ENOMEM, "progress flags");
  }
  if (c->resume) {
    if (access(cfg->report.path, R_OK) != 0)
      st = ASIM_ERR(ASIM_EIO, "--resume: report %s does not exist", cfg->report.path);
    ASIM_CHECK_GOTO(st, agree(st, comm), out);
  }
  if (!c->dry_run) {
    if (c->resume) st = asim_report_resume(&r->report, cfg->report.path, comm, &info, done);
    else st = asim_report_create(&r->report, cfg->report.path, comm, &info);
    r->report_open = 1;
    ASIM_CHECK_GOTO(st, agree(st, comm), out);
  }
  if (c->group != 0 && (c->group < 0 || nranks % c->group || c->group > n - (nb - 1) * cfg->test_bs)) {
    st = ASIM_ERR(ASIM_EINVAL, "--group %d: must divide the %d ranks and not exceed the last batch (%lld samples)",
                  c->group, nranks, (long long)(n - (nb - 1) * cfg->test_bs));
    ASIM_CHECK_GOTO(st, agree(st, comm), out);
  }
  if (asim_plan_init(&r->plan, n, cfg->test_bs, n_runs, nranks, c->group, done)) {
    st = ASIM_ERR(ASIM_ENOMEM, "plan");
    goto out;
  }
  if (c->dry_run) {
    if (rank == 0) print_plan(r, c, n);
    goto out;
  }
  if (rank == 0 && !c->quiet) {
    char notes[4096];
    if (asim_config_notes(cfg, notes, sizeof notes) > 0) fprintf(stderr, "%s", notes);
    fprintf(stderr, "asim-mpi: %s on %s: %lld samples, %lld batches x %lld run(s) (%lld to do), %d ranks in groups "
            "of %d\n", r->model.name, asim_dataset_name(r->ds), (long long)n, (long long)nb, (long long)n_runs,
            (long long)r->plan.n_pending, nranks, r->plan.group);
  }
  {
    MPI_Comm group;
    MPI_Comm_split(comm, rank / r->plan.group, rank, &group);
    const int64_t per = (int64_t)r->model.in_ch * r->model.image_size * r->model.image_size;
    const int64_t maxb = cfg->test_bs / r->plan.group + 1;
    float *x = malloc(sizeof(float) * (size_t)(maxb * per)), *z = malloc(sizeof(float) * (size_t)(maxb * C));
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)maxb), *pred = malloc(sizeof(int32_t) * (size_t)maxb);
    int32_t *t5 = malloc(sizeof(int32_t) * (size_t)maxb * 5);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)maxb);
    double busy = 0, t_start = now(), t_print = t_start;
    int64_t mine = 0, done_samples = 0;
    if (!x || !z || !lab || !pred || !t5 || !idx) st = ASIM_ERR(ASIM_ENOMEM, "batch buffers");
    st = agree(st, comm);
    const int pact = r->model.s.pact;
    for (int64_t round = 0; round < r->plan.rounds && !st; round++) {
      int64_t s0, s1, item = asim_plan_slice(&r->plan, rank, round, &s0, &s1);
      const int64_t m = s1 - s0, run = item >= 0 ? item / nb : 0, b = item >= 0 ? item % nb : 0;
      const int64_t point = run / repeats, rep = run % repeats;
      double t0 = now();
      st = m > 0 ? load_inputs(r, s0, m, x, lab) : ASIM_OK;
      /* a group must not enter its collective forward when a member failed to read its data */
      if ((st = agree(st, comm))) break;
      if (m > 0) {
        const int64_t bstart = b * cfg->test_bs, bend = bstart + cfg->test_bs < n ? bstart + cfg->test_bs : n;
        r->model.s = sw.settings[point];
        r->model.s.pact = pact;
        /* repeat q of a point draws its noise with seed run.seed + q */
        asim_exec ex = {.seed = cfg->run.seed + (uint32_t)rep, .sample0 = s0, .max_reduce = r->plan.group > 1 ? group_max : NULL,
                        .max_reduce_arg = &group, .per_sample_scale = cfg->run.act_scale == ASIM_ACT_SCALE_SAMPLE,
                        .batch_size = bend - bstart, .threads = cfg->run.threads};
        st = asim_model_forward(&r->model, z, x, (int)m, &ex, NULL, NULL);
        for (int64_t i = 0; i < m && !st; i++) {
          top5_of(z + i * C, C, t5 + i * 5);
          pred[i] = t5[i * 5];
          idx[i] = s0 + i;
        }
      }
      busy += now() - t0;
      mine += m;
      if ((st = agree(st, comm))) break;
      if ((st = agree(asim_report_write_samples(&r->report, run, s0, m, idx, lab, pred, t5, z), comm))) break;
      const int lead = item >= 0 && rank % r->plan.group == 0;
      if ((st = agree(asim_report_mark_done(&r->report, &item, lead), comm))) break;
      /* progress: samples of this round over all groups */
      int64_t round_samples = 0;
      for (int g = 0; g < r->plan.ngroups; g++) {
        int64_t a0, a1;
        for (int mm = 0; mm < r->plan.group; mm++)
          if (asim_plan_slice(&r->plan, g * r->plan.group + mm, round, &a0, &a1) >= 0) round_samples += a1 - a0;
      }
      done_samples += round_samples;
      double t = now();
      if (rank == 0 && !c->quiet && (t - t_print > 3.0 || round + 1 == r->plan.rounds)) {
        double rate = done_samples / (t - t_start), left = (double)(r->plan.rounds - round - 1) / (round + 1) * (t - t_start);
        fprintf(stderr, "  round %lld/%lld, %lld/%lld samples, %.1f images/s, ETA %.0f s\n", (long long)(round + 1),
                (long long)r->plan.rounds, (long long)done_samples, (long long)(r->plan.n_pending * n / nb), rate, left);
        t_print = t;
      }
      int stop = stop_requested != 0, any;
      MPI_Allreduce(&stop, &any, 1, MPI_INT, MPI_MAX, comm);
      if (any && round + 1 < r->plan.rounds) {
        st = ASIM_ERR(ASIM_EINTR, "interrupted after round %lld of %lld; the report keeps every finished batch: "
                      "rerun with --resume to continue", (long long)(round + 1), (long long)r->plan.rounds);
        if (rank == 0) fprintf(stderr, "asim-mpi: %s\n", asim_errmsg());
      }
    }
    free(x), free(z), free(lab), free(pred), free(t5), free(idx);
    MPI_Comm_free(&group);
    if (!st) {
      double top1, top5;
      st = agree(asim_report_finish(&r->report, busy, mine, &top1, &top5, cfg->report.print_predictions ? stdout : NULL),
                 comm);
      if (!st && rank == 0 && n_runs == 1) {
        printf("Test Acc: %.2f%%\n", 100.0 * top1);
        printf("Top-5 Acc: %.2f%%  (%lld samples, %.1f s, report %s)\n", 100.0 * top5, (long long)n, now() - t_start,
               cfg->report.path);
      } else if (!st && rank == 0) { /* one line per sweep point: the values, then top-1 per repeat */
        for (int64_t pt = 0; pt < sw.n_points; pt++) {
          char assign[ASIM_SWEEP_MAX_KEYS][128];
          int nk = asim_config_sweep_point(cfg, pt, assign);
          printf("point %lld:", (long long)pt);
          for (int k = 0; k < nk; k++) printf(" %s", assign[k]);
          double mean = 0;
          for (int q = 0; q < repeats; q++) {
            double a1, a5;
            asim_report_run_acc(&r->report, pt * repeats + q, &a1, &a5);
            mean += a1 / repeats;
            printf("%s%.2f%%", q ? " " : "  Test Acc: ", 100.0 * a1);
          }
          if (repeats > 1) printf("  (mean %.2f%%)", 100.0 * mean);
          printf("\n");
        }
        printf("%lld points x %d repeats, %lld samples, %.1f s, report %s\n", (long long)sw.n_points, repeats,
               (long long)n, now() - t_start, cfg->report.path);
      }
    }
  }
out:
  free(done);
  sweep_free(&sw);
  return st;
}

int main(int argc, char **argv) {
  /* handlers first: a SLURM time limit during start-up must still end in status 75 */
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  MPI_Init(&argc, &argv);
  int rank, nranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  cli c;
  int pc = parse_cli(argc, argv, &c, rank);
  if (pc <= 0) {
    free(c.sets);
    MPI_Finalize();
    return pc == 0 ? 0 : EXIT_USAGE;
  }
  /* one BLAS thread per rank unless the user asked otherwise */
  if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
  run_state r;
  memset(&r, 0, sizeof r);
  asim_status st = setup(&r, &c, MPI_COMM_WORLD, rank);
  int config_error = st != ASIM_OK;
  if (!st) st = simulate(&r, &c, MPI_COMM_WORLD, rank, nranks);
  if (r.report_open) asim_report_close(&r.report);
  asim_plan_free(&r.plan);
  if (r.ds) asim_dataset_close(r.ds);
  asim_model_free(&r.model);
  free(r.config_text);
  free(c.sets);
  MPI_Finalize();
  if (st == ASIM_EINTR) return EXIT_INTERRUPTED;
  return st ? (config_error && st == ASIM_EINVAL ? EXIT_USAGE : 1) : 0;
}
