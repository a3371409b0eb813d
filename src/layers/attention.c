#include "asim/attention.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/linear.h"
#include "asim/quant.h"
#include "cim/kernels.h"

asim_status asim_mha_check(const asim_mha_dims *a) {
  if (a->embed_dim < 1 || a->num_heads < 1 || a->embed_dim % a->num_heads)
    return ASIM_ERR(ASIM_EINVAL, "ASiMMultiheadAttention: embed_dim %d is not divisible by num_heads %d",
                    a->embed_dim, a->num_heads);
  struct { const char *name; int bits, min; } w[] = {{"qk_qbit", a->qk_qbit, 2}, {"qk_kbit", a->qk_kbit, 2},
    {"av_abit", a->av_abit, 1}, {"av_vbit", a->av_vbit, 2}, {"proj_wbit", a->proj_wbit, 2}, {"proj_xbit", a->proj_xbit, 2}};
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
    if (w[i].bits < w[i].min || w[i].bits > ASIM_MAX_BITS)
      return ASIM_ERR(ASIM_EINVAL, "ASiMMultiheadAttention: %s = %d: must be in %d..%d", w[i].name, w[i].bits,
                      w[i].min, ASIM_MAX_BITS);
  if (a->voting && a->mode == ASIM_SIMULATION) {
    if (a->voting_levels < 0 || a->num_samp < 0 || a->num_samp > 255)
      return ASIM_ERR(ASIM_EINVAL, "ASiMMultiheadAttention: voting_levels = %d, num_samp = %d: must be >= 0 and "
                      "in 1..255", a->voting_levels, a->num_samp);
    if (a->hybrid_levels >= 0)
      return ASIM_ERR(ASIM_EINVAL, "ASiMMultiheadAttention: voting_levels with hybrid_levels = %d: majority voting "
                      "replaces hybrid_levels", a->hybrid_levels);
    if (a->num_samp > 1 && (a->qk_k_enc > 0 || a->av_a_enc > 0 || a->proj_act_enc > 0))
      return ASIM_ERR(ASIM_EINVAL, "ASiMMultiheadAttention: num_samp = %d with a bit-parallel encoding (qk_k_enc %d, "
                      "av_a_enc %d, proj_act_enc %d): majority voting repeats bit-serial conversions only (ASiM "
                      "asserts the same)", a->num_samp, a->qk_k_enc, a->av_a_enc, a->proj_act_enc);
  }
  if (a->mode == ASIM_SIMULATION) {
    /* ASiM compares qk_k_enc with the QUERY width (spec §3.7 quirk 7) */
    if (a->qk_k_enc == 0 || a->qk_k_enc < -1 || (a->qk_k_enc > 0 && a->qk_k_enc >= a->qk_qbit))
      return ASIM_ERR(ASIM_EINVAL, "ASiMMultiheadAttention: qk_k_enc = %d: must be None or in 1..qk_qbit-1 (%d)",
                      a->qk_k_enc, a->qk_qbit - 1);
    if (a->av_a_enc == 0 || a->av_a_enc < -1 || a->av_a_enc > a->av_abit)
      return ASIM_ERR(ASIM_EINVAL, "ASiMMultiheadAttention: av_a_enc = %d: must be None or in 1..av_abit (%d)",
                      a->av_a_enc, a->av_abit);
  }
  return ASIM_OK;
}

/* The cim settings of one part of the block. */
static asim_cim_params part_params(const asim_mha_dims *a, int part) {
  asim_cim_params p = asim_cim_defaults();
  p.mode = a->mode;
  p.nrow = a->nrow;
  p.hybrid_levels = a->hybrid_levels;
  p.signed_act = 1;
  if (part == 0) { /* qkv and proj linears */
    p.wbit = a->proj_wbit;
    p.xbit = a->proj_xbit;
    p.adc_prec = a->proj_adc_prec;
    p.rand_noise_sigma = a->proj_rand_noise_sigma;
    p.non_linear_sigma = a->proj_non_linear_sigma;
    p.act_enc = a->proj_act_enc;
    p.trim_noise = a->proj_trim_noise;
  } else if (part == 1) { /* QK: query is weight-like, key activation-like */
    p.wbit = a->qk_qbit;
    p.xbit = a->qk_kbit;
    p.adc_prec = a->qk_adc_prec;
    p.rand_noise_sigma = a->qk_rand_noise_sigma;
    p.non_linear_sigma = a->qk_non_linear_sigma;
    p.act_enc = a->qk_k_enc;
    p.trim_noise = a->attn_trim_noise;
  } else { /* AV: value is weight-like, probabilities (unsigned) activation-like */
    p.wbit = a->av_vbit;
    p.xbit = a->av_abit;
    p.signed_act = 0;
    p.adc_prec = a->av_adc_prec;
    p.rand_noise_sigma = a->av_rand_noise_sigma;
    p.non_linear_sigma = a->av_non_linear_sigma;
    p.act_enc = a->av_a_enc;
    p.trim_noise = a->attn_trim_noise;
  }
  if (a->voting) { /* ASiM's voting attention: QK, AV and its qkv/proj linears all vote */
    p.voting_levels = a->voting_levels;
    p.num_samp = a->num_samp > 1 ? a->num_samp : 1;
    p.hybrid_levels = -1;
  }
  return p;
}

/* One batched product per (b, h): Y[p][o] = Σ_k X[p][k]·W[o][k] with W (Wr×K) and X (Xr×K) taken from
 * wsrc/xsrc with per-(b,h) strides; the output element (p, o) lands at y + bh·Wr·Xr + p·ps + o·os, which
 * is also its element index within the sample (used for noise). */
static asim_status batched_product(float *y, const float *wsrc, const float *xsrc, int B, int H, int64_t Wr,
                                   int64_t Xr, int64_t K, int64_t ps, int64_t os, int x_signed,
                                   const asim_cim_params *p, uint32_t layer_id, const asim_exec *ex,
                                   const char *kind) {
  const int64_t wn = Wr * K, xn = Xr * K, yn = Wr * Xr, total_w = (int64_t)B * H * wn, total_x = (int64_t)B * H * xn;
  const asim_noise_key key = {ex ? ex->seed : 0, layer_id};
  const int64_t sample0 = ex ? ex->sample0 : 0;
  const int per_sample = ex && ex->per_sample_scale;
  asim_status st = ASIM_OK;
  float *sw = NULL, *sx = NULL, *wf = NULL, *xf = NULL;
  int32_t *wq = NULL, *xq = NULL;
  asim_macro m = {0};
  asim_opnd wo, xo;
  memset(&wo, 0, sizeof wo);
  memset(&xo, 0, sizeof xo);
  const int prof = asim_prof_on();
  double tp = 0, tk = 0, t0 = prof ? asim_prof_now() : 0, conv = 0;
  int64_t fb_total = 0;
  const asim_isa isa = asim_isa_active();
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(sw, (size_t)B), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(sx, (size_t)B), done);
  if (per_sample) {
    for (int b = 0; b < B; b++) {
      sw[b] = asim_act_scale(wsrc + b * H * wn, H * wn, 1, NULL);
      sx[b] = asim_act_scale(xsrc + b * H * xn, H * xn, x_signed, NULL);
    }
  } else {
    float s1 = asim_act_scale(wsrc, total_w, 1, ex), s2 = asim_act_scale(xsrc, total_x, x_signed, ex);
    for (int b = 0; b < B; b++) sw[b] = s1, sx[b] = s2;
  }
  if (p->mode != ASIM_SIMULATION) { /* float operands of the Train/Inference products */
    ASIM_CHECK_GOTO(st, asim_malloc(&wf, sizeof(float) * (size_t)total_w), done);
    ASIM_CHECK_GOTO(st, asim_malloc(&xf, sizeof(float) * (size_t)total_x), done);
  }
  if (p->mode == ASIM_TRAIN) {
    for (int b = 0; b < B; b++) {
      asim_fake_quantize(wf + b * H * wn, wsrc + b * H * wn, H * wn, sw[b], p->wbit, 1);
      asim_fake_quantize(xf + b * H * xn, xsrc + b * H * xn, H * xn, sx[b], p->xbit, x_signed);
    }
  } else {
    ASIM_CHECK_GOTO(st, asim_malloc(&wq, sizeof(int32_t) * (size_t)total_w), done);
    ASIM_CHECK_GOTO(st, asim_malloc(&xq, sizeof(int32_t) * (size_t)total_x), done);
    for (int b = 0; b < B; b++) {
      asim_quantize(wq + b * H * wn, wsrc + b * H * wn, H * wn, sw[b], p->wbit, 1);
      asim_quantize(xq + b * H * xn, xsrc + b * H * xn, H * xn, sx[b], p->xbit, x_signed);
    }
    if (p->mode != ASIM_SIMULATION) {
      for (int64_t i = 0; i < total_w; i++) wf[i] = (float)wq[i];
      for (int64_t i = 0; i < total_x; i++) xf[i] = (float)xq[i];
    }
  }
  if (p->mode == ASIM_SIMULATION) {
    asim_macro_desc d = asim_cim_macro_desc(p, p->wbit, p->xbit, x_signed, p->act_enc, K, p->nrow,
                                            (K + p->nrow - 1) / p->nrow);
    ASIM_CHECK_GOTO(st, asim_macro_init(&m, &d), done);
    ASIM_CHECK_GOTO(st, asim_opnd_alloc(&wo, Wr, p->wbit, 1, &m, isa), done);
    ASIM_CHECK_GOTO(st, asim_opnd_alloc(&xo, Xr, p->xbit, x_signed, &m, isa), done);
  }
  if (prof) tp += asim_prof_now() - t0;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      const int64_t bh = (int64_t)b * H + h;
      float *yy = y + bh * yn;
      if (p->mode == ASIM_SIMULATION && m.ext) {
        /* majority voting with repeated conversions: the plain reference macro kernel */
        asim_bitmat Wb, Xb;
        asim_noise_addr na = {key, sample0 + b, Xr, (int64_t)h * yn, ps, os, NULL};
        memset(&Xb, 0, sizeof Xb);
        ASIM_CHECK_GOTO(st, asim_bitmat_pack(&Wb, wq + bh * wn, Wr, &m, p->wbit), done);
        if ((st = asim_bitmat_pack(&Xb, xq + bh * xn, Xr, &m, p->xbit)) == ASIM_OK)
          st = asim_macro_run_reference(yy, ps, os, &m, &Wb, &Xb, &na);
        asim_bitmat_free(&Wb);
        asim_bitmat_free(&Xb);
        if (st) {
          asim_error_trace(st, __FILE__, __LINE__, "voted attention product");
          goto done;
        }
      } else if (p->mode == ASIM_SIMULATION) {
        double ta = prof ? asim_prof_now() : 0;
        asim_opnd_set_rows(&wo, wq + bh * wn, K, K, p->nrow);
        ASIM_CHECK_GOTO(st, asim_opnd_prepare_w(&wo, &m, isa, 1), done);
        ASIM_CHECK_GOTO(st, asim_opnd_fill_x(&xo, &m, isa, xq + bh * xn, K, K), done);
        double tb = prof ? asim_prof_now() : 0;
        asim_noise_addr na = {key, sample0 + b, Xr, (int64_t)h * yn, ps, os, NULL};
        int64_t fb = 0;
        const asim_out ao = asim_out_rows(yy, ps, os, Xr);
        ASIM_CHECK_GOTO(st, asim_engine_run(&ao, &m, &wo, &xo, &na, asim_exec_threads(ex), isa, &fb), done);
        if (prof) {
          tp += tb - ta, tk += asim_prof_now() - tb;
          fb_total += fb;
          if (!xo.gemm) conv += (double)Wr * Xr * m.d.n_loads * m.n_cycles;
        }
      } else {
        /* float product of (fake-)quantised operands: Y (Xr × Wr in p,o) */
        if (ps == 1) /* yy[o·Wr... ] layout (o, p): W · Xᵀ */
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Wr, (int)Xr, (int)K, 1.0f, wf + bh * wn,
                      (int)K, xf + bh * xn, (int)K, 0.0f, yy, (int)os);
        else /* layout (p, o): X · Wᵀ */
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Xr, (int)Wr, (int)K, 1.0f, xf + bh * xn,
                      (int)K, wf + bh * wn, (int)K, 0.0f, yy, (int)ps);
      }
    }
  if (p->mode != ASIM_SIMULATION)
    for (int b = 0; b < B; b++)
      asim_trim_noise(y + (int64_t)b * H * yn, H * yn, H * yn, p->trim_noise, key, sample0 + b);
  if (p->mode != ASIM_TRAIN) {
    const float D = asim_dequant_divisor(p->wbit, p->xbit, x_signed);
    for (int b = 0; b < B; b++) asim_dequantize(y + (int64_t)b * H * yn, H * yn, sw[b], sx[b], D);
  }
  if (prof && p->mode == ASIM_SIMULATION) {
    double t4[4] = {0, tp, tp + tk, tp + tk};
    asim_prof_record(layer_id, kind, t4, (double)B * H * Wr * Xr * K, conv, (double)fb_total);
  }
done:
  asim_opnd_free(&wo);
  asim_opnd_free(&xo);
  asim_macro_free(&m);
  free(sw);
  free(sx);
  free(wf);
  free(xf);
  free(wq);
  free(xq);
  return st;
}

asim_status asim_mha_qk(float *S, const float *q, const float *k, int B, int T, const asim_mha_dims *a,
                        const asim_exec *ex) {
  ASIM_CHECK(asim_mha_check(a));
  const int H = a->num_heads, D = a->embed_dim / H;
  asim_cim_params p = part_params(a, 1);
  /* S[n][m]: weight row o = query n, activation row p = key m */
  ASIM_CHECK(batched_product(S, q, k, B, H, T, T, D, 1, T, 1, &p, a->layer_id + 1, ex, "qk"));
  return ASIM_OK;
}

asim_status asim_mha_av(float *O, const float *P, const float *v, int B, int T, const asim_mha_dims *a,
                        const asim_exec *ex) {
  ASIM_CHECK(asim_mha_check(a));
  const int H = a->num_heads, D = a->embed_dim / H;
  asim_cim_params p = part_params(a, 2);
  float *vt;
  ASIM_CHECK(asim_malloc(&vt, sizeof(float) * (size_t)B * H * T * D));
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++) /* weight rows are value columns: vᵀ (D, T) */
    for (int t = 0; t < T; t++)
      for (int d = 0; d < D; d++) vt[(bh * D + d) * T + t] = v[(bh * T + t) * D + d];
  asim_status st = batched_product(O, vt, P, B, H, D, T, T, D, 1, 0, &p, a->layer_id + 2, ex, "av");
  free(vt);
  if (st) return asim_error_trace(st, __FILE__, __LINE__, "AV product");
  return ASIM_OK;
}

/* SLEEF's expf_u10 (what PyTorch's vectorised exp calls): Cody-Waite reduction by ln 2 and a
 * degree-6 polynomial with FMAs. Bit-exact with PyTorch's CPU exp. */
static float sleef_expf(float d) {
  const float R_LN2 = 1.442695040888963407359924681001892137426645954152985934135449406931f;
  const float L2U = 0.693145751953125f, L2L = 1.428606765330187045e-06f;
  int q = (int)rintf(d * R_LN2);
  float s = fmaf((float)q, -L2U, d);
  s = fmaf((float)q, -L2L, s);
  float u = 0.000198527617612853646278381f;
  u = fmaf(u, s, 0.00139304355252534151077271f);
  u = fmaf(u, s, 0.00833336077630519866943359f);
  u = fmaf(u, s, 0.0416664853692054748535156f);
  u = fmaf(u, s, 0.166666671633720397949219f);
  u = fmaf(u, s, 0.5f);
  u = 1.0f + fmaf(s * s, u, s);
  u = ldexpf(ldexpf(u, q >> 1), q - (q >> 1));
  if (d < -104.0f) u = 0.0f;
  if (d > 100.0f) u = INFINITY;
  return u;
}

/* PyTorch's vectorised sum of a row (reduce_all over 8-lane AVX2 vectors): lanes accumulate,
 * the partial tail adds into the first lanes, then the lanes fold as a tree (i+4, i+2, i+1);
 * rows shorter than a vector fold sequentially. */
static float torch_row_sum(const float *e, int64_t n) {
  if (n < 8) {
    float t = e[0];
    for (int64_t i = 1; i < n; i++) t += e[i];
    return t;
  }
  float acc[8];
  for (int l = 0; l < 8; l++) acc[l] = e[l];
  int64_t d = 8;
  for (; d < n - n % 8; d += 8)
    for (int l = 0; l < 8; l++) acc[l] += e[d + l];
  for (int64_t l = 0; l < n - d; l++) acc[l] += e[d + l];
  float b[4], c[2];
  for (int l = 0; l < 4; l++) b[l] = acc[l] + acc[l + 4];
  for (int l = 0; l < 2; l++) c[l] = b[l] + b[l + 2];
  return c[0] + c[1];
}

void asim_softmax_rows(float *y, const float *x, int64_t rows, int64_t n) {
  /* PyTorch's CPU softmax over the last axis, bit for bit: max, exp(x - max), sum, times 1/sum.
   * Its output is quantised by the AV product, so every rounding matters. */
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float mx = xr[0];
    for (int64_t i = 1; i < n; i++)
      if (xr[i] > mx) mx = xr[i];
    for (int64_t i = 0; i < n; i++) yr[i] = sleef_expf(xr[i] - mx);
    float inv = 1.0f / torch_row_sum(yr, n);
    for (int64_t i = 0; i < n; i++) yr[i] *= inv;
  }
}

asim_status asim_mha_forward(float *out, const float *in, int B, int T, const float *qkv_w,
                             const float *qkv_b, const float *proj_w, const float *proj_b,
                             const asim_mha_dims *a, const asim_exec *ex, asim_mha_trace *trace) {
  ASIM_CHECK(asim_mha_check(a));
  const int E = a->embed_dim, H = a->num_heads, D = E / H;
  const int64_t BT = (int64_t)B * T, bhtd = (int64_t)B * H * T * D, bhtt = (int64_t)B * H * T * T;
  asim_linear_dims lin = {E, 3 * E, part_params(a, 0), a->layer_id, a->qkv_cache};
  asim_status st = ASIM_OK;
  float *z = NULL, *q = NULL, *k = NULL, *v = NULL, *S = NULL, *P = NULL, *O = NULL, *y = NULL;
  ASIM_CHECK_GOTO(st, asim_malloc(&z, sizeof(float) * (size_t)(BT * 3 * E)), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&q, sizeof(float) * (size_t)bhtd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&k, sizeof(float) * (size_t)bhtd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&v, sizeof(float) * (size_t)bhtd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&S, sizeof(float) * (size_t)bhtt), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&P, sizeof(float) * (size_t)bhtt), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&O, sizeof(float) * (size_t)bhtd), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&y, sizeof(float) * (size_t)(BT * E)), done);

  ASIM_CHECK_GOTO(st, asim_linear_forward(z, in, B, T, qkv_w, qkv_b, &lin, ex), done);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      const float *zr = z + ((int64_t)b * T + t) * 3 * E;
      for (int h = 0; h < H; h++)
        for (int d = 0; d < D; d++) {
          int64_t i = (((int64_t)b * H + h) * T + t) * D + d;
          q[i] = zr[h * D + d];
          k[i] = zr[E + h * D + d];
          v[i] = zr[2 * E + h * D + d];
        }
    }
  ASIM_CHECK_GOTO(st, asim_mha_qk(S, q, k, B, T, a, ex), done);
  if (trace && trace->qk_out) memcpy(trace->qk_out, S, sizeof(float) * (size_t)bhtt);
  {
    const float scale = (float)pow((double)E, -0.5); /* ASiM: embed_dim, not head_dim */
    for (int64_t i = 0; i < bhtt; i++) S[i] *= scale;
  }
  asim_softmax_rows(P, S, (int64_t)B * H * T, T);
  ASIM_CHECK_GOTO(st, asim_mha_av(O, P, v, B, T, a, ex), done);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++)
          y[((int64_t)b * T + t) * E + h * D + d] = O[(((int64_t)b * H + h) * T + t) * D + d];
  lin.out_features = E;
  lin.layer_id = a->layer_id + 3;
  lin.cache = a->proj_cache;
  ASIM_CHECK_GOTO(st, asim_linear_forward(out, y, B, T, proj_w, proj_b, &lin, ex), done);

  if (trace) {
    if (trace->qkv_out) memcpy(trace->qkv_out, z, sizeof(float) * (size_t)(BT * 3 * E));
    if (trace->q) memcpy(trace->q, q, sizeof(float) * (size_t)bhtd);
    if (trace->v) memcpy(trace->v, v, sizeof(float) * (size_t)bhtd);
    if (trace->k_t)
      for (int64_t bh = 0; bh < (int64_t)B * H; bh++)
        for (int t = 0; t < T; t++)
          for (int d = 0; d < D; d++) trace->k_t[(bh * D + d) * T + t] = k[(bh * T + t) * D + d];
    if (trace->attn_probs) memcpy(trace->attn_probs, P, sizeof(float) * (size_t)bhtt);
    if (trace->av_out) memcpy(trace->av_out, y, sizeof(float) * (size_t)(BT * E));
  }
done:
  free(z);
  free(q);
  free(k);
  free(v);
  free(S);
  free(P);
  free(O);
  free(y);
  return st;
}
