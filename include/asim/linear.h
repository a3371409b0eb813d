/* linear.h — ASiMLinear forward pass (spec §3.4): 'fc' on (B, in) and 'proj' on (B, T, in)
 * token tensors; the per-row arithmetic is identical, only the tensor rank (and so the
 * sample each row belongs to) differs. */
#ifndef ASIM_LINEAR_H
#define ASIM_LINEAR_H

#include "asim/cim.h"
#include "asim/engine.h"

typedef struct {
  int in_features, out_features;
  asim_cim_params p;
  uint32_t layer_id;
  asim_wcache *cache; /* optional (NULL: weights quantised and packed on every call) */
} asim_linear_dims;

asim_status asim_linear_check(const asim_linear_dims *l);

/* out (B·T, out) = layer(in (B·T, in)); T = 1 for 'fc'. Rows b·T … b·T+T−1 are sample b. */
asim_status asim_linear_forward(float *out, const float *in, int B, int T, const float *weight,
                                const float *bias, const asim_linear_dims *l, const asim_exec *ex);

#endif
