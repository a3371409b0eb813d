#include "asim/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t asim_dtype_size(asim_dtype t) {
  switch (t) {
  case ASIM_F32: case ASIM_I32: return 4;
  case ASIM_F64: case ASIM_I64: return 8;
  case ASIM_U8: return 1;
  case ASIM_F16: case ASIM_BF16: return 2;
  }
  return 0;
}

const char *asim_dtype_name(asim_dtype t) {
  static const char *n[] = {"float32", "float64", "int32", "int64", "uint8", "float16", "bfloat16"};
  return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "?";
}

int64_t asim_tensor_numel(const asim_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

asim_status asim_tensor_alloc(asim_tensor *t, asim_dtype dtype, int ndim, const int64_t *shape) {
  memset(t, 0, sizeof *t);
  if (ndim < 0 || ndim > ASIM_MAXDIM) return ASIM_ERR(ASIM_EINVAL, "tensor rank %d not in 0..%d", ndim, ASIM_MAXDIM);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || (shape[i] > 0 && n > INT64_MAX / shape[i]))
      return ASIM_ERR(ASIM_EINVAL, "bad tensor dimension %lld", (long long)shape[i]);
    n *= shape[i];
  }
  t->dtype = dtype;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  ASIM_CHECK(asim_calloc(&t->data, (size_t)n, asim_dtype_size(dtype)));
  return ASIM_OK;
}

void asim_tensor_free(asim_tensor *t) {
  if (!t) return;
  free(t->data);
  t->data = NULL;
}

static float half_to_float(uint16_t h) {
  uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
  if (e == 0) { /* zero or subnormal: value m * 2^-24 */
    float f = ldexpf((float)m, -24);
    return s ? -f : f;
  }
  if (e == 31) bits = s | 0x7f800000u | (m << 13);
  else bits = s | ((e + 112) << 23) | (m << 13);
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

asim_status asim_tensor_to_f32(asim_tensor *t) {
  if (t->dtype == ASIM_F32) return ASIM_OK;
  int64_t n = asim_tensor_numel(t);
  float *out;
  ASIM_CHECK(asim_malloc(&out, (size_t)n * sizeof(float)));
  for (int64_t i = 0; i < n; i++) {
    switch (t->dtype) {
    case ASIM_F64: out[i] = (float)((double *)t->data)[i]; break;
    case ASIM_I32: out[i] = (float)((int32_t *)t->data)[i]; break;
    case ASIM_I64: out[i] = (float)((int64_t *)t->data)[i]; break;
    case ASIM_U8: out[i] = (float)((uint8_t *)t->data)[i]; break;
    case ASIM_F16: out[i] = half_to_float(((uint16_t *)t->data)[i]); break;
    case ASIM_BF16: {
      uint32_t b = (uint32_t)((uint16_t *)t->data)[i] << 16;
      memcpy(&out[i], &b, 4);
      break;
    }
    case ASIM_F32: break;
    }
  }
  free(t->data);
  t->data = out;
  t->dtype = ASIM_F32;
  return ASIM_OK;
}

const char *asim_tensor_shape_str(const asim_tensor *t, char *buf, size_t len) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, len - o, "[");
  for (int i = 0; i < t->ndim && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, i ? ", %lld" : "%lld", (long long)t->shape[i]);
  if (o < len) snprintf(buf + o, len - o, "]");
  return buf;
}

int asim_tensor_same_shape(const asim_tensor *a, const asim_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

asim_status asim_state_add(asim_state *s, const char *name, asim_tensor *t) {
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    char **nn = realloc(s->names, (size_t)cap * sizeof *nn);
    if (!nn) return ASIM_ERR(ASIM_ENOMEM, "state dict growth");
    s->names = nn;
    asim_tensor *nt = realloc(s->tensors, (size_t)cap * sizeof *nt);
    if (!nt) return ASIM_ERR(ASIM_ENOMEM, "state dict growth");
    s->tensors = nt;
    s->cap = cap;
  }
  char *copy = strdup(name);
  if (!copy) return ASIM_ERR(ASIM_ENOMEM, "state dict name");
  s->names[s->n] = copy;
  s->tensors[s->n] = *t;
  t->data = NULL;
  s->n++;
  return ASIM_OK;
}

asim_tensor *asim_state_find(const asim_state *s, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->names[i], name) == 0) return &s->tensors[i];
  return NULL;
}

void asim_state_free(asim_state *s) {
  for (int i = 0; i < s->n; i++) {
    free(s->names[i]);
    asim_tensor_free(&s->tensors[i]);
  }
  free(s->names);
  free(s->tensors);
  memset(s, 0, sizeof *s);
}
