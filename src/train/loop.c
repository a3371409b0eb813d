/* The data-parallel training loop behind asim-train: ASiM's src_train.py recipe (spec §8) on
 * MPI ranks. See train.h for what is reduced across ranks and docs/training.md for the files. */
#include <cblas.h>
#include <errno.h>
#include <hdf5.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asim/augment.h"
#include "asim/checkpoint.h"
#include "asim/dataset.h"
#include "asim/fs.h"
#include "asim/train.h"

/* ---- collective helpers ------------------------------------------------------------------ */

typedef struct {
  MPI_Comm comm;
  int rank, n;
} par;

static float max_reduce(float m, void *arg) {
  const par *p = arg;
  float r = m;
  MPI_Allreduce(&m, &r, 1, MPI_FLOAT, MPI_MAX, p->comm);
  return r;
}

static void sum_reduce(double *v, int n, void *arg) {
  const par *p = arg;
  MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, p->comm);
}

/* Every rank returns the same status: the lowest failing rank's code and message are shared,
 * so all ranks stop together and rank 0 can print what went wrong. */
static asim_status agree(asim_status st, const par *p) {
  int mine = st ? p->rank : p->n, first = p->n;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, p->comm);
  if (first == p->n) return ASIM_OK;
  int code = st, len = 0;
  char *msg = NULL;
  if (p->rank == first) {
    msg = strdup(asim_errmsg());
    len = msg ? (int)strlen(msg) + 1 : 1;
  }
  MPI_Bcast(&code, 1, MPI_INT, first, p->comm);
  MPI_Bcast(&len, 1, MPI_INT, first, p->comm);
  if (p->rank != first) msg = calloc((size_t)len, 1);
  if (msg) MPI_Bcast(msg, len, MPI_CHAR, first, p->comm);
  if (p->rank != first) {
    if (first == 0) asim_error_set((asim_status)code, __FILE__, __LINE__, "%s", msg ? msg : "");
    else asim_error_set((asim_status)code, __FILE__, __LINE__, "rank %d: %s", first, msg ? msg : "");
  }
  free(msg);
  return (asim_status)code;
}

/* Sends every float32/int64 tensor of a state from root (shapes must already agree). */
static void bcast_state(asim_state *s, int root, const par *p) {
  for (int i = 0; i < s->n; i++) {
    asim_tensor *t = &s->tensors[i];
    int64_t bytes = asim_tensor_numel(t) * (int64_t)asim_dtype_size(t->dtype);
    char *d = t->data;
    for (int64_t off = 0; off < bytes; off += 1 << 30) {
      int chunk = (int)(bytes - off < (1 << 30) ? bytes - off : (1 << 30));
      MPI_Bcast(d + off, chunk, MPI_BYTE, root, p->comm);
    }
  }
}

/* A model_name attribute written by asim-train (other writers use other spellings). */
static int is_zoo_name(const char *s) {
  for (int i = 0; i < ASIM_MODEL_COUNT; i++)
    if (!strcmp(s, asim_model_id_name((asim_model_id)i))) return 1;
  return 0;
}

/* ---- logging ------------------------------------------------------------------------------- */

typedef struct {
  FILE *file, *extra;
  int rank, quiet;
} logger;

static void logf_(logger *lg, int always, const char *fmt, ...) ASIM_PRINTF(3, 4);
static void logf_(logger *lg, int always, const char *fmt, ...) {
  if (lg->rank != 0) return;
  char line[2048], stamp[32];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  time_t now = time(NULL);
  strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", localtime(&now));
  if (always || !lg->quiet) {
    printf("%s\n", line);
    fflush(stdout);
  }
  if (lg->file) fprintf(lg->file, "%s - train.log - INFO - %s\n", stamp, line), fflush(lg->file);
  if (lg->extra) fprintf(lg->extra, "%s\n", line), fflush(lg->extra);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- configuration checks ------------------------------------------------------------------ */

asim_status asim_train_check_config(const asim_config *c, int nranks) {
  if (c->run.job != ASIM_JOB_TRAIN)
    return ASIM_ERR(ASIM_EINVAL, "run.job = \"simulate\": asim-train runs training configurations; set "
                    "run.job = \"train\" (simulations run with asim-mpi)");
  if (!(c->lr_init > 0.0)) return ASIM_ERR(ASIM_EINVAL, "lr_init = %g: the learning rate must be > 0", c->lr_init);
  char ms[256] = "";
  for (int i = 0; i < c->n_milestones; i++)
    snprintf(ms + strlen(ms), sizeof ms - strlen(ms), "%s%d", i ? ", " : "", c->milestones[i]);
  for (int i = 0; i < c->n_milestones; i++) {
    if (c->milestones[i] < 0)
      return ASIM_ERR(ASIM_EINVAL, "milestones = [%s]: MultiStepLR milestones are epochs >= 0", ms);
    /* equal entries are fine (PyTorch decays twice there; config.py derives [0, 0] for max_epoch 1) */
    if (i > 0 && c->milestones[i] < c->milestones[i - 1])
      return ASIM_ERR(ASIM_EINVAL, "milestones = [%s]: out of order (%d after %d); MultiStepLR milestones are "
                      "epochs in increasing order", ms, c->milestones[i], c->milestones[i - 1]);
  }
  if (!(c->factor > 0.0)) return ASIM_ERR(ASIM_EINVAL, "factor = %g: the learning-rate decay must be > 0", c->factor);
  if (!(c->momentum >= 0.0 && c->momentum < 1.0))
    return ASIM_ERR(ASIM_EINVAL, "momentum = %g: must be in [0, 1)", c->momentum);
  if (!(c->weight_decay >= 0.0)) return ASIM_ERR(ASIM_EINVAL, "weight_decay = %g: must be >= 0", c->weight_decay);
  if (c->label_smooth && !(c->label_smooth_eps >= 0.0 && c->label_smooth_eps < 1.0))
    return ASIM_ERR(ASIM_EINVAL, "label_smooth_eps = %g: must be in [0, 1)", c->label_smooth_eps);
  if (c->train_bs < nranks || c->train_bs < 2)
    return ASIM_ERR(ASIM_EINVAL, "train_bs = %d with %d ranks: every rank needs at least one sample of each global "
                    "batch, and BatchNorm at least 2", c->train_bs, nranks);
  if (c->run.act_scale != ASIM_ACT_SCALE_BATCH)
    return ASIM_ERR(ASIM_EINVAL, "run.act_scale = \"sample\": training uses ASiM's batch-wide activation scales "
                    "(\"batch\")");
  if (!c->train_dir[0]) return ASIM_ERR(ASIM_EINVAL, "train_dir is empty");
  if (!c->valid_dir[0]) return ASIM_ERR(ASIM_EINVAL, "valid_dir is empty");
  return ASIM_OK;
}

/* ---- data ------------------------------------------------------------------------------------ */

typedef struct {
  asim_dataset *train, *valid;
  int64_t n_train, n_valid;
  int C, S_train, S;   /* channels, training source size (origin_size), network input size */
  int augment;         /* data.augment */
  float mean[3], std[3];
} data;

static asim_status open_set(asim_dataset **ds, const asim_config *c, const char *path, const char *split, int size,
                            const char *what) {
  asim_dataset_opts o;
  memset(&o, 0, sizeof o);
  o.format = asim_config_data_format_name(c->data.format);
  o.path = path;
  o.task = asim_task_name(c->task);
  o.split = split;
  o.input_size = size;
  o.channels = asim_config_channels(c);
  o.label_mode = c->compat.label_index_counts_files ? ASIM_LABELS_ASIM : ASIM_LABELS_STRICT;
  asim_status st = asim_dataset_open(ds, &o);
  if (st) return asim_error_trace(st, __FILE__, __LINE__, what);
  if (asim_dataset_classes(*ds) > c->cls_num)
    return ASIM_ERR(ASIM_EINVAL, "%s %s has %d classes but cls_num = %d", what, asim_dataset_name(*ds),
                    asim_dataset_classes(*ds), c->cls_num);
  if (asim_dataset_size(*ds) < 1) return ASIM_ERR(ASIM_EINVAL, "%s %s is empty", what, path);
  return ASIM_OK;
}

static asim_status open_data(data *d, const asim_config *c) {
  memset(d, 0, sizeof d[0]);
  d->C = asim_config_channels(c);
  d->S = c->input_size;
  d->S_train = c->origin_size;
  d->augment = (int)c->data.augment;
  ASIM_CHECK(open_set(&d->train, c, c->train_dir, "train", c->origin_size, "train_dir"));
  ASIM_CHECK(open_set(&d->valid, c, c->valid_dir, "test", c->input_size, "valid_dir"));
  d->n_train = asim_dataset_size(d->train);
  d->n_valid = asim_dataset_size(d->valid);
  if (c->data.max_samples > 0) {
    if (d->n_train > c->data.max_samples) d->n_train = c->data.max_samples;
    if (d->n_valid > c->data.max_samples) d->n_valid = c->data.max_samples;
  }
  asim_dataset_norm(d->valid, d->mean, d->std);
  for (int i = 0; i < c->data.n_mean && i < 3; i++) d->mean[i] = (float)c->data.mean[i];
  for (int i = 0; i < c->data.n_std && i < 3; i++) d->std[i] = (float)c->data.std[i];
  if (c->data.n_mean == 1)
    for (int i = 1; i < 3; i++) d->mean[i] = d->mean[0];
  if (c->data.n_std == 1)
    for (int i = 1; i < 3; i++) d->std[i] = d->std[0];
  return ASIM_OK;
}

static void close_data(data *d) {
  asim_dataset_close(d->train);
  asim_dataset_close(d->valid);
}

/* ToTensor + Normalize (float32, as asim_dataset_to_tensor) with the run's constants. */
static void to_tensor(const data *d, const uint8_t *hwc, float *chw, int S) {
  const int64_t hw = (int64_t)S * S;
  for (int c = 0; c < d->C; c++)
    for (int64_t q = 0; q < hw; q++) chw[c * hw + q] = ((float)hwc[q * d->C + c] / 255.0f - d->mean[c]) / d->std[c];
}

/* A training sample: the dataset image at origin_size, ASiM's training transform (§7.4). */
static asim_status train_sample(const data *d, int64_t idx, uint32_t seed, uint32_t epoch, float *chw, int *label,
                                uint8_t *buf_in, uint8_t *buf_out) {
  ASIM_CHECK(asim_dataset_get_u8(d->train, idx, buf_in, label));
  asim_aug_params p;
  asim_augment_draw(&p, d->augment, seed, epoch, idx, d->S_train, d->S);
  ASIM_CHECK(asim_augment_apply(buf_out, buf_in, d->S_train, d->C, d->S, &p));
  to_tensor(d, buf_out, chw, d->S);
  return ASIM_OK;
}

/* A permutation of 0..n−1 that depends only on (seed, epoch, salt): sort by Philox keys. */
typedef struct {
  uint64_t key;
  int64_t i;
} keyed;
static int keyed_cmp(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  return x->key < y->key ? -1 : x->key > y->key ? 1 : (x->i < y->i ? -1 : x->i > y->i);
}
static asim_status permutation(int64_t *perm, int64_t n, uint32_t seed, uint32_t epoch, uint32_t salt) {
  keyed *k;
  ASIM_CHECK(ASIM_ALLOC(k, (size_t)n));
  asim_noise_key key = {seed ^ 0x5417f1e5u, salt};
  for (int64_t i = 0; i < n; i++) {
    float u[4];
    asim_uniform4(key, (uint32_t)i, (uint32_t)((uint64_t)i >> 32), epoch, 0, u);
    k[i].key = ((uint64_t)(u[0] * 16777216.0f) << 40) | ((uint64_t)(u[1] * 16777216.0f) << 16) |
               (uint64_t)(u[2] * 65536.0f);
    k[i].i = i;
  }
  qsort(k, (size_t)n, sizeof *k, keyed_cmp);
  for (int64_t i = 0; i < n; i++) perm[i] = k[i].i;
  free(k);
  return ASIM_OK;
}

/* The seed of epoch e's training noise (trim noise, dropout): a mix of (run seed, epoch), so
 * sample positions, which restart every epoch, meet fresh noise. */
static uint32_t epoch_seed(uint32_t seed, int epoch) {
  uint64_t z = ((uint64_t)seed << 32 | (uint32_t)epoch) + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (uint32_t)(z ^ (z >> 31));
}

/* ---- history and checkpoints --------------------------------------------------------------- */

enum { H_EPOCH, H_LR, H_TRAIN_LOSS, H_TRAIN_ACC, H_VALID_LOSS, H_VALID_ACC, H_SECONDS, H_IMG_S, H_N };
static const char *const H_NAMES[H_N] = {"epoch", "lr", "train_loss", "train_acc", "valid_loss", "valid_acc",
                                         "seconds", "images_per_s"};

typedef struct {
  float *v[H_N];
  int n, cap;
  float *step_loss, *step_lr;
  int64_t n_steps, cap_steps;
} history;

static asim_status hist_push(history *h, const double *row) {
  if (h->n == h->cap) {
    int cap = h->cap ? 2 * h->cap : 64;
    for (int k = 0; k < H_N; k++) {
      float *p = realloc(h->v[k], sizeof(float) * (size_t)cap);
      if (!p) return ASIM_ERR(ASIM_ENOMEM, "training history");
      h->v[k] = p;
    }
    h->cap = cap;
  }
  for (int k = 0; k < H_N; k++) h->v[k][h->n] = (float)row[k];
  h->n++;
  return ASIM_OK;
}

static asim_status hist_step(history *h, double loss, double lr) {
  if (h->n_steps == h->cap_steps) {
    int64_t cap = h->cap_steps ? 2 * h->cap_steps : 1024;
    float *a = realloc(h->step_loss, sizeof(float) * (size_t)cap);
    if (!a) return ASIM_ERR(ASIM_ENOMEM, "training history");
    h->step_loss = a;
    float *b = realloc(h->step_lr, sizeof(float) * (size_t)cap);
    if (!b) return ASIM_ERR(ASIM_ENOMEM, "training history");
    h->step_lr = b;
    h->cap_steps = cap;
  }
  h->step_loss[h->n_steps] = (float)loss, h->step_lr[h->n_steps] = (float)lr;
  h->n_steps++;
  return ASIM_OK;
}

static void hist_free(history *h) {
  for (int k = 0; k < H_N; k++) free(h->v[k]);
  free(h->step_loss);
  free(h->step_lr);
  memset(h, 0, sizeof *h);
}

static asim_status vec_tensor(asim_state *s, const char *name, const float *v, int64_t n) {
  asim_tensor t;
  int64_t shape[1] = {n};
  ASIM_CHECK(asim_tensor_alloc(&t, ASIM_F32, 1, shape));
  if (n) memcpy(t.data, v, sizeof(float) * (size_t)n);
  asim_status st = asim_state_add(s, name, &t);
  if (st) asim_tensor_free(&t);
  return st;
}

static asim_status hist_state(const history *h, asim_state *s) {
  for (int k = 0; k < H_N; k++) ASIM_CHECK(vec_tensor(s, H_NAMES[k], h->v[k], h->n));
  ASIM_CHECK(vec_tensor(s, "step_loss", h->step_loss, h->n_steps));
  ASIM_CHECK(vec_tensor(s, "step_lr", h->step_lr, h->n_steps));
  return ASIM_OK;
}

static asim_status hist_from_state(history *h, const asim_state *s) {
  const asim_tensor *e = asim_state_find(s, "epoch");
  if (!e || e->ndim != 1) return ASIM_ERR(ASIM_EFORMAT, "checkpoint history lacks 'epoch'");
  const int64_t n = e->shape[0];
  double row[H_N];
  for (int64_t i = 0; i < n; i++) {
    for (int k = 0; k < H_N; k++) {
      const asim_tensor *t = asim_state_find(s, H_NAMES[k]);
      if (!t || t->dtype != ASIM_F32 || t->ndim != 1 || t->shape[0] != n)
        return ASIM_ERR(ASIM_EFORMAT, "checkpoint history: '%s' missing or not %lld float32 values", H_NAMES[k],
                        (long long)n);
      row[k] = ((const float *)t->data)[i];
    }
    ASIM_CHECK(hist_push(h, row));
  }
  const asim_tensor *sl = asim_state_find(s, "step_loss"), *sr = asim_state_find(s, "step_lr");
  if (sl && sr && sl->dtype == ASIM_F32 && sr->dtype == ASIM_F32 && sl->ndim == 1 && sr->ndim == 1 &&
      sl->shape[0] == sr->shape[0])
    for (int64_t i = 0; i < sl->shape[0]; i++)
      ASIM_CHECK(hist_step(h, ((const float *)sl->data)[i], ((const float *)sr->data)[i]));
  return ASIM_OK;
}

/* history.h5: the curves as plain 1-D datasets (h5py: f['valid_acc'][:]). */
static asim_status write_history_file(const char *path, const history *h, const char *model) {
  char tmp[ASIM_CONFIG_STR + 160];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return ASIM_ERR(ASIM_EIO, "%s: cannot create the training history file", tmp);
  asim_status st = ASIM_OK;
  for (int k = 0; k < H_N + 2 && !st; k++) {
    const char *name = k < H_N ? H_NAMES[k] : k == H_N ? "step_loss" : "step_lr";
    const float *v = k < H_N ? h->v[k] : k == H_N ? h->step_loss : h->step_lr;
    hsize_t dim = k < H_N ? (hsize_t)h->n : (hsize_t)h->n_steps;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t ds = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (ds < 0 || (dim && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0))
      st = ASIM_ERR(ASIM_EIO, "%s: cannot write '%s'", tmp, name);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
  }
  if (!st) {
    hid_t sp = H5Screate(H5S_SCALAR), ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, strlen(model) + 1);
    hid_t a = H5Acreate2(f, "model_name", ty, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) H5Awrite(a, ty, model), H5Aclose(a);
    H5Tclose(ty), H5Sclose(sp);
  }
  if (H5Fclose(f) < 0 && !st) st = ASIM_ERR(ASIM_EIO, "%s: cannot close", tmp);
  if (!st && rename(tmp, path) != 0) st = ASIM_ERR(ASIM_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
  return st;
}

/* Where training stands: the last finished epoch, and — after a stop inside an epoch — the steps
 * of the next epoch already taken with their running sums (loss, batches, correct, seen, seconds). */
typedef struct {
  int epoch, best_epoch;
  double best_acc;
  int64_t epoch_step;
  double part[5];
} progress;

/* A complete checkpoint: model state (+ metadata), optimiser, progress, history; written to a
 * temporary name and renamed, so a kill leaves the previous file intact. */
static asim_status write_checkpoint(const char *path, const asim_model *m, const char *model_name,
                                    const asim_optim *o, const progress *pr, const history *h, const char *provenance) {
  char tmp[ASIM_CONFIG_STR + 160];
  snprintf(tmp, sizeof tmp, "%s.part", path);
  asim_ckpt_meta meta;
  asim_ckpt_meta_init(&meta);
  snprintf(meta.model_name, sizeof meta.model_name, "%s", model_name);
  meta.classes = m->classes;
  meta.epoch = pr->epoch;
  meta.best_acc = pr->best_acc;
  snprintf(meta.provenance, sizeof meta.provenance, "%s", provenance);
  ASIM_CHECK(asim_ckpt_h5_write(tmp, &m->params, &meta));
  asim_ckpt_scalars sc = {0};
  const char *names[] = {"kind", "step", "lr", "momentum", "weight_decay", "beta1", "beta2", "eps", "epoch",
                         "best_acc", "best_epoch", "epoch_step", "part_loss_sum", "part_batches", "part_correct",
                         "part_seen", "part_seconds"};
  const double vals[] = {(double)o->kind, (double)o->step, o->lr, o->momentum, o->weight_decay, o->beta1,
                         o->beta2, o->eps, (double)pr->epoch, pr->best_acc, (double)pr->best_epoch,
                         (double)pr->epoch_step, pr->part[0], pr->part[1], pr->part[2], pr->part[3], pr->part[4]};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    snprintf(sc.name[sc.n], sizeof sc.name[0], "%s", names[i]);
    sc.value[sc.n++] = vals[i];
  }
  ASIM_CHECK(asim_ckpt_h5_write_group(tmp, "optimizer", &o->m, &sc));
  if (o->kind == ASIM_OPT_ADAM) ASIM_CHECK(asim_ckpt_h5_write_group(tmp, "optimizer_v", &o->v, NULL));
  asim_state hs = {0};
  asim_status st = hist_state(h, &hs);
  if (!st) st = asim_ckpt_h5_write_group(tmp, "history", &hs, NULL);
  asim_state_free(&hs);
  ASIM_CHECK(st);
  if (rename(tmp, path) != 0) return ASIM_ERR(ASIM_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
  return ASIM_OK;
}

/* Optimiser buffers from a checkpoint group into o (names and shapes must match). */
static asim_status adopt_buffers(asim_state *dst, asim_state *src, const char *path, const char *group) {
  for (int i = 0; i < dst->n; i++) {
    asim_tensor *t = asim_state_find(src, dst->names[i]);
    if (!t || !asim_tensor_same_shape(t, &dst->tensors[i]) || t->dtype != ASIM_F32)
      return ASIM_ERR(ASIM_EFORMAT, "%s: group '%s' lacks a float32 '%s' of the parameter's shape (optimiser state of "
                      "another model?)", path, group, dst->names[i]);
    memcpy(dst->tensors[i].data, t->data, sizeof(float) * (size_t)asim_tensor_numel(t));
  }
  return ASIM_OK;
}

static double scalar(const asim_ckpt_scalars *s, const char *name, double dflt) {
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->name[i], name)) return s->value[i];
  return dflt;
}

/* Rank 0 reads a resume checkpoint into the model, optimiser, progress and history. */
static asim_status read_resume(const char *path, asim_model *m, const char *model_name, asim_optim *o, progress *pr,
                               history *h) {
  asim_state st = {0}, g = {0};
  asim_ckpt_meta meta;
  asim_ckpt_scalars sc = {0};
  int has = 0;
  ASIM_CHECK(asim_ckpt_h5_read(path, &st, &meta));
  asim_status s = ASIM_OK;
  if (is_zoo_name(meta.model_name) && strcmp(meta.model_name, model_name))
    s = ASIM_ERR(ASIM_EINVAL, "--resume %s: the checkpoint holds a %s (model_name attribute), the configuration "
                 "trains a %s", path, meta.model_name, model_name);
  if (!s) s = asim_model_load_state(m, &st, 0);
  asim_state_free(&st);
  if (s) return asim_error_trace(s, __FILE__, __LINE__, path);
  ASIM_CHECK(asim_ckpt_h5_has_group(path, "optimizer", &has));
  if (!has)
    return ASIM_ERR(ASIM_EFORMAT, "--resume %s: no 'optimizer' group: not a checkpoint written by asim-train (to start "
                    "from weights only, set pretrain_model_path)", path);
  ASIM_CHECK(asim_ckpt_h5_read_group(path, "optimizer", &g, &sc));
  s = adopt_buffers(&o->m, &g, path, "optimizer");
  asim_state_free(&g);
  ASIM_CHECK(s);
  if ((int)scalar(&sc, "kind", -1) != (int)o->kind)
    return ASIM_ERR(ASIM_EINVAL, "--resume %s: the checkpoint's optimiser is %s, this model trains with %s", path,
                    scalar(&sc, "kind", -1) == ASIM_OPT_ADAM ? "Adam" : "SGD", o->kind == ASIM_OPT_ADAM ? "Adam" : "SGD");
  if (o->kind == ASIM_OPT_ADAM) {
    ASIM_CHECK(asim_ckpt_h5_read_group(path, "optimizer_v", &g, NULL));
    s = adopt_buffers(&o->v, &g, path, "optimizer_v");
    asim_state_free(&g);
    ASIM_CHECK(s);
  }
  o->step = (int64_t)scalar(&sc, "step", 0);
  pr->epoch = (int)scalar(&sc, "epoch", meta.epoch);
  pr->best_acc = scalar(&sc, "best_acc", meta.best_acc);
  pr->best_epoch = (int)scalar(&sc, "best_epoch", -1);
  pr->epoch_step = (int64_t)scalar(&sc, "epoch_step", 0);
  const char *part[5] = {"part_loss_sum", "part_batches", "part_correct", "part_seen", "part_seconds"};
  for (int i = 0; i < 5; i++) pr->part[i] = scalar(&sc, part[i], 0.0);
  ASIM_CHECK(asim_ckpt_h5_has_group(path, "history", &has));
  if (has) {
    ASIM_CHECK(asim_ckpt_h5_read_group(path, "history", &g, NULL));
    s = hist_from_state(h, &g);
    asim_state_free(&g);
    ASIM_CHECK(s);
  }
  return ASIM_OK;
}

/* ---- one epoch --------------------------------------------------------------------------------- */

typedef struct {
  const asim_config *cfg;
  const asim_train_opts *opts;
  par p;
  logger lg;
  data d;
  asim_model m;
  asim_grads g;
  asim_optim o;
  asim_tape *tape;
  history h;
  progress pr;
  int64_t steps_done;
  const char *model_name;
} run;

typedef struct {
  double loss, acc, seconds, images;
  int stopped; /* by opts->stop inside the epoch: progress.epoch_step says where */
} epoch_stats;

static asim_status train_epoch(run *r, int epoch, epoch_stats *es) {
  memset(es, 0, sizeof *es);
  const asim_config *c = r->cfg;
  const par *p = &r->p;
  const int K = r->m.classes, bs = c->train_bs;
  const int64_t N = r->d.n_train, in_n = (int64_t)r->d.C * r->d.S * r->d.S;
  const int64_t n_steps = (N + bs - 1) / bs;
  const uint32_t seed = c->run.seed;
  asim_status st = ASIM_OK;
  int64_t *perm = NULL, *mperm = NULL;
  float *x = NULL, *x2 = NULL, *logits = NULL, *dl = NULL, *flat = NULL;
  int *y = NULL, *y2 = NULL;
  uint8_t *b_in = NULL, *b_out = NULL;
  const int maxl = bs / p->n + 1;
  const int64_t ng = asim_grads_numel(&r->g);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(perm, (size_t)N), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(mperm, (size_t)bs), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(x, (size_t)(maxl * in_n)), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(x2, (size_t)in_n), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(logits, (size_t)maxl * K), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(dl, (size_t)maxl * K), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(y, (size_t)maxl), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(y2, (size_t)maxl), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(flat, (size_t)ng + 1), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(b_in, (size_t)r->d.S_train * r->d.S_train * r->d.C), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(b_out, (size_t)r->d.S * r->d.S * r->d.C), done);
  ASIM_CHECK_GOTO(st, permutation(perm, N, seed, (uint32_t)epoch, 1), done);

  /* a resumed epoch continues its running sums from the step it stopped at */
  const int64_t s0 = r->pr.epoch_step;
  const double t0 = now_s() - r->pr.part[4];
  double loss_sum = r->pr.part[0], batches = r->pr.part[1], correct = r->pr.part[2], seen = r->pr.part[3];
  double loss_window = 0.0;
  int window = 0;
  r->pr.epoch_step = 0; /* the next epoch starts from zero */
  memset(r->pr.part, 0, sizeof r->pr.part);
  asim_train_exec tx = {.training = 1, .fake_quant = 1};
  tx.ex.seed = epoch_seed(seed, epoch);
  if (p->n > 1) {
    tx.ex.max_reduce = max_reduce, tx.ex.max_reduce_arg = (void *)p;
    tx.red.sum = sum_reduce, tx.red.arg = (void *)p;
  }
  for (int64_t s = s0; s < n_steps; s++) {
    if (r->opts->max_steps > 0 && r->steps_done >= r->opts->max_steps) break;
    const int64_t g0 = s * bs;
    const int Bg = (int)(N - g0 < bs ? N - g0 : bs);
    if (Bg < p->n || Bg < 2) break; /* a last batch smaller than the rank count is dropped (documented) */
    const int lo = (int)((int64_t)Bg * p->rank / p->n), hi = (int)((int64_t)Bg * (p->rank + 1) / p->n), Bl = hi - lo;
    double lam = 1.0;
    if (c->mixup) {
      lam = asim_beta_draw(c->mixup_alpha, seed, (uint32_t)epoch, (uint32_t)s);
      ASIM_CHECK_GOTO(st, permutation(mperm, Bg, seed, (uint32_t)epoch, 0x100u + (uint32_t)s), done);
    }
    for (int j = 0; j < Bl && !st; j++) {
      const int64_t idx = perm[g0 + lo + j];
      st = train_sample(&r->d, idx, seed, (uint32_t)epoch, x + j * in_n, &y[j], b_in, b_out);
      if (!st && c->mixup) { /* λ·x + (1 − λ)·x[π], the partner from the same global batch */
        st = train_sample(&r->d, perm[g0 + mperm[lo + j]], seed, (uint32_t)epoch, x2, &y2[j], b_in, b_out);
        for (int64_t e = 0; e < in_n && !st; e++)
          x[j * in_n + e] = (float)lam * x[j * in_n + e] + (float)(1.0 - lam) * x2[e];
      }
    }
    ASIM_CHECK_GOTO(st, agree(st, p), done);
    tx.ex.sample0 = g0 + lo;
    st = asim_train_forward(&r->m, r->tape, logits, x, Bl, &tx);
    double sums[3] = {0.0, 0.0, (double)Bl};
    if (!st) {
      const float eps = c->label_smooth ? (float)c->label_smooth_eps : 0.0f;
      sums[0] = asim_cross_entropy(dl, NULL, logits, y, c->mixup ? y2 : NULL, (float)lam, Bl, K, eps, 1.0f / (float)Bg);
      for (int j = 0; j < Bl; j++) {
        int best = 0;
        for (int k = 1; k < K; k++)
          if (logits[j * K + k] > logits[j * K + best]) best = k;
        sums[1] += best == y[j];
      }
      asim_grads_zero(&r->g);
      st = asim_train_backward(&r->m, r->tape, dl, &r->g, NULL);
    }
    asim_tape_clear(r->tape);
    ASIM_CHECK_GOTO(st, agree(st, p), done);
    asim_grads_tie(&r->g);
    if (p->n > 1) { /* the one gradient reduction of the step */
      asim_grads_pack(&r->g, flat);
      MPI_Allreduce(MPI_IN_PLACE, flat, (int)ng, MPI_FLOAT, MPI_SUM, p->comm);
      asim_grads_unpack(&r->g, flat);
      MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, p->comm);
    }
    ASIM_CHECK_GOTO(st, asim_optim_step(&r->o, &r->m, &r->g), done);
    ASIM_CHECK_GOTO(st, asim_weight_clip(&r->m, c->run.weight_clip), done);
    r->steps_done++;
    const double batch_loss = sums[0] / sums[2];
    loss_sum += batch_loss, batches += 1.0, correct += sums[1], seen += sums[2];
    loss_window += batch_loss, window++;
    ASIM_CHECK_GOTO(st, hist_step(&r->h, batch_loss, r->o.lr), done);
    if ((s + 1) % c->log_interval == 0) {
      logf_(&r->lg, 0, "Training: Epoch[%03d/%03d] Iteration[%03lld/%03lld] Loss: %.4f Acc:%.2f%%", epoch + 1,
            c->max_epoch, (long long)(s + 1), (long long)n_steps, loss_window / window, 100.0 * correct / seen);
      loss_window = 0.0, window = 0;
    }
    if (r->opts->stop && s + 1 < n_steps) { /* every rank stops after the same step */
      int stop = *r->opts->stop != 0, any = 0;
      MPI_Allreduce(&stop, &any, 1, MPI_INT, MPI_MAX, p->comm);
      if (any) {
        r->pr.epoch_step = s + 1;
        const double part[5] = {loss_sum, batches, correct, seen, now_s() - t0};
        memcpy(r->pr.part, part, sizeof part);
        es->stopped = 1;
        break;
      }
    }
  }
  es->seconds = now_s() - t0;
  es->images = seen;
  es->loss = batches ? loss_sum / batches : 0.0;
  es->acc = seen ? correct / seen : 0.0;
done:
  free(perm), free(mperm), free(x), free(x2), free(logits), free(dl), free(flat), free(y), free(y2), free(b_in),
      free(b_out);
  return st;
}

/* Validation as ASiM: model.eval() (BN running statistics, no dropout), the ASiM layers in their
 * configured mode; whole valid_bs batches of consecutive samples, batch k on rank k mod n (the
 * activation scales are per batch, so the result does not depend on the rank count). */
static asim_status validate(run *r, double *loss, double *acc) {
  const asim_config *c = r->cfg;
  const par *p = &r->p;
  const int K = r->m.classes, vbs = c->valid_bs;
  const int64_t N = r->d.n_valid, in_n = (int64_t)r->d.C * r->d.S * r->d.S, nb = (N + vbs - 1) / vbs;
  asim_status st = ASIM_OK;
  float *x = NULL, *logits = NULL;
  int *y = NULL;
  uint8_t *u8 = NULL;
  int64_t *conf = NULL;
  double sums[2] = {0.0, 0.0}; /* Σ batch-mean losses, batches */
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(x, (size_t)(vbs * in_n)), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(logits, (size_t)vbs * K), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(y, (size_t)vbs), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(u8, (size_t)in_n), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(conf, (size_t)K * K), done);
  for (int64_t b = p->rank; b < nb && !st; b += p->n) {
    const int64_t i0 = b * vbs;
    const int B = (int)(N - i0 < vbs ? N - i0 : vbs);
    for (int j = 0; j < B && !st; j++) {
      st = asim_dataset_get_u8(r->d.valid, i0 + j, u8, &y[j]);
      if (!st) to_tensor(&r->d, u8, x + j * in_n, r->d.S);
    }
    asim_exec ex = {.seed = c->run.seed, .sample0 = i0};
    if (!st) st = asim_model_forward(&r->m, logits, x, B, &ex, NULL, NULL);
    if (st) break;
    const float eps = c->label_smooth ? (float)c->label_smooth_eps : 0.0f;
    sums[0] += asim_cross_entropy(NULL, NULL, logits, y, NULL, 1.0f, B, K, eps, 1.0f) / B;
    sums[1] += 1.0;
    for (int j = 0; j < B; j++) {
      int best = 0;
      for (int k = 1; k < K; k++)
        if (logits[j * K + k] > logits[j * K + best]) best = k;
      if (y[j] >= 0 && y[j] < K) conf[y[j] * K + best]++;
    }
  }
  ASIM_CHECK_GOTO(st, agree(st, p), done);
  MPI_Allreduce(MPI_IN_PLACE, conf, K * K, MPI_INT64_T, MPI_SUM, p->comm);
  MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, p->comm);
  int64_t tr = 0, tot = 0;
  for (int i = 0; i < K; i++)
    for (int j = 0; j < K; j++) tot += conf[i * K + j], tr += i == j ? conf[i * K + j] : 0;
  *acc = tot ? (double)tr / (double)tot : 0.0;
  *loss = sums[1] ? sums[0] / sums[1] : 0.0;
done:
  free(x), free(logits), free(y), free(u8), free(conf);
  return st;
}

/* ---- the run ----------------------------------------------------------------------------------- */

static asim_status setup(run *r) {
  const asim_config *c = r->cfg;
  const par *p = &r->p;
  asim_status st = asim_train_check_config(c, p->n);
  ASIM_CHECK(agree(st, p));
  asim_model_settings s;
  asim_model_settings_from_config(c, &s);
  r->model_name = asim_model_id_name(c->model_name);
  st = asim_model_init(&r->m, r->model_name, c->cls_num, asim_config_channels(c), c->input_size, &s, 0);
  if (!st) st = asim_train_check_model(&r->m);
  if (!st) st = asim_model_init_random(&r->m, c->run.seed);
  ASIM_CHECK(agree(st, p));
  /* weights to start from (model state only, strict, as ASiM's load_state_dict) */
  if (c->pretrain_model_path[0] && !r->opts->resume) {
    st = ASIM_OK;
    if (p->rank == 0) {
      asim_state ck = {0};
      asim_ckpt_meta meta;
      st = asim_ckpt_read(c->pretrain_model_path, &ck, &meta);
      if (!st && is_zoo_name(meta.model_name) && strcmp(meta.model_name, r->model_name))
        st = ASIM_ERR(ASIM_EINVAL, "pretrain_model_path %s holds a %s (model_name attribute), the configuration trains "
                      "a %s", c->pretrain_model_path, meta.model_name, r->model_name);
      if (!st) st = asim_model_load_state(&r->m, &ck, 0);
      asim_state_free(&ck);
      if (st) asim_error_trace(st, __FILE__, __LINE__, c->pretrain_model_path);
    }
    ASIM_CHECK(agree(st, p));
    bcast_state(&r->m.params, 0, p);
  }
  if (c->run.pact_alpha > 0.0 && !r->opts->resume) /* tighter clipping to start from (run.pact_alpha) */
    for (int i = 0; i < r->m.params.n; i++) {
      const char *leaf = strrchr(r->m.params.names[i], '.');
      float *a = r->m.params.tensors[i].data;
      if (leaf && !strcmp(leaf, ".alpha") && a[0] > (float)c->run.pact_alpha) a[0] = (float)c->run.pact_alpha;
    }
  st = open_data(&r->d, c);
  if (!st && (asim_dataset_channels(r->d.valid) != r->m.in_ch || asim_dataset_input_size(r->d.valid) != r->m.image_size))
    st = ASIM_ERR(ASIM_EINVAL, "valid_dir %s delivers %dx%dx%d samples, %s takes %dx%dx%d", c->valid_dir,
                  asim_dataset_channels(r->d.valid), asim_dataset_input_size(r->d.valid),
                  asim_dataset_input_size(r->d.valid), r->model_name, r->m.in_ch, r->m.image_size, r->m.image_size);
  ASIM_CHECK(agree(st, p));
  st = asim_grads_init(&r->g, &r->m);
  const asim_opt_kind kind = r->m.arch == ASIM_ARCH_VIT ? ASIM_OPT_ADAM : ASIM_OPT_SGD; /* spec §8 */
  if (!st) st = asim_optim_init(&r->o, kind, &r->g, c->lr_init, c->momentum, kind == ASIM_OPT_SGD ? c->weight_decay : 0.0);
  if (!st) st = asim_tape_new(&r->tape);
  ASIM_CHECK(agree(st, p));
  r->pr.epoch = -1, r->pr.best_epoch = -1, r->pr.best_acc = 0.0;
  if (r->opts->resume) {
    st = p->rank == 0 ? read_resume(r->opts->resume, &r->m, r->model_name, &r->o, &r->pr, &r->h) : ASIM_OK;
    ASIM_CHECK(agree(st, p));
    bcast_state(&r->m.params, 0, p);
    bcast_state(&r->o.m, 0, p);
    if (kind == ASIM_OPT_ADAM) bcast_state(&r->o.v, 0, p);
    int64_t iv[3] = {r->o.step, r->pr.epoch, r->pr.epoch_step};
    double dv[6] = {r->pr.best_acc, r->pr.part[0], r->pr.part[1], r->pr.part[2], r->pr.part[3], r->pr.part[4]};
    int be = r->pr.best_epoch;
    MPI_Bcast(iv, 3, MPI_INT64_T, 0, p->comm);
    MPI_Bcast(dv, 6, MPI_DOUBLE, 0, p->comm);
    MPI_Bcast(&be, 1, MPI_INT, 0, p->comm);
    r->o.step = iv[0], r->pr.epoch = (int)iv[1], r->pr.epoch_step = iv[2], r->pr.best_acc = dv[0], r->pr.best_epoch = be;
    memcpy(r->pr.part, dv + 1, sizeof r->pr.part);
  }
  st = p->rank == 0 ? asim_mkdir_p(c->report.checkpoint_dir) : ASIM_OK;
  if (st) st = asim_error_trace(st, __FILE__, __LINE__, "report.checkpoint_dir");
  ASIM_CHECK(agree(st, p));
  return ASIM_OK;
}

static asim_status save(run *r, const char *file, const char *provenance) {
  char path[ASIM_CONFIG_STR + 64];
  snprintf(path, sizeof path, "%s/%s", r->cfg->report.checkpoint_dir, file);
  return write_checkpoint(path, &r->m, r->model_name, &r->o, &r->pr, &r->h, provenance);
}

asim_status asim_train_run(const asim_config *cfg, const asim_train_opts *opts, MPI_Comm comm) {
  run r;
  memset(&r, 0, sizeof r);
  r.cfg = cfg, r.opts = opts;
  r.p.comm = comm;
  MPI_Comm_rank(comm, &r.p.rank);
  MPI_Comm_size(comm, &r.p.n);
  r.lg.rank = r.p.rank, r.lg.quiet = opts->quiet, r.lg.extra = opts->log;
  /* every step allocates and frees the same activation and gradient buffers: keep them in the
   * heap instead of mmap/munmap (page faults on every step) */
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  asim_status st = setup(&r);
  char *cfg_text = NULL;
  if (!st && r.p.rank == 0) {
    char path[ASIM_CONFIG_STR + 64];
    snprintf(path, sizeof path, "%s/train.log", cfg->report.checkpoint_dir);
    r.lg.file = fopen(path, opts->resume ? "a" : "w");
    if (asim_config_to_text(cfg, &cfg_text) == ASIM_OK && r.lg.file) fprintf(r.lg.file, "%s\n", cfg_text);
  }
  if (st) goto done;
  const int start = r.pr.epoch + 1;
  logf_(&r.lg, 1, "asim-train %s (%s): %s on %s, %lld training / %lld validation samples, %d rank(s), global batch "
        "%d, %s lr %g, epochs %d..%d of %d%s", ASIM_VERSION, ASIM_GIT_REVISION, r.model_name, asim_task_name(cfg->task),
        (long long)r.d.n_train, (long long)r.d.n_valid, r.p.n, cfg->train_bs,
        r.o.kind == ASIM_OPT_ADAM ? "Adam" : "SGD", cfg->lr_init, start, cfg->max_epoch - 1, cfg->max_epoch,
        opts->resume ? " (resumed)" : "");
  char prov[ASIM_CONFIG_STR + 1024];
  snprintf(prov, sizeof prov, "asim-train %s (%s): %s, %s, seed %u, lr_init %g, train_bs %d, %d rank(s)%s%s",
           ASIM_VERSION, ASIM_GIT_REVISION, r.model_name, asim_task_name(cfg->task), cfg->run.seed, cfg->lr_init,
           cfg->train_bs, r.p.n, cfg->pretrain_model_path[0] ? ", from " : "", cfg->pretrain_model_path);
  for (int epoch = start; epoch < cfg->max_epoch && !st; epoch++) {
    if (opts->max_steps > 0 && r.steps_done >= opts->max_steps) break;
    r.o.lr = asim_multistep_lr(cfg->lr_init, cfg->milestones, cfg->n_milestones, cfg->factor, epoch);
    epoch_stats es;
    ASIM_CHECK_GOTO(st, train_epoch(&r, epoch, &es), done);
    if (es.stopped) { /* the resume point: finished epochs plus the steps of this one */
      st = r.p.rank == 0 ? save(&r, "checkpoint_last.h5", prov) : ASIM_OK;
      ASIM_CHECK_GOTO(st, agree(st, &r.p), done);
      logf_(&r.lg, 1, "stopped by a signal after step %lld of epoch %d; checkpoint_last.h5 continues from there "
            "(--resume)", (long long)r.pr.epoch_step, epoch + 1);
      st = ASIM_ERR(ASIM_EINTR, "interrupted in epoch %d after step %lld: rerun with --resume %s/checkpoint_last.h5",
                    epoch + 1, (long long)r.pr.epoch_step, cfg->report.checkpoint_dir);
      goto done;
    }
    /* every rank holds the same weights and BN statistics (synchronised reductions); rank 0's
     * copy is broadcast anyway so that float differences between ranks can never accumulate */
    bcast_state(&r.m.params, 0, &r.p);
    double vloss = 0.0, vacc = 0.0;
    if (!opts->no_valid) ASIM_CHECK_GOTO(st, validate(&r, &vloss, &vacc), done);
    const double ips = es.seconds > 0 ? es.images / es.seconds : 0.0;
    logf_(&r.lg, 1, "Epoch[%03d/%03d], Train Acc: %.2f%%, Valid Acc: %.2f%%, Train Loss: %.4f, Valid Loss: %.4f, LR: %g "
          "(%.1f s, %.0f images/s)", epoch + 1, cfg->max_epoch, 100.0 * es.acc, 100.0 * vacc, es.loss, vloss, r.o.lr,
          es.seconds, ips);
    const double row[H_N] = {epoch, r.o.lr, es.loss, es.acc, vloss, vacc, es.seconds, ips};
    ASIM_CHECK_GOTO(st, hist_push(&r.h, row), done);
    r.pr.epoch = epoch;
    const int last = epoch == cfg->max_epoch - 1 || (opts->max_steps > 0 && r.steps_done >= opts->max_steps);
    const int improved = vacc > r.pr.best_acc;
    if (improved) r.pr.best_acc = vacc, r.pr.best_epoch = epoch;
    st = ASIM_OK;
    if (r.p.rank == 0) {
      char name[64], hpath[ASIM_CONFIG_STR + 64];
      if (improved && !last) st = save(&r, "checkpoint_best.h5", prov); /* ASiM: the last epoch only under its name */
      if (!st && last) {
        snprintf(name, sizeof name, "checkpoint_%d.h5", cfg->max_epoch);
        st = save(&r, name, prov);
      }
      if (!st) st = save(&r, "checkpoint_last.h5", prov); /* resume point (asim-mpi addition) */
      snprintf(hpath, sizeof hpath, "%s/history.h5", cfg->report.checkpoint_dir);
      if (!st) st = write_history_file(hpath, &r.h, r.model_name);
    }
    ASIM_CHECK_GOTO(st, agree(st, &r.p), done);
  }
  logf_(&r.lg, 1, "done, Best Acc: %.2f%% in epoch %d.", 100.0 * r.pr.best_acc, r.pr.best_epoch + 1);
done:
  if (st && r.p.rank == 0 && r.lg.file) fprintf(r.lg.file, "error: %s\n", asim_errmsg());
  if (r.lg.file) fclose(r.lg.file);
  free(cfg_text);
  hist_free(&r.h);
  asim_tape_free(r.tape);
  asim_optim_free(&r.o);
  asim_grads_free(&r.g);
  asim_model_free(&r.m);
  close_data(&r.d);
  return st;
}
