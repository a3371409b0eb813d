/* dataset_bin.c — the official CIFAR-10/100 binary batches (read record by record with pread,
 * labels at open) and MNIST-style IDX files, gzipped or not (read whole at open). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dataset_internal.h"

/* ---- CIFAR binaries ---------------------------------------------------------------------- */

static asim_status bin_add_file(asim_dataset *ds, const char *path, int label_off, int classes) {
  int f = ds->nfiles;
  if (f >= ASIM_BIN_MAXFILES) return ASIM_ERR(ASIM_EINVAL, "too many CIFAR batch files");
  if (!(ds->fnames[f] = strdup(path))) return ASIM_ERR(ASIM_ENOMEM, "path");
  ds->nfiles++;
  int fd = ds->fds[f] = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ASIM_ERR(ASIM_EIO, "cannot open %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
    return ASIM_ERR(ASIM_EIO, "%s is not a regular file", path);
  if (sb.st_size == 0 || sb.st_size % ds->rec != 0)
    return ASIM_ERR(ASIM_EFORMAT, "%s: size %lld bytes is not a positive multiple of the "
                    "%d-byte %s record (truncated, or not a %s batch?)", path,
                    (long long)sb.st_size, ds->rec, asim_task_name(ds->task),
                    asim_task_name(ds->task));
  int64_t cnt = sb.st_size / ds->rec, n0 = ds->n;
  int32_t *nl = realloc(ds->labels, (size_t)(n0 + cnt) * sizeof *nl);
  if (!nl) return ASIM_ERR(ASIM_ENOMEM, "labels of %s", path);
  ds->labels = nl;
  /* Stream the file once for its label bytes, 1024 records at a time. */
  enum { BLK = 1024 };
  uint8_t *buf;
  ASIM_CHECK(asim_malloc(&buf, (size_t)BLK * ds->rec));
  asim_status st = ASIM_OK;
  for (int64_t r = 0; r < cnt; r += BLK) {
    int64_t m = cnt - r < BLK ? cnt - r : BLK;
    size_t want = (size_t)m * ds->rec, got = 0;
    while (got < want) {
      ssize_t k = pread(fd, buf + got, want - got, (off_t)(r * ds->rec + (int64_t)got));
      if (k <= 0) {
        st = ASIM_ERR(ASIM_EIO, "cannot read %s: %s", path, k < 0 ? strerror(errno) : "unexpected end");
        goto done;
      }
      got += (size_t)k;
    }
    for (int64_t q = 0; q < m; q++) {
      int lab = buf[q * ds->rec + label_off];
      if (lab >= classes) {
        st = ASIM_ERR(ASIM_EFORMAT, "%s: record %lld has label %d, not in 0..%d (wrong task "
                      "or not a %s batch?)", path, (long long)(r + q), lab, classes - 1,
                      asim_task_name(ds->task));
        goto done;
      }
      ds->labels[n0 + r + q] = lab;
    }
  }
  ds->first[f] = n0;
  ds->n = n0 + cnt;
  ds->first[f + 1] = ds->n;
done:
  free(buf);
  return st;
}

asim_status asim_ds_open_cifar_bin(asim_dataset *ds, const asim_dataset_opts *o) {
  int c100;
  if (ds->task == ASIM_TASK_CIFAR10) c100 = 0;
  else if (ds->task == ASIM_TASK_CIFAR100) c100 = 1;
  else
    return ASIM_ERR(ASIM_EINVAL, "%s: CIFAR binary batches hold CIFAR-10 or CIFAR-100, not task %s",
                    ds->path, asim_task_name(ds->task));
  /* CIFAR-10 record: label, 3072 pixels; CIFAR-100: coarse label, fine label, 3072 pixels. */
  ds->rec = c100 ? 3074 : 3073;
  ds->pix_off = c100 ? 2 : 1;
  int label_off = c100 ? 1 : 0, classes = c100 ? 100 : 10;
  ds->src_c = 3;
  struct stat sb;
  if (stat(ds->path, &sb) != 0) return ASIM_ERR(ASIM_EIO, "%s: %s", ds->path, strerror(errno));
  if (S_ISREG(sb.st_mode)) { /* one batch file given directly */
    ASIM_CHECK(bin_add_file(ds, ds->path, label_off, classes));
    return ASIM_OK;
  }
  const char *names[5];
  int nn = 0;
  static const char *c10_train[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                    "data_batch_4.bin", "data_batch_5.bin"};
  int train = !strcmp(ds->split, "train");
  if (c100) names[nn++] = train ? "train.bin" : "test.bin";
  else if (train)
    for (nn = 0; nn < 5; nn++) names[nn] = c10_train[nn];
  else names[nn++] = "test_batch.bin";
  for (int k = 0; k < nn; k++) {
    char *p = asim_ds_join(ds->path, names[k]);
    if (!p) return ASIM_ERR(ASIM_ENOMEM, "path");
    if (stat(p, &sb) != 0) {
      asim_status st = ASIM_ERR(ASIM_EIO, "%s: missing %s (the %s split of the official %s binary "
                                "distribution)", ds->path, names[k], ds->split,
                                asim_task_name(ds->task));
      free(p);
      return st;
    }
    asim_status st = bin_add_file(ds, p, label_off, classes);
    free(p);
    ASIM_CHECK(st);
  }
  return ASIM_OK;
}

/* ---- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------- */

#define IDX_MAX_BYTES ((size_t)1 << 31)

/* Reads a whole file through zlib (transparent for uncompressed files). */
static asim_status read_gz(const char *path, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  gzFile g = gzopen(path, "rb");
  if (!g) return ASIM_ERR(ASIM_EIO, "cannot open %s: %s", path, errno ? strerror(errno) : "zlib");
  size_t cap = 1 << 20, n = 0;
  uint8_t *b = malloc(cap);
  asim_status st = ASIM_OK;
  if (!b) {
    gzclose(g);
    return ASIM_ERR(ASIM_ENOMEM, "reading %s", path);
  }
  for (;;) {
    if (n == cap) {
      if (cap >= IDX_MAX_BYTES) {
        st = ASIM_ERR(ASIM_EFORMAT, "%s: more than %zu bytes once decompressed", path, IDX_MAX_BYTES);
        break;
      }
      uint8_t *nb = realloc(b, cap * 2);
      if (!nb) {
        st = ASIM_ERR(ASIM_ENOMEM, "reading %s", path);
        break;
      }
      b = nb;
      cap *= 2;
    }
    int k = gzread(g, b + n, (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n));
    if (k < 0) {
      int err;
      const char *m = gzerror(g, &err);
      st = ASIM_ERR(ASIM_EFORMAT, "%s: corrupt gzip data: %s", path, m);
      break;
    }
    if (k == 0) {
      int err;
      const char *m = gzerror(g, &err);
      /* A gzip stream cut short reads as a short file plus Z_BUF_ERROR. */
      if (err != Z_OK && err != Z_STREAM_END)
        st = ASIM_ERR(ASIM_EFORMAT, "%s: corrupt or truncated gzip data: %s", path, m);
      break;
    }
    n += (size_t)k;
  }
  gzclose(g);
  if (st != ASIM_OK) {
    free(b);
    return st;
  }
  *out = b;
  *len = n;
  return ASIM_OK;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int file_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The `kind` ("images-idx3") file of a split in folder `dir`, under the usual spellings:
 * train-images-idx3-ubyte[.gz] and train-images.idx3-ubyte[.gz]. */
static char *find_idx(const char *dir, const char *prefix, const char *kind) {
  char dotted[32];
  snprintf(dotted, sizeof dotted, "%s", kind);
  char *dash = strchr(dotted, '-');
  if (dash) *dash = '.';
  const char *kinds[2] = {kind, dotted}, *sufs[2] = {"-ubyte.gz", "-ubyte"};
  for (int k = 0; k < 2; k++)
    for (int s = 0; s < 2; s++) {
      char buf[4096];
      snprintf(buf, sizeof buf, "%s/%s-%s%s", dir, prefix, kinds[k], sufs[s]);
      if (file_exists(buf)) return strdup(buf);
    }
  return NULL;
}

/* Labels file matching an images file name: "images-idx3" → "labels-idx1". */
static char *labels_for(const char *images) {
  const char *pats[][2] = {{"images-idx3", "labels-idx1"}, {"images.idx3", "labels.idx1"}};
  for (int k = 0; k < 2; k++) {
    const char *p = strstr(images, pats[k][0]);
    if (!p) continue;
    char *s = strdup(images);
    if (!s) return NULL;
    memcpy(s + (p - images), pats[k][1], strlen(pats[k][1]));
    if (file_exists(s)) return s;
    /* try with/without .gz */
    size_t L = strlen(s);
    char *t = malloc(L + 4);
    if (t) {
      if (L > 3 && !strcmp(s + L - 3, ".gz")) {
        memcpy(t, s, L - 3);
        t[L - 3] = 0;
      } else
        snprintf(t, L + 4, "%s.gz", s);
      if (file_exists(t)) {
        free(s);
        return t;
      }
      free(t);
    }
    return s; /* the natural name, reported as missing */
  }
  return NULL;
}

asim_status asim_ds_open_idx(asim_dataset *ds, const asim_dataset_opts *o) {
  char *img = NULL, *lab = NULL;
  uint8_t *ib = NULL, *lb = NULL;
  size_t il = 0, ll = 0;
  asim_status st = ASIM_OK;
  struct stat sb;
  if (stat(ds->path, &sb) != 0) return ASIM_ERR(ASIM_EIO, "%s: %s", ds->path, strerror(errno));
  const char *prefix = !strcmp(ds->split, "train") ? "train" : "t10k";
  if (S_ISDIR(sb.st_mode)) {
    img = find_idx(ds->path, prefix, "images-idx3");
    lab = find_idx(ds->path, prefix, "labels-idx1");
    if (!img || !lab) {
      st = ASIM_ERR(ASIM_EIO, "%s: no %s-%s-ubyte[.gz] for the %s split", ds->path, prefix,
                    img ? "labels-idx1" : "images-idx3", ds->split);
      goto done;
    }
  } else {
    if (!(img = strdup(ds->path))) {
      st = ASIM_ERR(ASIM_ENOMEM, "path");
      goto done;
    }
    lab = labels_for(img);
    if (!lab) {
      st = ASIM_ERR(ASIM_EINVAL, "%s: cannot derive the labels file name (expected a name "
                    "containing 'images-idx3'); give the folder instead", img);
      goto done;
    }
  }
  ASIM_CHECK_GOTO(st, read_gz(img, &ib, &il), done);
  ASIM_CHECK_GOTO(st, read_gz(lab, &lb, &ll), done);
  if (il < 16 || be32(ib) != 0x00000803) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: not an IDX image file (magic %08x, expected 00000803 = "
                  "unsigned bytes, 3 dimensions)", img, il >= 4 ? be32(ib) : 0);
    goto done;
  }
  if (ll < 8 || be32(lb) != 0x00000801) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: not an IDX label file (magic %08x, expected 00000801 = "
                  "unsigned bytes, 1 dimension)", lab, ll >= 4 ? be32(lb) : 0);
    goto done;
  }
  uint32_t n = be32(ib + 4), rows = be32(ib + 8), cols = be32(ib + 12), nl = be32(lb + 4);
  if (n == 0 || rows == 0 || cols == 0 || rows > 4096 || cols > 4096) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: bad IDX dimensions %u x %u x %u", img, n, rows, cols);
    goto done;
  }
  uint64_t want = 16 + (uint64_t)n * rows * cols;
  if (il != want) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: header says %u images of %ux%u (%llu bytes with header) "
                  "but the %sdata has %zu bytes%s", img, n, rows, cols, (unsigned long long)want,
                  strstr(img, ".gz") ? "decompressed " : "", il, il < want ? " (truncated)" : "");
    goto done;
  }
  if (ll != 8 + (uint64_t)nl) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: header says %u labels but the data has %zu bytes after the "
                  "header%s", lab, nl, ll - 8, ll < 8 + (uint64_t)nl ? " (truncated)" : "");
    goto done;
  }
  if (nl != n) {
    st = ASIM_ERR(ASIM_EFORMAT, "count mismatch: %s has %u images but %s has %u labels", img, n,
                  lab, nl);
    goto done;
  }
  ASIM_CHECK_GOTO(st, asim_malloc(&ds->labels, (size_t)n * sizeof *ds->labels), done);
  for (uint32_t i = 0; i < n; i++) ds->labels[i] = lb[8 + i];
  /* Keep the pixels in place after the header: move them to the buffer start. */
  memmove(ib, ib + 16, il - 16);
  ds->pix = ib;
  ib = NULL;
  ds->rows = (int)rows;
  ds->cols = (int)cols;
  ds->n = n;
  ds->src_c = 1;
  ds->idx_name = img;
  img = NULL;
done:
  free(img);
  free(lab);
  free(ib);
  free(lb);
  return st;
}
