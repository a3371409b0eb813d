/* ASiM layers in Train mode with their backward passes: fake quantisation with ASiM's
 * straight-through estimators (spec §1.8), trim noise (§4), attention (§3.5). The forward
 * values are the library's Train-mode values (layers/conv.c, linear.c, attention.c) up to
 * float summation order; the backward of a fake-quantised layer is the float layer's backward
 * evaluated at the fake-quantised operands, masked by the STEs. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/grad.h"
#include "asim/quant.h"

/* w' += g·[w != 0]: the weight quantiser is signed, so its STE passes the gradient except at
 * exact zeros. */
static void add_ste_signed(float *dw, const float *g, const float *w, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (w[i] != 0.0f) dw[i] += g[i];
}

/* Trim noise with the terms kept in `t` when given (drawn once per forward). */
static void trim_forward(float *y, float *t, int64_t n, int64_t per, float pct, asim_noise_key key, int64_t s0) {
  if (pct == 0.0f) return;
  if (!t) {
    asim_trim_noise_forward(y, n, per, pct, key, s0);
    return;
  }
  asim_trim_noise_terms(t, n, per, pct, key, s0);
  for (int64_t e = 0; e < n; e++) y[e] = y[e] + t[e] * y[e];
}

static void trim_backward(float *dy, const float *t, int64_t n, int64_t per, float pct, asim_noise_key key,
                          int64_t s0) {
  if (pct == 0.0f) return;
  if (!t) {
    asim_trim_noise_backward(dy, n, per, pct, key, s0);
    return;
  }
  for (int64_t e = 0; e < n; e++) dy[e] *= 1.0f + t[e];
}

/* run.train_macro_noise: the macro's error in the output domain (integer-domain std dequantised
 * like a Simulation output: × s_x·s_w / D). */
static asim_status macro_noise(float *y, int64_t n, int64_t per, const asim_cim_params *p, int x_signed, int64_t K,
                               float sx, float sw, asim_noise_key key, int64_t s0) {
  if (!p->train_macro_noise) return ASIM_OK;
  double var;
  ASIM_CHECK(asim_cim_macro_noise_var(&var, p, x_signed, K));
  const double D = asim_dequant_divisor(p->wbit, p->xbit, x_signed);
  asim_macro_noise_forward(y, n, per, (float)(sqrt(var) * (double)sx * (double)sw / D), p->train_macro_noise_mix, key,
                           s0);
  return ASIM_OK;
}

/* x ← fake-quantised x with the scale of this call (a max over the whole tensor), kept in *s. */
static void fake_quantize_in_place(float *x, int64_t n, float *s, int bits, int is_signed, const asim_exec *ex) {
  *s = asim_act_scale(x, n, is_signed, ex);
  asim_fake_quantize(x, x, n, *s, bits, is_signed);
}

/* ---- ASiMConv2d / QuantConv2d ----------------------------------------------------------- */

asim_status asim_conv2d_qat_forward(float *out, float *sx, float *sw, const float *x, int B, int H, int W,
                                    const float *w, const float *bias, const asim_conv_dims *c, const asim_exec *ex,
                                    int fake_quant, float *trim) {
  const asim_cim_params *p = &c->p;
  const int sa = c->quant_conv ? 1 : p->signed_act, C = c->in_ch, O = c->out_ch;
  const int64_t in_n = (int64_t)B * C * H * W, wn = (int64_t)O * C * c->k * c->k;
  float *xf = NULL, *wf = NULL;
  asim_status st = ASIM_OK;
  if (fake_quant) {
    *sx = asim_act_scale(x, in_n, sa, ex);
    *sw = asim_scale_from_max(asim_absmax(w, wn));
    ASIM_CHECK_GOTO(st, asim_malloc(&xf, sizeof(float) * (size_t)in_n), done);
    ASIM_CHECK_GOTO(st, asim_malloc(&wf, sizeof(float) * (size_t)wn), done);
    asim_fake_quantize(xf, x, in_n, *sx, p->xbit, sa);
    asim_fake_quantize(wf, w, wn, *sw, p->wbit, 1);
  }
  ASIM_CHECK_GOTO(st, asim_conv2d_train_forward(out, xf ? xf : x, B, C, H, W, wf ? wf : w, bias, O, c->k, c->stride,
                                                c->pad), done);
  if (!c->quant_conv) { /* QuantConv2d has no trim noise */
    const int Ho = asim_conv_out_size(H, c->k, c->stride, c->pad), Wo = asim_conv_out_size(W, c->k, c->stride, c->pad);
    const int64_t out_n = (int64_t)O * Ho * Wo;
    asim_noise_key key = {ex ? ex->seed : 0, c->layer_id};
    trim_forward(out, trim, B * out_n, out_n, p->trim_noise, key, ex ? ex->sample0 : 0);
    if (fake_quant)
      ASIM_CHECK_GOTO(st, macro_noise(out, B * out_n, out_n, p, sa, (int64_t)C * c->k * c->k, *sx, *sw, key,
                                      ex ? ex->sample0 : 0), done);
  }
done:
  free(xf);
  free(wf);
  return st;
}

asim_status asim_conv2d_qat_backward(float *dx, float *dw, float *db, float *dy, const float *x, int B, int H, int W,
                                     const float *w, float sx, float sw, const asim_conv_dims *c, const asim_exec *ex,
                                     int fake_quant, const float *trim) {
  const asim_cim_params *p = &c->p;
  const int sa = c->quant_conv ? 1 : p->signed_act, C = c->in_ch, O = c->out_ch;
  const int64_t in_n = (int64_t)B * C * H * W, wn = (int64_t)O * C * c->k * c->k;
  const int Ho = asim_conv_out_size(H, c->k, c->stride, c->pad), Wo = asim_conv_out_size(W, c->k, c->stride, c->pad);
  const int64_t out_n = (int64_t)O * Ho * Wo;
  float *xf = NULL, *wf = NULL, *dwq = NULL;
  asim_status st = ASIM_OK;
  if (!c->quant_conv) {
    asim_noise_key key = {ex ? ex->seed : 0, c->layer_id};
    trim_backward(dy, trim, B * out_n, out_n, p->trim_noise, key, ex ? ex->sample0 : 0);
  }
  if (fake_quant) {
    ASIM_CHECK_GOTO(st, asim_malloc(&xf, sizeof(float) * (size_t)in_n), done);
    ASIM_CHECK_GOTO(st, asim_malloc(&wf, sizeof(float) * (size_t)wn), done);
    asim_fake_quantize(xf, x, in_n, sx, p->xbit, sa);
    asim_fake_quantize(wf, w, wn, sw, p->wbit, 1);
    if (dw) ASIM_CHECK_GOTO(st, ASIM_ALLOC(dwq, (size_t)wn), done);
  }
  ASIM_CHECK_GOTO(st, asim_conv2d_backward(dx, fake_quant ? dwq : dw, db, dy, xf ? xf : x, wf ? wf : w, B, C, H, W,
                                           O, c->k, c->stride, c->pad), done);
  if (fake_quant) {
    if (dw) add_ste_signed(dw, dwq, w, wn);
    if (dx) asim_fake_quantize_backward(dx, dx, x, in_n, sa);
  }
done:
  free(xf);
  free(wf);
  free(dwq);
  return st;
}

/* ---- ASiMLinear ----------------------------------------------------------------------------- */

asim_status asim_linear_qat_forward(float *out, float *sx, float *sw, const float *x, int B, int T, const float *w,
                                    const float *bias, const asim_linear_dims *l, const asim_exec *ex, int fake_quant,
                                    float *trim) {
  const asim_cim_params *p = &l->p;
  const int K = l->in_features, O = l->out_features;
  const int64_t R = (int64_t)B * T, in_n = R * K, wn = (int64_t)O * K;
  float *xf = NULL, *wf = NULL;
  asim_status st = ASIM_OK;
  if (fake_quant) {
    *sx = asim_act_scale(x, in_n, p->signed_act, ex);
    *sw = asim_scale_from_max(asim_absmax(w, wn));
    ASIM_CHECK_GOTO(st, asim_malloc(&xf, sizeof(float) * (size_t)in_n), done);
    ASIM_CHECK_GOTO(st, asim_malloc(&wf, sizeof(float) * (size_t)wn), done);
    asim_fake_quantize(xf, x, in_n, *sx, p->xbit, p->signed_act);
    asim_fake_quantize(wf, w, wn, *sw, p->wbit, 1);
  }
  asim_linear_train_forward(out, xf ? xf : x, wf ? wf : w, bias, R, K, O);
  asim_noise_key key = {ex ? ex->seed : 0, l->layer_id};
  trim_forward(out, trim, R * O, (int64_t)T * O, p->trim_noise, key, ex ? ex->sample0 : 0);
  if (fake_quant)
    ASIM_CHECK_GOTO(st, macro_noise(out, R * O, (int64_t)T * O, p, p->signed_act, K, *sx, *sw, key,
                                    ex ? ex->sample0 : 0), done);
done:
  free(xf);
  free(wf);
  return st;
}

asim_status asim_linear_qat_backward(float *dx, float *dw, float *db, float *dy, const float *x, int B, int T,
                                     const float *w, float sx, float sw, const asim_linear_dims *l,
                                     const asim_exec *ex, int fake_quant, const float *trim) {
  const asim_cim_params *p = &l->p;
  const int K = l->in_features, O = l->out_features;
  const int64_t R = (int64_t)B * T, in_n = R * K, wn = (int64_t)O * K;
  float *xf = NULL, *wf = NULL, *dwq = NULL;
  asim_status st = ASIM_OK;
  asim_noise_key key = {ex ? ex->seed : 0, l->layer_id};
  trim_backward(dy, trim, R * O, (int64_t)T * O, p->trim_noise, key, ex ? ex->sample0 : 0);
  if (fake_quant) {
    ASIM_CHECK_GOTO(st, asim_malloc(&xf, sizeof(float) * (size_t)in_n), done);
    ASIM_CHECK_GOTO(st, asim_malloc(&wf, sizeof(float) * (size_t)wn), done);
    asim_fake_quantize(xf, x, in_n, sx, p->xbit, p->signed_act);
    asim_fake_quantize(wf, w, wn, sw, p->wbit, 1);
    if (dw) ASIM_CHECK_GOTO(st, ASIM_ALLOC(dwq, (size_t)wn), done);
  }
  asim_linear_backward(dx, fake_quant ? dwq : dw, db, dy, xf ? xf : x, wf ? wf : w, R, K, O);
  if (fake_quant) {
    if (dw) add_ste_signed(dw, dwq, w, wn);
    if (dx) asim_fake_quantize_backward(dx, dx, x, in_n, p->signed_act);
  }
done:
  free(xf);
  free(wf);
  free(dwq);
  return st;
}

/* ---- ASiMMultiheadAttention ------------------------------------------------------------------ */

/* The settings of the qkv/proj linears (as layers/attention.c builds them). */
static asim_linear_dims proj_dims(const asim_mha_dims *a, int out, uint32_t id) {
  asim_linear_dims l;
  memset(&l, 0, sizeof l);
  l.in_features = a->embed_dim, l.out_features = out, l.layer_id = id;
  l.p = asim_cim_defaults();
  l.p.mode = ASIM_TRAIN;
  l.p.wbit = a->proj_wbit, l.p.xbit = a->proj_xbit, l.p.signed_act = 1;
  l.p.trim_noise = a->proj_trim_noise;
  return l;
}

void asim_mha_cache_free(asim_mha_cache *c) {
  free(c->z);
  free(c->P);
  free(c->y);
  memset(c, 0, sizeof *c);
}

/* For every (b, h): C (M×N) = op(A) · op(B) with per-(b,h) strides. */
static void bh_gemm(int BH, int ta, int tb, int M, int N, int K, const float *A, int64_t as, int lda, const float *Bm,
                    int64_t bs, int ldb, float beta, float *C, int64_t cs, int ldc) {
  for (int i = 0; i < BH; i++)
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                A + i * as, lda, Bm + i * bs, ldb, beta, C + i * cs, ldc);
}

/* q, k, v (B, H, T, D) from z (B, T, 3E), or the reverse (accumulating nothing: overwrite). */
static void split_qkv(float *q, float *k, float *v, const float *z, int B, int T, int H, int D) {
  const int E = H * D;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      const float *zr = z + ((int64_t)b * T + t) * 3 * E;
      for (int h = 0; h < H; h++)
        for (int d = 0; d < D; d++) {
          const int64_t i = (((int64_t)b * H + h) * T + t) * D + d;
          q[i] = zr[h * D + d], k[i] = zr[E + h * D + d], v[i] = zr[2 * E + h * D + d];
        }
    }
}

static void merge_qkv(float *z, const float *q, const float *k, const float *v, int B, int T, int H, int D) {
  const int E = H * D;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      float *zr = z + ((int64_t)b * T + t) * 3 * E;
      for (int h = 0; h < H; h++)
        for (int d = 0; d < D; d++) {
          const int64_t i = (((int64_t)b * H + h) * T + t) * D + d;
          zr[h * D + d] = q[i], zr[E + h * D + d] = k[i], zr[2 * E + h * D + d] = v[i];
        }
    }
}

/* (B, H, T, D) <-> (B, T, E) */
static void heads_to_tokens(float *y, const float *o, int B, int T, int H, int D, int reverse) {
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++) {
          const int64_t iy = ((int64_t)b * T + t) * H * D + h * D + d, io = (((int64_t)b * H + h) * T + t) * D + d;
          if (reverse) y[io] = o[iy];
          else y[iy] = o[io];
        }
}

asim_status asim_mha_train_forward(float *out, asim_mha_cache *c, const float *in, int B, int T, const float *qkv_w,
                                   const float *qkv_b, const float *proj_w, const float *proj_b,
                                   const asim_mha_dims *a, float dropout, const asim_exec *ex, int fake_quant) {
  ASIM_CHECK(asim_mha_check(a));
  const int E = a->embed_dim, H = a->num_heads, D = E / H, BH = B * H;
  const int64_t BT = (int64_t)B * T, n_hd = (int64_t)BH * T * D, n_tt = (int64_t)BH * T * T;
  const uint32_t seed = ex ? ex->seed : 0;
  const int64_t sample0 = ex ? ex->sample0 : 0;
  asim_status st = ASIM_OK;
  float *q = NULL, *k = NULL, *v = NULL, *S = NULL, *O = NULL;
  memset(c, 0, sizeof *c);
  ASIM_CHECK_GOTO(st, asim_malloc(&c->z, sizeof(float) * (size_t)(BT * 3 * E)), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&c->P, sizeof(float) * (size_t)n_tt), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&c->y, sizeof(float) * (size_t)(BT * E)), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&q, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&k, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&v, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&S, sizeof(float) * (size_t)n_tt), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&O, sizeof(float) * (size_t)n_hd), done);

  asim_linear_dims lin = proj_dims(a, 3 * E, a->layer_id);
  ASIM_CHECK_GOTO(st, asim_linear_qat_forward(c->z, &c->s_x, &c->s_wqkv, in, B, T, qkv_w, qkv_b, &lin, ex, fake_quant, NULL),
                  done);
  split_qkv(q, k, v, c->z, B, T, H, D);
  /* QK: q is the weight-like operand (signed, qk_qbit), k activation-like (signed, qk_kbit) */
  if (fake_quant) {
    fake_quantize_in_place(q, n_hd, &c->s_q, a->qk_qbit, 1, ex);
    fake_quantize_in_place(k, n_hd, &c->s_k, a->qk_kbit, 1, ex);
  }
  bh_gemm(BH, 0, 1, T, T, D, q, (int64_t)T * D, D, k, (int64_t)T * D, D, 0.0f, S, (int64_t)T * T, T);
  asim_trim_noise_forward(S, n_tt, (int64_t)H * T * T, a->attn_trim_noise, (asim_noise_key){seed, a->layer_id + 1},
                          sample0);
  const float scale = (float)pow((double)E, -0.5); /* ASiM: embed_dim, not head_dim */
  for (int64_t i = 0; i < n_tt; i++) S[i] *= scale;
  asim_softmax_rows(c->P, S, (int64_t)BH * T, T);
  /* attention dropout, then AV: v weight-like (signed, av_vbit), P activation-like (unsigned, av_abit) */
  asim_dropout_forward(S, c->P, n_tt, (int64_t)H * T * T, dropout, asim_dropout_key(seed, a->layer_id + 1), sample0);
  if (fake_quant) {
    fake_quantize_in_place(S, n_tt, &c->s_p, a->av_abit, 0, ex);
    fake_quantize_in_place(v, n_hd, &c->s_v, a->av_vbit, 1, ex);
  }
  bh_gemm(BH, 0, 0, T, D, T, S, (int64_t)T * T, T, v, (int64_t)T * D, D, 0.0f, O, (int64_t)T * D, D);
  asim_trim_noise_forward(O, n_hd, (int64_t)H * T * D, a->attn_trim_noise, (asim_noise_key){seed, a->layer_id + 2},
                          sample0);
  heads_to_tokens(c->y, O, B, T, H, D, 0);
  lin = proj_dims(a, E, a->layer_id + 3);
  ASIM_CHECK_GOTO(st, asim_linear_qat_forward(out, &c->s_y, &c->s_wproj, c->y, B, T, proj_w, proj_b, &lin, ex,
                                              fake_quant, NULL), done);
done:
  free(q);
  free(k);
  free(v);
  free(S);
  free(O);
  if (st) asim_mha_cache_free(c);
  return st;
}

asim_status asim_mha_backward(float *dx, float *dqkv_w, float *dqkv_b, float *dproj_w, float *dproj_b,
                              const float *dout, const float *in, int B, int T, const float *qkv_w,
                              const float *proj_w, const asim_mha_cache *c, const asim_mha_dims *a, float dropout,
                              const asim_exec *ex, int fake_quant) {
  const int E = a->embed_dim, H = a->num_heads, D = E / H, BH = B * H;
  const int64_t BT = (int64_t)B * T, n_hd = (int64_t)BH * T * D, n_tt = (int64_t)BH * T * T;
  const uint32_t seed = ex ? ex->seed : 0;
  const int64_t sample0 = ex ? ex->sample0 : 0;
  asim_status st = ASIM_OK;
  float *g = NULL, *dy = NULL, *dO = NULL, *q = NULL, *k = NULL, *v = NULL, *qf = NULL, *kf = NULL, *vf = NULL;
  float *Pd = NULL, *dP = NULL, *dq = NULL, *dk = NULL, *dv = NULL, *dz = NULL;
  ASIM_CHECK_GOTO(st, asim_malloc(&g, sizeof(float) * (size_t)(BT * E)), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&dy, sizeof(float) * (size_t)(BT * E)), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&dO, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&q, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&k, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&v, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&qf, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&kf, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&vf, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&dq, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&dk, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&dv, sizeof(float) * (size_t)n_hd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&Pd, sizeof(float) * (size_t)n_tt), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&dP, sizeof(float) * (size_t)n_tt), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&dz, sizeof(float) * (size_t)(BT * 3 * E)), done);

  /* proj */
  memcpy(g, dout, sizeof(float) * (size_t)(BT * E));
  asim_linear_dims lin = proj_dims(a, E, a->layer_id + 3);
  ASIM_CHECK_GOTO(st, asim_linear_qat_backward(dy, dproj_w, dproj_b, g, c->y, B, T, proj_w, c->s_y, c->s_wproj, &lin,
                                               ex, fake_quant, NULL), done);
  heads_to_tokens(dO, dy, B, T, H, D, 1);
  asim_trim_noise_backward(dO, n_hd, (int64_t)H * T * D, a->attn_trim_noise, (asim_noise_key){seed, a->layer_id + 2},
                           sample0);
  /* recompute the (fake-quantised) operands */
  split_qkv(q, k, v, c->z, B, T, H, D);
  asim_dropout_forward(Pd, c->P, n_tt, (int64_t)H * T * T, dropout, asim_dropout_key(seed, a->layer_id + 1), sample0);
  if (fake_quant) {
    asim_fake_quantize(qf, q, n_hd, c->s_q, a->qk_qbit, 1);
    asim_fake_quantize(kf, k, n_hd, c->s_k, a->qk_kbit, 1);
    asim_fake_quantize(vf, v, n_hd, c->s_v, a->av_vbit, 1);
    asim_fake_quantize(Pd, Pd, n_tt, c->s_p, a->av_abit, 0);
  } else {
    memcpy(qf, q, sizeof(float) * (size_t)n_hd);
    memcpy(kf, k, sizeof(float) * (size_t)n_hd);
    memcpy(vf, v, sizeof(float) * (size_t)n_hd);
  }
  /* O = Pq · vq: dPq = dO · vqᵀ, dvq = Pqᵀ · dO */
  bh_gemm(BH, 0, 1, T, T, D, dO, (int64_t)T * D, D, vf, (int64_t)T * D, D, 0.0f, dP, (int64_t)T * T, T);
  bh_gemm(BH, 1, 0, T, D, T, Pd, (int64_t)T * T, T, dO, (int64_t)T * D, D, 0.0f, dv, (int64_t)T * D, D);
  if (fake_quant) asim_fake_quantize_backward(dv, dv, v, n_hd, 1); /* P's quantiser is unsigned: STE 1 */
  asim_dropout_forward(dP, dP, n_tt, (int64_t)H * T * T, dropout, asim_dropout_key(seed, a->layer_id + 1), sample0);
  asim_softmax_backward(dP, dP, c->P, (int64_t)BH * T, T);
  const float scale = (float)pow((double)E, -0.5);
  for (int64_t i = 0; i < n_tt; i++) dP[i] *= scale;
  asim_trim_noise_backward(dP, n_tt, (int64_t)H * T * T, a->attn_trim_noise, (asim_noise_key){seed, a->layer_id + 1},
                           sample0);
  /* S = qq · kqᵀ: dqq = dS · kq, dkq = dSᵀ · qq */
  bh_gemm(BH, 0, 0, T, D, T, dP, (int64_t)T * T, T, kf, (int64_t)T * D, D, 0.0f, dq, (int64_t)T * D, D);
  bh_gemm(BH, 1, 0, T, D, T, dP, (int64_t)T * T, T, qf, (int64_t)T * D, D, 0.0f, dk, (int64_t)T * D, D);
  if (fake_quant) {
    asim_fake_quantize_backward(dq, dq, q, n_hd, 1);
    asim_fake_quantize_backward(dk, dk, k, n_hd, 1);
  }
  merge_qkv(dz, dq, dk, dv, B, T, H, D);
  lin = proj_dims(a, 3 * E, a->layer_id);
  ASIM_CHECK_GOTO(st, asim_linear_qat_backward(dx, dqkv_w, dqkv_b, dz, in, B, T, qkv_w, c->s_x, c->s_wqkv, &lin, ex,
                                               fake_quant, NULL), done);
done:
  free(g), free(dy), free(dO), free(q), free(k), free(v), free(qf), free(kf), free(vf);
  free(Pd), free(dP), free(dq), free(dk), free(dv), free(dz);
  return st;
}
