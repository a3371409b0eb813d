/* dataset_pack.c — writes any open dataset as asim-mpi's packed HDF5 file with parallel HDF5:
 * rank r decodes samples [r·N/K, (r+1)·N/K) in rounds of B and every round is one collective
 * write per dataset. Before every collective step the ranks agree on success (Allreduce), so a
 * failure on one rank never leaves the others waiting in a collective call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset_internal.h"

/* Every rank learns whether all succeeded; on failure every rank returns the lowest failing
 * rank's status and message (broadcast), so any rank can report it. */
static asim_status agree(asim_status st, MPI_Comm comm, int rank, int K) {
  int mine = st == ASIM_OK ? K : rank, first = K;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == K) return ASIM_OK;
  char msg[4096] = "";
  int code = (int)st;
  if (rank == first) snprintf(msg, sizeof msg, "%s", asim_errmsg());
  MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm);
  MPI_Bcast(&code, 1, MPI_INT, first, comm);
  return ASIM_ERR((asim_status)code, "rank %d of %d failed: %s", first, K, msg);
}

static int write_attr_str(hid_t obj, const char *name, const char *val) {
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
  int r = -1;
  if (t >= 0 && sp >= 0 && H5Tset_size(t, strlen(val) + 1) >= 0 &&
      H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0 &&
      (a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 && H5Awrite(a, t, val) >= 0)
    r = 0;
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  return r;
}

static int write_attr_int(hid_t obj, const char *name, int v) {
  hid_t sp = H5Screate(H5S_SCALAR), a = -1;
  int32_t x = v, r = -1;
  if (sp >= 0 && (a = H5Acreate2(obj, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
      H5Awrite(a, H5T_NATIVE_INT32, &x) >= 0)
    r = 0;
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  return r;
}

/* Collective write of rows [a, a+m) of dataset d (m may be 0: empty selection). */
static int write_rows(hid_t d, hid_t mt, hid_t dxpl, int64_t a, int64_t m, const void *buf) {
  hid_t fs = H5Dget_space(d);
  if (fs < 0) return -1;
  int rank = H5Sget_simple_extent_ndims(fs);
  hsize_t dims[4], start[4] = {(hsize_t)a, 0, 0, 0};
  H5Sget_simple_extent_dims(fs, dims, NULL);
  dims[0] = m > 0 ? (hsize_t)m : 1;
  hid_t ms = H5Screate_simple(rank, dims, NULL);
  int r = -1;
  if (ms >= 0) {
    herr_t sel = m > 0 ? H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, dims, NULL)
                       : (H5Sselect_none(fs) < 0 ? -1 : H5Sselect_none(ms));
    if (sel >= 0) r = H5Dwrite(d, mt, ms, fs, dxpl, buf) < 0 ? -1 : 0;
    H5Sclose(ms);
  }
  H5Sclose(fs);
  return r;
}

asim_status asim_dataset_pack(const asim_dataset *ds, const char *out_path, MPI_Comm comm,
                              asim_progress_fn progress, void *arg) {
  int rank, K;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &K);
  const int64_t N = ds->n, S = ds->side, C = ds->out_c, img_bytes = S * S * C;
  const int64_t lo = N * rank / K, hi = N * (rank + 1) / K;
  /* Round size: ≤ 64 MiB of pixels per rank and round, at most 1024 samples. */
  int64_t B = ((int64_t)64 << 20) / img_bytes;
  if (B < 1) B = 1;
  if (B > 1024) B = 1024;
  const int64_t maxcnt = (N + K - 1) / K, rounds = (maxcnt + B - 1) / B;

  hid_t fapl = -1, file = -1, dcpl = -1, dxpl = -1, strt = -1, d_img = -1, d_lab = -1, d_nam = -1;
  uint8_t *img = NULL;
  int32_t *lab = NULL;
  char *names = NULL;
  int resized = 0;
  asim_status st = ASIM_OK;
  H5E_auto2_t efunc;
  void *edata;
  H5Eget_auto2(H5E_DEFAULT, &efunc, &edata);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors become our messages, not stderr dumps */

  /* Longest sample name, for the fixed-length /names strings. */
  unsigned long long nl = 1, all_nl = 1;
  char nm[1024];
  for (int64_t i = lo; i < hi && st == ASIM_OK; i++) {
    st = asim_dataset_sample_name(ds, i, nm, sizeof nm);
    if (st == ASIM_OK && strlen(nm) + 1 > nl) nl = strlen(nm) + 1;
  }
  if (st == ASIM_OK) st = asim_malloc(&img, (size_t)(B * img_bytes));
  if (st == ASIM_OK) st = asim_malloc(&lab, (size_t)B * sizeof *lab);
  ASIM_CHECK_GOTO(st, agree(st, comm, rank, K), out);
  MPI_Allreduce(&nl, &all_nl, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm);
  nl = all_nl;
  st = asim_calloc(&names, (size_t)B, nl);
  ASIM_CHECK_GOTO(st, agree(st, comm, rank, K), out);

  /* Collective creation of the file, datasets and attributes. */
  fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0 || H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0)
    st = ASIM_ERR(ASIM_EIO, "cannot set up MPI-IO access for %s", out_path);
  else if ((file = H5Fcreate(out_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
    st = ASIM_ERR(ASIM_EIO, "cannot create %s (folder missing or not writable?)", out_path);
  ASIM_CHECK_GOTO(st, agree(st, comm, rank, K), out);
  {
    hsize_t di[4] = {(hsize_t)N, (hsize_t)S, (hsize_t)S, (hsize_t)C}, dl[1] = {(hsize_t)N};
    hid_t si = H5Screate_simple(4, di, NULL), sl = H5Screate_simple(1, dl, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    /* Contiguous, allocated at creation, never filled: every element is written once. */
    if (dcpl >= 0) {
      H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
      H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    }
    strt = H5Tcopy(H5T_C_S1);
    if (strt >= 0) {
      H5Tset_size(strt, (size_t)nl);
      H5Tset_strpad(strt, H5T_STR_NULLPAD);
    }
    if (si >= 0 && sl >= 0 && dcpl >= 0 && strt >= 0) {
      d_img = H5Dcreate2(file, "images", H5T_STD_U8LE, si, H5P_DEFAULT, dcpl, H5P_DEFAULT);
      d_lab = H5Dcreate2(file, "labels", H5T_STD_I32LE, sl, H5P_DEFAULT, dcpl, H5P_DEFAULT);
      d_nam = H5Dcreate2(file, "names", strt, sl, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    }
    if (si >= 0) H5Sclose(si);
    if (sl >= 0) H5Sclose(sl);
    char src[4200];
    snprintf(src, sizeof src, "%s", ds->path);
    if (d_img < 0 || d_lab < 0 || d_nam < 0 ||
        write_attr_str(file, "task", asim_task_name(ds->task)) < 0 ||
        write_attr_int(file, "classes", ds->classes) < 0 || write_attr_str(file, "source", src) < 0 ||
        write_attr_str(file, "source_format", asim_dataset_format_name(ds->fmt)) < 0 ||
        write_attr_str(file, "split", ds->split ? ds->split : "") < 0 ||
        write_attr_int(file, "format_version", ASIM_DS_FORMAT_VERSION) < 0 ||
        write_attr_str(file, "creator", "asim-mpi " ASIM_VERSION) < 0)
      st = ASIM_ERR(ASIM_EIO, "%s: cannot create the datasets and attributes", out_path);
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (st == ASIM_OK && (dxpl < 0 || H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0))
      st = ASIM_ERR(ASIM_EIO, "cannot set up collective transfers");
  }
  ASIM_CHECK_GOTO(st, agree(st, comm, rank, K), out);

  for (int64_t r = 0; r < rounds; r++) {
    int64_t a = lo + r * B, b = a + B < hi ? a + B : hi, m = b > a ? b - a : 0;
    if (m == 0) a = 0;
    memset(names, 0, (size_t)B * nl);
    for (int64_t q = 0; q < m && st == ASIM_OK; q++) {
      int rz = 0, l = 0;
      st = asim_ds_get_u8_ex(ds, a + q, img + q * img_bytes, &l, &rz);
      if (st == ASIM_OK) st = asim_dataset_sample_name(ds, a + q, names + q * nl, nl);
      lab[q] = l;
      resized |= rz;
    }
    ASIM_CHECK_GOTO(st, agree(st, comm, rank, K), out);
    if (write_rows(d_img, H5T_NATIVE_UINT8, dxpl, a, m, img) < 0 ||
        write_rows(d_lab, H5T_NATIVE_INT32, dxpl, a, m, lab) < 0 ||
        write_rows(d_nam, strt, dxpl, a, m, names) < 0)
      st = ASIM_ERR(ASIM_EIO, "%s: cannot write samples %lld..%lld", out_path, (long long)a,
                    (long long)(a + m - 1));
    ASIM_CHECK_GOTO(st, agree(st, comm, rank, K), out);
    if (progress) {
      int64_t done = 0;
      for (int k = 0; k < K; k++) {
        int64_t cnt = N * (k + 1) / K - N * k / K, upto = (r + 1) * B;
        done += cnt < upto ? cnt : upto;
      }
      progress(done, N, arg);
    }
  }
  /* resized = 0 tells readers the stored pixels are the source images themselves. */
  int any = resized || (ds->fmt == ASIM_FMT_HDF5 && ds->h5resized);
  MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_LOR, comm);
  if (write_attr_int(file, "resized", any) < 0)
    st = ASIM_ERR(ASIM_EIO, "%s: cannot write attribute resized", out_path);
  ASIM_CHECK_GOTO(st, agree(st, comm, rank, K), out);

out:
  /* Reached by all ranks together with the same outcome (every jump follows an agreement),
   * so the collective closes below match up. */
  if (d_nam >= 0) H5Dclose(d_nam);
  if (d_lab >= 0) H5Dclose(d_lab);
  if (d_img >= 0) H5Dclose(d_img);
  if (strt >= 0) H5Tclose(strt);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (dxpl >= 0) H5Pclose(dxpl);
  if (file >= 0) {
    asim_status cst = ASIM_OK;
    if (H5Fclose(file) < 0) cst = ASIM_ERR(ASIM_EIO, "%s: cannot close (flush) the file", out_path);
    if (st == ASIM_OK) st = agree(cst, comm, rank, K);
    if (st != ASIM_OK && rank == 0) unlink(out_path); /* no half-written dataset left behind */
  }
  if (fapl >= 0) H5Pclose(fapl);
  H5Eset_auto2(H5E_DEFAULT, efunc, edata);
  free(img);
  free(lab);
  free(names);
  return st;
}
