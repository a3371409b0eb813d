/* conv.h — ASiMConv2d and QuantConv2d forward passes (spec §3.3, §5.2) on NCHW float arrays.
 * Square kernels, groups 1, dilation 1, zero padding — the only geometry ASiM uses. */
#ifndef ASIM_CONV_H
#define ASIM_CONV_H

#include "asim/cim.h"
#include "asim/engine.h"

typedef struct {
  int in_ch, out_ch, k, stride, pad;
  asim_cim_params p;
  uint32_t layer_id;
  int quant_conv; /* QuantConv2d: always signed activations, no Simulation, no trim noise,
                     Inference adds the bias twice as ASiM does (§3.6) */
  asim_wcache *cache; /* optional (NULL: weights quantised and packed on every call) */
} asim_conv_dims;

static inline int asim_conv_out_size(int in, int k, int stride, int pad) {
  return (in - k + 2 * pad) / stride + 1;
}

/* ASiM's macro mapping of a conv: G input channels (G·k² rows) per load, U loads simulated. */
typedef struct {
  int64_t channels_per_load; /* G = floor(nrow / k²) */
  int64_t loads;             /* U = ceil(C·k²/nrow) as ASiM, or ceil(C/G) when corrected */
  int64_t ignored_channels;  /* input channels ASiM drops (0 when corrected) */
} asim_conv_map;

asim_status asim_conv_mapping(const asim_conv_dims *c, asim_conv_map *map);
asim_status asim_conv_check(const asim_conv_dims *c);

/* out (B, out_ch, Ho, Wo) = layer(in (B, in_ch, H, W)); bias may be NULL. */
asim_status asim_conv2d_forward(float *out, const float *in, int B, int H, int W,
                                const float *weight, const float *bias, const asim_conv_dims *c,
                                const asim_exec *ex);

/* im2col of 4-byte elements (float or int32 codes): cols[p][c·k·k + u·k + v] = x[c][y·s−pad+u][x·s−pad+v],
 * zero outside. x is one sample (C, H, W); cols is (Ho·Wo, C·k·k). */
void asim_im2col32(void *cols, const void *x, int C, int H, int W, int k, int stride, int pad);

#endif
