/* dataset_hdf5.c — reader of asim-mpi's packed dataset (docs/datasets.md): /images uint8
 * (N, H, W, C), /labels int32 (N), optional /names, root attributes task, classes, source,
 * format_version, resized. Each process opens the file on its own (serial driver); reads
 * take one process-wide lock because the Debian HDF5 build is not thread-safe. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"

static pthread_mutex_t h5_lock = PTHREAD_MUTEX_INITIALIZER;
static H5E_auto2_t saved_func;
static void *saved_data;

/* HDF5 would print its error stack to stderr: silence it while we hold the lock. */
static void h5_enter(void) {
  pthread_mutex_lock(&h5_lock);
  H5Eget_auto2(H5E_DEFAULT, &saved_func, &saved_data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void h5_leave(void) {
  H5Eset_auto2(H5E_DEFAULT, saved_func, saved_data);
  pthread_mutex_unlock(&h5_lock);
}

/* Reads a string attribute (fixed-length as we write it, or variable-length as h5py does). */
static asim_status attr_str(hid_t obj, const char *path, const char *name, char *buf, size_t len,
                            int required) {
  buf[0] = 0;
  htri_t ex = H5Aexists(obj, name);
  if (ex <= 0) {
    if (required) return ASIM_ERR(ASIM_EFORMAT, "%s: attribute '%s' missing", path, name);
    return ASIM_OK;
  }
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = a < 0 ? -1 : H5Aget_type(a), mt = -1;
  asim_status st = ASIM_OK;
  if (t < 0 || H5Tget_class(t) != H5T_STRING) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: attribute '%s' is not a string", path, name);
    goto done;
  }
  mt = H5Tcopy(H5T_C_S1);
  H5Tset_cset(mt, H5Tget_cset(t)); /* h5py writes UTF-8; HDF5 will not convert between csets */
  if (H5Tis_variable_str(t) > 0) {
    char *s = NULL;
    H5Tset_size(mt, H5T_VARIABLE);
    if (H5Aread(a, mt, &s) < 0 || !s) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: cannot read attribute '%s'", path, name);
      goto done;
    }
    snprintf(buf, len, "%s", s);
    H5free_memory(s);
  } else {
    size_t sz = H5Tget_size(t);
    char *s = calloc(sz + 1, 1);
    if (!s) {
      st = ASIM_ERR(ASIM_ENOMEM, "attribute");
      goto done;
    }
    H5Tset_size(mt, sz);
    if (H5Aread(a, mt, s) < 0) st = ASIM_ERR(ASIM_EFORMAT, "%s: cannot read attribute '%s'", path, name);
    else snprintf(buf, len, "%s", s);
    free(s);
  }
done:
  if (mt >= 0) H5Tclose(mt);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  return st;
}

static asim_status attr_int(hid_t obj, const char *path, const char *name, int *v, int required) {
  htri_t ex = H5Aexists(obj, name);
  if (ex <= 0) {
    if (required) return ASIM_ERR(ASIM_EFORMAT, "%s: attribute '%s' missing", path, name);
    return ASIM_OK;
  }
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = a < 0 ? -1 : H5Aget_type(a);
  asim_status st = ASIM_OK;
  if (t < 0 || H5Tget_class(t) != H5T_INTEGER || H5Aread(a, H5T_NATIVE_INT, v) < 0)
    st = ASIM_ERR(ASIM_EFORMAT, "%s: attribute '%s' is not a readable integer", path, name);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  return st;
}

static asim_status open_locked(asim_dataset *ds, const asim_dataset_opts *o) {
  const char *path = ds->path;
  hid_t f = ds->h5file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return ASIM_ERR(ASIM_EIO, "cannot open %s as an HDF5 file (missing or not HDF5)", path);
  int version = 0, classes = 0;
  char task[64];
  ASIM_CHECK(attr_int(f, path, "format_version", &version, 1));
  if (version != ASIM_DS_FORMAT_VERSION)
    return ASIM_ERR(ASIM_EFORMAT, "%s: format_version %d, this build reads version %d", path,
                    version, ASIM_DS_FORMAT_VERSION);
  ASIM_CHECK(attr_str(f, path, "task", task, sizeof task, 1));
  ASIM_CHECK(attr_int(f, path, "classes", &classes, 1));
  asim_task t;
  asim_status st = asim_task_parse(task, &t);
  if (st != ASIM_OK) return ASIM_ERR(ASIM_EFORMAT, "%s: attribute task = '%s' is not a known task", path, task);
  if (ds->task != ASIM_TASK_COUNT && ds->task != t)
    return ASIM_ERR(ASIM_EINVAL, "%s holds task %s, but %s was asked for", path, task,
                    asim_task_name(ds->task));
  ds->task = t;
  if (classes < 1 || classes > 100000)
    return ASIM_ERR(ASIM_EFORMAT, "%s: classes = %d", path, classes);
  ds->classes = classes;
  ds->h5resized = 1; /* unknown: assume the stored pixels were resized */
  ASIM_CHECK(attr_int(f, path, "resized", &ds->h5resized, 0));

  /* /images: uint8 (N, H, W, C) with H = W and C ∈ {1, 3} */
  if (H5Lexists(f, "images", H5P_DEFAULT) <= 0)
    return ASIM_ERR(ASIM_EFORMAT, "%s: no dataset /images", path);
  hid_t d = ds->h5images = H5Dopen2(f, "images", H5P_DEFAULT);
  hid_t ty = d < 0 ? -1 : H5Dget_type(d), sp = d < 0 ? -1 : H5Dget_space(d);
  hsize_t dims[4] = {0};
  int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
  int okty = ty >= 0 && H5Tget_class(ty) == H5T_INTEGER && H5Tget_size(ty) == 1 &&
             H5Tget_sign(ty) == H5T_SGN_NONE;
  if (rank == 4) H5Sget_simple_extent_dims(sp, dims, NULL);
  if (ty >= 0) H5Tclose(ty);
  if (sp >= 0) H5Sclose(sp);
  if (!okty || rank != 4 || dims[0] == 0 || dims[1] != dims[2] || dims[1] == 0 || dims[1] > 4096 ||
      (dims[3] != 1 && dims[3] != 3))
    return ASIM_ERR(ASIM_EFORMAT, "%s: /images must be uint8 (N, S, S, C) with C = 1 or 3 "
                    "(rank %d, dims %llu x %llu x %llu x %llu, %s)", path, rank,
                    (unsigned long long)dims[0], (unsigned long long)dims[1],
                    (unsigned long long)dims[2], (unsigned long long)dims[3],
                    okty ? "uint8" : "not uint8");
  ds->n = (int64_t)dims[0];
  ds->h5side = (int)dims[1];
  ds->src_c = (int)dims[3];

  /* /labels: integers (N) */
  if (H5Lexists(f, "labels", H5P_DEFAULT) <= 0)
    return ASIM_ERR(ASIM_EFORMAT, "%s: no dataset /labels", path);
  hid_t l = H5Dopen2(f, "labels", H5P_DEFAULT);
  ty = l < 0 ? -1 : H5Dget_type(l);
  sp = l < 0 ? -1 : H5Dget_space(l);
  hsize_t ln = 0;
  rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
  if (rank == 1) H5Sget_simple_extent_dims(sp, &ln, NULL);
  okty = ty >= 0 && H5Tget_class(ty) == H5T_INTEGER;
  if (ty >= 0) H5Tclose(ty);
  if (sp >= 0) H5Sclose(sp);
  st = ASIM_OK;
  if (!okty || rank != 1) st = ASIM_ERR(ASIM_EFORMAT, "%s: /labels must be a 1-D integer dataset", path);
  else if ((int64_t)ln != ds->n)
    st = ASIM_ERR(ASIM_EFORMAT, "%s: count mismatch: /images has %lld samples, /labels %llu", path,
                  (long long)ds->n, (unsigned long long)ln);
  else if ((st = asim_malloc(&ds->labels, (size_t)ds->n * sizeof *ds->labels)) == ASIM_OK &&
           H5Dread(l, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, ds->labels) < 0)
    st = ASIM_ERR(ASIM_EFORMAT, "%s: cannot read /labels", path);
  if (l >= 0) H5Dclose(l);
  ASIM_CHECK(st);

  /* /names (optional): fixed-length strings */
  if (H5Lexists(f, "names", H5P_DEFAULT) > 0) {
    ds->h5names = H5Dopen2(f, "names", H5P_DEFAULT);
    ty = ds->h5names < 0 ? -1 : H5Dget_type(ds->h5names);
    if (ty < 0 || H5Tget_class(ty) != H5T_STRING || H5Tis_variable_str(ty) > 0) {
      if (ty >= 0) H5Tclose(ty);
      return ASIM_ERR(ASIM_EFORMAT, "%s: /names must hold fixed-length strings", path);
    }
    ds->h5name_len = H5Tget_size(ty);
    H5Tclose(ty);
  }

  /* Output side: the stored one, or another only if the stored pixels are the originals
   * (then resizing them now is what resizing the source would have given). */
  ds->side = o->input_size ? o->input_size : ds->h5side;
  if (ds->side != ds->h5side && ds->h5resized)
    return ASIM_ERR(ASIM_EINVAL, "%s was packed at %dx%d from images of other sizes; resizing "
                    "again to %d would not match ASiM's preprocessing: pack the source with "
                    "--input-size %d", path, ds->h5side, ds->h5side, ds->side, ds->side);
  return ASIM_OK;
}

asim_status asim_ds_open_hdf5(asim_dataset *ds, const asim_dataset_opts *o) {
  h5_enter();
  asim_status st = open_locked(ds, o);
  h5_leave();
  if (st != ASIM_OK) return asim_error_trace(st, __FILE__, __LINE__, "open HDF5 dataset");
  for (int64_t i = 0; i < ds->n; i++)
    if (ds->labels[i] < 0 || ds->labels[i] >= ds->classes)
      return ASIM_ERR(ASIM_EFORMAT, "%s: /labels[%lld] = %d not in 0..%d", ds->path, (long long)i,
                      ds->labels[i], ds->classes - 1);
  return ASIM_OK;
}

void asim_ds_close_hdf5(asim_dataset *ds) {
  if (ds->h5file < 0 && ds->h5images < 0 && ds->h5names < 0) return;
  h5_enter();
  if (ds->h5names >= 0) H5Dclose(ds->h5names);
  if (ds->h5images >= 0) H5Dclose(ds->h5images);
  if (ds->h5file >= 0) H5Fclose(ds->h5file);
  ds->h5file = ds->h5images = ds->h5names = H5I_INVALID_HID;
  h5_leave();
}

/* Reads rows [i, i+1) of a dataset whose element type is `mt` into buf. */
static int read_row(hid_t d, hid_t mt, int64_t i, void *buf) {
  hid_t fs = H5Dget_space(d);
  if (fs < 0) return -1;
  int rank = H5Sget_simple_extent_ndims(fs);
  hsize_t start[4] = {(hsize_t)i, 0, 0, 0}, count[4];
  H5Sget_simple_extent_dims(fs, count, NULL);
  count[0] = 1;
  hid_t ms = H5Screate_simple(rank, count, NULL);
  int r = -1;
  if (ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
    r = H5Dread(d, mt, ms, fs, H5P_DEFAULT, buf) < 0 ? -1 : 0;
  if (ms >= 0) H5Sclose(ms);
  H5Sclose(fs);
  return r;
}

asim_status asim_ds_read_hdf5(const asim_dataset *ds, int64_t i, uint8_t *pix) {
  h5_enter();
  int r = read_row(ds->h5images, H5T_NATIVE_UINT8, i, pix);
  h5_leave();
  if (r < 0) return ASIM_ERR(ASIM_EIO, "%s: cannot read /images[%lld]", ds->path, (long long)i);
  return ASIM_OK;
}

asim_status asim_ds_hdf5_name(const asim_dataset *ds, int64_t i, char *buf, size_t len) {
  if (ds->h5names < 0) {
    snprintf(buf, len, "#%lld", (long long)i);
    return ASIM_OK;
  }
  char *s = calloc(ds->h5name_len + 1, 1);
  if (!s) return ASIM_ERR(ASIM_ENOMEM, "name");
  h5_enter();
  hid_t mt = H5Tcopy(H5T_C_S1);
  H5Tset_size(mt, ds->h5name_len);
  hid_t ft = H5Dget_type(ds->h5names);
  if (ft >= 0) {
    H5Tset_cset(mt, H5Tget_cset(ft));
    H5Tclose(ft);
  }
  int r = read_row(ds->h5names, mt, i, s);
  H5Tclose(mt);
  h5_leave();
  if (r == 0) snprintf(buf, len, "%s", s);
  free(s);
  if (r < 0) return ASIM_ERR(ASIM_EIO, "%s: cannot read /names[%lld]", ds->path, (long long)i);
  return ASIM_OK;
}
