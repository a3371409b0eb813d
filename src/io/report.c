#include "asim/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asim/error.h"

#define H5OK(call, what)                                                                     \
  do {                                                                                       \
    if ((call) < 0) return ASIM_ERR(ASIM_EIO, "report: %s failed", what);                    \
  } while (0)

static void now_iso(char *buf, size_t len) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static asim_status attr_str(hid_t loc, const char *name, const char *value) {
  if (H5Aexists(loc, name) > 0) H5OK(H5Adelete(loc, name), name);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, strlen(value) + 1);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, t, value);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  if (e < 0) return ASIM_ERR(ASIM_EIO, "report: cannot write attribute %s", name);
  return ASIM_OK;
}

static asim_status attr_num(hid_t loc, const char *name, hid_t type, const void *v) {
  if (H5Aexists(loc, name) > 0) H5OK(H5Adelete(loc, name), name);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, type, v);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  if (e < 0) return ASIM_ERR(ASIM_EIO, "report: cannot write attribute %s", name);
  return ASIM_OK;
}

/* A fixed-size dataset whose unwritten elements read as `fill`. */
static hid_t make_dataset(hid_t loc, const char *name, hid_t type, int nd, const hsize_t *dims, const void *fill) {
  hid_t sp = H5Screate_simple(nd, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
  if (fill) {
    H5Pset_fill_value(dcpl, type, fill);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC);
  }
  hid_t d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Sclose(sp);
  return d;
}

/* Collective write of rows [r0, r0 + n) of a (rows, cols) dataset; n may be 0. */
static asim_status write_rows(asim_report *r, hid_t d, hid_t type, int64_t r0, int64_t n, int64_t cols,
                              const void *buf) {
  hid_t fs = H5Dget_space(d);
  hsize_t start[2] = {(hsize_t)r0, 0}, count[2] = {(hsize_t)n, (hsize_t)cols};
  int nd = H5Sget_simple_extent_ndims(fs);
  hid_t ms;
  if (n > 0) {
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    ms = H5Screate_simple(nd, count, NULL);
  } else {
    H5Sselect_none(fs);
    ms = H5Scopy(fs);
    H5Sselect_none(ms);
  }
  herr_t e = H5Dwrite(d, type, ms, fs, r->dxpl, n > 0 ? buf : NULL);
  H5Sclose(ms);
  H5Sclose(fs);
  if (e < 0) return ASIM_ERR(ASIM_EIO, "report: collective write of rows %lld..%lld failed", (long long)r0,
                             (long long)(r0 + n));
  return ASIM_OK;
}

static asim_status read_all(asim_report *r, hid_t d, hid_t type, void *buf) {
  if (H5Dread(d, type, H5S_ALL, H5S_ALL, r->dxpl, buf) < 0) return ASIM_ERR(ASIM_EIO, "report: read failed");
  return ASIM_OK;
}

static asim_status open_file(asim_report *r, const char *path, MPI_Comm comm, int create) {
  memset(r, 0, sizeof *r);
  r->file = r->dxpl = -1;
  r->comm = comm;
  MPI_Comm_rank(comm, &r->rank);
  MPI_Comm_size(comm, &r->nranks);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
  r->file = create ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : H5Fopen(path, H5F_ACC_RDWR, fapl);
  H5Pclose(fapl);
  if (r->file < 0)
    return ASIM_ERR(ASIM_EIO, "%s: cannot %s the report (%s)", path, create ? "create" : "open",
                    create ? "is the directory writable?" : "missing, not HDF5, or truncated");
  r->dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(r->dxpl, H5FD_MPIO_COLLECTIVE);
  return ASIM_OK;
}

static void versions(char *compiler, size_t cl, char *mpi, size_t ml, char *hdf5, size_t hl) {
#ifdef __VERSION__
  snprintf(compiler, cl, "gcc %s", __VERSION__);
#else
  snprintf(compiler, cl, "unknown");
#endif
  int len = 0;
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  MPI_Get_library_version(lib, &len);
  char *nl = strchr(lib, '\n');
  if (nl) *nl = 0;
  snprintf(mpi, ml, "%s", lib);
  unsigned maj, min, rel;
  H5get_libversion(&maj, &min, &rel);
  snprintf(hdf5, hl, "%u.%u.%u (parallel)", maj, min, rel);
}

extern char *openblas_get_config(void);

asim_status asim_report_create(asim_report *r, const char *path, MPI_Comm comm, const asim_report_info *info) {
  ASIM_CHECK(open_file(r, path, comm, 1));
  r->classes = info->classes, r->logits = info->logits;
  r->n_samples = info->n_samples, r->n_batches = info->n_batches;
  hid_t f = r->file;
  char t[64], compiler[256], mpi[512], hdf5[64];
  now_iso(t, sizeof t);
  MPI_Bcast(t, sizeof t, MPI_CHAR, 0, comm); /* one start time for all ranks */
  versions(compiler, sizeof compiler, mpi, sizeof mpi, hdf5, sizeof hdf5);
  int64_t nr = r->nranks, seed = info->seed, zero = 0;
  ASIM_CHECK(attr_str(f, "asim_version", ASIM_VERSION));
  ASIM_CHECK(attr_str(f, "git_revision", ASIM_GIT_REVISION));
  ASIM_CHECK(attr_num(f, "nranks", H5T_NATIVE_INT64, &nr));
  ASIM_CHECK(attr_num(f, "seed", H5T_NATIVE_INT64, &seed));
  ASIM_CHECK(attr_str(f, "start_time", t));
  ASIM_CHECK(attr_str(f, "end_time", ""));
  ASIM_CHECK(attr_str(f, "model_name", info->model_name));
  ASIM_CHECK(attr_str(f, "task", info->task));
  ASIM_CHECK(attr_str(f, "compiler", compiler));
  ASIM_CHECK(attr_str(f, "mpi_version", mpi));
  ASIM_CHECK(attr_str(f, "hdf5_version", hdf5));
  ASIM_CHECK(attr_str(f, "openblas", openblas_get_config()));
  ASIM_CHECK(attr_num(f, "complete", H5T_NATIVE_INT64, &zero));
  /* /config: a scalar string written by rank 0 */
  {
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, strlen(info->config_text) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, "config", ty, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t fs = H5Dget_space(d);
    if (r->rank) H5Sselect_none(fs);
    hid_t ms = H5Scopy(fs);
    herr_t e = d < 0 ? -1 : H5Dwrite(d, ty, ms, fs, r->dxpl, info->config_text);
    H5Sclose(ms), H5Sclose(fs), H5Sclose(sp), H5Tclose(ty);
    if (d >= 0) H5Dclose(d);
    if (e < 0) return ASIM_ERR(ASIM_EIO, "%s: cannot write /config", path);
  }
  hid_t g = H5Gcreate2(f, "samples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const int64_t m1 = -1;
  const int32_t i1 = -1;
  const uint8_t u0 = 0;
  hsize_t n1[1] = {(hsize_t)info->n_samples}, n5[2] = {(hsize_t)info->n_samples, 5},
          nc[2] = {(hsize_t)info->n_samples, (hsize_t)info->classes}, nb[1] = {(hsize_t)info->n_batches};
  r->d_index = make_dataset(g, "index", H5T_NATIVE_INT64, 1, n1, &m1);
  r->d_label = make_dataset(g, "label", H5T_NATIVE_INT32, 1, n1, &i1);
  r->d_pred = make_dataset(g, "pred", H5T_NATIVE_INT32, 1, n1, &i1);
  r->d_top5 = make_dataset(g, "top5", H5T_NATIVE_INT32, 2, n5, &i1);
  r->d_logits = info->logits ? make_dataset(g, "logits", H5T_NATIVE_FLOAT, 2, nc, NULL) : -1;
  H5Gclose(g);
  g = H5Gcreate2(f, "progress", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  r->d_done = make_dataset(g, "batch_done", H5T_NATIVE_UINT8, 1, nb, &u0);
  H5Gclose(g);
  if (r->d_index < 0 || r->d_label < 0 || r->d_pred < 0 || r->d_top5 < 0 || r->d_done < 0 ||
      (info->logits && r->d_logits < 0))
    return ASIM_ERR(ASIM_EIO, "%s: cannot create the report datasets", path);
  H5OK(H5Fflush(f, H5F_SCOPE_GLOBAL), "flush");
  return ASIM_OK;
}

asim_status asim_report_resume(asim_report *r, const char *path, MPI_Comm comm, const asim_report_info *info,
                               uint8_t *done) {
  ASIM_CHECK(open_file(r, path, comm, 0));
  hid_t f = r->file;
  r->classes = info->classes, r->logits = info->logits;
  r->n_samples = info->n_samples, r->n_batches = info->n_batches;
  /* the stored configuration must be the one we run now */
  hid_t d = H5Dopen2(f, "config", H5P_DEFAULT);
  if (d < 0) return ASIM_ERR(ASIM_EFORMAT, "%s: not an asim-mpi report (no /config)", path);
  hid_t ty = H5Dget_type(d);
  size_t sz = H5Tget_size(ty);
  char *text = calloc(sz + 1, 1);
  herr_t e = text ? H5Dread(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, text) : -1;
  H5Tclose(ty);
  H5Dclose(d);
  int same = e >= 0 && strcmp(text, info->config_text) == 0;
  free(text);
  if (!same)
    return ASIM_ERR(ASIM_EINVAL, "%s: the report was written with a different configuration; resume needs the "
                    "same configuration (or start a new report)", path);
  r->d_index = H5Dopen2(f, "samples/index", H5P_DEFAULT);
  r->d_label = H5Dopen2(f, "samples/label", H5P_DEFAULT);
  r->d_pred = H5Dopen2(f, "samples/pred", H5P_DEFAULT);
  r->d_top5 = H5Dopen2(f, "samples/top5", H5P_DEFAULT);
  r->d_logits = info->logits ? H5Dopen2(f, "samples/logits", H5P_DEFAULT) : -1;
  r->d_done = H5Dopen2(f, "progress/batch_done", H5P_DEFAULT);
  if (r->d_index < 0 || r->d_label < 0 || r->d_pred < 0 || r->d_top5 < 0 || r->d_done < 0 ||
      (info->logits && r->d_logits < 0))
    return ASIM_ERR(ASIM_EFORMAT, "%s: report datasets missing", path);
  hid_t sp = H5Dget_space(r->d_done);
  hsize_t nb = 0;
  H5Sget_simple_extent_dims(sp, &nb, NULL);
  H5Sclose(sp);
  sp = H5Dget_space(r->d_pred);
  hsize_t ns = 0;
  H5Sget_simple_extent_dims(sp, &ns, NULL);
  H5Sclose(sp);
  if ((int64_t)nb != info->n_batches || (int64_t)ns != info->n_samples)
    return ASIM_ERR(ASIM_EFORMAT, "%s: report has %llu samples in %llu batches, this run %lld in %lld", path,
                    (unsigned long long)ns, (unsigned long long)nb, (long long)info->n_samples,
                    (long long)info->n_batches);
  ASIM_CHECK(read_all(r, r->d_done, H5T_NATIVE_UINT8, done));
  return ASIM_OK;
}

asim_status asim_report_write_samples(asim_report *r, int64_t s0, int64_t n, const int64_t *index,
                                      const int32_t *label, const int32_t *pred, const int32_t *top5,
                                      const float *logits) {
  ASIM_CHECK(write_rows(r, r->d_index, H5T_NATIVE_INT64, s0, n, 1, index));
  ASIM_CHECK(write_rows(r, r->d_label, H5T_NATIVE_INT32, s0, n, 1, label));
  ASIM_CHECK(write_rows(r, r->d_pred, H5T_NATIVE_INT32, s0, n, 1, pred));
  ASIM_CHECK(write_rows(r, r->d_top5, H5T_NATIVE_INT32, s0, n, 5, top5));
  if (r->logits) ASIM_CHECK(write_rows(r, r->d_logits, H5T_NATIVE_FLOAT, s0, n, r->classes, logits));
  /* data first, on disk, then the batch flags (mark_done): a kill never marks lost work */
  H5OK(H5Fflush(r->file, H5F_SCOPE_GLOBAL), "flush");
  return ASIM_OK;
}

asim_status asim_report_mark_done(asim_report *r, const int64_t *batches, int n) {
  hid_t fs = H5Dget_space(r->d_done);
  hsize_t *coords = NULL;
  if (n > 0) {
    coords = malloc(sizeof(hsize_t) * (size_t)n);
    if (!coords) {
      H5Sclose(fs);
      return ASIM_ERR(ASIM_ENOMEM, "report flags");
    }
    for (int i = 0; i < n; i++) coords[i] = (hsize_t)batches[i];
    H5Sselect_elements(fs, H5S_SELECT_SET, (size_t)n, coords);
  } else {
    H5Sselect_none(fs);
  }
  hsize_t mn = (hsize_t)(n > 0 ? n : 1);
  hid_t ms = H5Screate_simple(1, &mn, NULL);
  if (n == 0) H5Sselect_none(ms);
  uint8_t *ones = calloc(mn, 1);
  if (ones) memset(ones, 1, mn);
  herr_t e = ones ? H5Dwrite(r->d_done, H5T_NATIVE_UINT8, ms, fs, r->dxpl, ones) : -1;
  free(ones);
  free(coords);
  H5Sclose(ms);
  H5Sclose(fs);
  if (e < 0) return ASIM_ERR(ASIM_EIO, "report: cannot mark batches done");
  H5OK(H5Fflush(r->file, H5F_SCOPE_GLOBAL), "flush");
  return ASIM_OK;
}

asim_status asim_report_finish(asim_report *r, double busy_s, int64_t samples, double *top1, double *top5,
                               FILE *pred_out) {
  const int64_t N = r->n_samples, C = r->classes;
  asim_status st = ASIM_OK;
  int32_t *label = NULL, *pred = NULL, *t5 = NULL;
  int64_t *conf = NULL;
  double *busy = NULL;
  int64_t *nsamp = NULL;
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(label, (size_t)N), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(pred, (size_t)N), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(t5, (size_t)N * 5), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(conf, (size_t)(C * C)), done);
  ASIM_CHECK_GOTO(st, read_all(r, r->d_label, H5T_NATIVE_INT32, label), done);
  ASIM_CHECK_GOTO(st, read_all(r, r->d_pred, H5T_NATIVE_INT32, pred), done);
  ASIM_CHECK_GOTO(st, read_all(r, r->d_top5, H5T_NATIVE_INT32, t5), done);
  int64_t ok1 = 0, ok5 = 0, counted = 0;
  for (int64_t i = 0; i < N; i++) {
    if (label[i] < 0 || label[i] >= C || pred[i] < 0 || pred[i] >= C) continue;
    conf[label[i] * C + pred[i]]++;
    counted++;
    ok1 += label[i] == pred[i];
    for (int k = 0; k < 5 && k < C; k++) ok5 += t5[i * 5 + k] == label[i];
  }
  if (pred_out && r->rank == 0)
    for (int64_t i = 0; i < N; i++) fprintf(pred_out, "Label: %d, Predict: %d.\n", label[i], pred[i]);
  *top1 = counted ? (double)ok1 / counted : 0.0;
  *top5 = counted ? (double)ok5 / counted : 0.0;
  {
    hid_t g = H5Gopen2(r->file, "summary", H5P_DEFAULT);
    if (g < 0) g = H5Gcreate2(r->file, "summary", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (H5Lexists(g, "confusion", H5P_DEFAULT) > 0) H5Ldelete(g, "confusion", H5P_DEFAULT);
    hsize_t cc[2] = {(hsize_t)C, (hsize_t)C};
    hid_t d = make_dataset(g, "confusion", H5T_NATIVE_INT64, 2, cc, NULL);
    if (d < 0) {
      H5Gclose(g);
      st = ASIM_ERR(ASIM_EIO, "report: cannot create /summary/confusion");
      goto done;
    }
    st = write_rows(r, d, H5T_NATIVE_INT64, 0, r->rank == 0 ? C : 0, C, conf);
    H5Dclose(d);
    if (!st) st = attr_num(g, "top1", H5T_NATIVE_DOUBLE, top1);
    if (!st) st = attr_num(g, "top5", H5T_NATIVE_DOUBLE, top5);
    if (!st) st = attr_num(g, "n_samples", H5T_NATIVE_INT64, &counted);
    H5Gclose(g);
    if (st) goto done;
  }
  {
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(busy, (size_t)r->nranks), done);
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(nsamp, (size_t)r->nranks), done);
    MPI_Allgather(&busy_s, 1, MPI_DOUBLE, busy, 1, MPI_DOUBLE, r->comm);
    MPI_Allgather(&samples, 1, MPI_INT64_T, nsamp, 1, MPI_INT64_T, r->comm);
    double mx = 0, mean = 0;
    for (int i = 0; i < r->nranks; i++) mx = busy[i] > mx ? busy[i] : mx, mean += busy[i] / r->nranks;
    double imbalance = mean > 0 ? mx / mean : 1.0;
    hid_t g = H5Gopen2(r->file, "ranks", H5P_DEFAULT);
    if (g < 0) g = H5Gcreate2(r->file, "ranks", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t nr[1] = {(hsize_t)r->nranks};
    if (H5Lexists(g, "busy_s", H5P_DEFAULT) > 0) H5Ldelete(g, "busy_s", H5P_DEFAULT);
    if (H5Lexists(g, "samples", H5P_DEFAULT) > 0) H5Ldelete(g, "samples", H5P_DEFAULT);
    hid_t d1 = make_dataset(g, "busy_s", H5T_NATIVE_DOUBLE, 1, nr, NULL);
    hid_t d2 = make_dataset(g, "samples", H5T_NATIVE_INT64, 1, nr, NULL);
    st = (d1 < 0 || d2 < 0) ? ASIM_ERR(ASIM_EIO, "report: cannot create /ranks") : ASIM_OK;
    if (!st) st = write_rows(r, d1, H5T_NATIVE_DOUBLE, 0, r->rank == 0 ? r->nranks : 0, 1, busy);
    if (!st) st = write_rows(r, d2, H5T_NATIVE_INT64, 0, r->rank == 0 ? r->nranks : 0, 1, nsamp);
    if (!st) st = attr_num(g, "imbalance", H5T_NATIVE_DOUBLE, &imbalance);
    if (d1 >= 0) H5Dclose(d1);
    if (d2 >= 0) H5Dclose(d2);
    H5Gclose(g);
    if (st) goto done;
  }
  {
    char t[64];
    now_iso(t, sizeof t);
    MPI_Bcast(t, sizeof t, MPI_CHAR, 0, r->comm);
    int64_t one = counted == N;
    ASIM_CHECK_GOTO(st, attr_str(r->file, "end_time", t), done);
    ASIM_CHECK_GOTO(st, attr_num(r->file, "complete", H5T_NATIVE_INT64, &one), done);
    if (H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0) st = ASIM_ERR(ASIM_EIO, "report: flush failed");
  }
done:
  free(label), free(pred), free(t5), free(conf), free(busy), free(nsamp);
  return st;
}

void asim_report_close(asim_report *r) {
  hid_t *ds[] = {&r->d_index, &r->d_label, &r->d_pred, &r->d_top5, &r->d_logits, &r->d_done};
  for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++)
    if (*ds[i] > 0) H5Dclose(*ds[i]), *ds[i] = -1;
  if (r->dxpl > 0) H5Pclose(r->dxpl), r->dxpl = -1;
  if (r->file > 0) H5Fclose(r->file), r->file = -1;
}
