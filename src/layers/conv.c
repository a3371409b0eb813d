#include "asim/conv.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "asim/nn.h"
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

/* ---- Simulation: operands in the engine's load layout ---------------------------------------
 * Loads are laid out tap-major (asim_conv_layout in cim/kernels.h): with channel-last codes every
 * tap of an output position is one contiguous copy of Gn channels. */

/* Element types of the channel-last image and the operand rows: 8-bit codes (int8 AMX path),
 * 16-bit codes, or bf16 (bf16 AMX path). */
enum { EL_I16 = 0, EL_I8 = 1, EL_BF16 = 2 };

static inline uint16_t el16(int32_t v, int el) { return el == EL_BF16 ? asim_bf16_of(v) : (uint16_t)(int16_t)v; }

/* One sample's codes channel-last per macro load: load n's image starts at n·G·HW and holds its
 * Gn channels per pixel, img_n[(y·W + x)·Gn + g] (so the k taps of a kernel row are contiguous),
 * in element type el. */
static void codes_nhwc(void *img, const int32_t *xq, int64_t HW, const asim_conv_layout *cl, int64_t nl, int el) {
  const int esz = el == EL_I8 ? 1 : 2;
  for (int64_t n = 0; n < nl; n++) {
    const int64_t Gn = asim_conv_load_channels(cl, n);
    uint8_t *i8 = (uint8_t *)img + n * cl->G * HW;
    uint16_t *i16 = (uint16_t *)img + n * cl->G * HW;
    const int32_t *xn = xq + n * cl->G * HW;
    int64_t i0 = 0;
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    /* 16 channels × 16 pixels through registers; the last channel tile of a load may be partial */
    for (; i0 + 16 <= HW; i0 += 16)
      for (int64_t g0 = 0; g0 < Gn; g0 += 16) {
        const int64_t ng = Gn - g0 < 16 ? Gn - g0 : 16;
        __m512 r[16];
        for (int j = 0; j < 16; j++)
          r[j] = j < ng ? _mm512_castsi512_ps(_mm512_loadu_si512(xn + (g0 + j) * HW + i0)) : _mm512_setzero_ps();
        asim_transpose16(r);
        const __mmask16 k = (__mmask16)((1u << ng) - 1u);
        for (int j = 0; j < 16; j++) {
          __m512i v = _mm512_castps_si512(r[j]);
          const int64_t o = (i0 + j) * Gn + g0;
          if (el == EL_I8) _mm_mask_storeu_epi8(i8 + o, k, _mm512_cvtepi32_epi8(v));
          else if (el == EL_I16) _mm256_mask_storeu_epi16(i16 + o, k, _mm512_cvtepi32_epi16(v));
          else /* bf16: the float's top half (exact for these small integers) */
            _mm256_mask_storeu_epi16(i16 + o, k,
                                     _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(_mm512_cvtepi32_ps(v)), 16)));
        }
      }
#endif
    for (int64_t i = i0; i < HW; i++) /* the remaining pixels */
      for (int64_t g = 0; g < Gn; g++) {
        if (esz == 1) i8[i * Gn + g] = (uint8_t)xn[g * HW + i];
        else i16[i * Gn + g] = el16(xn[g * HW + i], el);
      }
  }
}

/* Per-pixel, per-load sums of a(x) = x ≥ 0 ? x : 2^(xbit−1) (the lossless path's bound), from
 * the int32 codes. */
static void load_sums(int64_t *S, int64_t *tmp, const int32_t *xq, int64_t HW, int64_t Cs, int64_t G, int64_t nl,
                      int bits, int is_signed) {
  const int32_t neg = (int32_t)1 << (bits - 1);
  for (int64_t n = 0; n < nl; n++) { /* per load: contiguous sums over its channels, one strided store */
    memset(tmp, 0, sizeof(int64_t) * (size_t)HW);
    const int64_t c1 = (n + 1) * G < Cs ? (n + 1) * G : Cs;
    for (int64_t c = n * G; c < c1; c++) {
      const int32_t *src = xq + c * HW;
      if (is_signed)
        for (int64_t i = 0; i < HW; i++) tmp[i] += src[i] >= 0 ? src[i] : neg;
      else
        for (int64_t i = 0; i < HW; i++) tmp[i] += src[i];
    }
    for (int64_t i = 0; i < HW; i++) S[i * nl + n] = tmp[i];
  }
}

/* dst[0..n) = src[0..n) (or zeros), n elements of esz bytes. */
static inline void copy_el(void *dst, const void *src, int64_t n, int esz) {
  int64_t bytes = n * esz;
#if defined(__AVX512F__) && defined(__AVX512BW__)
  char *d = dst;
  const char *s = src;
  for (; bytes >= 64; bytes -= 64, d += 64, s = s ? s + 64 : s)
    _mm512_storeu_si512(d, s ? _mm512_loadu_si512(s) : _mm512_setzero_si512());
  if (bytes) {
    const __mmask64 k = ((__mmask64)1 << bytes) - 1;
    _mm512_mask_storeu_epi8(d, k, s ? _mm512_maskz_loadu_epi8(k, s) : _mm512_setzero_si512());
  }
#else
  if (src) memcpy(dst, src, (size_t)bytes);
  else memset(dst, 0, (size_t)bytes);
#endif
}

/* im2col of one sample into rows row0.. of dst (element size esz), and their bounds: per output
 * position, load and kernel row one copy of the k taps' Gn channels (zeros outside the image). */
static void im2col_loads(void *dst, int esz, int64_t *ebound, int64_t wmax, const void *img, const int64_t *S,
                         int64_t row0, int64_t kp, int64_t lp, int64_t nl, const asim_conv_layout *cl, int H, int W,
                         int k, int stride, int pad) {
  const int Ho = asim_conv_out_size(H, k, stride, pad), Wo = asim_conv_out_size(W, k, stride, pad);
  const int64_t HW = (int64_t)H * W;
  for (int oy = 0; oy < Ho; oy++)
    for (int ox = 0; ox < Wo; ox++) {
      const int64_t row = row0 + (int64_t)oy * Wo + ox;
      const int ix0 = ox * stride - pad, vlo = ix0 < 0 ? -ix0 : 0, vhi = W - ix0 < k ? W - ix0 : k;
      int64_t *E = ebound ? ebound + row * nl : NULL;
      if (E) memset(E, 0, sizeof(int64_t) * (size_t)nl);
      for (int u = 0; u < k; u++) {
        const int iy = oy * stride - pad + u, in = iy >= 0 && iy < H && vlo < vhi;
        for (int64_t n = 0; n < nl; n++) {
          const int64_t Gn = asim_conv_load_channels(cl, n);
          char *q = (char *)dst + (row * kp + n * lp + (int64_t)u * k * Gn) * esz;
          if (!in) {
            copy_el(q, NULL, k * Gn, esz);
            continue;
          }
          const char *src = (const char *)img + (n * cl->G * HW + ((int64_t)iy * W + ix0) * Gn) * esz;
          if (vlo) copy_el(q, NULL, vlo * Gn, esz);
          copy_el(q + vlo * Gn * esz, src + vlo * Gn * esz, (vhi - vlo) * Gn, esz);
          if (vhi < k) copy_el(q + vhi * Gn * esz, NULL, (k - vhi) * Gn, esz);
        }
        if (E && in)
          for (int v = vlo; v < vhi; v++)
            for (int64_t n = 0; n < nl; n++) E[n] += S[((int64_t)iy * W + ix0 + v) * nl + n];
      }
      if (E)
        for (int64_t n = 0; n < nl; n++) E[n] *= wmax;
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

/* Simulation with one of ASiM's extensions (spec §11): the plain reference macro kernel on ASiM's
 * own row order (load n = channels n·G … n·G+G−1, rows c·k² + u·k + v), so a weight cell's index
 * is its index in the weight tensor (current-domain variation is keyed by it). Speed is not the
 * point of this path: the fast kernels stay for the base datapath. */
static asim_status conv_sim_ext(float *out, const float *in, int B, int H, int W, const float *weight,
                                const float *bias, const asim_conv_dims *c, const asim_conv_map *map,
                                const float *sx, const asim_exec *ex, asim_wcache *wc) {
  const asim_cim_params *p = &c->p;
  const int k = c->k, C = c->in_ch, O = c->out_ch;
  const int Ho = asim_conv_out_size(H, k, c->stride, c->pad), Wo = asim_conv_out_size(W, k, c->stride, c->pad);
  const int64_t K = (int64_t)C * k * k, P = (int64_t)Ho * Wo, in_n = (int64_t)C * H * W, out_n = (int64_t)O * P;
  const asim_noise_key key = {ex ? ex->seed : 0, c->layer_id};
  asim_macro m;
  asim_bitmat Wb, Xb;
  memset(&m, 0, sizeof m), memset(&Wb, 0, sizeof Wb), memset(&Xb, 0, sizeof Xb);
  int32_t *wq = NULL, *xq = NULL, *cols = NULL;
  asim_status st = ASIM_OK;
  const asim_macro_desc d = asim_cim_macro_desc(p, p->wbit, p->xbit, p->signed_act, p->act_enc, K,
                                                map->channels_per_load * k * k, map->loads);
  ASIM_CHECK_GOTO(st, asim_macro_init(&m, &d), done);
  const float sw = asim_scale_from_max(asim_absmax(weight, O * K));
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(wq, (size_t)(O * K)), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(xq, (size_t)in_n), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(cols, (size_t)(P * K)), done);
  asim_quantize(wq, weight, O * K, sw, p->wbit, 1);
  ASIM_CHECK_GOTO(st, asim_bitmat_pack(&Wb, wq, O, &m, p->wbit), done);
  const float *wvar = NULL; /* the chip's cell variation, drawn once per layer */
  if (p->weight_var != 0.0f) ASIM_CHECK_GOTO(st, asim_wcache_wvar(wc, &m, O, key, &wvar), done);
  const float D = asim_dequant_divisor(p->wbit, p->xbit, p->signed_act);
  for (int b = 0; b < B; b++) {
    float *y = out + b * out_n;
    asim_quantize(xq, in + b * in_n, in_n, sx[b], p->xbit, p->signed_act);
    asim_im2col32(cols, xq, C, H, W, k, c->stride, c->pad);
    ASIM_CHECK_GOTO(st, asim_bitmat_pack(&Xb, cols, P, &m, p->xbit), done);
    /* element index within the sample: NCHW, as on the fast path */
    const asim_noise_addr na = {key, (ex ? ex->sample0 : 0) + b, P, 0, 1, P, wvar};
    ASIM_CHECK_GOTO(st, asim_macro_run_reference(y, 1, P, &m, &Wb, &Xb, &na), done);
    asim_bitmat_free(&Xb);
    asim_dequantize(y, out_n, sw, sx[b], D);
    if (bias)
      for (int64_t o = 0; o < O; o++)
        for (int64_t q = 0; q < P; q++) y[o * P + q] += bias[o];
  }
done:
  asim_bitmat_free(&Xb);
  asim_bitmat_free(&Wb);
  asim_macro_free(&m);
  free(wq), free(xq), free(cols);
  return st;
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
  asim_wcache wlocal, *wc = c->cache ? c->cache : &wlocal;
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
    /* the float conv of the whole batch, as PyTorch computes it (first layers bit-exact) */
    float *xall;
    ASIM_CHECK_GOTO(st, asim_malloc(&xall, sizeof(float) * (size_t)(B * in_n)), done);
    for (int b = 0; b < B; b++) asim_fake_quantize(xall + b * in_n, in + b * in_n, in_n, sx[b], p->xbit, sa);
    st = asim_conv2d_float(out, xall, B, C, H, W, wf, bias, O, k, c->stride, c->pad,
                           ex && ex->batch_size > 0 ? ex->batch_size : B);
    free(xall);
    if (st) goto done;
    if (!c->quant_conv)
      for (int b = 0; b < B; b++) asim_trim_noise(out + b * out_n, out_n, out_n, p->trim_noise, key, sample0 + b);
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
        /* ASiM's QuantConv2d adds the bias in integer units too (unless corrected) */
        if (bias && !p->fix_double_bias) add_bias(y, bias, O, P);
      } else {
        asim_trim_noise(y, out_n, out_n, p->trim_noise, key, sample0 + b);
      }
      asim_dequantize(y, out_n, sw, sx[b], D);
      if (bias) add_bias(y, bias, O, P);
    }
    goto done;
  }

  if (asim_cim_ext_active(p)) {
    st = conv_sim_ext(out, in, B, H, W, weight, bias, c, &map, sx, ex, wc);
    goto done;
  }

  /* Simulation: the macro model over ASiM's channel-group loads, weights from the cache; samples
   * in chunks of a few MB of operand per engine call, each sample's rows padded to whole 16-row
   * blocks; results land in NCHW and are dequantised in place */
  {
    const int prof = asim_prof_on();
    double t[4] = {prof ? asim_prof_now() : 0, 0, 0, 0}, conv = 0;
    int64_t fb_total = 0;
    const int64_t G = map.channels_per_load, nl = map.loads, kk = (int64_t)k * k, HWi = (int64_t)H * W;
    const int64_t Cs = nl * G < C ? nl * G : C, Ppad = (P + ASIM_RB - 1) / ASIM_RB * ASIM_RB;
    const asim_conv_layout cl = {C, kk, G};
    asim_macro_desc d = asim_cim_macro_desc(p, p->wbit, p->xbit, sa, p->act_enc, K, G * kk, nl);
    const asim_isa isa = asim_isa_active();
    const asim_macro *mp;
    const asim_opnd *Wp;
    float sws;
    ASIM_CHECK_GOTO(st, asim_wcache_get_conv(wc, weight, O, &cl, &d, isa, &mp, &Wp, &sws), done);
    const int64_t lp = Wp->lp, kp = Wp->kp;
    int64_t chunk = ((int64_t)4 << 20) / (Ppad * kp * 2);
    chunk = chunk < 1 ? 1 : (chunk > B ? B : chunk);
    /* the layer's workspace (kept in its cache while the input geometry stays) */
    const int64_t xkey[6] = {H, W, Ppad, kp, c->stride, c->pad};
    asim_opnd *X;
    ASIM_CHECK_GOTO(st, asim_wcache_xspace(wc, xkey, chunk * Ppad, p->xbit, sa, isa, &X), done);
    int gk;
    ASIM_CHECK_GOTO(st, asim_opnd_reserve_x(X, mp, isa, &gk), done);
    const int el = gk == ASIM_GEMM_I8 ? EL_I8 : gk == ASIM_GEMM_BF16 ? EL_BF16 : EL_I16, esz = el == EL_I8 ? 1 : 2;
    if (!wc->img) ASIM_CHECK_GOTO(st, asim_calloc(&wc->img, (size_t)(HWi * Cs), (size_t)esz), done);
    if (gk && !wc->S) ASIM_CHECK_GOTO(st, ASIM_ALLOC(wc->S, (size_t)(HWi * nl)), done);
    if (gk && !wc->tmp) ASIM_CHECK_GOTO(st, ASIM_ALLOC(wc->tmp, (size_t)HWi), done);
    void *img = wc->img;
    int64_t *S = wc->S;
    const int64_t wmax = ((int64_t)1 << p->wbit) - 1;
    void *dst = gk == ASIM_GEMM_BF16 || gk == ASIM_GEMM_I8 ? X->xg : (void *)X->codes;
    if (prof) t[1] = asim_prof_now();
    for (int64_t b0 = 0; b0 < B; b0 += chunk) {
      const int64_t nb = B - b0 < chunk ? B - b0 : chunk;
      double ta = prof ? asim_prof_now() : 0;
      asim_opnd_set_nrows(X, nb * Ppad);
      for (int64_t b = 0; b < nb; b++) {
        asim_quantize(xq, in + (b0 + b) * in_n, in_n, sx[b0 + b], p->xbit, sa);
        codes_nhwc(img, xq, HWi, &cl, nl, el);
        if (gk) load_sums(S, wc->tmp, xq, HWi, Cs, G, nl, p->xbit, sa);
        im2col_loads(dst, esz, gk ? X->ebound : NULL, wmax, img, S, b * Ppad, kp, lp, nl, &cl, H, W, k, c->stride,
                     c->pad);
      }
      if (!gk) asim_opnd_pack_x(X, isa);
      double tb = prof ? asim_prof_now() : 0;
      asim_noise_addr na = {key, sample0 + b0, Ppad, 0, 1, P, NULL};
      const asim_out ao = {out + b0 * out_n, 1, P, Ppad, P, out_n};
      int64_t fb = 0;
      ASIM_CHECK_GOTO(st, asim_engine_run(&ao, mp, Wp, X, &na, asim_exec_threads(ex), isa, &fb), done);
      double tc = prof ? asim_prof_now() : 0;
      for (int64_t b = 0; b < nb; b++) {
        float *y = out + (b0 + b) * out_n;
        asim_dequantize(y, out_n, sws, sx[b0 + b], D);
        if (bias) add_bias(y, bias, O, P);
      }
      if (prof) {
        t[1] += tb - ta, t[2] += tc - tb, t[3] += asim_prof_now() - tc;
        fb_total += fb;
        if (!gk) conv += (double)nb * P * O * nl * mp->n_cycles;
      }
    }
    if (prof) {
      double t4[4] = {0, t[1] - t[0], t[1] - t[0] + t[2], t[1] - t[0] + t[2] + t[3]};
      asim_prof_record(c->layer_id, "conv", t4, (double)B * P * O * Cs * kk, conv, (double)fb_total);
    }
  }
done:
  if (wc == &wlocal) asim_wcache_clear(&wlocal);
  free(xq);
  free(wq);
  free(cols);
  free(wf);
  free(xf);
  free(sx);
  return st;
}
