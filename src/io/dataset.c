/* dataset.c — opening (format detection, task constants), the test transform and the
 * helpers shared by the per-format readers. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asim/image.h"
#include "dataset_internal.h"

/* ---- tasks --------------------------------------------------------------------------------- */

static const struct {
  const char *name;
  int classes, side; /* side: ASiM's usual input size for the task */
  double mean[3], std[3];
} tasks[ASIM_TASK_COUNT] = {
    /* spec §7.2 */
    {"CIFAR-10", 10, 32, {0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}},
    {"CIFAR-100", 100, 32, {0.5071, 0.4867, 0.4408}, {0.2675, 0.2565, 0.2761}},
    {"ImageNet", 1000, 224, {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}},
    /* ASiM has no MNIST tasks: the conventional constants (docs/datasets.md) */
    {"MNIST", 10, 28, {0.1307, 0.1307, 0.1307}, {0.3081, 0.3081, 0.3081}},
    {"Fashion-MNIST", 10, 28, {0.2860, 0.2860, 0.2860}, {0.3530, 0.3530, 0.3530}},
};

static int loose_eq(const char *a, const char *b) { /* case and '-'/'_' insensitive */
  for (;; a++, b++) {
    while (*a == '-' || *a == '_') a++;
    while (*b == '-' || *b == '_') b++;
    if (!*a || !*b) return !*a && !*b;
    char x = *a >= 'A' && *a <= 'Z' ? *a + 32 : *a, y = *b >= 'A' && *b <= 'Z' ? *b + 32 : *b;
    if (x != y) return 0;
  }
}

asim_status asim_task_parse(const char *s, asim_task *t) {
  if (!s) return ASIM_ERR(ASIM_EINVAL, "no task given");
  for (int i = 0; i < ASIM_TASK_COUNT; i++)
    if (loose_eq(s, tasks[i].name)) {
      *t = (asim_task)i;
      return ASIM_OK;
    }
  if (loose_eq(s, "fmnist")) {
    *t = ASIM_TASK_FASHION_MNIST;
    return ASIM_OK;
  }
  return ASIM_ERR(ASIM_EINVAL,
                  "unknown task '%s' (expected CIFAR-10, CIFAR-100, ImageNet, MNIST or Fashion-MNIST)", s);
}

const char *asim_task_name(asim_task t) {
  return (unsigned)t < ASIM_TASK_COUNT ? tasks[t].name : "?";
}

int asim_task_classes(asim_task t) { return (unsigned)t < ASIM_TASK_COUNT ? tasks[t].classes : 0; }

static const char *format_names[] = {"auto", "folders", "csv", "cifar-bin", "idx", "hdf5"};

asim_status asim_dataset_format_parse(const char *s, asim_dataset_format *f) {
  if (!s || !*s) {
    *f = ASIM_FMT_AUTO;
    return ASIM_OK;
  }
  for (int i = 0; i < (int)(sizeof format_names / sizeof *format_names); i++)
    if (loose_eq(s, format_names[i])) {
      *f = (asim_dataset_format)i;
      return ASIM_OK;
    }
  if (loose_eq(s, "h5")) {
    *f = ASIM_FMT_HDF5;
    return ASIM_OK;
  }
  return ASIM_ERR(ASIM_EINVAL,
                  "unknown dataset format '%s' (expected auto, folders, csv, cifar-bin, idx or hdf5)", s);
}

const char *asim_dataset_format_name(asim_dataset_format f) {
  return (unsigned)f < sizeof format_names / sizeof *format_names ? format_names[f] : "?";
}

/* ---- shared helpers ---------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void asim_ds_free_list(char **names, size_t n) {
  if (!names) return;
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

asim_status asim_ds_list_dir(const char *path, char ***names, size_t *n) {
  *names = NULL;
  *n = 0;
  DIR *d = opendir(path);
  if (!d) return ASIM_ERR(ASIM_EIO, "cannot open folder %s: %s", path, strerror(errno));
  size_t cap = 0, cnt = 0;
  char **v = NULL;
  struct dirent *e;
  asim_status st = ASIM_OK;
  errno = 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (cnt == cap) {
      cap = cap ? 2 * cap : 64;
      char **nv = realloc(v, cap * sizeof *nv);
      if (!nv) {
        st = ASIM_ERR(ASIM_ENOMEM, "listing %s: out of memory", path);
        break;
      }
      v = nv;
    }
    if (!(v[cnt] = strdup(e->d_name))) {
      st = ASIM_ERR(ASIM_ENOMEM, "listing %s: out of memory", path);
      break;
    }
    cnt++;
  }
  if (st == ASIM_OK && errno != 0)
    st = ASIM_ERR(ASIM_EIO, "cannot list folder %s: %s", path, strerror(errno));
  closedir(d);
  if (st != ASIM_OK) {
    asim_ds_free_list(v, cnt);
    return st;
  }
  /* Python's sorted() on str is code-point order, which strcmp gives on UTF-8 names. */
  if (cnt) qsort(v, cnt, sizeof *v, cmp_str);
  *names = v;
  *n = cnt;
  return ASIM_OK;
}

char *asim_ds_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 2);
  if (!s) return NULL;
  memcpy(s, a, la);
  s[la] = '/';
  memcpy(s + la + 1, b, lb + 1);
  return s;
}

asim_status asim_ds_arena_add(asim_dataset *ds, size_t *cap, size_t *used, const char *a,
                              const char *b, size_t *off) {
  size_t la = strlen(a), lb = b ? strlen(b) : 0, need = la + (b ? lb + 1 : 0) + 1;
  if (*used + need > *cap) {
    size_t nc = *cap ? *cap : 4096;
    while (nc < *used + need) nc *= 2;
    char *na = realloc(ds->arena, nc);
    if (!na) return ASIM_ERR(ASIM_ENOMEM, "cannot allocate %zu bytes for file names", nc);
    ds->arena = na;
    *cap = nc;
  }
  char *p = ds->arena + *used;
  memcpy(p, a, la);
  if (b) {
    p[la] = '/';
    memcpy(p + la + 1, b, lb);
  }
  p[need - 1] = 0;
  *off = *used;
  *used += need;
  return ASIM_OK;
}

/* ---- format detection -------------------------------------------------------------------- */

static int has_suffix(const char *s, const char *suf) {
  size_t ls = strlen(s), lf = strlen(suf);
  return ls >= lf && memcmp(s + ls - lf, suf, lf) == 0;
}

static int path_exists(const char *dir, const char *name) {
  char *p = asim_ds_join(dir, name);
  struct stat sb;
  int ok = p && stat(p, &sb) == 0;
  free(p);
  return ok;
}

static asim_status detect_format(const char *path, asim_dataset_format *f) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    return ASIM_ERR(ASIM_EIO, "dataset path %s: %s", path, strerror(errno));
  if (S_ISREG(sb.st_mode)) {
    uint8_t sig[8] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return ASIM_ERR(ASIM_EIO, "cannot open %s: %s", path, strerror(errno));
    size_t got = fread(sig, 1, 8, fp);
    fclose(fp);
    static const uint8_t h5sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (got == 8 && !memcmp(sig, h5sig, 8)) *f = ASIM_FMT_HDF5;
    else if (got >= 4 && sig[0] == 0 && sig[1] == 0 && sig[2] == 8 && sig[3] == 3) *f = ASIM_FMT_IDX;
    else if (strstr(path, "idx3")) *f = ASIM_FMT_IDX; /* gzipped IDX */
    else if (has_suffix(path, ".bin")) *f = ASIM_FMT_CIFAR_BIN;
    else
      return ASIM_ERR(ASIM_EFORMAT,
                      "cannot tell the dataset format of file %s (not HDF5, IDX or CIFAR .bin): "
                      "give the format explicitly", path);
    return ASIM_OK;
  }
  if (!S_ISDIR(sb.st_mode)) return ASIM_ERR(ASIM_EIO, "dataset path %s is not a file or folder", path);
  char **names;
  size_t n;
  ASIM_CHECK(asim_ds_list_dir(path, &names, &n));
  int bin = 0, idx = 0, dirs = 0;
  for (size_t i = 0; i < n; i++) {
    const char *s = names[i];
    if (!strcmp(s, "data_batch_1.bin") || !strcmp(s, "test_batch.bin") || !strcmp(s, "train.bin") ||
        !strcmp(s, "test.bin"))
      bin = 1;
    if (strstr(s, "-images-idx3-ubyte") || strstr(s, "-images.idx3-ubyte")) idx = 1;
    if (!dirs) {
      char *p = asim_ds_join(path, s);
      struct stat es;
      if (p && stat(p, &es) == 0 && S_ISDIR(es.st_mode)) dirs = 1;
      free(p);
    }
  }
  asim_ds_free_list(names, n);
  char *parent = asim_ds_join(path, "..");
  int csv = parent && (path_exists(parent, "train.csv") || path_exists(parent, "test.csv"));
  free(parent);
  if (bin) *f = ASIM_FMT_CIFAR_BIN;
  else if (idx) *f = ASIM_FMT_IDX;
  else if (csv && !dirs) *f = ASIM_FMT_CSV;
  else if (dirs) *f = ASIM_FMT_FOLDERS;
  else
    return ASIM_ERR(ASIM_EFORMAT,
                    "cannot tell the dataset format of folder %s: no class folders, CIFAR .bin "
                    "batches, IDX files or ../train.csv / ../test.csv", path);
  return ASIM_OK;
}

/* ---- open / close ------------------------------------------------------------------------ */

asim_status asim_dataset_open(asim_dataset **out, const asim_dataset_opts *o) {
  *out = NULL;
  if (!o || !o->path || !*o->path) return ASIM_ERR(ASIM_EINVAL, "dataset: no path given");
  asim_dataset_format fmt = ASIM_FMT_AUTO;
  ASIM_CHECK(asim_dataset_format_parse(o->format, &fmt));
  if (fmt == ASIM_FMT_AUTO) ASIM_CHECK(detect_format(o->path, &fmt));
  if (o->input_size < 0 || o->input_size > 4096)
    return ASIM_ERR(ASIM_EINVAL, "dataset %s: input size %d not in 1..4096 (0 = default)", o->path,
                    o->input_size);
  if (o->channels != 0 && o->channels != 1 && o->channels != 3)
    return ASIM_ERR(ASIM_EINVAL, "dataset %s: channels must be 0 (native), 1 or 3, not %d", o->path,
                    o->channels);
  if ((unsigned)o->label_mode > ASIM_LABELS_DIRS)
    return ASIM_ERR(ASIM_EINVAL, "dataset %s: bad label mode %d", o->path, (int)o->label_mode);

  asim_dataset *ds;
  ASIM_CHECK(ASIM_ALLOC(ds, 1));
  for (int f = 0; f < ASIM_BIN_MAXFILES; f++) ds->fds[f] = -1;
  ds->h5file = ds->h5images = ds->h5names = H5I_INVALID_HID;
  ds->fmt = fmt;
  ds->task = ASIM_TASK_COUNT;
  asim_status st = ASIM_OK;
  if (!(ds->path = strdup(o->path))) {
    st = ASIM_ERR(ASIM_ENOMEM, "dataset path");
    goto fail;
  }
  if (o->task) ASIM_CHECK_GOTO(st, asim_task_parse(o->task, &ds->task), fail);
  else if (fmt != ASIM_FMT_HDF5) {
    st = ASIM_ERR(ASIM_EINVAL, "dataset %s (%s): a task is required (CIFAR-10, CIFAR-100, "
                  "ImageNet, MNIST or Fashion-MNIST)", o->path, asim_dataset_format_name(fmt));
    goto fail;
  }
  if (fmt == ASIM_FMT_CIFAR_BIN || fmt == ASIM_FMT_IDX) {
    if (!o->split || !strcmp(o->split, "test")) ds->split = "test";
    else if (!strcmp(o->split, "train")) ds->split = "train";
    else {
      st = ASIM_ERR(ASIM_EINVAL, "dataset %s: split '%s' is not 'test' or 'train'", o->path, o->split);
      goto fail;
    }
  }
  switch (fmt) {
  case ASIM_FMT_FOLDERS: ASIM_CHECK_GOTO(st, asim_ds_open_folders(ds, o), fail); break;
  case ASIM_FMT_CSV: ASIM_CHECK_GOTO(st, asim_ds_open_csv(ds, o), fail); break;
  case ASIM_FMT_CIFAR_BIN: ASIM_CHECK_GOTO(st, asim_ds_open_cifar_bin(ds, o), fail); break;
  case ASIM_FMT_IDX: ASIM_CHECK_GOTO(st, asim_ds_open_idx(ds, o), fail); break;
  case ASIM_FMT_HDF5: ASIM_CHECK_GOTO(st, asim_ds_open_hdf5(ds, o), fail); break;
  default: st = ASIM_ERR(ASIM_EINVAL, "dataset format"); goto fail;
  }
  if (ds->fmt != ASIM_FMT_HDF5) ds->classes = tasks[ds->task].classes;
  if (ds->n <= 0) {
    st = ASIM_ERR(ASIM_EFORMAT, "dataset %s holds no samples", o->path);
    goto fail;
  }
  for (int64_t i = 0; i < ds->n; i++)
    if (ds->labels[i] < 0 || ds->labels[i] >= ds->classes) {
      char nm[256] = "?";
      asim_dataset_sample_name(ds, i, nm, sizeof nm);
      st = ASIM_ERR(ASIM_EFORMAT, "dataset %s: sample %lld (%s) has label %d, not in 0..%d of task %s",
                    o->path, (long long)i, nm, ds->labels[i], ds->classes - 1,
                    asim_task_name(ds->task));
      goto fail;
    }
  /* Output geometry. HDF5 files set ds->side themselves (their stored side). */
  if (ds->fmt != ASIM_FMT_HDF5) ds->side = o->input_size ? o->input_size : tasks[ds->task].side;
  ds->out_c = o->channels ? o->channels : ds->src_c;
  if (ds->out_c < ds->src_c) {
    st = ASIM_ERR(ASIM_EUNSUP, "dataset %s: its images are RGB; converting to 1 channel is not "
                  "supported (channels = 0 or 3)", o->path);
    goto fail;
  }
  for (int c = 0; c < 3; c++) {
    /* Python floats rounded to float32, as torch.as_tensor(mean, dtype=float32) does. */
    ds->mean[c] = (float)tasks[ds->task].mean[c];
    ds->std[c] = (float)tasks[ds->task].std[c];
  }
  snprintf(ds->name, sizeof ds->name, "%s%s%s set (%s)", tasks[ds->task].name,
           ds->split ? " " : "", ds->split ? ds->split : "", asim_dataset_format_name(ds->fmt));
  *out = ds;
  return ASIM_OK;
fail:
  asim_dataset_close(ds);
  return st;
}

void asim_dataset_close(asim_dataset *ds) {
  if (!ds) return;
  for (int f = 0; f < ASIM_BIN_MAXFILES; f++) {
    if (ds->fds[f] >= 0) close(ds->fds[f]);
    free(ds->fnames[f]);
  }
  asim_ds_close_hdf5(ds);
  free(ds->path);
  free(ds->labels);
  free(ds->arena);
  free(ds->rel);
  free(ds->pix);
  free(ds->idx_name);
  free(ds);
}

/* ---- queries ----------------------------------------------------------------------------- */

int64_t asim_dataset_size(const asim_dataset *ds) { return ds->n; }
int asim_dataset_classes(const asim_dataset *ds) { return ds->classes; }
int asim_dataset_channels(const asim_dataset *ds) { return ds->out_c; }
int asim_dataset_input_size(const asim_dataset *ds) { return ds->side; }
asim_task asim_dataset_task(const asim_dataset *ds) { return ds->task; }
asim_dataset_format asim_dataset_format_of(const asim_dataset *ds) { return ds->fmt; }
const char *asim_dataset_name(const asim_dataset *ds) { return ds->name; }
const char *asim_dataset_path(const asim_dataset *ds) { return ds->path; }

int asim_dataset_label(const asim_dataset *ds, int64_t i) {
  return i >= 0 && i < ds->n ? ds->labels[i] : -1;
}

void asim_dataset_norm(const asim_dataset *ds, float mean[3], float std[3]) {
  for (int c = 0; c < 3; c++) {
    mean[c] = ds->mean[c];
    std[c] = ds->std[c];
  }
}

asim_status asim_dataset_sample_name(const asim_dataset *ds, int64_t i, char *buf, size_t len) {
  if (i < 0 || i >= ds->n)
    return ASIM_ERR(ASIM_EINVAL, "%s: sample %lld out of range 0..%lld", ds->path, (long long)i,
                    (long long)ds->n - 1);
  switch (ds->fmt) {
  case ASIM_FMT_FOLDERS:
  case ASIM_FMT_CSV: snprintf(buf, len, "%s", ds->arena + ds->rel[i]); break;
  case ASIM_FMT_CIFAR_BIN: {
    int f = 0;
    while (i >= ds->first[f + 1]) f++;
    const char *b = strrchr(ds->fnames[f], '/');
    snprintf(buf, len, "%s#%lld", b ? b + 1 : ds->fnames[f], (long long)(i - ds->first[f]));
    break;
  }
  case ASIM_FMT_IDX: {
    const char *b = strrchr(ds->idx_name, '/');
    snprintf(buf, len, "%s#%lld", b ? b + 1 : ds->idx_name, (long long)i);
    break;
  }
  case ASIM_FMT_HDF5: ASIM_CHECK(asim_ds_hdf5_name(ds, i, buf, len)); break;
  default: return ASIM_ERR(ASIM_EINVAL, "dataset format");
  }
  return ASIM_OK;
}

/* ---- samples ----------------------------------------------------------------------------- */

asim_status asim_ds_read_source(const asim_dataset *ds, int64_t i, uint8_t **pix, int *w, int *h) {
  *pix = NULL;
  switch (ds->fmt) {
  case ASIM_FMT_FOLDERS:
  case ASIM_FMT_CSV: {
    char *p = asim_ds_join(ds->path, ds->arena + ds->rel[i]);
    if (!p) return ASIM_ERR(ASIM_ENOMEM, "path of sample %lld", (long long)i);
    asim_status st = asim_image_load(p, pix, w, h);
    free(p);
    if (st != ASIM_OK)
      return asim_error_trace(st, __FILE__, __LINE__, "asim_image_load (dataset sample)");
    return ASIM_OK;
  }
  case ASIM_FMT_CIFAR_BIN: {
    int f = 0;
    while (i >= ds->first[f + 1]) f++;
    uint8_t rec[3074], *out;
    off_t off = (off_t)(i - ds->first[f]) * ds->rec;
    ssize_t got = pread(ds->fds[f], rec, (size_t)ds->rec, off);
    if (got != ds->rec)
      return ASIM_ERR(ASIM_EIO, "%s: cannot read record %lld (%s)", ds->fnames[f],
                      (long long)(i - ds->first[f]), got < 0 ? strerror(errno) : "short read");
    ASIM_CHECK(asim_malloc(&out, 32 * 32 * 3));
    /* Records hold the R, G and B planes one after the other (CHW); we want HWC. */
    const uint8_t *p = rec + ds->pix_off;
    for (int q = 0; q < 1024; q++)
      for (int c = 0; c < 3; c++) out[3 * q + c] = p[c * 1024 + q];
    *pix = out;
    *w = *h = 32;
    return ASIM_OK;
  }
  case ASIM_FMT_IDX: {
    size_t sz = (size_t)ds->rows * ds->cols;
    ASIM_CHECK(asim_malloc(pix, sz));
    memcpy(*pix, ds->pix + (size_t)i * sz, sz);
    *w = ds->cols;
    *h = ds->rows;
    return ASIM_OK;
  }
  case ASIM_FMT_HDF5: {
    size_t sz = (size_t)ds->h5side * ds->h5side * ds->src_c;
    ASIM_CHECK(asim_malloc(pix, sz));
    asim_status st = asim_ds_read_hdf5(ds, i, *pix);
    if (st != ASIM_OK) {
      free(*pix);
      *pix = NULL;
      return asim_error_trace(st, __FILE__, __LINE__, "asim_ds_read_hdf5");
    }
    *w = *h = ds->h5side;
    return ASIM_OK;
  }
  default: return ASIM_ERR(ASIM_EINVAL, "dataset format");
  }
}

asim_status asim_ds_get_u8_ex(const asim_dataset *ds, int64_t i, uint8_t *hwc, int *label,
                              int *resized) {
  if (i < 0 || i >= ds->n)
    return ASIM_ERR(ASIM_EINVAL, "%s: sample %lld out of range 0..%lld", ds->path, (long long)i,
                    (long long)ds->n - 1);
  uint8_t *src, *tmp = NULL;
  int w, h, S = ds->side, c = ds->src_c;
  ASIM_CHECK(asim_ds_read_source(ds, i, &src, &w, &h));
  asim_status st = ASIM_OK;
  /* Resize with the source's channels, then replicate gray (identical per channel, so this
   * equals PIL's convert('RGB') before the resize). */
  uint8_t *dst = hwc;
  if (ds->out_c != c) ASIM_CHECK_GOTO(st, asim_malloc(&tmp, (size_t)S * S * c), done);
  if (tmp) dst = tmp;
  if (w == S && h == S) memcpy(dst, src, (size_t)S * S * c);
  else ASIM_CHECK_GOTO(st, asim_resize_bilinear_u8(src, w, h, c, dst, S, S), done);
  if (tmp)
    for (size_t q = 0; q < (size_t)S * S; q++)
      for (int k = 0; k < ds->out_c; k++) hwc[q * ds->out_c + k] = tmp[q];
  if (label) *label = ds->labels[i];
  if (resized) *resized = w != S || h != S;
done:
  if (st != ASIM_OK) {
    char nm[256] = "?";
    asim_dataset_sample_name(ds, i, nm, sizeof nm);
    asim_error_trace(st, __FILE__, __LINE__, nm);
  }
  free(src);
  free(tmp);
  return st;
}

asim_status asim_dataset_get_u8(const asim_dataset *ds, int64_t i, uint8_t *hwc_out, int *label) {
  ASIM_CHECK(asim_ds_get_u8_ex(ds, i, hwc_out, label, NULL));
  return ASIM_OK;
}

void asim_dataset_to_tensor(const asim_dataset *ds, const uint8_t *hwc, float *chw) {
  int C = ds->out_c;
  size_t hw = (size_t)ds->side * ds->side;
  for (int c = 0; c < C; c++) {
    float m = ds->mean[c], s = ds->std[c];
    for (size_t q = 0; q < hw; q++) {
      float x = (float)hwc[q * C + c] / 255.0f; /* ToTensor: img.float().div(255) */
      chw[c * hw + q] = (x - m) / s;            /* Normalize: sub_(mean).div_(std) */
    }
  }
}

asim_status asim_dataset_get(const asim_dataset *ds, int64_t i, float *chw_out, int *label) {
  uint8_t *hwc;
  ASIM_CHECK(asim_malloc(&hwc, (size_t)ds->side * ds->side * ds->out_c));
  asim_status st = asim_ds_get_u8_ex(ds, i, hwc, label, NULL);
  if (st == ASIM_OK) asim_dataset_to_tensor(ds, hwc, chw_out);
  free(hwc);
  if (st != ASIM_OK) return asim_error_trace(st, __FILE__, __LINE__, "asim_dataset_get_u8");
  return ASIM_OK;
}
