/* Per-layer diagnostics (diag.h, adcstats.c): the figures follow from the sums (SQNR infinite
 * exactly when the error is zero); a batch's sums do not depend on how its samples are split
 * (rank-count independence); the ADC statistics pass counts exactly the conversions whose clamp
 * changes the code (brute force on the formula and table paths, the table path agreeing with the
 * formula in distribution, none on lossless or noise-free plans); and recording changes no logit, also with attention. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/diag.h"
#include "asim/macro.h"
#include "asim/model.h"
#include "asim/quant.h"
#include "cim/kernels.h"
#include "cu_util.h"

static uint32_t rng = 88172645u;
static uint32_t urand(void) {
  rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
  return rng;
}
static float frand(void) { return (float)(urand() >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f; }

static void figures_follow_the_sums_and_sqnr_is_infinite_only_without_error(void) {
  asim_diag_sums s = {1000, 30, 20, 10, 100.0, 1.0, 4.0, 0.75};
  asim_diag_figures f = asim_diag_figures_of(&s);
  CU_ASSERT_DOUBLE_EQUAL(f.clip_fraction, 0.05, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(f.mean_abs_err, 0.4, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(f.max_abs_err, 0.75, 0.0);
  CU_ASSERT_DOUBLE_EQUAL(f.sqnr_db, 20.0, 1e-12);
  s.sum_sq_err = 0.0;
  f = asim_diag_figures_of(&s);
  CU_ASSERT(isinf(f.sqnr_db) && f.sqnr_db > 0);
  s.sum_sq_err = 1e-300; /* tiny but not zero: finite */
  CU_ASSERT(isfinite(asim_diag_figures_of(&s).sqnr_db));
  asim_diag_sums none = {0};
  f = asim_diag_figures_of(&none);
  CU_ASSERT(isnan(f.clip_fraction)); /* a layer without ADC conversions (Inference/Train mode) */
  CU_ASSERT(isnan(f.mean_abs_err));
  /* adding: counts add, the maximum is kept */
  asim_diag_sums a = {1, 2, 3, 4, 1.0, 2.0, 3.0, 0.5}, b = {10, 20, 30, 40, 10.0, 20.0, 30.0, 0.25};
  asim_diag_add(&a, &b);
  CU_ASSERT(a.conversions == 11 && a.clipped_high == 22 && a.clipped_low == 33 && a.n_elements == 44);
  CU_ASSERT(a.sum_sq_signal == 11.0 && a.sum_sq_err == 22.0 && a.sum_abs_err == 33.0 && a.max_abs_err == 0.5);
}

static void one_sample_sums_are_the_element_sums(void) {
  const float y[4] = {1.0f, -2.0f, 3.5f, 0.0f}, yi[4] = {1.0f, -1.0f, 3.0f, 0.25f};
  double s[ASIM_DIAG_NSUM], mx;
  asim_diag_sample(s, &mx, y, yi, 4);
  CU_ASSERT_DOUBLE_EQUAL(s[ASIM_DIAG_SQ_SIGNAL], 1.0 + 1.0 + 9.0 + 0.0625, 0.0);
  CU_ASSERT_DOUBLE_EQUAL(s[ASIM_DIAG_SQ_ERR], 0.0 + 1.0 + 0.25 + 0.0625, 0.0);
  CU_ASSERT_DOUBLE_EQUAL(s[ASIM_DIAG_ABS_ERR], 0.0 + 1.0 + 0.5 + 0.25, 0.0);
  CU_ASSERT_DOUBLE_EQUAL(mx, 1.0, 0.0);
}

/* Records of a batch as one call, and split in two slices (two ranks of a group); the slices'
 * per-sample sums put side by side reduce to bit-identical sums. */
static void batch_sums_do_not_depend_on_how_the_batch_is_split(void) {
  enum { B = 7, L = 3, PER = 1000 };
  float *y = malloc(sizeof(float) * B * PER * L), *yi = malloc(sizeof(float) * B * PER * L);
  for (int i = 0; i < B * PER * L; i++) yi[i] = frand() * 100.0f, y[i] = yi[i] + frand() * (float)(i % 17);
  asim_diag_batch whole, part[2];
  CU_ASSERT_OK(asim_diag_batch_init(&whole, L, B));
  asim_diag_batch_reset(&whole, B);
  const asim_adc_stats adc = {100, 3, 4};
  for (int l = 0; l < L; l++) asim_diag_batch_layer(&whole, l, y + l * B * PER, yi + l * B * PER, B, PER, &adc);
  const int n0 = 3, n[2] = {n0, B - n0};
  double *joined = malloc(sizeof(double) * B * L * ASIM_DIAG_NSUM);
  asim_diag_sums layer[L], sw[L], sp[L];
  memset(layer, 0, sizeof layer);
  for (int k = 0; k < 2; k++) {
    const int s0 = k ? n0 : 0;
    CU_ASSERT_OK(asim_diag_batch_init(&part[k], L, B));
    asim_diag_batch_reset(&part[k], n[k]);
    for (int l = 0; l < L; l++)
      asim_diag_batch_layer(&part[k], l, y + (l * B + s0) * PER, yi + (l * B + s0) * PER, n[k], PER, &adc);
    memcpy(joined + s0 * L * ASIM_DIAG_NSUM, part[k].per_sample, sizeof(double) * n[k] * L * ASIM_DIAG_NSUM);
    for (int l = 0; l < L; l++) asim_diag_add(&layer[l], &part[k].layer[l]);
  }
  asim_diag_reduce(sw, whole.layer, whole.per_sample, B, L);
  asim_diag_reduce(sp, layer, joined, B, L);
  for (int l = 0; l < L; l++) {
    CU_ASSERT(memcmp(&sw[l].sum_sq_signal, &sp[l].sum_sq_signal, 8) == 0);
    CU_ASSERT(memcmp(&sw[l].sum_sq_err, &sp[l].sum_sq_err, 8) == 0);
    CU_ASSERT(memcmp(&sw[l].sum_abs_err, &sp[l].sum_abs_err, 8) == 0);
    CU_ASSERT(sw[l].max_abs_err == sp[l].max_abs_err);
    CU_ASSERT_EQUAL(sw[l].n_elements, (int64_t)B * PER);
    CU_ASSERT_EQUAL(sp[l].n_elements, (int64_t)B * PER);
    CU_ASSERT_EQUAL(sw[l].conversions, 100);
    CU_ASSERT_EQUAL(sp[l].conversions, 200); /* each slice's products count their own conversions */
    /* and the sums are the per-sample sums in sample order */
    double ref = 0;
    for (int b = 0; b < B; b++) {
      double sb = 0;
      for (int e = 0; e < PER; e++) {
        const double d = (double)y[(l * B + b) * PER + e] - (double)yi[(l * B + b) * PER + e];
        sb += d * d;
      }
      ref += sb;
    }
    CU_ASSERT(ref == sw[l].sum_sq_err);
  }
  asim_diag_batch_free(&whole);
  asim_diag_batch_free(&part[0]);
  asim_diag_batch_free(&part[1]);
  free(joined), free(y), free(yi);
}

/* ---- ADC statistics ------------------------------------------------------------------------ */

/* Random codes; rows from `full` on have every bit set (-1 signed, the top code unsigned), so
 * their counts reach the full scale and the top of the ADC range is exercised too. */
static void random_codes(int32_t *c, int64_t rows, int64_t K, int64_t full, int bits, int is_signed) {
  const int32_t L = asim_levels(bits, is_signed);
  for (int64_t i = 0; i < rows * K; i++) {
    int32_t r = (int32_t)(urand() % (uint32_t)(2 * L + 1)) - L;
    c[i] = i / K >= full ? (is_signed ? -1 : L) : is_signed ? r : (r < 0 ? -r : r);
  }
}

/* The product through the engine, then its ADC statistics; acc receives the product. */
static asim_status product_stats(float *acc, asim_adc_stats *s, const asim_macro *m, const int32_t *wq, int64_t O,
                                 const int32_t *xq, int64_t P, const asim_noise_addr *na) {
  asim_opnd W, X;
  memset(&X, 0, sizeof X);
  const asim_isa isa = asim_isa_active();
  asim_status st = ASIM_OK;
  ASIM_CHECK_GOTO(st, asim_opnd_alloc(&W, O, m->d.wbit, 1, m, isa), done);
  ASIM_CHECK_GOTO(st, asim_opnd_alloc(&X, P, m->d.xbit, m->d.x_signed, m, isa), done);
  asim_opnd_set_rows(&W, wq, m->d.K, m->d.K, m->d.load_rows);
  asim_opnd_set_rows(&X, xq, m->d.K, m->d.K, m->d.load_rows);
  ASIM_CHECK_GOTO(st, asim_opnd_prepare_w(&W, m, isa, 0), done);
  ASIM_CHECK_GOTO(st, asim_opnd_prepare_x(&X, m, isa), done);
  const asim_out out = asim_out_rows(acc, O, 1, P);
  ASIM_CHECK_GOTO(st, asim_engine_run(&out, m, &W, &X, na, 1, isa, NULL), done);
  ASIM_CHECK_GOTO(st, asim_engine_adc_stats(s, &out, m, &W, &X, na, 2), done);
done:
  asim_opnd_free(&W);
  asim_opnd_free(&X);
  return st;
}

static int bit_of(int32_t v, int b) { return (int)(((uint32_t)v >> b) & 1u); }

/* P(clip | code) in units of 2^-32 as documented in adcstats.c: for a count M with v = fl(M/R) and
 * the table's noise s, P(v' > (A+1/2)/A) / P(v' > (A-1/2)/A) given the top code, likewise at 0. */
static uint64_t ratio32(double num, double den) {
  if (!(den > 0.0) || !(num > 0.0)) return 0;
  return num >= den ? (uint64_t)1 << 32 : (uint64_t)nearbyint(ldexp(num / den, 32));
}
static void clip_given_code(const asim_macro *m, const asim_cycle *cy, int64_t M, uint64_t *th, uint64_t *tl) {
  const double A = m->A, sr = m->d.rand_noise_sigma / 100.0, snl = m->d.non_linear_sigma / 100.0;
  const float v = fminf(fmaxf((float)M / cy->R, 0.0f), 1.0f), vn = v * (float)m->d.nrow + 1.0f;
  const double s = sqrt(sr * sr + snl * snl / (double)vn), r2 = 1.0 / sqrt(2.0);
  *th = ratio32(0.5 * erfc(((A + 0.5) / A - v) / s * r2), 0.5 * erfc(((A - 0.5) / A - v) / s * r2));
  *tl = ratio32(0.5 * erfc(-((-0.5 / A - v) / s) * r2), 0.5 * erfc(-((0.5 / A - v) / s) * r2));
}

/* Every conversion by hand: counts from the codes, draws from noise.c (asim_normal2 on the formula
 * path; asim_uniform_u32 on streams ADC and DIAG, the alias table and P(clip | code) on the table path), the clamp's effect
 * on the code; the product formed from the same conversions equals the engine's, so the hand count
 * looks at the very conversions the engine made. */
static void clips_are_counted_exactly_on_the_formula_and_table_paths(void) {
  const int signs[2] = {0, 1}, encs[2] = {0, 2};
  for (int t = 0; t < 4; t++) {
    const int formula = t < 2;
    asim_macro_desc d = {.wbit = 4, .xbit = 4, .x_signed = signs[t % 2], .adc_prec = 3, .nrow = 16,
                         .act_enc = encs[t % 2], .hybrid_levels = 1, .rand_noise_sigma = 6.0f,
                         .non_linear_sigma = 20.0f, .K = 40, .load_rows = 16, .n_loads = 3, .noise_formula = formula};
    asim_macro m;
    CU_ASSERT_OK(asim_macro_init(&m, &d));
    enum { O = 9, P = 21 };
    int32_t wq[O * 40], xq[P * 40];
    random_codes(wq, O, 40, O / 2, d.wbit, 1);
    random_codes(xq, P, 40, P / 2, d.xbit, d.x_signed);
    const asim_noise_addr na = {{7, 3}, 100, 7, 5, O, 1}; /* 7 rows per sample: 3 samples */
    float acc[P * O], ref[P * O];
    asim_adc_stats s = {0};
    CU_ASSERT_OK(product_stats(acc, &s, &m, wq, O, xq, P, &na));
    int64_t hi = 0, lo = 0, conv = 0;
    for (int p = 0; p < P; p++)
      for (int o = 0; o < O; o++) {
        const uint64_t sample = (uint64_t)(na.sample0 + p / na.rows_per_sample);
        const uint32_t elem = (uint32_t)(na.elem0 + (p % na.rows_per_sample) * na.p_stride + o * na.o_stride);
        float a = 0.0f;
        for (int n = 0; n < d.n_loads; n++)
          for (int c = 0; c < m.n_cycles; c++) {
            const asim_cycle *cy = &m.cycles[c];
            const uint32_t cid = asim_cycle_id(n, cy->i, cy->j);
            int64_t M = 0;
            for (int b = 0; b < cy->nbits; b++)
              for (int k = n * 16; k < (n + 1) * 16 && k < d.K; k++)
                M += (int64_t)(bit_of(wq[o * d.K + k], cy->i) & bit_of(xq[p * d.K + k], cy->bit[b])) << b;
            float z1 = 0, z2 = 0, V;
            conv++;
            if (cy->noisy && !formula) {
              CU_ASSERT_FATAL(cy->ntab != NULL);
              uint64_t th, tl;
              const uint32_t u = asim_uniform_u32(na.key, sample, elem, asim_draw_id(n, c), ASIM_STREAM_ADC);
              const uint32_t uc = asim_uniform_u32(na.key, sample, elem, asim_draw_id(n, c), ASIM_STREAM_DIAG);
              V = asim_noise_sample(cy->ntab, M, u);
              clip_given_code(&m, cy, M, &th, &tl);
              hi += V == cy->R && uc < th;
              lo += V == 0.0f && uc < tl;
            } else {
              if (cy->noisy) {
                asim_normal2(na.key, sample, elem, cid, ASIM_STREAM_ADC, &z1, &z2);
                float v = fminf(fmaxf((float)M / cy->R, 0.0f), 1.0f);
                float vp = (v + (z1 * d.rand_noise_sigma) / 100.0f) +
                           ((z2 / sqrtf(v * (float)d.nrow + 1.0f)) * d.non_linear_sigma) / 100.0f;
                float q = rintf(vp * m.A);
                hi += q > m.A, lo += q < 0.0f;
              }
              V = asim_adc((float)M, cy->R, m.A, d.nrow, cy->noisy, d.rand_noise_sigma, d.non_linear_sigma, z1, z2);
            }
            a = cy->negate ? a - V * cy->shift : a + V * cy->shift;
          }
        ref[p * O + o] = a;
      }
    CU_ASSERT(memcmp(acc, ref, sizeof acc) == 0);
    CU_ASSERT_EQUAL(s.conversions, conv);
    CU_ASSERT_EQUAL(s.clipped_high, hi);
    CU_ASSERT_EQUAL(s.clipped_low, lo);
    CU_ASSERT(hi > 0 && lo > 0); /* the case exercises both ends */
    asim_macro_free(&m);
  }
}

/* The table sampler has no unclamped value; its clips (drawn from word 1 given the code) occur as
 * often as the formula's: both fractions within 5 standard deviations on 10^5+ conversions. */
static void table_path_clips_as_often_as_the_formula(void) {
  asim_macro_desc d = {.wbit = 4, .xbit = 4, .adc_prec = 3, .nrow = 16, .act_enc = 0, .hybrid_levels = 0,
                       .rand_noise_sigma = 5.0f, .non_linear_sigma = 10.0f, .K = 32, .load_rows = 16, .n_loads = 2};
  enum { O = 40, P = 160 };
  int32_t *wq = malloc(sizeof(int32_t) * O * 32), *xq = malloc(sizeof(int32_t) * P * 32);
  random_codes(wq, O, 32, O / 2, d.wbit, 1);
  random_codes(xq, P, 32, P / 2, d.xbit, 0);
  const asim_noise_addr na = {{1, 9}, 0, P, 0, O, 1};
  float *acc = malloc(sizeof(float) * O * P);
  asim_adc_stats s[2] = {{0}, {0}};
  for (int f = 0; f < 2; f++) {
    d.noise_formula = f;
    asim_macro m;
    CU_ASSERT_OK(asim_macro_init(&m, &d));
    CU_ASSERT(f || m.cycles[0].ntab); /* f = 0 really is the table path */
    CU_ASSERT_OK(product_stats(acc, &s[f], &m, wq, O, xq, P, &na));
    asim_macro_free(&m);
  }
  CU_ASSERT_EQUAL(s[0].conversions, s[1].conversions);
  const double n = (double)s[0].conversions;
  for (int e = 0; e < 2; e++) {
    const double a = (double)(e ? s[0].clipped_low : s[0].clipped_high) / n;
    const double b = (double)(e ? s[1].clipped_low : s[1].clipped_high) / n;
    const double sd = sqrt((a + b) / 2 * (1 - (a + b) / 2) * 2 / n);
    if (fabs(a - b) > 5 * sd + 1e-12) fprintf(stderr, "\n  %s clips: table %.5f, formula %.5f", e ? "low" : "high", a, b);
    CU_ASSERT(fabs(a - b) <= 5 * sd + 1e-12);
    CU_ASSERT(b > 0.001);
  }
  free(wq), free(xq), free(acc);
}

static void lossless_and_noise_free_plans_never_clip(void) {
  const int adcs[2] = {6, 3}; /* A = nrow: lossless (GEMM path); A < nrow: lossy, noise-free */
  for (int t = 0; t < 2; t++) {
    asim_macro_desc d = {.wbit = 5, .xbit = 6, .x_signed = 1, .adc_prec = adcs[t], .nrow = 63, .act_enc = 0,
                         .hybrid_levels = 0, .K = 150, .load_rows = 63, .n_loads = 3};
    asim_macro m;
    CU_ASSERT_OK(asim_macro_init(&m, &d));
    CU_ASSERT_EQUAL(m.lossless, t == 0);
    enum { O = 17, P = 33 };
    int32_t wq[O * 150], xq[P * 150];
    random_codes(wq, O, 150, O / 2, d.wbit, 1);
    random_codes(xq, P, 150, P / 2, d.xbit, 1);
    float acc[O * P];
    asim_adc_stats s = {0};
    const asim_noise_addr na = {{1, 1}, 0, P, 0, O, 1};
    CU_ASSERT_OK(product_stats(acc, &s, &m, wq, O, xq, P, &na));
    CU_ASSERT_EQUAL(s.conversions, (int64_t)O * P * 3 * m.n_cycles);
    CU_ASSERT_EQUAL(s.clipped_high + s.clipped_low, 0);
    asim_macro_free(&m);
  }
}

/* ---- whole models ---------------------------------------------------------------------------- */

/* Logits with and without diagnostics, bit for bit; the record's sums over the B samples. */
static void run_both(asim_model *m, int B, const float *x, asim_diag_sums *sums, int *L) {
  float *z0 = malloc(sizeof(float) * B * m->classes), *z1 = malloc(sizeof(float) * B * m->classes);
  asim_exec ex = {.seed = 5, .sample0 = 10, .batch_size = B, .threads = 1};
  CU_ASSERT_OK(asim_model_forward(m, z0, x, B, &ex, NULL, NULL));
  *L = asim_model_diag_layers(m, NULL);
  asim_diag_batch d;
  CU_ASSERT_OK(asim_diag_batch_init(&d, *L, B));
  ex.diag = &d;
  CU_ASSERT_OK(asim_model_forward(m, z1, x, B, &ex, NULL, NULL));
  CU_ASSERT(memcmp(z0, z1, sizeof(float) * B * m->classes) == 0);
  asim_diag_reduce(sums, d.layer, d.per_sample, B, *L);
  asim_diag_batch_free(&d);
  free(z0), free(z1);
}

static void recording_changes_no_logit_and_lossless_layers_have_no_error(void) {
  enum { B = 3 };
  for (int t = 0; t < 3; t++) { /* noisy, lossy noise-free, lossless */
    asim_model_settings s = asim_model_settings_default();
    s.conv.mode = s.linear.mode = ASIM_SIMULATION;
    s.conv.nrow = s.linear.nrow = 255;
    s.conv.adc_prec = s.linear.adc_prec = t == 1 ? 4 : 8;
    s.conv.rand_noise_sigma = s.linear.rand_noise_sigma = t == 0 ? 2.0f : 0.0f;
    s.conv.non_linear_sigma = s.linear.non_linear_sigma = 0.0f;
    asim_model m;
    CU_ASSERT_OK(asim_model_init(&m, "ResNet-18", 10, 3, 8, &s, 0));
    CU_ASSERT_OK(asim_model_init_random(&m, 3));
    float x[B * 3 * 64];
    for (int i = 0; i < B * 3 * 64; i++) x[i] = frand();
    asim_diag_sums sums[32];
    int L;
    run_both(&m, B, x, sums, &L);
    CU_ASSERT_EQUAL(L, 20); /* 19 ASiMConv2d (stem excluded) + fc */
    int64_t clipped = 0;
    double err = 0;
    for (int l = 0; l < L; l++) {
      CU_ASSERT(sums[l].conversions > 0);
      clipped += sums[l].clipped_high + sums[l].clipped_low;
      err += sums[l].sum_abs_err;
      CU_ASSERT(sums[l].clipped_high + sums[l].clipped_low <= sums[l].conversions);
    }
    if (t == 0) CU_ASSERT(clipped > 0 && err > 0);
    if (t == 1) CU_ASSERT(clipped == 0 && err > 0);
    if (t == 2) CU_ASSERT(clipped == 0 && err == 0); /* spec §3.8: Simulation equals Inference */
    asim_model_free(&m);
  }
}

static void recording_changes_no_logit_of_a_noisy_attention_model(void) {
  enum { B = 2 };
  asim_model_settings s = asim_model_settings_default();
  s.attn.mode = ASIM_SIMULATION;
  s.attn.qk_rand_noise_sigma = s.attn.av_rand_noise_sigma = s.attn.proj_rand_noise_sigma = 2.0f;
  s.attn.qk_adc_prec = s.attn.av_adc_prec = s.attn.proj_adc_prec = 5;
  s.vit_fc.mode = ASIM_SIMULATION;
  asim_model m;
  CU_ASSERT_OK(asim_model_init(&m, "ViT-B-32", 10, 3, 32, &s, 1));
  CU_ASSERT_OK(asim_model_init_random(&m, 4));
  float *x = malloc(sizeof(float) * B * 3 * 32 * 32);
  for (int i = 0; i < B * 3 * 32 * 32; i++) x[i] = frand();
  asim_diag_sums sums[16];
  int L;
  run_both(&m, B, x, sums, &L);
  char names[16][96];
  CU_ASSERT_EQUAL(asim_model_diag_layers(&m, names), L);
  int attn = -1;
  for (int l = 0; l < L; l++)
    if (strstr(names[l], "self_attention")) attn = l;
  CU_ASSERT_FATAL(attn >= 0);
  CU_ASSERT(sums[attn].conversions > 0);
  CU_ASSERT(sums[attn].clipped_high + sums[attn].clipped_low > 0);
  CU_ASSERT(sums[attn].sum_sq_err > 0);
  CU_ASSERT_EQUAL(sums[attn].n_elements, (int64_t)B * 2 * 768);
  free(x);
  asim_model_free(&m);
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(diag);
  ASIM_ADD_TEST(diag, figures_follow_the_sums_and_sqnr_is_infinite_only_without_error);
  ASIM_ADD_TEST(diag, one_sample_sums_are_the_element_sums);
  ASIM_ADD_TEST(diag, batch_sums_do_not_depend_on_how_the_batch_is_split);
  ASIM_ADD_TEST(diag, clips_are_counted_exactly_on_the_formula_and_table_paths);
  ASIM_ADD_TEST(diag, table_path_clips_as_often_as_the_formula);
  ASIM_ADD_TEST(diag, lossless_and_noise_free_plans_never_clip);
  ASIM_ADD_TEST(diag, recording_changes_no_logit_and_lossless_layers_have_no_error);
  ASIM_ADD_TEST(diag, recording_changes_no_logit_of_a_noisy_attention_model);
}
