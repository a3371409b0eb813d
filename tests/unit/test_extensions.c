/* ASiM's extensions (spec §11) as options of the one macro model, pinned down: the formulas
 * (gain compression, the signed weight-bit-parallel ADC, the vote's tie rule), their statistics
 * against exact predictions (variance reduction by k votes, cell variation), the evident-intent
 * datapaths and their compat switches, rank-independent keying, and validation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/attention.h"
#include "asim/config.h"
#include "asim/conv.h"
#include "asim/linear.h"
#include "asim/macro.h"
#include "asim/model.h"
#include "asim/quant.h"
#include "cu_util.h"

static float frand(uint32_t *s) { /* uniform in [-1, 1) */
  *s = *s * 1664525u + 1013904223u;
  return (float)(*s >> 8) / 8388608.0f - 1.0f;
}

/* ---- current domain ---------------------------------------------------------------------- */

static void gain_compression_maps_full_scale_255_to_203_2_at_alpha_0_001(void) {
  /* ASiM's README example, with an ADC fine enough that only the compression shows */
  const float A = (float)(ldexp(1.0, 24) - 1.0);
  float v = asim_adc_cd(255.0f, 255.0f, A, 0.001f, 0, 0.0f, 0.0f);
  CU_ASSERT_TRUE(fabs(v - 255.0 / 1.255) < 1e-3);
  CU_ASSERT_EQUAL((int)lround(v * 10.0), 2032);
  /* the whole curve M/(1 + αM), for a strong α too */
  const float alphas[2] = {0.001f, 0.02f};
  for (int a = 0; a < 2; a++)
    for (int M = 0; M <= 255; M++) {
      double want = M / (1.0 + (double)alphas[a] * M);
      CU_ASSERT_TRUE(fabs(asim_adc_cd((float)M, 255.0f, A, alphas[a], 0, 0.0f, 0.0f) - want) < 1e-3);
    }
}

static void gain_compression_off_is_the_base_adc_bit_for_bit(void) {
  for (int adc = 3; adc <= 8; adc++) {
    const float A = (float)(ldexp(1.0, adc) - 1.0);
    for (int M = 0; M <= 765; M++) {
      float a = asim_adc_cd((float)M, 765.0f, A, 0.0f, 0, 0.0f, 0.0f);
      float b = asim_adc((float)M, 765.0f, A, 255, 0, 0.0f, 0.0f, 0.0f, 0.0f);
      CU_ASSERT_EQUAL(memcmp(&a, &b, 4), 0);
    }
  }
}

/* W rows with code -1 (both planes of a 2-bit weight set) against one X row with n ones: every
 * row's error is Σε over 2n cells, weighted 1 (plane 0) and -2 (plane 1): variance 5·n·σ². */
static void cell_variation_has_sigma_weight_var_and_is_a_fixed_chip(void) {
  const int O = 3000, n = 100, K = 200;
  const float wv = 5.0f;
  asim_macro_desc d = {.wbit = 2, .xbit = 1, .adc_prec = 24, .nrow = 255, .K = K, .load_rows = 255, .n_loads = 1,
                       .weight_var = wv};
  asim_macro m;
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  CU_ASSERT_TRUE(m.ext);
  int32_t *wq = calloc((size_t)O * K, sizeof *wq), xq[K];
  for (int64_t i = 0; i < (int64_t)O * K; i++) wq[i] = -1;
  for (int k = 0; k < K; k++) xq[k] = k < n;
  asim_bitmat W, X;
  CU_ASSERT_OK(asim_bitmat_pack(&W, wq, O, &m, 2));
  CU_ASSERT_OK(asim_bitmat_pack(&X, xq, 1, &m, 1));
  float *acc = calloc(O, sizeof *acc), *acc2 = calloc(O, sizeof *acc2);
  asim_noise_addr na = {{7, 3}, 0, 1, 0, 0, 1, NULL};
  CU_ASSERT_OK(asim_macro_run_reference(acc, 0, 1, &m, &W, &X, &na));
  double s = 0, s2 = 0;
  for (int o = 0; o < O; o++) {
    double e = acc[o] - (-(double)n);
    s += e, s2 += e * e;
  }
  const double mean = s / O, var = s2 / O - mean * mean, want = 5.0 * n * (wv / 100.0) * (wv / 100.0);
  CU_ASSERT_TRUE(fabs(mean) < 4.0 * sqrt(want / O));
  CU_ASSERT_TRUE(fabs(var - want) / want < 0.1); /* SE of a variance from 3000 draws: 2.6 % */
  /* a chip, not a draw per sample: another sample index sees the same cells */
  na.sample0 = 12345;
  CU_ASSERT_OK(asim_macro_run_reference(acc2, 0, 1, &m, &W, &X, &na));
  CU_ASSERT_EQUAL(memcmp(acc, acc2, sizeof(float) * O), 0);
  /* another run seed is another chip */
  na.key.seed = 8;
  CU_ASSERT_OK(asim_macro_run_reference(acc2, 0, 1, &m, &W, &X, &na));
  CU_ASSERT_NOT_EQUAL(memcmp(acc, acc2, sizeof(float) * O), 0);
  /* the draws themselves: mean 0, std σ_w/100 */
  double a = 0, a2 = 0;
  const int N = 100000;
  for (int i = 0; i < N; i++) {
    double z = asim_weight_var_draw((asim_noise_key){1, 2}, i % 100, 1000, i / 100, i % 3, wv);
    a += z, a2 += z * z;
  }
  CU_ASSERT_TRUE(fabs(a / N) < 4.0 * 0.05 / sqrt(N));
  CU_ASSERT_TRUE(fabs(sqrt(a2 / N) - 0.05) / 0.05 < 0.01);
  asim_bitmat_free(&W), asim_bitmat_free(&X);
  asim_macro_free(&m);
  free(wq), free(acc), free(acc2);
}

static void cell_variation_of_a_layer_is_the_same_for_every_sample_and_batch(void) {
  uint32_t seed = 5;
  const int C = 8, O = 4, H = 4, n1 = C * H * H, n2 = O * H * H;
  float x[3 * n1], w[O * C * 9], y3[3 * n2], y1[n2];
  for (int i = 0; i < 3 * n1; i++) x[i] = fabsf(frand(&seed));
  for (int i = 0; i < n1; i++) x[2 * n1 + i] = x[i]; /* sample 2 is sample 0 again */
  for (int i = 0; i < O * C * 9; i++) w[i] = frand(&seed);
  asim_conv_dims c = {C, O, 3, 1, 1, asim_cim_defaults(), 4, 0, NULL};
  c.p.mode = ASIM_SIMULATION, c.p.nrow = 72, c.p.weight_var = 5.0f, c.p.non_linear_alpha = 0.002f;
  asim_exec e = {.seed = 3, .sample0 = 0, .per_sample_scale = 1};
  CU_ASSERT_OK(asim_conv2d_forward(y3, x, 3, H, H, w, NULL, &c, &e));
  CU_ASSERT_EQUAL(memcmp(y3, y3 + 2 * n2, sizeof(float) * n2), 0); /* same chip for samples 0 and 2 */
  asim_exec e1 = {.seed = 3, .sample0 = 77, .per_sample_scale = 1};
  CU_ASSERT_OK(asim_conv2d_forward(y1, x, 1, H, H, w, NULL, &c, &e1)); /* another batch, another index */
  CU_ASSERT_EQUAL(memcmp(y1, y3, sizeof y1), 0);
  /* and it is there: without it the output differs */
  c.p.weight_var = 0.0f;
  CU_ASSERT_OK(asim_conv2d_forward(y1, x, 1, H, H, w, NULL, &c, &e1));
  CU_ASSERT_NOT_EQUAL(memcmp(y1, y3, sizeof y1), 0);
}

/* ---- majority voting --------------------------------------------------------------------- */

static void vote_keeps_the_most_frequent_code_and_the_smallest_on_ties(void) {
  const float a[3] = {3, 1, 2}, b[4] = {5, 2, 5, 2}, c[3] = {4, 1, 4}, d[5] = {7, 6, 7, 6, 6};
  CU_ASSERT_EQUAL(asim_vote_mode(a, 3), 1.0f);
  CU_ASSERT_EQUAL(asim_vote_mode(b, 4), 2.0f);
  CU_ASSERT_EQUAL(asim_vote_mode(c, 3), 4.0f);
  CU_ASSERT_EQUAL(asim_vote_mode(d, 5), 6.0f);
}

/* Exact moments of (code − M) for one noisy conversion voted k times: the code distribution
 * p_c = P(rne(clamp(M/A + z·s)·A) = c) (A = R, one count per code), the mode of k draws with
 * the smallest-code tie rule by enumeration of all k-tuples over the codes with mass. */
static void voted_moments(int M, double s_codes, int k, double *mean, double *var) {
  enum { W = 9 };
  double p[W];
  const int c0 = M - W / 2;
  for (int i = 0; i < W; i++) {
    int c = c0 + i;
    double hi = 0.5 * erfc(-((c + 0.5 - M) / s_codes) * M_SQRT1_2);
    double lo = c == 0 ? 0.0 : 0.5 * erfc(-((c - 0.5 - M) / s_codes) * M_SQRT1_2);
    p[i] = c < 0 ? 0.0 : hi - lo;
  }
  int idx[8] = {0};
  double m1 = 0, m2 = 0;
  for (;;) {
    double pr = 1;
    float v[8];
    for (int r = 0; r < k; r++) pr *= p[idx[r]], v[r] = (float)(c0 + idx[r]);
    if (pr > 0) {
      double e = asim_vote_mode(v, k) - M;
      m1 += pr * e, m2 += pr * e * e;
    }
    int r = 0;
    while (r < k && ++idx[r] == W) idx[r++] = 0;
    if (r == k) break;
  }
  *mean = m1, *var = m2 - m1 * m1;
}

static void majority_voting_with_k_votes_shrinks_the_spread_as_predicted(void) {
  /* weight code 1 (plane 0 only) over 100 active rows: cycle i=0 converts M = 100, cycle i=1
   * (negated, ×2) converts M = 0; both voted. Noise 0.6 code steps. One row per sample. */
  const int P = 20000, K = 255, n = 100;
  const double s_codes = 0.6;
  int32_t wq[K], *xq = calloc((size_t)P * K, sizeof *xq);
  for (int k = 0; k < K; k++) wq[k] = 1;
  for (int p = 0; p < P; p++)
    for (int k = 0; k < n; k++) xq[(int64_t)p * K + k] = 1;
  float *acc = calloc(P, sizeof *acc);
  double var_of[6] = {0};
  for (int votes = 1; votes <= 5; votes += 2) {
    asim_macro_desc d = {.wbit = 2, .xbit = 1, .adc_prec = 8, .nrow = 255, .K = K, .load_rows = 255, .n_loads = 1,
                         .rand_noise_sigma = (float)(s_codes / 255.0 * 100.0), .voting = 1, .voting_levels = 2,
                         .num_samp = votes};
    asim_macro m;
    CU_ASSERT_OK(asim_macro_init(&m, &d));
    for (int c = 0; c < m.n_cycles; c++) CU_ASSERT_EQUAL(m.cycles[c].votes, votes);
    CU_ASSERT_EQUAL(m.ext, votes > 1); /* one vote is the base datapath: the fast kernels run it */
    asim_bitmat W, X;
    CU_ASSERT_OK(asim_bitmat_pack(&W, wq, 1, &m, 2));
    CU_ASSERT_OK(asim_bitmat_pack(&X, xq, P, &m, 1));
    asim_noise_addr na = {{21, 1}, 0, 1, 0, 0, 1, NULL};
    CU_ASSERT_OK(asim_macro_run_reference(acc, 1, 0, &m, &W, &X, &na));
    double s = 0, s2 = 0;
    for (int p = 0; p < P; p++) {
      double e = acc[p] - n;
      s += e, s2 += e * e;
    }
    const double mean = s / P, var = s2 / P - mean * mean;
    double m0, v0, m1, v1;
    voted_moments(n, s_codes, votes, &m0, &v0);
    voted_moments(0, s_codes, votes, &m1, &v1);
    const double want_mean = m0 - 2.0 * m1, want_var = v0 + 4.0 * v1;
    CU_ASSERT_TRUE(fabs(var - want_var) / want_var < 0.06);
    CU_ASSERT_TRUE(fabs(mean - want_mean) < 4.0 * sqrt(want_var / P));
    var_of[votes] = var;
    asim_bitmat_free(&W), asim_bitmat_free(&X);
    asim_macro_free(&m);
  }
  CU_ASSERT_TRUE(var_of[3] < 0.8 * var_of[1]);
  CU_ASSERT_TRUE(var_of[5] < var_of[3]);
  free(xq), free(acc);
}

static void voting_with_one_vote_is_the_base_module_with_every_cycle_analog(void) {
  uint32_t seed = 9;
  const int C = 8, O = 4, H = 4, n2 = O * H * H;
  float x[2 * C * H * H], w[O * C * 9], ya[2 * n2], yb[2 * n2];
  for (int i = 0; i < 2 * C * H * H; i++) x[i] = fabsf(frand(&seed));
  for (int i = 0; i < O * C * 9; i++) w[i] = frand(&seed);
  asim_conv_dims c = {C, O, 3, 1, 1, asim_cim_defaults(), 4, 0, NULL};
  c.p.mode = ASIM_SIMULATION, c.p.nrow = 72, c.p.rand_noise_sigma = 1.0f, c.p.non_linear_sigma = 1.0f;
  asim_exec e = {.seed = 3};
  CU_ASSERT_OK(asim_conv2d_forward(ya, x, 2, H, H, w, NULL, &c, &e));
  c.p.voting_levels = 3; /* num_samp 1: the levels are named, nothing is repeated */
  CU_ASSERT_OK(asim_conv2d_forward(yb, x, 2, H, H, w, NULL, &c, &e));
  CU_ASSERT_EQUAL(memcmp(ya, yb, sizeof ya), 0);
  c.p.num_samp = 3; /* now the top levels are voted on: other numbers */
  CU_ASSERT_OK(asim_conv2d_forward(yb, x, 2, H, H, w, NULL, &c, &e));
  CU_ASSERT_NOT_EQUAL(memcmp(ya, yb, sizeof ya), 0);
}

/* The voting attention with bit-serial QK and AV (ASiM's code stops there with an attribute error;
 * the evident intent: each product's own ADC). */
static void voting_attention_runs_bit_serial_qk_and_av_and_votes(void) {
  uint32_t seed = 41;
  enum { B = 2, T = 5, E = 32, H = 2 };
  float x[B * T * E], qw[3 * E * E], qb[3 * E], pw[E * E], pb[E], ya[B * T * E], yb[B * T * E], y1[T * E];
  for (int i = 0; i < B * T * E; i++) x[i] = frand(&seed);
  for (int i = 0; i < 3 * E * E; i++) qw[i] = frand(&seed) * 0.2f;
  for (int i = 0; i < 3 * E; i++) qb[i] = frand(&seed) * 0.1f;
  for (int i = 0; i < E * E; i++) pw[i] = frand(&seed) * 0.2f;
  for (int i = 0; i < E; i++) pb[i] = frand(&seed) * 0.1f;
  asim_mha_dims a = {E, H, ASIM_SIMULATION, 8, 8, 8, 8, 8, 8, 8, 8, 8, 255, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f,
                     -1, -1, -1, -1, 0, 0, 0, 0, 0, 10, NULL, NULL};
  asim_exec e = {.seed = 5};
  CU_ASSERT_OK(asim_mha_forward(ya, x, B, T, qw, qb, pw, pb, &a, &e, NULL));
  a.voting = 1, a.voting_levels = 3, a.num_samp = 1; /* one vote: the base attention, draw for draw */
  CU_ASSERT_OK(asim_mha_forward(yb, x, B, T, qw, qb, pw, pb, &a, &e, NULL));
  CU_ASSERT_EQUAL(memcmp(ya, yb, sizeof ya), 0);
  a.num_samp = 3;
  CU_ASSERT_OK(asim_mha_forward(yb, x, B, T, qw, qb, pw, pb, &a, &e, NULL));
  CU_ASSERT_NOT_EQUAL(memcmp(ya, yb, sizeof ya), 0);
  /* a sample's votes do not depend on its batch: sample 1 alone, at its global index */
  asim_exec e1 = {.seed = 5, .sample0 = 1, .per_sample_scale = 1};
  asim_exec e2 = {.seed = 5, .per_sample_scale = 1};
  CU_ASSERT_OK(asim_mha_forward(ya, x, B, T, qw, qb, pw, pb, &a, &e2, NULL));
  CU_ASSERT_OK(asim_mha_forward(y1, x + T * E, 1, T, qw, qb, pw, pb, &a, &e1, NULL));
  CU_ASSERT_EQUAL(memcmp(ya + T * E, y1, sizeof y1), 0);
  /* votes need bit-serial activations */
  a.qk_k_enc = 4;
  CU_ASSERT_EQUAL(asim_mha_check(&a), ASIM_EINVAL);
  asim_error_clear();
}

/* ---- weight bit-parallel ----------------------------------------------------------------- */

static void weight_bp_adc_is_signed_clamped_and_rounds_ties_to_even(void) {
  const float F = 1000.0f, L = 127.0f;
  CU_ASSERT_EQUAL(asim_adc_wbp(2000.0f, F, L, 0, 0, 0), F);   /* clamped at +1 */
  CU_ASSERT_EQUAL(asim_adc_wbp(-5000.0f, F, L, 0, 0, 0), -F); /* and at -1 */
  float half = 63.5f / 127.0f * F;                             /* v·L lands on 63.5 */
  while ((half / F) * L < 63.5f) half = nextafterf(half, 2000.0f);
  while ((half / F) * L > 63.5f) half = nextafterf(half, 0.0f);
  CU_ASSERT_EQUAL((half / F) * L, 63.5f);
  CU_ASSERT_EQUAL(asim_adc_wbp(half, F, L, 0, 0, 0), (64.0f / L) * F);
  CU_ASSERT_EQUAL(asim_adc_wbp(-half, F, L, 0, 0, 0), -(64.0f / L) * F);
  /* noise in % of F */
  CU_ASSERT_EQUAL(asim_adc_wbp(0.0f, F, L, 1, 10.0f, 1.0f), (13.0f / L) * F); /* 0.1·127 = 12.7 -> 13 */
}

/* Dequantised output of one weight-bit-parallel conversion of the exact integer product. */
static float wbp_expected(const int32_t *wq, const int32_t *xq, int K, int wbit, int xbit, int adc, int nrow,
                          float sw, float sx, float bias) {
  int64_t acc = 0;
  for (int k = 0; k < K; k++) acc += (int64_t)wq[k] * xq[k];
  const float F = (float)((ldexp(1.0, xbit) - 1.0) * (ldexp(1.0, wbit - 1) - 1.0) * nrow);
  float a = asim_adc_wbp((float)acc, F, (float)(ldexp(1.0, adc - 1) - 1.0), 0, 0, 0);
  float y = a;
  asim_dequantize(&y, 1, sw, sx, asim_dequant_divisor(wbit, xbit, 0));
  return y + bias;
}

static void weight_bp_linear_converts_the_whole_product_once_like_the_conv(void) {
  uint32_t seed = 17;
  enum { K = 300, O = 6, B = 3 };
  float x[B * K], w[O * K], bias[O], y[B * O], yc[B * O];
  for (int i = 0; i < B * K; i++) x[i] = fabsf(frand(&seed));
  for (int i = 0; i < O * K; i++) w[i] = frand(&seed);
  for (int i = 0; i < O; i++) bias[i] = frand(&seed);
  asim_linear_dims l = {K, O, asim_cim_defaults(), 3, NULL};
  l.p.mode = ASIM_SIMULATION, l.p.wbit = 4, l.p.xbit = 4, l.p.act_enc = 3, l.p.adc_prec = 12, l.p.nrow = 128;
  l.p.weight_bp = 1; /* 4 % 3 = 1: the top cycle holds one bit */
  CU_ASSERT_OK(asim_linear_forward(y, x, B, 1, w, bias, &l, NULL));
  int32_t wq[O * K], xq[B * K];
  const float sw = asim_scale_from_max(asim_absmax(w, O * K)), sx = asim_scale_from_max(asim_max(x, B * K));
  asim_quantize(wq, w, O * K, sw, 4, 1);
  asim_quantize(xq, x, B * K, sx, 4, 0);
  int exact = 1;
  for (int b = 0; b < B; b++)
    for (int o = 0; o < O; o++) exact &= y[b * O + o] == wbp_expected(wq + o * K, xq + b * K, K, 4, 4, 12, 128, sw, sx, bias[o]);
  CU_ASSERT_TRUE(exact);
  /* the same product as a 1x1 conv gives the same numbers */
  float xc[B * K], wc[O * K];
  memcpy(xc, x, sizeof x), memcpy(wc, w, sizeof w); /* (B, K, 1, 1) and (O, K, 1, 1) */
  asim_conv_dims c = {K, O, 1, 1, 0, l.p, 3, 0, NULL};
  c.p.nrow = 128;
  CU_ASSERT_OK(asim_conv2d_forward(yc, xc, B, 1, 1, wc, bias, &c, NULL));
  CU_ASSERT_EQUAL(memcmp(y, yc, sizeof y), 0);
  /* ASiM's linear (compat) re-quantises the running sum after every cycle: other numbers */
  l.p.wbp_linear_requantize = 1;
  CU_ASSERT_OK(asim_linear_forward(yc, x, B, 1, w, bias, &l, NULL));
  CU_ASSERT_NOT_EQUAL(memcmp(y, yc, sizeof y), 0);
  /* ASiM's remainder cycle (compat) reads planes b - xbit for b >= xbit: other numbers */
  l.p.wbp_linear_requantize = 0, l.p.wbp_act_enc_wrap = 1;
  CU_ASSERT_OK(asim_linear_forward(yc, x, B, 1, w, bias, &l, NULL));
  CU_ASSERT_NOT_EQUAL(memcmp(y, yc, sizeof y), 0);
}

static void weight_bp_wrap_plan_reads_the_low_planes_like_asim(void) {
  asim_macro_desc d = {.wbit = 4, .xbit = 4, .adc_prec = 10, .nrow = 256, .act_enc = 3, .K = 9, .load_rows = 252,
                       .n_loads = 1, .weight_bp = 1, .wbp_wrap = 1};
  asim_macro m;
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  CU_ASSERT_EQUAL(m.n_cycles, 8);
  const asim_cycle *top = &m.cycles[0]; /* i = 3, j = 1: bits 3, 4, 5 -> planes 3, 0, 1 */
  CU_ASSERT_EQUAL(top->nbits, 3);
  CU_ASSERT_EQUAL(top->bit[0], 3);
  CU_ASSERT_EQUAL(top->bit[1], 0);
  CU_ASSERT_EQUAL(top->bit[2], 1);
  CU_ASSERT_EQUAL(m.wbp_F, 15.0f * 7.0f * 256.0f);
  CU_ASSERT_EQUAL(m.wbp_L, 511.0f);
  asim_macro_free(&m);
  d.wbp_wrap = 0; /* the evident intent: the top cycle holds the remaining bit only */
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  CU_ASSERT_EQUAL(m.cycles[0].nbits, 1);
  CU_ASSERT_EQUAL(m.cycles[0].bit[0], 3);
  asim_macro_free(&m);
}

/* ---- description ------------------------------------------------------------------------- */

static char *describe(const asim_config *c) {
  asim_model_settings s;
  asim_model_settings_from_config(c, &s);
  asim_model m;
  char *buf = NULL;
  size_t len = 0;
  if (asim_model_init(&m, "ResNet-18", 10, 3, 32, &s, 0) != ASIM_OK) return NULL;
  FILE *f = open_memstream(&buf, &len);
  asim_model_describe(&m, f);
  fclose(f);
  asim_model_free(&m);
  return buf;
}

static void description_shows_votes_compression_and_single_conversions(void) {
  asim_config c;
  const char *mv[] = {"asim_conv_voting_levels=3", "asim_conv_num_samp=5", "asim_conv_rand_noise_sigma=1.0",
                      "asim_linear_non_linear_alpha=0.001", "asim_linear_weight_var=5"};
  CU_ASSERT_OK(asim_config_load(&c, NULL, mv, 5));
  char *d = describe(&c);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  /* w8a8 bit-serial: 6 cycles of the top 3 anti-diagonals, 5 votes each */
  CU_ASSERT_PTR_NOT_NULL(strstr(d, "[voting: 6 cycles/load x 5 votes]"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d, "converted 5 times"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d, "[current domain: 255 -> 203.2]"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d, "full-scale bit-serial sum 255 reads as 203.2"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d, "cell variation N(0, 5%)"));
  /* layer1.0.conv1 at 32x32: 64 outputs x 1024 positions x 3 loads x (64 + 6·4) conversions */
  CU_ASSERT_PTR_NOT_NULL(strstr(d, "252 x 3, 64, 17301504 [voting"));
  free(d);
  const char *bp[] = {"asim_conv_weight_bp=true", "asim_act_enc=4"};
  CU_ASSERT_OK(asim_config_load(&c, NULL, bp, 2));
  d = describe(&c);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT_PTR_NOT_NULL(strstr(d, "252 x 3, 16, 65536 [W4A4: 1 conversion/output]")); /* 64 x 1024 outputs */
  CU_ASSERT_PTR_NOT_NULL(strstr(d, "one conversion against F = 8258175"));
  free(d);
}

/* ---- validation -------------------------------------------------------------------------- */

static void extension_settings_are_rejected_where_they_cannot_run(void) {
  asim_linear_dims l = {64, 4, asim_cim_defaults(), 1, NULL};
  l.p.mode = ASIM_SIMULATION;
  asim_cim_params base = l.p;
  /* voting and hybrid_levels */
  l.p = base, l.p.voting_levels = 2, l.p.hybrid_levels = 1;
  CU_ASSERT_EQUAL(asim_linear_check(&l), ASIM_EINVAL);
  /* votes without levels, votes with bit-parallel activations */
  l.p = base, l.p.num_samp = 3;
  CU_ASSERT_EQUAL(asim_linear_check(&l), ASIM_EINVAL);
  l.p = base, l.p.voting_levels = 2, l.p.num_samp = 3, l.p.act_enc = 2;
  CU_ASSERT_EQUAL(asim_linear_check(&l), ASIM_EINVAL);
  /* current domain with the capacitive non-linearity noise */
  l.p = base, l.p.non_linear_alpha = 0.001f, l.p.non_linear_sigma = 1.0f;
  CU_ASSERT_EQUAL(asim_linear_check(&l), ASIM_EINVAL);
  l.p = base, l.p.weight_var = -1.0f;
  CU_ASSERT_EQUAL(asim_linear_check(&l), ASIM_EINVAL);
  /* weight_bp without act_enc, with signed activations */
  l.p = base, l.p.weight_bp = 1;
  CU_ASSERT_EQUAL(asim_linear_check(&l), ASIM_EINVAL);
  l.p = base, l.p.weight_bp = 1, l.p.act_enc = 2, l.p.signed_act = 1;
  CU_ASSERT_EQUAL(asim_linear_check(&l), ASIM_EINVAL);
  /* two extensions at once */
  l.p = base, l.p.weight_bp = 1, l.p.act_enc = 2, l.p.non_linear_alpha = 0.01f;
  CU_ASSERT_EQUAL(asim_linear_check(&l), ASIM_EINVAL);
  /* valid ones pass; Inference ignores them (ASiM's current-domain linear in Inference) */
  l.p = base, l.p.weight_bp = 1, l.p.act_enc = 2;
  CU_ASSERT_OK(asim_linear_check(&l));
  l.p = base, l.p.mode = ASIM_INFERENCE, l.p.non_linear_alpha = 0.001f, l.p.weight_var = 5.0f, l.p.signed_act = 1;
  CU_ASSERT_OK(asim_linear_check(&l));
  asim_error_clear();
}

static void extension_keys_are_validated_with_file_line_and_key(void) {
  asim_config c;
  const char *ok[] = {"asim_conv_voting_levels=3", "asim_conv_num_samp=5", "asim_linear_non_linear_alpha=0.001",
                      "asim_linear_weight_var=5.0", "compat.wbp_linear_requantize=true"};
  CU_ASSERT_OK(asim_config_load(&c, NULL, ok, 5));
  CU_ASSERT_EQUAL(c.asim_conv_voting_levels, 3);
  CU_ASSERT_EQUAL(c.asim_conv_num_samp, 5);
  CU_ASSERT_TRUE(c.asim_linear_non_linear_alpha == 0.001);
  CU_ASSERT_EQUAL(c.compat.wbp_linear_requantize, 1);
  /* combinations: every problem reported at once, naming where each key was set */
  const char *bad[] = {"asim_conv_num_samp=3", "asim_linear_weight_bp=true", "asim_conv_voting_levels=2",
                       "asim_cnn_hybrid_levels=1"};
  CU_ASSERT_EQUAL(asim_config_load(&c, NULL, bad, 2), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "asim_conv_num_samp = 3 needs asim_conv_voting_levels"));
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "asim_linear_weight_bp needs asim_linear_act_enc"));
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "--set"));
  CU_ASSERT_EQUAL(asim_config_load(&c, NULL, bad + 2, 2), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "majority voting replaces asim_cnn_hybrid_levels"));
  /* ranges */
  const char *neg[] = {"asim_conv_non_linear_alpha=-1"}, *many[] = {"asim_linear_num_samp=300"};
  CU_ASSERT_EQUAL(asim_config_load(&c, NULL, neg, 1), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "asim_conv_non_linear_alpha"));
  CU_ASSERT_EQUAL(asim_config_load(&c, NULL, many, 1), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "asim_linear_num_samp"));
  asim_error_clear();
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(current_domain);
  ASIM_ADD_TEST(current_domain, gain_compression_maps_full_scale_255_to_203_2_at_alpha_0_001);
  ASIM_ADD_TEST(current_domain, gain_compression_off_is_the_base_adc_bit_for_bit);
  ASIM_ADD_TEST(current_domain, cell_variation_has_sigma_weight_var_and_is_a_fixed_chip);
  ASIM_ADD_TEST(current_domain, cell_variation_of_a_layer_is_the_same_for_every_sample_and_batch);
  ASIM_ADD_SUITE(majority_voting);
  ASIM_ADD_TEST(majority_voting, vote_keeps_the_most_frequent_code_and_the_smallest_on_ties);
  ASIM_ADD_TEST(majority_voting, majority_voting_with_k_votes_shrinks_the_spread_as_predicted);
  ASIM_ADD_TEST(majority_voting, voting_with_one_vote_is_the_base_module_with_every_cycle_analog);
  ASIM_ADD_TEST(majority_voting, voting_attention_runs_bit_serial_qk_and_av_and_votes);
  ASIM_ADD_SUITE(weight_bit_parallel);
  ASIM_ADD_TEST(weight_bit_parallel, weight_bp_adc_is_signed_clamped_and_rounds_ties_to_even);
  ASIM_ADD_TEST(weight_bit_parallel, weight_bp_linear_converts_the_whole_product_once_like_the_conv);
  ASIM_ADD_TEST(weight_bit_parallel, weight_bp_wrap_plan_reads_the_low_planes_like_asim);
  ASIM_ADD_SUITE(description);
  ASIM_ADD_TEST(description, description_shows_votes_compression_and_single_conversions);
  ASIM_ADD_SUITE(validation);
  ASIM_ADD_TEST(validation, extension_settings_are_rejected_where_they_cannot_run);
  ASIM_ADD_TEST(validation, extension_keys_are_validated_with_file_line_and_key);
}
