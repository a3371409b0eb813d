#include "asim/h5util.h"

#include <stdlib.h>
#include <string.h>

const char *asim_h5_filename(hid_t loc, char *buf, size_t len) {
  if (H5Fget_name(loc, buf, len) < 0) snprintf(buf, len, "?");
  return buf;
}

asim_status asim_h5_open_read(const char *path, hid_t *file) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  FILE *f = fopen(path, "rb");
  if (!f) return ASIM_ERR(ASIM_EIO, "%s: cannot open file", path);
  fclose(f);
  if (H5Fis_hdf5(path) <= 0) return ASIM_ERR(ASIM_EFORMAT, "%s: not an HDF5 file", path);
  *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (*file < 0) return ASIM_ERR(ASIM_EFORMAT, "%s: HDF5 cannot open the file (truncated or corrupt?)", path);
  return ASIM_OK;
}

int asim_h5_exists(hid_t loc, const char *path) {
  /* H5Lexists needs every intermediate link to exist: walk the components */
  char buf[512];
  size_t n = strlen(path);
  if (n >= sizeof buf) return 0;
  memcpy(buf, path, n + 1);
  for (char *s = buf; (s = strchr(s, '/')) != NULL; s++) {
    *s = 0;
    int e = H5Lexists(loc, buf, H5P_DEFAULT) > 0;
    *s = '/';
    if (!e) return 0;
  }
  return H5Lexists(loc, buf, H5P_DEFAULT) > 0;
}

int asim_h5_has_attr(hid_t loc, const char *name) { return H5Aexists(loc, name) > 0; }

static asim_status read_attr(hid_t loc, const char *name, hid_t memtype, void *out) {
  char fn[256];
  if (H5Aexists(loc, name) <= 0)
    return ASIM_ERR(ASIM_EFORMAT, "%s: missing attribute '%s'", asim_h5_filename(loc, fn, sizeof fn), name);
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  hid_t sp = H5Aget_space(a);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  herr_t e = n == 1 ? H5Aread(a, memtype, out) : -1;
  H5Aclose(a);
  if (e < 0)
    return ASIM_ERR(ASIM_EFORMAT, "%s: attribute '%s' is not a numeric scalar",
                    asim_h5_filename(loc, fn, sizeof fn), name);
  return ASIM_OK;
}

asim_status asim_h5_attr_i64(hid_t loc, const char *name, int64_t *v) {
  return read_attr(loc, name, H5T_NATIVE_INT64, v);
}

asim_status asim_h5_attr_f64(hid_t loc, const char *name, double *v) {
  return read_attr(loc, name, H5T_NATIVE_DOUBLE, v);
}

asim_status asim_h5_attr_str(hid_t loc, const char *name, char *buf, size_t len) {
  char fn[256];
  if (H5Aexists(loc, name) <= 0)
    return ASIM_ERR(ASIM_EFORMAT, "%s: missing attribute '%s'", asim_h5_filename(loc, fn, sizeof fn), name);
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  hid_t t = H5Aget_type(a);
  asim_status st = ASIM_OK;
  if (H5Tget_class(t) != H5T_STRING) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: attribute '%s' is not a string", asim_h5_filename(loc, fn, sizeof fn), name);
  } else if (H5Tis_variable_str(t) > 0) {
    char *s = NULL;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    if (H5Aread(a, mt, &s) < 0 || !s) st = ASIM_ERR(ASIM_EFORMAT, "attribute '%s' unreadable", name);
    else {
      snprintf(buf, len, "%s", s);
      H5free_memory(s);
    }
    H5Tclose(mt);
  } else {
    size_t sz = H5Tget_size(t);
    char *tmp;
    st = asim_calloc(&tmp, sz + 1, 1);
    if (!st) {
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, sz);
      H5Tset_strpad(mt, H5T_STR_NULLPAD); /* the buffer has room for the terminator */
      if (H5Aread(a, mt, tmp) < 0) st = ASIM_ERR(ASIM_EFORMAT, "attribute '%s' unreadable", name);
      else snprintf(buf, len, "%s", tmp);
      H5Tclose(mt);
      free(tmp);
    }
  }
  H5Tclose(t);
  H5Aclose(a);
  return st;
}

asim_status asim_h5_read_tensor(hid_t loc, const char *name, asim_tensor *t) {
  char fn[256];
  memset(t, 0, sizeof *t);
  if (!asim_h5_exists(loc, name))
    return ASIM_ERR(ASIM_EFORMAT, "%s: missing dataset '%s'", asim_h5_filename(loc, fn, sizeof fn), name);
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  if (d < 0) return ASIM_ERR(ASIM_EFORMAT, "%s: '%s' is not a dataset", asim_h5_filename(loc, fn, sizeof fn), name);
  hid_t ty = H5Dget_type(d), sp = H5Dget_space(d);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t dims[ASIM_MAXDIM];
  asim_status st = ASIM_OK;
  asim_dtype dt;
  hid_t mt;
  H5T_class_t cls = H5Tget_class(ty);
  size_t sz = H5Tget_size(ty);
  if (cls == H5T_FLOAT && sz == 4) dt = ASIM_F32, mt = H5T_NATIVE_FLOAT;
  else if (cls == H5T_FLOAT && sz == 8) dt = ASIM_F64, mt = H5T_NATIVE_DOUBLE;
  else if (cls == H5T_INTEGER && sz == 4) dt = ASIM_I32, mt = H5T_NATIVE_INT32;
  else if (cls == H5T_INTEGER && sz == 8) dt = ASIM_I64, mt = H5T_NATIVE_INT64;
  else if (cls == H5T_INTEGER && sz == 1) dt = ASIM_U8, mt = H5T_NATIVE_UINT8;
  else {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: dataset '%s' has an unsupported type", asim_h5_filename(loc, fn, sizeof fn), name);
    goto done;
  }
  if (nd < 0 || nd > ASIM_MAXDIM) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: dataset '%s' has rank %d", asim_h5_filename(loc, fn, sizeof fn), name, nd);
    goto done;
  }
  H5Sget_simple_extent_dims(sp, dims, NULL);
  {
    int64_t shape[ASIM_MAXDIM];
    for (int i = 0; i < nd; i++) shape[i] = (int64_t)dims[i];
    ASIM_CHECK_GOTO(st, asim_tensor_alloc(t, dt, nd, shape), done);
  }
  if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0) {
    asim_tensor_free(t);
    st = ASIM_ERR(ASIM_EFORMAT, "%s: cannot read dataset '%s' (truncated file?)", asim_h5_filename(loc, fn, sizeof fn), name);
  }
done:
  H5Tclose(ty);
  H5Sclose(sp);
  H5Dclose(d);
  return st;
}
