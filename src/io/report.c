#include "asim/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asim/error.h"
#include "asim/fs.h"

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

/* Collective write of rows [r0, r0 + n) of a (rows, cols) dataset, or of the block
 * [lead][r0..r0+n) of a (runs, rows, cols) one when lead >= 0; n may be 0. */
static asim_status write_block(asim_report *r, hid_t d, hid_t type, int64_t lead, int64_t r0, int64_t n,
                               int64_t cols, const void *buf) {
  hid_t fs = H5Dget_space(d);
  int nd = H5Sget_simple_extent_ndims(fs);
  hsize_t start[3] = {0, 0, 0}, count[3] = {1, 1, 1};
  int i = 0;
  if (lead >= 0) start[i] = (hsize_t)lead, count[i] = 1, i++;
  start[i] = (hsize_t)r0, count[i] = (hsize_t)n, i++;
  if (i < nd) start[i] = 0, count[i] = (hsize_t)cols;
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

static asim_status write_rows(asim_report *r, hid_t d, hid_t type, int64_t r0, int64_t n, int64_t cols,
                              const void *buf) {
  return write_block(r, d, type, -1, r0, n, cols, buf);
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

/* ---- diagnostics ---------------------------------------------------------------------------- */

/* The per-batch sums under /diagnostics/batches, in asim_report.d_diag order. */
static const char *const DIAG_SUMS[8] = {"conversions", "clipped_high", "clipped_low",  "n_elements",
                                         "sum_sq_signal", "sum_sq_err", "sum_abs_err", "max_abs_err"};

static asim_status diag_create(asim_report *r, const asim_report_info *info, const char *path) {
  const int L = info->diag_layers;
  hid_t g = H5Gcreate2(r->file, "diagnostics", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return ASIM_ERR(ASIM_EIO, "%s: cannot create /diagnostics", path);
  asim_status st = attr_str(g, "layers", "every ASiMConv2d, ASiMLinear and ASiMMultiheadAttention in network order "
                            "(QuantConv2d stems have no Simulation mode); names = state_dict prefixes");
  if (!st) st = attr_str(g, "ideal", "the same layer in Inference mode (ASiM's exact integer product, trim noise 0) on "
                         "the same input activations as the simulated layer; errors = simulated - ideal output");
  if (!st) st = attr_str(g, "clip", "an ADC conversion whose clamp of the normalised value to [0, 1] changes its "
                         "code: the unclamped value (after noise, if noisy) would round above code 2^adc_prec - 1 "
                         "(clipped_high) or below 0 (clipped_low); clip_fraction = clipped / conversions over the "
                         "Simulation products of the layer (NaN when it has none)");
  if (!st) st = attr_str(g, "sqnr_db", "10 log10(sum_sq_signal / sum_sq_err), sum_sq_signal = sum ideal^2, "
                         "sum_sq_err = sum (simulated - ideal)^2; +inf when the error is exactly zero");
  if (!st) st = attr_str(g, "rows", "one per sweep point (1 without a sweep), over all repeats and samples");
  hid_t ty = H5Tcopy(H5T_C_S1);
  H5Tset_size(ty, 96);
  hsize_t nl[1] = {(hsize_t)L};
  hid_t dn = st ? -1 : make_dataset(g, "layer_names", ty, 1, nl, NULL);
  if (!st) st = dn < 0 ? ASIM_ERR(ASIM_EIO, "%s: cannot create /diagnostics/layer_names", path)
                       : write_rows(r, dn, ty, 0, r->rank == 0 ? L : 0, 1, info->diag_names);
  if (dn >= 0) H5Dclose(dn);
  H5Tclose(ty);
  hid_t gb = st ? -1 : H5Gcreate2(g, "batches", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (!st && gb < 0) st = ASIM_ERR(ASIM_EIO, "%s: cannot create /diagnostics/batches", path);
  if (!st) st = attr_str(gb, "rows", "run * n_batches + batch (as /progress/batch_done): the sums of that batch, "
                         "zero until it is done; the figures combine them in (repeat, batch) order");
  const int64_t zi = 0;
  const double zd = 0.0;
  hsize_t dims[2] = {(hsize_t)(r->n_runs * r->n_batches), (hsize_t)L};
  for (int k = 0; k < 8 && !st; k++) {
    r->d_diag[k] = make_dataset(gb, DIAG_SUMS[k], k < 4 ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, 2, dims,
                                k < 4 ? (const void *)&zi : (const void *)&zd);
    if (r->d_diag[k] < 0) st = ASIM_ERR(ASIM_EIO, "%s: cannot create /diagnostics/batches/%s", path, DIAG_SUMS[k]);
  }
  if (gb >= 0) H5Gclose(gb);
  H5Gclose(g);
  return st;
}

static asim_status diag_open(asim_report *r, const char *path) {
  for (int k = 0; k < 8; k++) {
    char nm[96];
    snprintf(nm, sizeof nm, "diagnostics/batches/%s", DIAG_SUMS[k]);
    r->d_diag[k] = H5Lexists(r->file, "diagnostics", H5P_DEFAULT) > 0 ? H5Dopen2(r->file, nm, H5P_DEFAULT) : -1;
    if (r->d_diag[k] < 0) return ASIM_ERR(ASIM_EFORMAT, "%s: report has no /%s", path, nm);
  }
  return ASIM_OK;
}

asim_status asim_report_write_diag(asim_report *r, int64_t item, const asim_diag_sums *sums) {
  const int L = r->diag_layers, n = sums ? 1 : 0;
  if (L <= 0) return ASIM_OK;
  int64_t *iv = NULL;
  double *dv = NULL;
  /* an allocation failure still joins the collective writes (with nothing), then reports */
  asim_status st = ASIM_ALLOC(iv, (size_t)(4 * L)), st2 = ASIM_ALLOC(dv, (size_t)(4 * L)), ret = st ? st : st2;
  const int n_ok = !ret ? n : 0;
  st = ASIM_OK;
  for (int l = 0; l < L && n_ok; l++) {
    const asim_diag_sums *s = &sums[l];
    iv[l] = s->conversions, iv[L + l] = s->clipped_high, iv[2 * L + l] = s->clipped_low, iv[3 * L + l] = s->n_elements;
    dv[l] = s->sum_sq_signal, dv[L + l] = s->sum_sq_err, dv[2 * L + l] = s->sum_abs_err, dv[3 * L + l] = s->max_abs_err;
  }
  for (int k = 0; k < 8 && !st; k++)
    st = write_rows(r, r->d_diag[k], k < 4 ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, n_ok ? item : 0, n_ok, L,
                    n_ok ? (k < 4 ? (const void *)(iv + k * L) : (const void *)(dv + (k - 4) * L)) : NULL);
  free(iv);
  free(dv);
  return ret ? ret : st;
}

/* A (P, L) dataset of /diagnostics, replaced if present; rank 0 writes. */
static asim_status diag_put(asim_report *r, hid_t g, const char *name, hid_t type, int64_t P, int L, const void *v) {
  if (H5Lexists(g, name, H5P_DEFAULT) > 0) H5Ldelete(g, name, H5P_DEFAULT);
  hsize_t dims[2] = {(hsize_t)P, (hsize_t)L};
  hid_t d = make_dataset(g, name, type, 2, dims, NULL);
  if (d < 0) return ASIM_ERR(ASIM_EIO, "report: cannot create /diagnostics/%s", name);
  asim_status st = write_rows(r, d, type, 0, r->rank == 0 ? P : 0, L, v);
  H5Dclose(d);
  return st;
}

/* The figures per sweep point from every batch's sums, combined in (repeat, batch) order. */
static asim_status diag_finish(asim_report *r) {
  const int L = r->diag_layers;
  const int64_t P = r->n_points, Q = r->repeats, NB = r->n_batches, rows = r->n_runs * NB;
  asim_status st = ASIM_OK;
  int64_t *iv = NULL, *ic = NULL;
  double *dv = NULL, *fig = NULL, *dc = NULL;
  asim_diag_sums *tot = NULL;
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(iv, (size_t)(4 * rows * L)), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(dv, (size_t)(4 * rows * L)), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(tot, (size_t)(P * L)), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(fig, (size_t)(4 * P * L)), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(ic, (size_t)(5 * P * L)), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(dc, (size_t)(3 * P * L)), done);
  for (int k = 0; k < 8 && !st; k++)
    st = read_all(r, r->d_diag[k], k < 4 ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE,
                  k < 4 ? (void *)(iv + k * rows * L) : (void *)(dv + (k - 4) * rows * L));
  if (st) goto done;
  for (int64_t pt = 0; pt < P; pt++)
    for (int64_t q = 0; q < Q; q++)
      for (int64_t b = 0; b < NB; b++) {
        const int64_t row = (pt * Q + q) * NB + b;
        for (int l = 0; l < L; l++) {
          const int64_t e = row * L + l, sz = rows * L;
          const asim_diag_sums s = {iv[e], iv[sz + e], iv[2 * sz + e], iv[3 * sz + e],
                                    dv[e], dv[sz + e], dv[2 * sz + e], dv[3 * sz + e]};
          asim_diag_add(&tot[pt * L + l], &s);
        }
      }
  const int64_t PL = P * L;
  for (int64_t e = 0; e < PL; e++) {
    const asim_diag_figures f = asim_diag_figures_of(&tot[e]);
    fig[e] = f.clip_fraction, fig[PL + e] = f.mean_abs_err, fig[2 * PL + e] = f.max_abs_err, fig[3 * PL + e] = f.sqnr_db;
    ic[e] = tot[e].conversions, ic[PL + e] = tot[e].clipped_high + tot[e].clipped_low;
    ic[2 * PL + e] = tot[e].clipped_high, ic[3 * PL + e] = tot[e].clipped_low, ic[4 * PL + e] = tot[e].n_elements;
    dc[e] = tot[e].sum_sq_signal, dc[PL + e] = tot[e].sum_sq_err, dc[2 * PL + e] = tot[e].sum_abs_err;
  }
  {
    hid_t g = H5Gopen2(r->file, "diagnostics", H5P_DEFAULT);
    if (g < 0) {
      st = ASIM_ERR(ASIM_EIO, "report: no /diagnostics");
      goto done;
    }
    const char *fn[4] = {"clip_fraction", "mean_abs_err", "max_abs_err", "sqnr_db"};
    const char *in[5] = {"conversions", "clipped", "clipped_high", "clipped_low", "n_elements"};
    const char *dn[3] = {"sum_sq_signal", "sum_sq_err", "sum_abs_err"};
    for (int k = 0; k < 4 && !st; k++) st = diag_put(r, g, fn[k], H5T_NATIVE_DOUBLE, P, L, fig + k * PL);
    for (int k = 0; k < 5 && !st; k++) st = diag_put(r, g, in[k], H5T_NATIVE_INT64, P, L, ic + k * PL);
    for (int k = 0; k < 3 && !st; k++) st = diag_put(r, g, dn[k], H5T_NATIVE_DOUBLE, P, L, dc + k * PL);
    H5Gclose(g);
  }
done:
  free(iv), free(dv), free(tot), free(fig), free(ic), free(dc);
  return st;
}

static void set_sizes(asim_report *r, const asim_report_info *info) {
  r->diag_layers = info->diag_layers > 0 ? info->diag_layers : 0;
  r->classes = info->classes, r->logits = info->logits;
  r->n_samples = info->n_samples, r->n_batches = info->n_batches;
  r->n_points = info->n_points > 0 ? info->n_points : 1;
  r->repeats = info->repeats > 0 ? info->repeats : 1;
  r->n_runs = r->n_points * r->repeats;
}

asim_status asim_report_create(asim_report *r, const char *path, MPI_Comm comm, const asim_report_info *info) {
  /* the report's folder may not exist yet (out/ in a fresh clone): rank 0 creates it; when it
   * cannot, the create below fails with the path and the question to ask */
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0 && asim_mkdir_parent(path) != ASIM_OK) asim_error_clear();
  MPI_Barrier(comm);
  ASIM_CHECK(open_file(r, path, comm, 1));
  set_sizes(r, info);
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
  const hsize_t N = (hsize_t)info->n_samples, R = (hsize_t)r->n_runs;
  hsize_t n1[1] = {N}, nb[1] = {(hsize_t)(info->n_batches * r->n_runs)};
  r->d_index = make_dataset(g, "index", H5T_NATIVE_INT64, 1, n1, &m1);
  r->d_label = make_dataset(g, "label", H5T_NATIVE_INT32, 1, n1, &i1);
  if (r->n_runs == 1) {
    hsize_t n5[2] = {N, 5}, nc[2] = {N, (hsize_t)info->classes};
    r->d_pred = make_dataset(g, "pred", H5T_NATIVE_INT32, 1, n1, &i1);
    r->d_top5 = make_dataset(g, "top5", H5T_NATIVE_INT32, 2, n5, &i1);
    r->d_logits = info->logits ? make_dataset(g, "logits", H5T_NATIVE_FLOAT, 2, nc, NULL) : -1;
    H5Gclose(g);
  } else { /* per-run results of a sweep */
    H5Gclose(g);
    g = H5Gcreate2(f, "sweep", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t rn[2] = {R, N}, rn5[3] = {R, N, 5}, rnc[3] = {R, N, (hsize_t)info->classes};
    r->d_pred = make_dataset(g, "pred", H5T_NATIVE_INT32, 2, rn, &i1);
    r->d_top5 = make_dataset(g, "top5", H5T_NATIVE_INT32, 3, rn5, &i1);
    r->d_logits = info->logits ? make_dataset(g, "logits", H5T_NATIVE_FLOAT, 3, rnc, NULL) : -1;
    /* the swept keys and the value of each at each point */
    int64_t rep = r->repeats;
    asim_status st = attr_num(g, "repeats", H5T_NATIVE_INT64, &rep);
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, 64);
    hsize_t nk[1] = {(hsize_t)info->n_keys}, pk[2] = {(hsize_t)r->n_points, (hsize_t)info->n_keys};
    hid_t dk = make_dataset(g, "keys", ty, 1, nk, NULL);
    hid_t dp = make_dataset(g, "points", H5T_NATIVE_DOUBLE, 2, pk, NULL);
    if (!st) st = (dk < 0 || dp < 0) ? ASIM_ERR(ASIM_EIO, "%s: cannot create /sweep", path) : ASIM_OK;
    if (!st) st = write_rows(r, dk, ty, 0, r->rank == 0 ? info->n_keys : 0, 1, info->keys);
    if (!st) st = write_rows(r, dp, H5T_NATIVE_DOUBLE, 0, r->rank == 0 ? r->n_points : 0, info->n_keys, info->points);
    for (int k = 0; k < info->n_keys && !st; k++)
      if (info->labels && info->labels[k]) {
        char an[96];
        snprintf(an, sizeof an, "labels_%s", info->keys[k]);
        st = attr_str(g, an, info->labels[k]);
      }
    if (dk >= 0) H5Dclose(dk);
    if (dp >= 0) H5Dclose(dp);
    H5Tclose(ty);
    H5Gclose(g);
    if (st) return st;
  }
  g = H5Gcreate2(f, "progress", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  r->d_done = make_dataset(g, "batch_done", H5T_NATIVE_UINT8, 1, nb, &u0);
  H5Gclose(g);
  if (r->diag_layers) ASIM_CHECK(diag_create(r, info, path));
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
  set_sizes(r, info);
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
  const char *grp = r->n_runs == 1 ? "samples" : "sweep";
  char nm[64];
  snprintf(nm, sizeof nm, "%s/pred", grp);
  r->d_pred = H5Dopen2(f, nm, H5P_DEFAULT);
  snprintf(nm, sizeof nm, "%s/top5", grp);
  r->d_top5 = H5Dopen2(f, nm, H5P_DEFAULT);
  snprintf(nm, sizeof nm, "%s/logits", grp);
  r->d_logits = info->logits ? H5Dopen2(f, nm, H5P_DEFAULT) : -1;
  r->d_done = H5Dopen2(f, "progress/batch_done", H5P_DEFAULT);
  if (r->d_index < 0 || r->d_label < 0 || r->d_pred < 0 || r->d_top5 < 0 || r->d_done < 0 ||
      (info->logits && r->d_logits < 0))
    return ASIM_ERR(ASIM_EFORMAT, "%s: report datasets missing", path);
  hid_t sp = H5Dget_space(r->d_done);
  hsize_t nb = 0;
  H5Sget_simple_extent_dims(sp, &nb, NULL);
  H5Sclose(sp);
  sp = H5Dget_space(r->d_label);
  hsize_t ns = 0;
  H5Sget_simple_extent_dims(sp, &ns, NULL);
  H5Sclose(sp);
  if ((int64_t)nb != info->n_batches * r->n_runs || (int64_t)ns != info->n_samples)
    return ASIM_ERR(ASIM_EFORMAT, "%s: report has %llu samples in %llu batches, this run %lld in %lld", path,
                    (unsigned long long)ns, (unsigned long long)nb, (long long)info->n_samples,
                    (long long)info->n_batches);
  if (r->diag_layers) ASIM_CHECK(diag_open(r, path));
  ASIM_CHECK(read_all(r, r->d_done, H5T_NATIVE_UINT8, done));
  return ASIM_OK;
}

asim_status asim_report_write_samples(asim_report *r, int64_t run, int64_t s0, int64_t n, const int64_t *index,
                                      const int32_t *label, const int32_t *pred, const int32_t *top5,
                                      const float *logits) {
  /* index and label are the same in every run: run 0 writes them (all ranks call collectively) */
  const int64_t nl = run == 0 ? n : 0, lead = r->n_runs == 1 ? -1 : run;
  ASIM_CHECK(write_rows(r, r->d_index, H5T_NATIVE_INT64, s0, nl, 1, index));
  ASIM_CHECK(write_rows(r, r->d_label, H5T_NATIVE_INT32, s0, nl, 1, label));
  ASIM_CHECK(write_block(r, r->d_pred, H5T_NATIVE_INT32, lead, s0, n, 1, pred));
  ASIM_CHECK(write_block(r, r->d_top5, H5T_NATIVE_INT32, lead, s0, n, 5, top5));
  if (r->logits) ASIM_CHECK(write_block(r, r->d_logits, H5T_NATIVE_FLOAT, lead, s0, n, r->classes, logits));
  /* data first, on disk, then the batch flags (mark_done): a kill never marks lost work */
  H5OK(H5Fflush(r->file, H5F_SCOPE_GLOBAL), "flush");
  return ASIM_OK;
}

asim_status asim_report_mark_done(asim_report *r, const int64_t *batches, int n) { /* batches = items */
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
  const int64_t N = r->n_samples, C = r->classes, R = r->n_runs;
  asim_status st = ASIM_OK;
  int32_t *label = NULL, *pred = NULL, *t5 = NULL;
  int64_t *conf = NULL, *counted = NULL;
  double *busy = NULL;
  int64_t *nsamp = NULL;
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(label, (size_t)N), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(pred, (size_t)(R * N)), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(t5, (size_t)(R * N) * 5), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(conf, (size_t)(R * C * C)), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(counted, (size_t)R), done);
  free(r->run_top1), free(r->run_top5);
  r->run_top1 = r->run_top5 = NULL;
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(r->run_top1, (size_t)R), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(r->run_top5, (size_t)R), done);
  ASIM_CHECK_GOTO(st, read_all(r, r->d_label, H5T_NATIVE_INT32, label), done);
  ASIM_CHECK_GOTO(st, read_all(r, r->d_pred, H5T_NATIVE_INT32, pred), done);
  ASIM_CHECK_GOTO(st, read_all(r, r->d_top5, H5T_NATIVE_INT32, t5), done);
  for (int64_t run = 0; run < R; run++) {
    int64_t ok1 = 0, ok5 = 0, *cf = conf + run * C * C;
    const int32_t *pr = pred + run * N, *tp = t5 + run * N * 5;
    for (int64_t i = 0; i < N; i++) {
      if (label[i] < 0 || label[i] >= C || pr[i] < 0 || pr[i] >= C) continue;
      cf[label[i] * C + pr[i]]++;
      counted[run]++;
      ok1 += label[i] == pr[i];
      for (int k = 0; k < 5 && k < C; k++) ok5 += tp[i * 5 + k] == label[i];
    }
    r->run_top1[run] = counted[run] ? (double)ok1 / counted[run] : 0.0;
    r->run_top5[run] = counted[run] ? (double)ok5 / counted[run] : 0.0;
  }
  if (pred_out && r->rank == 0 && R == 1)
    for (int64_t i = 0; i < N; i++) fprintf(pred_out, "Label: %d, Predict: %d.\n", label[i], pred[i]);
  *top1 = r->run_top1[0];
  *top5 = r->run_top5[0];
  if (R == 1) {
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
    if (!st) st = attr_num(g, "n_samples", H5T_NATIVE_INT64, &counted[0]);
    H5Gclose(g);
    if (st) goto done;
  } else { /* per point: accuracy of each repeat, mean and standard deviation, confusion */
    const int64_t P = r->n_points, Q = r->repeats;
    double *stats = calloc((size_t)(4 * P), sizeof(double));
    if (!stats) {
      st = ASIM_ERR(ASIM_ENOMEM, "sweep summary");
      goto done;
    }
    for (int64_t pt = 0; pt < P; pt++)
      for (int w = 0; w < 2; w++) {
        const double *a = (w ? r->run_top5 : r->run_top1) + pt * Q;
        double m = 0, v = 0;
        for (int64_t q = 0; q < Q; q++) m += a[q] / Q;
        for (int64_t q = 0; q < Q; q++) v += (a[q] - m) * (a[q] - m);
        stats[(2 * w) * P + pt] = m;
        stats[(2 * w + 1) * P + pt] = Q > 1 ? sqrt(v / (Q - 1)) : 0.0; /* sample std over repeats */
      }
    hid_t g = H5Gopen2(r->file, "sweep", H5P_DEFAULT);
    const char *names[4] = {"top1_mean", "top1_std", "top5_mean", "top5_std"};
    hsize_t pq[2] = {(hsize_t)P, (hsize_t)Q}, p1[1] = {(hsize_t)P}, pc[4] = {(hsize_t)P, (hsize_t)Q, (hsize_t)C, (hsize_t)C};
    for (int w = 0; w < 2 && !st; w++) {
      const char *nm = w ? "top5" : "top1";
      if (H5Lexists(g, nm, H5P_DEFAULT) > 0) H5Ldelete(g, nm, H5P_DEFAULT);
      hid_t d = make_dataset(g, nm, H5T_NATIVE_DOUBLE, 2, pq, NULL);
      st = d < 0 ? ASIM_ERR(ASIM_EIO, "report: /sweep/%s", nm)
                 : write_rows(r, d, H5T_NATIVE_DOUBLE, 0, r->rank == 0 ? P : 0, Q, w ? r->run_top5 : r->run_top1);
      if (d >= 0) H5Dclose(d);
    }
    for (int w = 0; w < 4 && !st; w++) {
      if (H5Lexists(g, names[w], H5P_DEFAULT) > 0) H5Ldelete(g, names[w], H5P_DEFAULT);
      hid_t d = make_dataset(g, names[w], H5T_NATIVE_DOUBLE, 1, p1, NULL);
      st = d < 0 ? ASIM_ERR(ASIM_EIO, "report: /sweep/%s", names[w])
                 : write_rows(r, d, H5T_NATIVE_DOUBLE, 0, r->rank == 0 ? P : 0, 1, stats + w * P);
      if (d >= 0) H5Dclose(d);
    }
    if (!st) {
      if (H5Lexists(g, "confusion", H5P_DEFAULT) > 0) H5Ldelete(g, "confusion", H5P_DEFAULT);
      hid_t d = make_dataset(g, "confusion", H5T_NATIVE_INT64, 4, pc, NULL);
      hid_t fs = d < 0 ? -1 : H5Dget_space(d);
      if (fs >= 0 && r->rank) H5Sselect_none(fs);
      hid_t ms = fs >= 0 ? H5Scopy(fs) : -1;
      herr_t e = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_INT64, ms, fs, r->dxpl, r->rank ? NULL : conf);
      if (ms >= 0) H5Sclose(ms);
      if (fs >= 0) H5Sclose(fs);
      if (d >= 0) H5Dclose(d);
      if (e < 0) st = ASIM_ERR(ASIM_EIO, "report: /sweep/confusion");
    }
    H5Gclose(g);
    free(stats);
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
  if (r->diag_layers) ASIM_CHECK_GOTO(st, diag_finish(r), done);
  {
    char t[64];
    now_iso(t, sizeof t);
    MPI_Bcast(t, sizeof t, MPI_CHAR, 0, r->comm);
    int64_t one = 1;
    for (int64_t run = 0; run < R; run++) one &= counted[run] == N;
    ASIM_CHECK_GOTO(st, attr_str(r->file, "end_time", t), done);
    ASIM_CHECK_GOTO(st, attr_num(r->file, "complete", H5T_NATIVE_INT64, &one), done);
    if (H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0) st = ASIM_ERR(ASIM_EIO, "report: flush failed");
  }
done:
  free(label), free(pred), free(t5), free(conf), free(counted), free(busy), free(nsamp);
  return st;
}

void asim_report_run_acc(const asim_report *r, int64_t run, double *top1, double *top5) {
  *top1 = r->run_top1 ? r->run_top1[run] : 0.0;
  *top5 = r->run_top5 ? r->run_top5[run] : 0.0;
}

void asim_report_close(asim_report *r) {
  free(r->run_top1), free(r->run_top5);
  r->run_top1 = r->run_top5 = NULL;
  hid_t *ds[] = {&r->d_index, &r->d_label, &r->d_pred, &r->d_top5, &r->d_logits, &r->d_done};
  for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++)
    if (*ds[i] > 0) H5Dclose(*ds[i]), *ds[i] = -1;
  for (int k = 0; k < 8; k++)
    if (r->d_diag[k] > 0) H5Dclose(r->d_diag[k]), r->d_diag[k] = -1;
  if (r->dxpl > 0) H5Pclose(r->dxpl), r->dxpl = -1;
  if (r->file > 0) H5Fclose(r->file), r->file = -1;
}
