/* grad.h — the backward passes of training, llm.c style: plain *_forward / *_backward
 * functions over flat float32 arrays with explicit shapes. Backward functions ACCUMULATE
 * parameter gradients (dw += …) and WRITE input gradients (dx = …); dx may be NULL when the
 * input needs no gradient. Forward functions that training needs beyond the inference ones
 * (nn.h) keep what their backward needs in caller-provided arrays.
 *
 * Straight-through estimators follow ASiM exactly (spec §1.8): rounding and clamping pass the
 * gradient unchanged, the sign and the scale are detached, so a signed fake quantiser passes
 * dy where x != 0 and 0 where x == 0, an unsigned one passes dy everywhere, and no gradient
 * reaches a scale. Reductions that span ranks (BatchNorm statistics, activation maxima) go
 * through an asim_reduce so that a batch split over ranks computes what one rank would. */
#ifndef ASIM_GRAD_H
#define ASIM_GRAD_H

#include <stdint.h>

#include "asim/attention.h"
#include "asim/conv.h"
#include "asim/error.h"
#include "asim/linear.h"
#include "asim/noise.h"

/* Cross-rank reductions (NULL members or a NULL pointer: this process only). */
typedef struct {
  void (*sum)(double *v, int n, void *arg); /* in-place global sum of n doubles */
  float (*max)(float m, void *arg);         /* global maximum */
  void *arg;
} asim_reduce;

/* ---- fake quantisers and trim noise ------------------------------------------------------ */

/* STE of a fake quantiser (spec §1.8): dx = dy·[x != 0] (signed) or dx = dy (unsigned).
 * dx may alias dy. */
void asim_fake_quantize_backward(float *dx, const float *dy, const float *x, int64_t n, int is_signed);

/* Train-mode trim noise of spec §4 as one factor per element: f = 1 + fl(ξ·σ), σ = pct/100,
 * ξ the same Philox draw as asim_trim_noise (key, sample sample0 + e / per_sample, element
 * e % per_sample). Forward: y ← y + fl(fl(ξσ)·y); backward: dy ← dy·(1 + fl(ξσ)).
 * pct == 0 leaves y / dy untouched (ASiM adds ±0). */
void asim_trim_noise_forward(float *y, int64_t n, int64_t per_sample, float pct, asim_noise_key key,
                             int64_t sample0);
void asim_trim_noise_backward(float *dy, int64_t n, int64_t per_sample, float pct, asim_noise_key key,
                              int64_t sample0);
/* The terms t_e = fl(ξ_e·σ) themselves, so a forward can keep them for its backward. */
void asim_trim_noise_terms(float *t, int64_t n, int64_t per_sample, float pct, asim_noise_key key, int64_t sample0);
/* Noise-aware training against the macro (run.train_macro_noise, asim-mpi addition): y += ξ·σ·f
 * with ξ ~ N(0,1) drawn like trim noise on stream MACRO_TRAIN, σ the output-domain std of the
 * macro error (asim_cim_macro_noise_var times the two quantiser scales) and f the sample's
 * strength (asim_macro_noise_strength). Additive and independent of the parameters, so the
 * backward passes dy through unchanged. */
void asim_macro_noise_forward(float *y, int64_t n, int64_t per_sample, float sigma, float mix, asim_noise_key key,
                              int64_t sample0);

/* The strength f of a sample's macro noise (run.train_macro_noise_mix): 1 when mix = 0; else 0
 * (a clean sample) with probability mix, otherwise uniform in [0, 1) — one draw per (seed,
 * sample), the same in every layer. */
float asim_macro_noise_strength(uint32_t seed, int64_t sample, float mix);

/* ---- convolution and linear (OpenBLAS sgemm) --------------------------------------------- */

/* out (B, O, Ho, Wo) = conv(x (B, C, H, W), w (O, C, k, k)) + bias (may be NULL), im2col +
 * sgemm over chunks of samples (the training path; the inference path is asim_conv2d_float). */
asim_status asim_conv2d_train_forward(float *out, const float *x, int B, int C, int H, int W, const float *w,
                                      const float *bias, int O, int k, int stride, int pad);
/* dw (O, C, k, k) += Σ dy ⊗ cols; db (O) += Σ dy (db may be NULL); dx = col2im(wᵀ dy) (may be NULL). */
asim_status asim_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                                 int B, int C, int H, int W, int O, int k, int stride, int pad);

/* out (R, O) = x (R, K) · wᵀ + bias */
void asim_linear_train_forward(float *out, const float *x, const float *w, const float *bias, int64_t R, int K, int O);
/* dw (O, K) += dyᵀ x; db += Σ_rows dy; dx (R, K) = dy · w (may be NULL). */
void asim_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int64_t R,
                          int K, int O);

/* ---- normalisation ------------------------------------------------------------------------ */

/* Training-mode BatchNorm over (B, C, HW) with batch statistics (summed across ranks by r):
 * y = (x − μ)·rstd·γ + β, rstd = 1/sqrt(var_biased + eps). Writes the batch mean, rstd and the
 * unbiased variance (for the running estimate) per channel; n_total receives the global count
 * N = Σ_ranks B·HW. */
void asim_batchnorm_train_forward(float *y, float *mean, float *rstd, float *var_unbiased, double *n_total,
                                  const float *x, int B, int C, int64_t HW, const float *gamma, const float *beta,
                                  float eps, const asim_reduce *r);
/* PyTorch's running estimates: r ← (1 − momentum)·r + momentum·batch value. */
void asim_batchnorm_update_running(float *running_mean, float *running_var, const float *mean,
                                   const float *var_unbiased, int C, float momentum);
/* dγ, dβ accumulate this rank's contributions (the gradient all-reduce sums them); dx uses the
 * global sums Σdy and Σdy·x̂ (reduced through r). n_total as returned by the forward. */
void asim_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *mean, const float *rstd, const float *gamma, int B, int C, int64_t HW,
                             double n_total, const asim_reduce *r);

/* LayerNorm over rows × n with the arithmetic of asim_layernorm_forward; keeps mean and rstd
 * per row for the backward. */
void asim_layernorm_train_forward(float *y, float *mean, float *rstd, const float *x, int64_t rows, int n,
                                  const float *gamma, const float *beta, float eps);
void asim_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *mean, const float *rstd, const float *gamma, int64_t rows, int n);

/* ---- activations, pooling ------------------------------------------------------------------ */

/* PACT (spec §5.1): dx = dy where 0 <= x <= α (inclusive), else 0; *dalpha += Σ dy·[x > α]. */
void asim_pact_backward(float *dx, float *dalpha, const float *dy, const float *x, int64_t n, float alpha);
/* ReLU (PyTorch): dx = dy·[x > 0]. */
void asim_relu_backward(float *dx, const float *dy, const float *x, int64_t n);
/* GELU, exact erf form: dx = dy·(Φ(x) + x·φ(x)). */
void asim_gelu_backward(float *dx, const float *dy, const float *x, int64_t n);

/* Max pooling that also records the winning input index of each output (within its plane,
 * −1 when the window is all padding). The forward values equal asim_maxpool_forward. */
void asim_maxpool_train_forward(float *y, int32_t *argmax, const float *x, int BC, int H, int W, int k, int stride,
                                int pad);
void asim_maxpool_backward(float *dx, const float *dy, const int32_t *argmax, int BC, int H, int W, int Ho, int Wo);
/* Adaptive average pooling backward (windows as asim_adaptive_avgpool_forward). */
void asim_adaptive_avgpool_backward(float *dx, const float *dy, int BC, int H, int W, int OH, int OW);

/* Row softmax backward: dx = y ⊙ (dy − Σ dy·y). dx may alias dy. */
void asim_softmax_backward(float *dx, const float *dy, const float *y, int64_t rows, int64_t n);

/* ---- dropout ------------------------------------------------------------------------------- */

/* Inverted dropout with a counter-based mask: element e of sample sample0 + e / per_sample is
 * kept when its Philox uniform (key, sample, element) is >= p, and then scaled by 1/(1 − p).
 * The same call with the same arguments gives the same mask, so the backward regenerates it:
 * asim_dropout_forward on dy is the backward. In place allowed. p = 0: copy. */
void asim_dropout_forward(float *y, const float *x, int64_t n, int64_t per_sample, float p, asim_noise_key key,
                          int64_t sample0);

/* ---- losses -------------------------------------------------------------------------------- */

/* Cross-entropy of logits (B, K) against soft targets built from labels: class y gets 1 − ε
 * and every other class ε/(K − 1) (ASiM's label smoothing, spec §8; ε = 0: plain one-hot).
 * With mixup (labels2 != NULL) the target is λ·t(y) + (1 − λ)·t(y2), which is ASiM's
 * λ·L(out, y) + (1 − λ)·L(out, y[π]). Returns Σ over the B samples of the loss (double);
 * dlogits (may be NULL) = scale·(softmax − target), scale = 1/global batch for a mean loss.
 * loss_per_sample (may be NULL) receives each sample's loss. */
double asim_cross_entropy(float *dlogits, double *loss_per_sample, const float *logits, const int *labels,
                          const int *labels2, float lam, int B, int K, float smooth_eps, float scale);

/* ---- ASiM layers in Train mode (fake quantisation + STE + trim noise) ----------------------- */

/* ASiMConv2d / QuantConv2d in Train mode (spec §1.6, §3.6, §4): out = conv(fq(x), fq(w)) + bias,
 * then (ASiMConv2d only) trim noise. The activation scale is a max over the whole batch
 * (through ex->max_reduce when ranks share the batch); *sx and *sw receive the scales the
 * backward needs. fake_quant = 0 runs the float layer instead (gradient tests only). trim
 * (may be NULL) keeps the trim-noise terms fl(ξσ) of the output (one float per output element)
 * for the backward, which then does not redraw them; ignored when trim_noise is 0. */
asim_status asim_conv2d_qat_forward(float *out, float *sx, float *sw, const float *x, int B, int H, int W,
                                    const float *w, const float *bias, const asim_conv_dims *c, const asim_exec *ex,
                                    int fake_quant, float *trim);
/* The backward of the call above (same x, w, scales, ex). dy is consumed: the trim-noise factors
 * are applied to it in place. dw/db accumulate, dx is written (either may be NULL). */
asim_status asim_conv2d_qat_backward(float *dx, float *dw, float *db, float *dy, const float *x, int B, int H, int W,
                                     const float *w, float sx, float sw, const asim_conv_dims *c, const asim_exec *ex,
                                     int fake_quant, const float *trim);
/* ASiMLinear in Train mode on (B·T, in) rows (T = 1: 'fc'). */
asim_status asim_linear_qat_forward(float *out, float *sx, float *sw, const float *x, int B, int T, const float *w,
                                    const float *bias, const asim_linear_dims *l, const asim_exec *ex, int fake_quant,
                                    float *trim);
asim_status asim_linear_qat_backward(float *dx, float *dw, float *db, float *dy, const float *x, int B, int T,
                                     const float *w, float sx, float sw, const asim_linear_dims *l,
                                     const asim_exec *ex, int fake_quant, const float *trim);

/* What the attention backward needs from its forward. */
typedef struct {
  float *z;  /* qkv output after trim noise (B, T, 3E) */
  float *P;  /* softmax output (B, H, T, T), before dropout */
  float *y;  /* heads re-packed, the proj input (B, T, E) */
  float s_x, s_wqkv, s_q, s_k, s_p, s_v, s_y, s_wproj; /* quantiser scales */
} asim_mha_cache;

/* ASiMMultiheadAttention in Train mode (spec §3.5): fake-quantised qkv linear, q·kᵀ on
 * fake-quantised q, k with trim noise, ×fl(E^-1/2), softmax, attention dropout (p, counter-based,
 * training only: pass 0 in evaluation), fake-quantised P (unsigned) · v with trim noise, proj. */
asim_status asim_mha_train_forward(float *out, asim_mha_cache *c, const float *in, int B, int T, const float *qkv_w,
                                   const float *qkv_b, const float *proj_w, const float *proj_b,
                                   const asim_mha_dims *a, float dropout, const asim_exec *ex, int fake_quant);
asim_status asim_mha_backward(float *dx, float *dqkv_w, float *dqkv_b, float *dproj_w, float *dproj_b,
                              const float *dout, const float *in, int B, int T, const float *qkv_w,
                              const float *proj_w, const asim_mha_cache *c, const asim_mha_dims *a, float dropout,
                              const asim_exec *ex, int fake_quant);
void asim_mha_cache_free(asim_mha_cache *c);

/* Dropout keys: model-level dropout after operation i uses site ASIM_DROP_SITE_OP + i, attention
 * dropout of a block the block's layer_id + 1 (its QK id); all under key {seed, 0x80000000 | site}. */
#define ASIM_DROP_SITE_OP 0x40000000u
static inline asim_noise_key asim_dropout_key(uint32_t seed, uint32_t site) {
  asim_noise_key k = {seed, 0x80000000u | site};
  return k;
}

#endif
