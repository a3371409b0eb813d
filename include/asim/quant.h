/* quant.h — ASiM's quantisers with its exact float32 semantics (spec §1): scale factors,
 * integer codes (Inference/Simulation) and fake-quantised values (Train).
 *
 * Every operation is the float32 sequence ASiM evaluates: s = fl(max + 1e-7), code =
 * rne(fl(clamp(fl(|x|/s),0,1)·L)), ties to even (rintf). Signed levels L = 2^(b-1)-1
 * (sign-magnitude style, -2^(b-1) never produced), unsigned levels L = 2^b-1 (negatives → 0). */
#ifndef ASIM_QUANT_H
#define ASIM_QUANT_H

#include <stdint.h>

#define ASIM_EPS 1e-7f

/* Largest code magnitude: signed 2^(b-1)-1, unsigned 2^b-1. */
static inline int32_t asim_levels(int bits, int is_signed) {
  return is_signed ? (int32_t)((1u << (bits - 1)) - 1u) : (int32_t)((1u << bits) - 1u);
}

/* max |x| (signed) or max x (unsigned, no absolute value — spec §3.7 quirk 10), no epsilon. */
float asim_absmax(const float *x, int64_t n);
float asim_max(const float *x, int64_t n);
/* fl(m + eps): the scale once the (possibly all-reduced) maximum m is known. */
static inline float asim_scale_from_max(float m) { return m + ASIM_EPS; }

/* Integer codes as float-exact int32. s must come from asim_scale_from_max. */
void asim_quantize(int32_t *q, const float *x, int64_t n, float s, int bits, int is_signed);
/* Train-mode fake quantisation: signed fl(fl(fl(q/L)·s)·sgn(x)), unsigned fl(fl(q/L)·s). */
void asim_fake_quantize(float *y, const float *x, int64_t n, float s, int bits, int is_signed);
/* Dequantisation divisor D = Ls(wbit)·(Ls or Lu)(xbit) as an exact float. */
float asim_dequant_divisor(int wbit, int xbit, int x_signed);
/* Y = fl(fl(acc·fl(s_w·s_x))/D), in place; then + bias[o] if bias (per output channel o,
 * element index = o·inner + r over `outer` blocks of out_ch·inner elements). */
void asim_dequantize(float *y, int64_t n, float s_w, float s_x, float D);

#endif
