/* attention.h — ASiMMultiheadAttention (spec §3.5): qkv projection, the simulated QK and AV
 * products with their own bit widths / ADCs / encodings, softmax scaled by embed_dim^-1/2
 * (ASiM's choice; checkpoints were trained with it), and the output projection. */
#ifndef ASIM_ATTENTION_H
#define ASIM_ATTENTION_H

#include "asim/cim.h"
#include "asim/engine.h"

typedef struct {
  int embed_dim, num_heads;
  asim_mode mode;
  int qk_qbit, qk_kbit, av_abit, av_vbit, proj_wbit, proj_xbit;
  int qk_adc_prec, av_adc_prec, proj_adc_prec, nrow;
  float qk_rand_noise_sigma, av_rand_noise_sigma, proj_rand_noise_sigma;
  float qk_non_linear_sigma, av_non_linear_sigma, proj_non_linear_sigma;
  int qk_k_enc, av_a_enc, proj_act_enc; /* -1 = None */
  int hybrid_levels;                    /* -1 = None */
  int voting, voting_levels, num_samp;  /* majority voting (spec §11.1) when voting = 1: every part
                                           analog, the top voting_levels bit-serial cycles converted
                                           num_samp times (0 or 1: once); replaces hybrid_levels */
  float attn_trim_noise, proj_trim_noise;
  uint32_t layer_id; /* qkv, QK, AV and proj use layer_id + 0..3 */
  asim_wcache *qkv_cache, *proj_cache; /* optional weight caches of the two linears */
} asim_mha_dims;

/* Buffers to record the intermediates of one call (any may be NULL); shapes as in the
 * golden case format: qkv_out (B,T,3E), q/v (B,H,T,D), k_t (B,H,D,T), qk_out and attn_probs
 * (B,H,T,T), av_out (B,T,E). */
typedef struct {
  float *qkv_out, *q, *k_t, *v, *qk_out, *attn_probs, *av_out;
} asim_mha_trace;

asim_status asim_mha_check(const asim_mha_dims *a);

/* out (B,T,E) = attention(in (B,T,E)). */
asim_status asim_mha_forward(float *out, const float *in, int B, int T, const float *qkv_w,
                             const float *qkv_b, const float *proj_w, const float *proj_b,
                             const asim_mha_dims *a, const asim_exec *ex, asim_mha_trace *trace);

/* The two products on their own (for stage-wise checks): S (B,H,T,T) = QK(q, k) before the
 * score scale; O (B,H,T,D) = AV(P, v). q, k, v are (B,H,T,D); P is (B,H,T,T). */
asim_status asim_mha_qk(float *S, const float *q, const float *k, int B, int T, const asim_mha_dims *a,
                        const asim_exec *ex);
asim_status asim_mha_av(float *O, const float *P, const float *v, int B, int T, const asim_mha_dims *a,
                        const asim_exec *ex);

/* Row softmax of (rows, n) in float32, as PyTorch's CPU kernel: max-subtract, exp, sum,
 * multiply by the reciprocal of the sum. */
void asim_softmax_rows(float *y, const float *x, int64_t rows, int64_t n);

#endif
