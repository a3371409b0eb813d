#include "asim/conv.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "asim/quant.h"
#include "cim/kernels.h"

void asim_im2col32(void *cols_, const void *x_, int C, int H, int W, int k, int stride, int pad) {
  uint32_t *cols = cols_;
  const uint32_t *x = x_;
  const int Ho = asim_conv_out_size(H, k, stride, pad), Wo = asim_conv_out_size(W, k, stride, pad);
  const int64_t K = (int64_t)C * k * k;
  for (int oy = 0; oy < Ho; oy++)
    for (int ox = 0; ox < Wo; ox++) {
      uint32_t *row = cols + ((int64_t)oy * Wo + ox) * K;
      for (int c = 0; c < C; c++)
        for (int u = 0; u < k; u++) {
          int iy = oy * stride - pad + u;
          for (int v = 0; v < k; v++) {
            int ix = ox * stride - pad + v;
            *row++ = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[((int64_t)c * H + iy) * W + ix] : 0u;
          }
        }
    }
}

/* im2col of one sample's int32 codes straight into the engine's padded load layout: load n holds
 * input channels [n·G, n·G + G) as rows (c − n·G)·k² + u·k + v; channels past the simulated
 * loads (ASiM's drop quirk) and padding rows stay zero. */
static void im2col_loads(asim_opnd *X, const int32_t *x, int C, int H, int W, int k, int stride, int pad,
                         int64_t G) {
  const int Ho = asim_conv_out_size(H, k, stride, pad), Wo = asim_conv_out_size(W, k, stride, pad);
  const int64_t kk = (int64_t)k * k;
  for (int oy = 0; oy < Ho; oy++)
    for (int ox = 0; ox < Wo; ox++) {
      int16_t *row = X->codes + ((int64_t)oy * Wo + ox) * X->kp;
      const int iy0 = oy * stride - pad, ix0 = ox * stride - pad;
      for (int64_t n = 0; n < X->nl; n++)
        for (int64_t g = 0; g < G; g++) {
          const int64_t c = n * G + g;
          if (c >= C) break;
          int16_t *dst = row + n * X->lp + g * kk;
          const int32_t *xc = x + c * H * W;
          for (int u = 0; u < k; u++) {
            const int iy = iy0 + u;
            if (iy < 0 || iy >= H) {
              for (int v = 0; v < k; v++) dst[u * k + v] = 0;
              continue;
            }
            const int32_t *xr = xc + (int64_t)iy * W;
            for (int v = 0; v < k; v++) {
              const int ix = ix0 + v;
              dst[u * k + v] = (ix >= 0 && ix < W) ? (int16_t)xr[ix] : 0;
            }
          }
        }
    }
}

asim_status asim_conv_check(const asim_conv_dims *c) {
  if (c->in_ch < 1 || c->out_ch < 1 || c->k < 1 || c->stride < 1 || c->pad < 0)
    return ASIM_ERR(ASIM_EINVAL, "conv: bad geometry (in %d, out %d, kernel %d, stride %d, padding %d)",
                    c->in_ch, c->out_ch, c->k, c->stride, c->pad);
  asim_cim_params p = c->p;
  if (c->quant_conv) {
    p.signed_act = 1;
    if (p.mode == ASIM_SIMULATION)
      return ASIM_ERR(ASIM_EINVAL, "QuantConv2d: mode Simulation is not supported (ASiM: Train or Inference)");
  }
  ASIM_CHECK(asim_cim_params_check(&p, c->quant_conv ? "QuantConv2d" : "ASiMConv2d"));
  if (!c->quant_conv && p.mode == ASIM_SIMULATION) {
    if (p.act_enc > 0 && p.signed_act)
      return ASIM_ERR(ASIM_EINVAL, "ASiMConv2d: act_enc = %d with signed activations: ASiM cannot encode signed "
                      "activations in bit-parallel mode", p.act_enc);
    if (p.act_enc > p.xbit)
      return ASIM_ERR(ASIM_EINVAL, "ASiMConv2d: act_enc = %d: must be <= xbit (= %d)", p.act_enc, p.xbit);
    if (c->k * c->k > p.nrow)
      return ASIM_ERR(ASIM_EINVAL, "ASiMConv2d: kernel %dx%d needs %d rows per input channel but nrow = %d",
                      c->k, c->k, c->k * c->k, p.nrow);
  }
  return ASIM_OK;
}

asim_status asim_conv_mapping(const asim_conv_dims *c, asim_conv_map *map) {
  ASIM_CHECK(asim_conv_check(c));
  if (c->k * c->k > c->p.nrow)
    return ASIM_ERR(ASIM_EINVAL, "ASiMConv2d: kernel %dx%d needs %d rows per input channel but nrow = %d",
                    c->k, c->k, c->k * c->k, c->p.nrow);
  const int64_t kk = (int64_t)c->k * c->k, C = c->in_ch, nrow = c->p.nrow;
  map->channels_per_load = nrow / kk;
  int64_t groups = (C + map->channels_per_load - 1) / map->channels_per_load;
  int64_t U = (C * kk + nrow - 1) / nrow;
  map->loads = c->p.fix_channel_drop ? groups : U;
  int64_t used = map->loads * map->channels_per_load;
  map->ignored_channels = used < C ? C - used : 0;
  return ASIM_OK;
}

/* Float convolution of one sample through im2col + sgemm: out (O, P) = W (O, K) · colsᵀ. */
static void conv_gemm(float *out, const float *w, const float *cols, int64_t O, int64_t P, int64_t K) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)O, (int)P, (int)K, 1.0f, w, (int)K, cols,
              (int)K, 0.0f, out, (int)P);
}

static void add_bias(float *y, const float *bias, int64_t O, int64_t P) {
  for (int64_t o = 0; o < O; o++)
    for (int64_t p = 0; p < P; p++) y[o * P + p] += bias[o];
}

asim_status asim_conv2d_forward(float *out, const float *in, int B, int H, int W,
                                const float *weight, const float *bias, const asim_conv_dims *c,
                                const asim_exec *ex) {
  asim_conv_map map = {0};
  ASIM_CHECK(asim_conv_check(c));
  if (c->p.mode == ASIM_SIMULATION && !c->quant_conv) ASIM_CHECK(asim_conv_mapping(c, &map));
  const asim_cim_params *p = &c->p;
  const int sa = c->quant_conv ? 1 : p->signed_act;
  const int k = c->k, C = c->in_ch, O = c->out_ch;
  const int Ho = asim_conv_out_size(H, k, c->stride, c->pad), Wo = asim_conv_out_size(W, k, c->stride, c->pad);
  if (B < 1 || Ho < 1 || Wo < 1)
    return ASIM_ERR(ASIM_ESHAPE, "conv: input %dx%dx%dx%d too small for kernel %d, stride %d, padding %d", B, C,
                    H, W, k, c->stride, c->pad);
  const int64_t K = (int64_t)C * k * k, P = (int64_t)Ho * Wo, HW = (int64_t)H * W;
  const int64_t in_n = (int64_t)C * HW, out_n = (int64_t)O * P;
  const asim_noise_key key = {ex ? ex->seed : 0, c->layer_id};
  const int64_t sample0 = ex ? ex->sample0 : 0;
  const int per_sample = ex && ex->per_sample_scale;

  asim_status st = ASIM_OK;
  int32_t *xq = NULL, *wq = NULL;
  float *cols = NULL, *wf = NULL, *xf = NULL, *sx = NULL;
  asim_opnd X;
  asim_wcache wlocal, *wc = c->cache ? c->cache : &wlocal;
  memset(&X, 0, sizeof X);
  memset(&wlocal, 0, sizeof wlocal);

  ASIM_CHECK_GOTO(st, ASIM_ALLOC(sx, (size_t)B), done);
  if (per_sample)
    for (int b = 0; b < B; b++) sx[b] = asim_act_scale(in + b * in_n, in_n, sa, NULL);
  else {
    float s = asim_act_scale(in, B * in_n, sa, ex);
    for (int b = 0; b < B; b++) sx[b] = s;
  }
  const float sw = p->mode == ASIM_SIMULATION ? 0.0f : asim_scale_from_max(asim_absmax(weight, O * K));
  if (p->mode != ASIM_SIMULATION) ASIM_CHECK_GOTO(st, ASIM_ALLOC(cols, (size_t)(P * K)), done);

  if (p->mode == ASIM_TRAIN) {
    /* fake-quantised operands, float conv with bias, then trim noise */
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(wf, (size_t)(O * K)), done);
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(xf, (size_t)in_n), done);
    asim_fake_quantize(wf, weight, O * K, sw, p->wbit, 1);
    for (int b = 0; b < B; b++) {
      float *y = out + b * out_n;
      asim_fake_quantize(xf, in + b * in_n, in_n, sx[b], p->xbit, sa);
      asim_im2col32(cols, xf, C, H, W, k, c->stride, c->pad);
      conv_gemm(y, wf, cols, O, P, K);
      if (bias) add_bias(y, bias, O, P);
      if (!c->quant_conv) asim_trim_noise(y, out_n, out_n, p->trim_noise, key, sample0 + b);
    }
    goto done;
  }

  ASIM_CHECK_GOTO(st, ASIM_ALLOC(xq, (size_t)in_n), done);
  const float D = asim_dequant_divisor(p->wbit, p->xbit, sa);

  if (p->mode == ASIM_INFERENCE) {
    /* codes are exact in float32; the float GEMM of integers is exact below 2^24, as in ASiM */
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(wq, (size_t)(O * K)), done);
    asim_quantize(wq, weight, O * K, sw, p->wbit, 1);
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(wf, (size_t)(O * K)), done);
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(xf, (size_t)in_n), done);
    for (int64_t i = 0; i < O * K; i++) wf[i] = (float)wq[i];
    for (int b = 0; b < B; b++) {
      float *y = out + b * out_n;
      asim_quantize(xq, in + b * in_n, in_n, sx[b], p->xbit, sa);
      for (int64_t i = 0; i < in_n; i++) xf[i] = (float)xq[i];
      asim_im2col32(cols, xf, C, H, W, k, c->stride, c->pad);
      conv_gemm(y, wf, cols, O, P, K);
      if (c->quant_conv) {
        if (bias) add_bias(y, bias, O, P); /* ASiM's QuantConv2d adds the bias in integer units too */
      } else {
        asim_trim_noise(y, out_n, out_n, p->trim_noise, key, sample0 + b);
      }
      asim_dequantize(y, out_n, sw, sx[b], D);
      if (bias) add_bias(y, bias, O, P);
    }
    goto done;
  }

  /* Simulation: the macro model over ASiM's channel-group loads, weights from the cache */
  {
    const int prof = asim_prof_on();
    const double t0 = prof ? asim_prof_now() : 0;
    double t[4] = {0, 0, 0, 0}, conv = 0;
    int64_t fb_total = 0;
    asim_macro_desc d = asim_cim_macro_desc(p, p->wbit, p->xbit, sa, p->act_enc, K,
                                            map.channels_per_load * k * k, map.loads);
    const asim_isa isa = asim_isa_active();
    const asim_macro *mp;
    const asim_opnd *Wp;
    float sws;
    ASIM_CHECK_GOTO(st, asim_wcache_get(wc, weight, O, K, &d, isa, &mp, &Wp, &sws), done);
    ASIM_CHECK_GOTO(st, asim_opnd_alloc(&X, P, p->xbit, sa, mp), done);
    if (prof) t[1] = asim_prof_now() - t0; /* weight cache lookup (or build) counts as preparation */
    for (int b = 0; b < B; b++) {
      float *y = out + b * out_n;
      double ta = prof ? asim_prof_now() : 0;
      asim_quantize(xq, in + b * in_n, in_n, sx[b], p->xbit, sa);
      im2col_loads(&X, xq, C, H, W, k, c->stride, c->pad, map.channels_per_load);
      ASIM_CHECK_GOTO(st, asim_opnd_prepare_x(&X, mp, isa), done);
      double tb = prof ? asim_prof_now() : 0;
      asim_noise_addr na = {key, sample0 + b, P, 0, 1, P};
      int64_t fb = 0;
      ASIM_CHECK_GOTO(st, asim_engine_run(y, 1, P, mp, Wp, &X, &na, asim_exec_threads(ex), isa, &fb), done);
      double tc = prof ? asim_prof_now() : 0;
      asim_dequantize(y, out_n, sws, sx[b], D);
      if (bias) add_bias(y, bias, O, P);
      if (prof) {
        t[1] += tb - ta, t[2] += tc - tb, t[3] += asim_prof_now() - tc;
        fb_total += fb;
        if (!X.gemm) conv += (double)P * O * mp->d.n_loads * mp->n_cycles;
      }
    }
    if (prof) {
      double t4[4] = {0, t[1], t[1] + t[2], t[1] + t[2] + t[3]};
      int64_t used = map.loads * map.channels_per_load < C ? map.loads * map.channels_per_load : C;
      asim_prof_record(c->layer_id, "conv", t4, (double)B * P * O * used * k * k, conv, (double)fb_total);
    }
  }
done:
  asim_opnd_free(&X);
  if (wc == &wlocal) asim_wcache_clear(&wlocal);
  free(xq);
  free(wq);
  free(cols);
  free(wf);
  free(xf);
  free(sx);
  return st;
}
