/* tensor.h — the small tensor type: a dtype, a shape (C order, last index fastest) and one
 * owned buffer. Used where shapes travel with data (checkpoints, case files, state dicts);
 * the layer kernels themselves take flat arrays with explicit dimensions (llm.c style). */
#ifndef ASIM_TENSOR_H
#define ASIM_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "asim/error.h"

#define ASIM_MAXDIM 8

typedef enum { ASIM_F32 = 0, ASIM_F64, ASIM_I32, ASIM_I64, ASIM_U8, ASIM_F16, ASIM_BF16 } asim_dtype;

typedef struct {
  asim_dtype dtype;
  int ndim; /* 0 = scalar */
  int64_t shape[ASIM_MAXDIM];
  void *data; /* owned; nelem * dtype size bytes */
} asim_tensor;

size_t asim_dtype_size(asim_dtype t);
const char *asim_dtype_name(asim_dtype t);
int64_t asim_tensor_numel(const asim_tensor *t);
/* Allocates a zeroed tensor of the given shape. */
asim_status asim_tensor_alloc(asim_tensor *t, asim_dtype dtype, int ndim, const int64_t *shape);
void asim_tensor_free(asim_tensor *t);
/* Converts in place to float32 (from f64/f16/bf16/i32/i64/u8). */
asim_status asim_tensor_to_f32(asim_tensor *t);
/* "[64, 3, 3, 3]" into buf. */
const char *asim_tensor_shape_str(const asim_tensor *t, char *buf, size_t len);
int asim_tensor_same_shape(const asim_tensor *a, const asim_tensor *b);

/* An ordered name -> tensor map (a PyTorch state_dict). Names are owned copies. */
typedef struct {
  int n, cap;
  char **names;
  asim_tensor *tensors;
} asim_state;

asim_status asim_state_add(asim_state *s, const char *name, asim_tensor *t); /* takes t's buffer */
asim_tensor *asim_state_find(const asim_state *s, const char *name);
void asim_state_free(asim_state *s);

#endif
