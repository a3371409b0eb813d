/* ckpt_h5.c — asim-mpi's HDF5 checkpoint format (layout in include/asim/checkpoint.h).
 *
 * Serial HDF5 with default property lists (the library is the openmpi flavour; no MPI calls
 * happen here). HDF5's own error printing is switched off for the duration of each call and
 * the innermost HDF5 message is folded into our error instead. */
#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asim/checkpoint.h"

/* ------------------------------------------------------------------------------------------
 * error plumbing */

typedef struct {
  H5E_auto2_t fn;
  void *data;
} h5_quiet;

static void quiet_on(h5_quiet *q) {
  H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}
static void quiet_off(const h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

typedef struct {
  char first[160], last[160];
} h5_msgs;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *ud) {
  h5_msgs *m = ud;
  if (n == 0) snprintf(m->first, sizeof m->first, "%s", e->desc ? e->desc : "");
  snprintf(m->last, sizeof m->last, "%s", e->desc ? e->desc : "");
  return 0;
}

/* Our error with the HDF5 error stack's outermost and innermost descriptions appended. */
static asim_status h5_err(asim_status code, const char *file, int line, const char *fmt, ...) ASIM_PRINTF(4, 5);
static asim_status h5_err(asim_status code, const char *file, int line, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  h5_msgs m = {{0}, {0}};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &m);
  H5Eclear2(H5E_DEFAULT);
  if (m.first[0] && strcmp(m.first, m.last) != 0) return asim_error_set(code, file, line, "%s (HDF5: %s: %s)", msg, m.first, m.last);
  if (m.first[0]) return asim_error_set(code, file, line, "%s (HDF5: %s)", msg, m.first);
  return asim_error_set(code, file, line, "%s", msg);
}
#define H5ERR(code, ...) h5_err((code), __FILE__, __LINE__, __VA_ARGS__)

static void close_id(hid_t *id) {
  if (*id < 0) return;
  switch (H5Iget_type(*id)) {
  case H5I_FILE: H5Fclose(*id); break;
  case H5I_GROUP: H5Gclose(*id); break;
  case H5I_DATASET: H5Dclose(*id); break;
  case H5I_DATASPACE: H5Sclose(*id); break;
  case H5I_DATATYPE: H5Tclose(*id); break;
  case H5I_ATTR: H5Aclose(*id); break;
  case H5I_GENPROP_LST: H5Pclose(*id); break;
  default: break;
  }
  *id = -1;
}

/* ------------------------------------------------------------------------------------------
 * attributes */

static asim_status attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *val, const char *path) {
  hid_t sp = -1, a = -1;
  asim_status st = ASIM_OK;
  if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
  if ((sp = H5Screate(H5S_SCALAR)) < 0 || (a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 || H5Awrite(a, mtype, val) < 0)
    st = H5ERR(ASIM_EIO, "%s: cannot write attribute '%s'", path, name);
  close_id(&a);
  close_id(&sp);
  return st;
}

static asim_status attr_write_str(hid_t loc, const char *name, const char *val, const char *path) {
  /* fixed-length, null-padded ASCII, as in the reference files */
  hid_t t = H5Tcopy(H5T_C_S1);
  size_t n = strlen(val);
  H5Tset_size(t, n ? n : 1);
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  for (const unsigned char *c = (const unsigned char *)val; *c; c++)
    if (*c >= 0x80) { /* label non-ASCII text (model names, provenance) as UTF-8 */
      H5Tset_cset(t, H5T_CSET_UTF8);
      break;
    }
  asim_status st = attr_write(loc, name, t, t, n ? val : "", path);
  H5Tclose(t);
  return st;
}

static asim_status attr_write_i64(hid_t loc, const char *name, int64_t v, const char *path) {
  return attr_write(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, path);
}
static asim_status attr_write_f64(hid_t loc, const char *name, double v, const char *path) {
  return attr_write(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v, path);
}

/* Reads a scalar string attribute into a malloc'ed NUL-terminated buffer (*out = NULL if the
 * attribute does not exist). */
static asim_status attr_read_str(hid_t loc, const char *name, char **out, const char *path) {
  *out = NULL;
  if (H5Aexists(loc, name) <= 0) return ASIM_OK;
  hid_t a = -1, ft = -1, mt = -1, sp = -1;
  asim_status st = ASIM_OK;
  if ((a = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (ft = H5Aget_type(a)) < 0 || (sp = H5Aget_space(a)) < 0) {
    st = H5ERR(ASIM_EFORMAT, "%s: cannot open attribute '%s'", path, name);
    goto done;
  }
  if (H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: attribute '%s' is not a scalar string", path, name);
    goto done;
  }
  mt = H5Tcopy(H5T_C_S1);
  H5Tset_cset(mt, H5Tget_cset(ft)); /* h5py writes UTF-8; HDF5 will not convert between csets */
  if (H5Tis_variable_str(ft) > 0) {
    char *v = NULL;
    H5Tset_size(mt, H5T_VARIABLE);
    if (H5Aread(a, mt, &v) < 0 || !v) {
      st = H5ERR(ASIM_EFORMAT, "%s: cannot read attribute '%s'", path, name);
      goto done;
    }
    *out = strdup(v);
    H5free_memory(v);
  } else {
    size_t n = H5Tget_size(ft);
    H5Tset_size(mt, n);
    H5Tset_strpad(mt, H5T_STR_NULLPAD);
    ASIM_CHECK_GOTO(st, asim_malloc(out, n + 1), done);
    if (H5Aread(a, mt, *out) < 0) {
      st = H5ERR(ASIM_EFORMAT, "%s: cannot read attribute '%s'", path, name);
      goto done;
    }
    (*out)[n] = 0;
  }
  if (!*out) st = ASIM_ERR(ASIM_ENOMEM, "attribute string copy");
done:
  if (st != ASIM_OK) {
    free(*out);
    *out = NULL;
  }
  close_id(&mt);
  close_id(&sp);
  close_id(&ft);
  close_id(&a);
  return st;
}

/* Numeric scalar attribute as double; *found = 0 if absent. */
static asim_status attr_read_num(hid_t loc, const char *name, double *v, int *found, const char *path) {
  *found = 0;
  if (H5Aexists(loc, name) <= 0) return ASIM_OK;
  hid_t a = -1, ft = -1, sp = -1;
  asim_status st = ASIM_OK;
  if ((a = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (ft = H5Aget_type(a)) < 0 || (sp = H5Aget_space(a)) < 0) {
    st = H5ERR(ASIM_EFORMAT, "%s: cannot open attribute '%s'", path, name);
    goto done;
  }
  H5T_class_t c = H5Tget_class(ft);
  if ((c != H5T_INTEGER && c != H5T_FLOAT) || H5Sget_simple_extent_npoints(sp) != 1) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: attribute '%s' is not a numeric scalar", path, name);
    goto done;
  }
  if (H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0) {
    st = H5ERR(ASIM_EFORMAT, "%s: cannot read attribute '%s'", path, name);
    goto done;
  }
  *found = 1;
done:
  close_id(&sp);
  close_id(&ft);
  close_id(&a);
  return st;
}

/* ------------------------------------------------------------------------------------------
 * keys_json: a JSON array of strings */

static asim_status json_keys(const asim_state *s, char **out) {
  size_t cap = 3, n = 0;
  for (int i = 0; i < s->n; i++) cap += 4 + 6 * strlen(s->names[i]);
  char *b;
  ASIM_CHECK(asim_malloc(&b, cap));
  b[n++] = '[';
  for (int i = 0; i < s->n; i++) {
    if (i) b[n++] = ',', b[n++] = ' ';
    b[n++] = '"';
    for (const unsigned char *c = (const unsigned char *)s->names[i]; *c; c++) {
      if (*c == '"' || *c == '\\') b[n++] = '\\', b[n++] = (char)*c;
      else if (*c < 32) n += (size_t)sprintf(b + n, "\\u%04x", *c);
      else b[n++] = (char)*c;
    }
    b[n++] = '"';
  }
  b[n++] = ']';
  b[n] = 0;
  *out = b;
  return ASIM_OK;
}

static void skip_ws(const char **p) {
  while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r') (*p)++;
}

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }

static int hex4(const char *p, unsigned *v) {
  *v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p[i]);
    if (h < 0) return 0;
    *v = *v << 4 | (unsigned)h;
  }
  return 1;
}

/* Parses one JSON string at *p (escapes decoded to UTF-8) into a malloc'ed buffer. */
static int json_string(const char **p, char **out) {
  const char *q = *p;
  if (*q != '"') return 0;
  size_t cap = strlen(q) + 1, n = 0;
  char *b = malloc(cap);
  if (!b) return 0;
  for (q++; *q != '"'; q++) {
    if (!*q) goto bad;
    if (*q != '\\') {
      b[n++] = *q;
      continue;
    }
    q++;
    unsigned u;
    switch (*q) {
    case '"': case '\\': case '/': b[n++] = *q; break;
    case 'b': b[n++] = '\b'; break;
    case 'f': b[n++] = '\f'; break;
    case 'n': b[n++] = '\n'; break;
    case 'r': b[n++] = '\r'; break;
    case 't': b[n++] = '\t'; break;
    case 'u':
      if (!hex4(q + 1, &u)) goto bad;
      q += 4;
      if (u >= 0xd800 && u < 0xdc00) { /* surrogate pair */
        unsigned lo;
        if (q[1] != '\\' || q[2] != 'u' || !hex4(q + 3, &lo) || lo < 0xdc00 || lo >= 0xe000) goto bad;
        q += 6;
        u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
      }
      if (u == 0 || (u >= 0xdc00 && u < 0xe000)) goto bad;
      if (u < 0x80) b[n++] = (char)u;
      else if (u < 0x800) b[n++] = (char)(0xc0 | u >> 6), b[n++] = (char)(0x80 | (u & 0x3f));
      else if (u < 0x10000) b[n++] = (char)(0xe0 | u >> 12), b[n++] = (char)(0x80 | ((u >> 6) & 0x3f)), b[n++] = (char)(0x80 | (u & 0x3f));
      else
        b[n++] = (char)(0xf0 | u >> 18), b[n++] = (char)(0x80 | ((u >> 12) & 0x3f)), b[n++] = (char)(0x80 | ((u >> 6) & 0x3f)),
        b[n++] = (char)(0x80 | (u & 0x3f));
      break;
    default: goto bad;
    }
  }
  b[n] = 0;
  *p = q + 1;
  *out = b;
  return 1;
bad:
  free(b);
  return 0;
}

/* keys_json -> array of malloc'ed names. */
static asim_status parse_keys(const char *json, char ***names, int *count, const char *path) {
  const char *p = json;
  char **v = NULL;
  size_t n = 0, cap = 0;
  skip_ws(&p);
  if (*p++ != '[') goto bad;
  skip_ws(&p);
  if (*p == ']') p++;
  else
    for (;;) {
      char *s;
      if (!json_string(&p, &s)) goto bad;
      if (n == cap) {
        size_t nc = cap ? 2 * cap : 64;
        char **nv = realloc(v, nc * sizeof *nv);
        if (!nv) {
          free(s);
          goto bad;
        }
        v = nv;
        cap = nc;
      }
      v[n++] = s;
      skip_ws(&p);
      if (*p == ',') {
        p++;
        skip_ws(&p);
        continue;
      }
      if (*p++ != ']') goto bad;
      break;
    }
  skip_ws(&p);
  if (*p || n > (size_t)1 << 24) goto bad;
  *names = v;
  *count = (int)n;
  return ASIM_OK;
bad:
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
  return ASIM_ERR(ASIM_EFORMAT, "%s: attribute 'keys_json' is not a JSON array of strings (near character %zu)", path, (size_t)(p - json));
}

/* ------------------------------------------------------------------------------------------
 * datasets */

static int valid_key(const char *k) { return k[0] && !strchr(k, '/') && strcmp(k, ".") != 0; }

static asim_status write_state(hid_t loc, const asim_state *s, const char *path) {
  asim_status st = ASIM_OK;
  for (int i = 0; i < s->n; i++) {
    const char *k = s->names[i];
    asim_tensor *t = &s->tensors[i], conv = {0};
    if (!valid_key(k)) return ASIM_ERR(ASIM_EINVAL, "%s: state_dict key '%s' cannot be an HDF5 dataset name (empty, '.' or contains '/')", path, k);
    for (int j = 0; j < i; j++)
      if (strcmp(s->names[j], k) == 0) return ASIM_ERR(ASIM_EINVAL, "%s: duplicate state_dict key '%s'", path, k);
    if (t->ndim < 0 || t->ndim > ASIM_MAXDIM) return ASIM_ERR(ASIM_EINVAL, "%s: '%s' has rank %d", path, k, t->ndim);
    hid_t ft, mt;
    switch (t->dtype) {
    case ASIM_F32: ft = H5T_IEEE_F32LE, mt = H5T_NATIVE_FLOAT; break;
    case ASIM_F64: ft = H5T_IEEE_F64LE, mt = H5T_NATIVE_DOUBLE; break;
    case ASIM_I32: ft = H5T_STD_I32LE, mt = H5T_NATIVE_INT32; break;
    case ASIM_I64: ft = H5T_STD_I64LE, mt = H5T_NATIVE_INT64; break;
    case ASIM_U8: ft = H5T_STD_U8LE, mt = H5T_NATIVE_UINT8; break;
    case ASIM_F16:
    case ASIM_BF16: /* half types are stored as float32, like the pkl reader returns them */
      ft = H5T_IEEE_F32LE, mt = H5T_NATIVE_FLOAT;
      conv = *t;
      ASIM_CHECK(asim_malloc(&conv.data, (size_t)asim_tensor_numel(t) * 2));
      memcpy(conv.data, t->data, (size_t)asim_tensor_numel(t) * 2);
      st = asim_tensor_to_f32(&conv);
      if (st != ASIM_OK) {
        free(conv.data);
        return st;
      }
      t = &conv;
      break;
    default: return ASIM_ERR(ASIM_EINVAL, "%s: '%s' has unsupported dtype %d", path, k, (int)t->dtype);
    }
    hsize_t dims[ASIM_MAXDIM];
    for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
    hid_t sp = t->ndim ? H5Screate_simple(t->ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t ds = sp < 0 ? -1 : H5Dcreate2(loc, k, ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (ds < 0 || (asim_tensor_numel(t) > 0 && H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0))
      st = H5ERR(ASIM_EIO, "%s: cannot write dataset '%s'", path, k);
    close_id(&ds);
    close_id(&sp);
    free(conv.data);
    if (st != ASIM_OK) return st;
  }
  char *json;
  ASIM_CHECK(json_keys(s, &json));
  st = attr_write_str(loc, "keys_json", json, path);
  free(json);
  return st;
}

static asim_status read_dataset(hid_t loc, const char *k, asim_tensor *t, const char *path) {
  hid_t ds = -1, ft = -1, sp = -1, mt;
  asim_status st = ASIM_OK;
  memset(t, 0, sizeof *t);
  if (H5Lexists(loc, k, H5P_DEFAULT) <= 0) return ASIM_ERR(ASIM_EFORMAT, "%s: key '%s' is listed in keys_json but there is no such dataset", path, k);
  if ((ds = H5Dopen2(loc, k, H5P_DEFAULT)) < 0 || (ft = H5Dget_type(ds)) < 0 || (sp = H5Dget_space(ds)) < 0) {
    st = H5ERR(ASIM_EFORMAT, "%s: cannot open dataset '%s'", path, k);
    goto done;
  }
  asim_dtype dt;
  H5T_class_t c = H5Tget_class(ft);
  size_t sz = H5Tget_size(ft);
  if (c == H5T_FLOAT) dt = ASIM_F32, mt = H5T_NATIVE_FLOAT; /* float64 datasets are narrowed by HDF5 */
  else if (c == H5T_INTEGER && sz == 4 && H5Tget_sign(ft) == H5T_SGN_2) dt = ASIM_I32, mt = H5T_NATIVE_INT32;
  else if (c == H5T_INTEGER && sz == 1 && H5Tget_sign(ft) == H5T_SGN_NONE) dt = ASIM_U8, mt = H5T_NATIVE_UINT8;
  else if (c == H5T_INTEGER) dt = ASIM_I64, mt = H5T_NATIVE_INT64;
  else {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: dataset '%s' is neither float nor integer", path, k);
    goto done;
  }
  int nd = H5Sget_simple_extent_ndims(sp);
  if (nd < 0 || nd > ASIM_MAXDIM || H5Sget_simple_extent_type(sp) == H5S_NULL) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: dataset '%s' has an unsupported dataspace (rank %d)", path, k, nd);
    goto done;
  }
  hsize_t dims[ASIM_MAXDIM];
  int64_t shape[ASIM_MAXDIM];
  H5Sget_simple_extent_dims(sp, dims, NULL);
  for (int d = 0; d < nd; d++) {
    if (dims[d] > (hsize_t)INT64_MAX) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: dataset '%s' dimension %d is too large", path, k, d);
      goto done;
    }
    shape[d] = (int64_t)dims[d];
  }
  ASIM_CHECK_GOTO(st, asim_tensor_alloc(t, dt, nd, shape), done);
  if (asim_tensor_numel(t) > 0 && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0) {
    st = H5ERR(ASIM_EFORMAT, "%s: cannot read dataset '%s'", path, k);
    asim_tensor_free(t);
  }
done:
  close_id(&sp);
  close_id(&ft);
  close_id(&ds);
  return st;
}

static asim_status read_state(hid_t loc, asim_state *out, const char *path) {
  char *json = NULL, **keys = NULL;
  int nk = 0;
  asim_state s = {0};
  asim_status st = ASIM_OK;
  if (out->n != 0) return ASIM_ERR(ASIM_EINVAL, "%s: the output state must be empty", path);
  ASIM_CHECK(attr_read_str(loc, "keys_json", &json, path));
  if (!json) return ASIM_ERR(ASIM_EFORMAT, "%s: no 'keys_json' attribute: not an asim-mpi checkpoint", path);
  ASIM_CHECK_GOTO(st, parse_keys(json, &keys, &nk, path), done);
  for (int i = 0; i < nk; i++) {
    if (!valid_key(keys[i])) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: keys_json entry %d ('%s') is not a dataset name", path, i, keys[i]);
      goto done;
    }
    if (asim_state_find(&s, keys[i])) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: key '%s' appears twice in keys_json", path, keys[i]);
      goto done;
    }
    asim_tensor t;
    ASIM_CHECK_GOTO(st, read_dataset(loc, keys[i], &t, path), done);
    st = asim_state_add(&s, keys[i], &t);
    if (st != ASIM_OK) {
      asim_tensor_free(&t);
      goto done;
    }
  }
  *out = s;
  memset(&s, 0, sizeof s);
done:
  for (int i = 0; i < nk; i++) free(keys[i]);
  free(keys);
  free(json);
  asim_state_free(&s);
  return st;
}

/* ------------------------------------------------------------------------------------------
 * public API */

asim_status asim_ckpt_h5_write(const char *path, const asim_state *state, const asim_ckpt_meta *meta) {
  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp) return ASIM_ERR(ASIM_EINVAL, "checkpoint path too long");
  h5_quiet q;
  quiet_on(&q);
  asim_status st = ASIM_OK;
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS), f = -1;
  /* 1.8 format: dense attribute storage lets keys_json exceed 64 KiB; creation order kept
   * so h5dump --sort_by=creation_order lists datasets in state_dict order */
  H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18);
  if ((f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl)) < 0) {
    st = H5ERR(ASIM_EIO, "cannot create checkpoint file '%s'", tmp);
    goto done;
  }
  ASIM_CHECK_GOTO(st, write_state(f, state, path), done);
  ASIM_CHECK_GOTO(st, attr_write_i64(f, "format_version", 1, path), done);
  if (meta) {
    if (meta->model_name[0]) ASIM_CHECK_GOTO(st, attr_write_str(f, "model_name", meta->model_name, path), done);
    if (meta->classes >= 0) ASIM_CHECK_GOTO(st, attr_write_i64(f, "classes", meta->classes, path), done);
    if (meta->epoch >= 0) ASIM_CHECK_GOTO(st, attr_write_i64(f, "epoch", meta->epoch, path), done);
    if (meta->best_acc >= 0) ASIM_CHECK_GOTO(st, attr_write_f64(f, "best_acc", meta->best_acc, path), done);
    if (meta->provenance[0]) ASIM_CHECK_GOTO(st, attr_write_str(f, "provenance", meta->provenance, path), done);
  }
  if (H5Fclose(f) < 0) {
    f = -1;
    st = H5ERR(ASIM_EIO, "%s: cannot close (flush) the checkpoint file", tmp);
    goto done;
  }
  f = -1;
  if (rename(tmp, path) != 0) st = ASIM_ERR(ASIM_EIO, "cannot rename '%s' to '%s'", tmp, path);
done:
  close_id(&f);
  close_id(&fapl);
  close_id(&fcpl);
  if (st != ASIM_OK) unlink(tmp);
  quiet_off(&q);
  return st;
}

static asim_status read_meta(hid_t f, asim_ckpt_meta *m, const char *path) {
  char *s = NULL;
  double v;
  int found;
  asim_ckpt_meta_init(m);
  ASIM_CHECK(attr_read_str(f, "model_name", &s, path));
  if (!s) ASIM_CHECK(attr_read_str(f, "model", &s, path)); /* the reference files' name */
  if (s) snprintf(m->model_name, sizeof m->model_name, "%s", s);
  free(s);
  ASIM_CHECK(attr_read_str(f, "provenance", &s, path));
  if (s) snprintf(m->provenance, sizeof m->provenance, "%s", s);
  free(s);
  ASIM_CHECK(attr_read_num(f, "classes", &v, &found, path));
  if (!found) ASIM_CHECK(attr_read_num(f, "num_classes", &v, &found, path));
  if (found) m->classes = (int64_t)v;
  ASIM_CHECK(attr_read_num(f, "epoch", &v, &found, path));
  if (found) m->epoch = (int64_t)v;
  ASIM_CHECK(attr_read_num(f, "best_acc", &v, &found, path));
  if (found) m->best_acc = v;
  return ASIM_OK;
}

static asim_status open_ro(const char *path, hid_t *f) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return ASIM_ERR(ASIM_EIO, "cannot open checkpoint '%s'", path);
  fclose(fp);
  if ((*f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) return H5ERR(ASIM_EFORMAT, "'%s' is not a readable HDF5 file", path);
  return ASIM_OK;
}

asim_status asim_ckpt_h5_read(const char *path, asim_state *state, asim_ckpt_meta *meta) {
  h5_quiet q;
  quiet_on(&q);
  hid_t f = -1;
  asim_status st = ASIM_OK;
  asim_ckpt_meta m;
  ASIM_CHECK_GOTO(st, open_ro(path, &f), done);
  ASIM_CHECK_GOTO(st, read_meta(f, &m, path), done);
  ASIM_CHECK_GOTO(st, read_state(f, state, path), done);
  if (meta) *meta = m;
done:
  close_id(&f);
  quiet_off(&q);
  return st;
}

static asim_status check_group_name(const char *g) {
  if (!g || !g[0] || g[0] == '/' || g[strlen(g) - 1] == '/' || strstr(g, "//"))
    return ASIM_ERR(ASIM_EINVAL, "bad checkpoint group name '%s'", g ? g : "(null)");
  for (const char *c = g; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-' || *c == '/'))
      return ASIM_ERR(ASIM_EINVAL, "bad checkpoint group name '%s' (allowed: A-Z a-z 0-9 _ . - /)", g);
  for (const char *c = g; *c;) { /* no "." or ".." components */
    size_t n = strcspn(c, "/");
    if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return ASIM_ERR(ASIM_EINVAL, "bad checkpoint group name '%s'", g);
    c += n + (c[n] == '/');
  }
  return ASIM_OK;
}

asim_status asim_ckpt_h5_write_group(const char *path, const char *group, const asim_state *state, const asim_ckpt_scalars *scalars) {
  ASIM_CHECK(check_group_name(group));
  if (scalars && (scalars->n < 0 || scalars->n > ASIM_CKPT_MAX_SCALARS)) return ASIM_ERR(ASIM_EINVAL, "bad scalar count %d", scalars->n);
  h5_quiet q;
  quiet_on(&q);
  hid_t f = -1, g = -1, lcpl = -1, gcpl = -1;
  asim_status st = ASIM_OK;
  if ((f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT)) < 0) {
    st = H5ERR(ASIM_EIO, "cannot open checkpoint '%s' for writing", path);
    goto done;
  }
  if (H5Lexists(f, group, H5P_DEFAULT) > 0 && H5Ldelete(f, group, H5P_DEFAULT) < 0) {
    st = H5ERR(ASIM_EIO, "%s: cannot replace group '%s'", path, group);
    goto done;
  }
  lcpl = H5Pcreate(H5P_LINK_CREATE);
  gcpl = H5Pcreate(H5P_GROUP_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  if ((g = H5Gcreate2(f, group, lcpl, gcpl, H5P_DEFAULT)) < 0) {
    st = H5ERR(ASIM_EIO, "%s: cannot create group '%s'", path, group);
    goto done;
  }
  ASIM_CHECK_GOTO(st, write_state(g, state, path), done);
  for (int i = 0; scalars && i < scalars->n; i++) {
    const char *nm = scalars->name[i];
    if (!memchr(nm, 0, sizeof scalars->name[i]) || !nm[0] || strcmp(nm, "keys_json") == 0) {
      st = ASIM_ERR(ASIM_EINVAL, "%s: bad scalar attribute name #%d for group '%s'", path, i, group);
      goto done;
    }
    ASIM_CHECK_GOTO(st, attr_write_f64(g, nm, scalars->value[i], path), done);
  }
done:
  close_id(&g);
  close_id(&gcpl);
  close_id(&lcpl);
  if (f >= 0 && H5Fclose(f) < 0 && st == ASIM_OK) st = H5ERR(ASIM_EIO, "%s: cannot close (flush) the checkpoint file", path);
  quiet_off(&q);
  return st;
}

typedef struct {
  asim_ckpt_scalars *sc;
  hid_t loc;
  const char *path;
  asim_status st;
} scalar_iter;

static herr_t scalar_cb(hid_t loc, const char *name, const H5A_info_t *info, void *ud) {
  scalar_iter *it = ud;
  double v;
  int found;
  if (strcmp(name, "keys_json") == 0) return 0;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = a < 0 ? -1 : H5Aget_type(a);
  H5T_class_t c = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
  close_id(&t);
  close_id(&a);
  if (c != H5T_INTEGER && c != H5T_FLOAT) return 0;
  it->st = attr_read_num(loc, name, &v, &found, it->path);
  if (it->st != ASIM_OK) return -1;
  if (!found) return 0;
  if (it->sc->n >= ASIM_CKPT_MAX_SCALARS || strlen(name) >= sizeof it->sc->name[0]) {
    it->st = ASIM_ERR(ASIM_EFORMAT, "%s: too many or too long scalar attributes (at '%s')", it->path, name);
    return -1;
  }
  snprintf(it->sc->name[it->sc->n], sizeof it->sc->name[0], "%s", name);
  it->sc->value[it->sc->n++] = v;
  return 0;
}

asim_status asim_ckpt_h5_read_group(const char *path, const char *group, asim_state *state, asim_ckpt_scalars *scalars) {
  ASIM_CHECK(check_group_name(group));
  h5_quiet q;
  quiet_on(&q);
  hid_t f = -1, g = -1;
  asim_status st = ASIM_OK;
  asim_ckpt_scalars sc;
  sc.n = 0;
  ASIM_CHECK_GOTO(st, open_ro(path, &f), done);
  if (H5Lexists(f, group, H5P_DEFAULT) <= 0 || (g = H5Gopen2(f, group, H5P_DEFAULT)) < 0) {
    H5Eclear2(H5E_DEFAULT);
    st = ASIM_ERR(ASIM_EFORMAT, "%s: no group '%s'", path, group);
    goto done;
  }
  if (scalars) {
    scalar_iter it = {&sc, g, path, ASIM_OK};
    hsize_t idx = 0;
    if (H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, scalar_cb, &it) < 0) {
      st = it.st != ASIM_OK ? it.st : H5ERR(ASIM_EFORMAT, "%s: cannot list the attributes of group '%s'", path, group);
      goto done;
    }
  }
  ASIM_CHECK_GOTO(st, read_state(g, state, path), done);
  if (scalars) *scalars = sc;
done:
  close_id(&g);
  close_id(&f);
  quiet_off(&q);
  return st;
}

asim_status asim_ckpt_h5_has_group(const char *path, const char *group, int *exists) {
  ASIM_CHECK(check_group_name(group));
  h5_quiet q;
  quiet_on(&q);
  hid_t f = -1;
  asim_status st = ASIM_OK;
  *exists = 0;
  ASIM_CHECK_GOTO(st, open_ro(path, &f), done);
  /* check each prefix: H5Lexists fails on a missing intermediate group */
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", group);
  *exists = 1;
  for (char *c = buf;; c++) {
    if (*c == '/' || *c == 0) {
      char save = *c;
      *c = 0;
      if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) {
        *exists = 0;
        break;
      }
      *c = save;
      if (!save) break;
    }
  }
  if (*exists) { /* a dataset of that name is not a group */
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    if (g < 0) *exists = 0;
    close_id(&g);
  }
  H5Eclear2(H5E_DEFAULT);
done:
  close_id(&f);
  quiet_off(&q);
  return st;
}
