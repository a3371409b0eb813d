/* The fast engine changes no result: every kernel set (AMX, AVX-512, AVX2, portable C) and every
 * thread count gives the bit pattern of the one-conversion-at-a-time reference on random plans
 * (bit-serial and bit-parallel, signed and unsigned, hybrid, noisy, formula and table ADCs); the
 * lossless integer GEMM equals the float32 cycle path, including data whose partial sums leave
 * float32's exact integers (the check falls back) and ASiM's conv channel-drop quirk; the noise
 * tables are the ADC formula's distribution; weight caches rebuild when anything changes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/attention.h"
#include "asim/conv.h"
#include "asim/engine.h"
#include "asim/linear.h"
#include "asim/macro.h"
#include "asim/quant.h"
#include "cim/kernels.h"
#include "cu_util.h"

static uint32_t rng = 2463534242u;
static uint32_t urand(void) {
  rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
  return rng;
}
static int irand(int lo, int hi) { return lo + (int)(urand() % (uint32_t)(hi - lo + 1)); }
static float frand(void) { return (float)(urand() >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f; }

/* codes in ASiM's ranges, with runs of zeros and extremes so counts reach their limits */
static void random_codes(int32_t *c, int64_t n, int bits, int is_signed) {
  const int32_t L = asim_levels(bits, is_signed);
  const int style = irand(0, 3);
  for (int64_t i = 0; i < n; i++) {
    uint32_t r = urand() % 100;
    int32_t v;
    if (style == 0 && r < 40) v = 0;
    else if (style == 1 && r < 50) v = is_signed && (urand() & 1) ? -L : L;
    else v = is_signed ? irand(-L, L) : irand(0, L);
    c[i] = v;
  }
}

static int n_isas;
static asim_isa isas[4];

static int init_isas(void) {
  n_isas = 0;
  for (int i = ASIM_ISA_SCALAR; i <= ASIM_ISA_AMX; i++)
    if (asim_isa_available((asim_isa)i)) isas[n_isas++] = (asim_isa)i;
  return 0;
}

static int same_bits(const float *a, const float *b, int64_t n, const char *what) {
  for (int64_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], 4)) {
      fprintf(stderr, "\n  %s: element %lld differs: %.9g vs %.9g", what, (long long)i, a[i], b[i]);
      return 0;
    }
  return 1;
}

static int keep_w_codes; /* 1: the weight-like operand keeps codes, planes only on a fallback (attention) */

/* The product of random codes through the engine's operands (GEMM when lossless). */
static asim_status engine_product(float *acc, int64_t ps, int64_t os, const asim_macro *m, const int32_t *wq,
                                  int64_t O, const int32_t *xq, int64_t P, const asim_noise_addr *na, int threads,
                                  asim_isa isa, int force_cycles, int64_t *fb) {
  asim_opnd W, X;
  memset(&X, 0, sizeof X);
  asim_status st = ASIM_OK;
  ASIM_CHECK_GOTO(st, asim_opnd_alloc(&W, O, m->d.wbit, 1, m, isa), done);
  ASIM_CHECK_GOTO(st, asim_opnd_alloc(&X, P, m->d.xbit, m->d.x_signed, m, isa), done);
  asim_opnd_set_rows(&W, wq, m->d.K, m->d.K, m->d.load_rows);
  asim_opnd_set_rows(&X, xq, m->d.K, m->d.K, m->d.load_rows);
  ASIM_CHECK_GOTO(st, asim_opnd_prepare_w(&W, m, isa, keep_w_codes), done);
  if (force_cycles) { /* planes only: the cycle kernel decides every element */
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(X.planes, (size_t)(X.rpad * X.nl * X.bits * X.wpl)), done);
    asim_kernels(isa).pack(&X, 0, X.rpad / ASIM_RB);
    X.gemm = ASIM_GEMM_NONE;
  } else {
    ASIM_CHECK_GOTO(st, asim_opnd_prepare_x(&X, m, isa), done);
  }
  const asim_out out = asim_out_rows(acc, ps, os, P);
  ASIM_CHECK_GOTO(st, asim_engine_run(&out, m, &W, &X, na, threads, isa, fb), done);
done:
  asim_opnd_free(&W);
  asim_opnd_free(&X);
  return st;
}

static asim_status reference_product(float *acc, int64_t ps, int64_t os, const asim_macro *m, const int32_t *wq,
                                     int64_t O, const int32_t *xq, int64_t P, const asim_noise_addr *na) {
  asim_bitmat W = {0}, X = {0};
  asim_status st = ASIM_OK;
  ASIM_CHECK_GOTO(st, asim_bitmat_pack(&W, wq, O, m, m->d.wbit), done);
  ASIM_CHECK_GOTO(st, asim_bitmat_pack(&X, xq, P, m, m->d.xbit), done);
  ASIM_CHECK_GOTO(st, asim_macro_run_reference(acc, ps, os, m, &W, &X, na), done);
done:
  asim_bitmat_free(&W);
  asim_bitmat_free(&X);
  return st;
}

/* A random valid macro description. */
static asim_macro_desc random_desc(int lossless) {
  asim_macro_desc d;
  memset(&d, 0, sizeof d);
  d.wbit = irand(2, 9);
  d.x_signed = irand(0, 1);
  d.xbit = irand(d.x_signed ? 2 : 1, 9);
  if (urand() % 8 == 0) d.wbit = irand(10, 16), d.xbit = irand(d.x_signed ? 2 : 1, 16);
  if (lossless) {
    d.adc_prec = irand(3, 9);
    d.nrow = (1 << d.adc_prec) - 1;
    if (urand() % 4 == 0) d.adc_prec = 100, d.nrow = irand(1, 600);
  } else {
    d.adc_prec = irand(1, 9);
    d.nrow = irand(1, 300);
    if (urand() % 6 == 0) d.adc_prec = irand(16, 30); /* no noise tables: the formula path */
    d.act_enc = urand() % 3 == 0 ? 0 : irand(1, d.x_signed ? d.xbit - 1 : d.xbit);
    if (d.x_signed && d.xbit < 2) d.act_enc = 0;
    d.hybrid_levels = urand() % 3 ? 0 : irand(1, 4);
    if (urand() % 3) d.rand_noise_sigma = (float)irand(0, 30) / 10.0f, d.non_linear_sigma = (float)irand(0, 30) / 10.0f;
    d.noise_formula = urand() % 5 == 0;
  }
  d.load_rows = irand(1, d.nrow < 300 ? d.nrow : 300);
  d.n_loads = irand(1, 4);
  d.K = d.n_loads * d.load_rows - irand(0, (int)d.load_rows - 1); /* last load partial */
  if (urand() % 5 == 0) d.K += irand(1, 40); /* rows beyond the loads are dropped (conv quirk) */
  return d;
}

static void check_random_plans(int lossless, int cases) {
  for (int c = 0; c < cases; c++) {
    asim_macro_desc d = random_desc(lossless);
    asim_macro m;
    asim_status st = asim_macro_init(&m, &d);
    if (st != ASIM_OK) { /* e.g. full scale beyond 2^24: not a plan */
      asim_error_clear();
      c--;
      continue;
    }
    if (lossless && d.adc_prec < 100) CU_ASSERT_TRUE(m.lossless);
    const int64_t O = irand(1, 40), P = irand(1, 50), K = d.K;
    int32_t *wq = malloc(sizeof(int32_t) * (size_t)(O * K)), *xq = malloc(sizeof(int32_t) * (size_t)(P * K));
    float *ref = malloc(sizeof(float) * (size_t)(O * P)), *got = malloc(sizeof(float) * (size_t)(O * P));
    random_codes(wq, O * K, d.wbit, 1);
    random_codes(xq, P * K, d.xbit, d.x_signed);
    const int64_t rps = irand(1, (int)P);
    asim_noise_addr na = {{urand(), urand()}, (int64_t)irand(0, 1000) + ((urand() & 1) ? ((int64_t)1 << 33) : 0), rps,
                          irand(0, 100), irand(1, 7), irand(1, 70), NULL};
    const int layout = urand() & 1; /* acc[p·ps + o·os]: both layouts the layers use */
    const int64_t ps = layout ? O : 1, os = layout ? 1 : P;
    CU_ASSERT_OK(reference_product(ref, ps, os, &m, wq, O, xq, P, &na));
    for (int k = 0; k < n_isas; k++) {
      char what[128];
      CU_ASSERT_OK(asim_isa_select(isas[k]));
      /* asim_macro_run: bit matrices repacked, cycle kernel */
      asim_bitmat W = {0}, X = {0};
      CU_ASSERT_OK(asim_bitmat_pack(&W, wq, O, &m, d.wbit));
      CU_ASSERT_OK(asim_bitmat_pack(&X, xq, P, &m, d.xbit));
      memset(got, 0xff, sizeof(float) * (size_t)(O * P));
      CU_ASSERT_OK(asim_macro_run(got, ps, os, &m, &W, &X, &na));
      snprintf(what, sizeof what, "case %d %s asim_macro_run (w%d x%d%s e%d adc%d nrow%d rows%lld)", c,
               asim_isa_name(isas[k]), d.wbit, d.xbit, d.x_signed ? "s" : "u", d.act_enc, d.adc_prec, d.nrow,
               (long long)d.load_rows);
      CU_ASSERT_TRUE(same_bits(ref, got, O * P, what));
      asim_bitmat_free(&W);
      asim_bitmat_free(&X);
      /* engine operands, 1 and 3 threads */
      for (int threads = 1; threads <= 3; threads += 2) {
        memset(got, 0xff, sizeof(float) * (size_t)(O * P));
        CU_ASSERT_OK(engine_product(got, ps, os, &m, wq, O, xq, P, &na, threads, isas[k], 0, NULL));
        snprintf(what, sizeof what, "case %d %s engine, %d threads", c, asim_isa_name(isas[k]), threads);
        CU_ASSERT_TRUE(same_bits(ref, got, O * P, what));
      }
    }
    free(wq), free(xq), free(ref), free(got);
    asim_macro_free(&m);
  }
  asim_error_clear();
  CU_ASSERT_OK(asim_isa_select(isas[n_isas - 1]));
}

static void every_kernel_set_matches_the_reference_on_random_plans(void) { check_random_plans(0, 120); }

static void lossless_gemm_matches_the_reference_on_random_plans(void) { check_random_plans(1, 60); }

/* Small ADCs get their transfer table in code form (multiply-add and shift, then a register
 * lookup): it must give the table's value for every count. */
static void small_adc_tables_have_an_exact_code_form(void) {
  const int adcs[] = {1, 2, 3, 4, 5, 4, 5, 3, 6, 6}, nrows[] = {255, 255, 255, 255, 255, 64, 20, 128, 255, 100};
  int found = 0;
  for (int t = 0; t < 10; t++) {
    asim_macro_desc d = {.wbit = 4, .xbit = 4, .adc_prec = adcs[t], .nrow = nrows[t], .K = nrows[t],
                         .load_rows = nrows[t], .n_loads = 1};
    asim_macro m;
    CU_ASSERT_OK(asim_macro_init(&m, &d));
    const asim_cycle *cy = &m.cycles[0];
    if (cy->cmap) {
      found++;
      for (int64_t M = 0; M <= cy->table_max; M++) {
        int q = (int)(((int64_t)M * cy->cmap->mul + cy->cmap->add) >> 16);
        CU_ASSERT_TRUE_FATAL(q >= 0 && q < cy->cmap->ncodes);
        CU_ASSERT_EQUAL(memcmp(&cy->cmap->val[q], &cy->table[M], 4), 0);
      }
    }
    asim_macro_free(&m);
  }
  CU_ASSERT_TRUE(found >= 8);
}

/* A plan whose counts exceed the transfer-table limit (no table: asim_adc per conversion). */
static void untabulated_cycles_match_the_reference(void) {
  asim_macro_desc d = {.wbit = 3, .xbit = 8, .adc_prec = 9, .nrow = 20000, .act_enc = 8, .K = 17000,
                       .load_rows = 17000, .n_loads = 1};
  asim_macro m;
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  CU_ASSERT_PTR_NULL(m.cycles[0].table);
  const int64_t O = 3, P = 5;
  int32_t *wq = malloc(sizeof(int32_t) * O * d.K), *xq = malloc(sizeof(int32_t) * P * d.K);
  random_codes(wq, O * d.K, d.wbit, 1);
  random_codes(xq, P * d.K, d.xbit, 0);
  float ref[15], got[15];
  asim_noise_addr na = {{1, 2}, 0, P, 0, 1, P, NULL};
  CU_ASSERT_OK(reference_product(ref, 1, P, &m, wq, O, xq, P, &na));
  for (int k = 0; k < n_isas; k++) {
    CU_ASSERT_OK(engine_product(got, 1, P, &m, wq, O, xq, P, &na, 1, isas[k], 0, NULL));
    CU_ASSERT_TRUE(same_bits(ref, got, O * P, asim_isa_name(isas[k])));
  }
  free(wq), free(xq);
  asim_macro_free(&m);
}

/* ASiM's float32 shift-add leaves the exact integers when partial sums pass 2^24: the GEMM may
 * then not be used. Weights −127 and activations 255 over 40 loads make every running sum huge. */
static void lossless_check_falls_back_when_partial_sums_pass_2_24(void) {
  asim_macro_desc d = {.wbit = 8, .xbit = 8, .adc_prec = 8, .nrow = 255, .K = 40 * 255, .load_rows = 255, .n_loads = 40};
  asim_macro m;
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  CU_ASSERT_TRUE(m.lossless);
  const int64_t O = 20, P = 40, K = d.K;
  int32_t *wq = malloc(sizeof(int32_t) * O * K), *xq = malloc(sizeof(int32_t) * P * K);
  float *ref = malloc(sizeof(float) * O * P), *got = malloc(sizeof(float) * O * P);
  for (int64_t o = 0; o < O; o++)
    for (int64_t k = 0; k < K; k++) wq[o * K + k] = o % 2 ? -127 : irand(-3, 3);
  for (int64_t p = 0; p < P; p++)
    for (int64_t k = 0; k < K; k++) xq[p * K + k] = p < P / 2 ? 255 : irand(0, 2); /* half the rows stay small */
  asim_noise_addr na = {{1, 1}, 0, P, 0, 1, P, NULL};
  CU_ASSERT_OK(reference_product(ref, 1, P, &m, wq, O, xq, P, &na));
  /* the float32 result really differs from the exact integer for the big rows */
  int rounded = 0;
  for (int64_t o = 1; o < O; o += 2) {
    int64_t exact = 0;
    for (int64_t k = 0; k < K; k++) exact += (int64_t)wq[o * K + k] * xq[k];
    rounded |= (double)ref[o * P] != (double)exact;
  }
  CU_ASSERT_TRUE(rounded);
  for (int k = 0; k < n_isas; k++)
    for (keep_w_codes = 0; keep_w_codes < 2; keep_w_codes++) {
      int64_t fb = -1;
      memset(got, 0, sizeof(float) * O * P);
      CU_ASSERT_OK(engine_product(got, 1, P, &m, wq, O, xq, P, &na, 2, isas[k], 0, &fb));
      CU_ASSERT_TRUE(same_bits(ref, got, O * P, asim_isa_name(isas[k])));
      CU_ASSERT_TRUE(fb > 0 && fb < O * P); /* the small rows stayed on the GEMM */
    }
  keep_w_codes = 0;
  /* moderate data with one large weight: the cheap row bound (largest |w| times the activation
   * sums) exceeds 2^24, the exact per-load check passes: the checked GEMM path, no fallback */
  for (int64_t i = 0; i < O * K; i++) wq[i] = irand(-1, 1);
  wq[5] = 127;
  for (int64_t i = 0; i < P * K; i++) xq[i] = irand(0, 60);
  CU_ASSERT_OK(reference_product(ref, 1, P, &m, wq, O, xq, P, &na));
  for (int k = 0; k < n_isas; k++) {
    int64_t fb = -1;
    CU_ASSERT_OK(engine_product(got, 1, P, &m, wq, O, xq, P, &na, 1, isas[k], 0, &fb));
    CU_ASSERT_TRUE(same_bits(ref, got, O * P, asim_isa_name(isas[k])));
    CU_ASSERT_EQUAL(fb, 0);
  }
  free(wq), free(xq), free(ref), free(got);
  asim_macro_free(&m);
}

/* Whole layers: the fast conv (im2col into loads, cached weights) equals the reference pipeline,
 * including ASiM's dropped channels, for lossless and lossy plans. */
static void conv_layer_matches_reference_pipeline(void) {
  struct { int C, O, k, s, pad, nrow, adc, wbit, xbit, enc, sa; float sr; int fix; } cfg[] = {
    {113, 6, 3, 1, 1, 256, 100, 8, 8, -1, 0, 0, 1}, /* corrected mapping: a partial last load */
    {113, 6, 3, 1, 1, 256, 4, 4, 4, -1, 0, 0, 1},
    {113, 6, 3, 1, 1, 256, 100, 8, 8, -1, 0, 0, 0}, /* lossless GEMM, channel 112 dropped */
    {113, 6, 3, 1, 1, 256, 4, 4, 4, -1, 0, 0, 0},   /* lossy, dropped channel */
    {20, 5, 3, 2, 0, 128, 6, 3, 5, -1, 1, 0, 0},    /* signed, stride 2 */
    {16, 7, 1, 1, 0, 255, 8, 8, 8, -1, 0, 0, 0},    /* 1x1, lossless */
    {12, 4, 3, 1, 1, 64, 5, 6, 7, 2, 0, 1.5f, 0},   /* bit-parallel with noise */
  };
  for (size_t t = 0; t < sizeof cfg / sizeof cfg[0]; t++) {
    const int B = 2, H = 7, Wd = 6;
    asim_conv_dims c = {cfg[t].C, cfg[t].O, cfg[t].k, cfg[t].s, cfg[t].pad, asim_cim_defaults(), 4, 0, NULL};
    c.p.mode = ASIM_SIMULATION, c.p.nrow = cfg[t].nrow, c.p.adc_prec = cfg[t].adc;
    c.p.wbit = cfg[t].wbit, c.p.xbit = cfg[t].xbit, c.p.act_enc = cfg[t].enc, c.p.signed_act = cfg[t].sa;
    c.p.rand_noise_sigma = c.p.non_linear_sigma = cfg[t].sr;
    c.p.fix_channel_drop = cfg[t].fix;
    const int Ho = asim_conv_out_size(H, c.k, c.stride, c.pad), Wo = asim_conv_out_size(Wd, c.k, c.stride, c.pad);
    const int64_t K = (int64_t)c.in_ch * c.k * c.k, P = (int64_t)Ho * Wo, in_n = (int64_t)c.in_ch * H * Wd;
    float *x = malloc(sizeof(float) * B * in_n), *w = malloc(sizeof(float) * c.out_ch * K);
    float *y = malloc(sizeof(float) * B * c.out_ch * P), *r = malloc(sizeof(float) * B * c.out_ch * P);
    for (int64_t i = 0; i < B * in_n; i++) x[i] = frand() * 2.0f;
    for (int64_t i = 0; i < c.out_ch * K; i++) w[i] = frand();
    asim_exec ex = {.seed = 9, .sample0 = 3};
    /* reference: the original layer pipeline on the plain kernel */
    asim_conv_map map;
    CU_ASSERT_OK(asim_conv_mapping(&c, &map));
    asim_macro_desc d = asim_cim_macro_desc(&c.p, c.p.wbit, c.p.xbit, c.p.signed_act, c.p.act_enc, K,
                                            map.channels_per_load * c.k * c.k, map.loads);
    asim_macro m;
    CU_ASSERT_OK(asim_macro_init(&m, &d));
    int32_t *wq = malloc(sizeof(int32_t) * c.out_ch * K), *xq = malloc(sizeof(int32_t) * in_n);
    int32_t *cols = malloc(sizeof(int32_t) * P * K);
    const float sw = asim_scale_from_max(asim_absmax(w, c.out_ch * K));
    const float sx = asim_act_scale(x, B * in_n, c.p.signed_act, NULL);
    const float D = asim_dequant_divisor(c.p.wbit, c.p.xbit, c.p.signed_act);
    asim_quantize(wq, w, c.out_ch * K, sw, c.p.wbit, 1);
    for (int b = 0; b < B; b++) {
      asim_quantize(xq, x + b * in_n, in_n, sx, c.p.xbit, c.p.signed_act);
      asim_im2col32(cols, xq, c.in_ch, H, Wd, c.k, c.stride, c.pad);
      asim_noise_addr na = {{9, 4}, 3 + b, P, 0, 1, P, NULL};
      CU_ASSERT_OK(reference_product(r + b * c.out_ch * P, 1, P, &m, wq, c.out_ch, cols, P, &na));
      asim_dequantize(r + b * c.out_ch * P, c.out_ch * P, sw, sx, D);
    }
    for (int k = 0; k < n_isas; k++) {
      CU_ASSERT_OK(asim_isa_select(isas[k]));
      for (int threads = 1; threads <= 2; threads++) {
        ex.threads = threads;
        CU_ASSERT_OK(asim_conv2d_forward(y, x, B, H, Wd, w, NULL, &c, &ex));
        char what[64];
        snprintf(what, sizeof what, "conv config %zu on %s", t, asim_isa_name(isas[k]));
        CU_ASSERT_TRUE(same_bits(r, y, B * c.out_ch * P, what));
      }
    }
    free(x), free(w), free(y), free(r), free(wq), free(xq), free(cols);
    asim_macro_free(&m);
  }
  CU_ASSERT_OK(asim_isa_select(isas[n_isas - 1]));
}

/* Linear and attention layers: identical on every kernel set and thread count. */
static void layers_agree_across_kernel_sets_and_threads(void) {
  const int B = 3, T = 5, K = 300, OF = 33;
  float *x = malloc(sizeof(float) * B * T * K), *w = malloc(sizeof(float) * OF * K), bias[33];
  float *y0 = malloc(sizeof(float) * B * T * OF), *y = malloc(sizeof(float) * B * T * OF);
  for (int i = 0; i < B * T * K; i++) x[i] = frand();
  for (int i = 0; i < OF * K; i++) w[i] = frand();
  for (int i = 0; i < OF; i++) bias[i] = frand();
  const int cfg[][5] = {{8, 8, 8, 255, -1}, {8, 9, 8, 255, -1}, {4, 4, 4, 255, -1}, {8, 9, 6, 255, 2}, {6, 6, 5, 100, 3}};
  for (size_t t = 0; t < sizeof cfg / sizeof cfg[0]; t++)
    for (int noise = 0; noise < 2; noise++) {
      asim_linear_dims l = {K, OF, asim_cim_defaults(), 21, NULL};
      l.p.mode = ASIM_SIMULATION, l.p.signed_act = 1, l.p.wbit = cfg[t][0], l.p.xbit = cfg[t][1];
      l.p.adc_prec = cfg[t][2], l.p.nrow = cfg[t][3], l.p.act_enc = cfg[t][4];
      l.p.rand_noise_sigma = l.p.non_linear_sigma = noise ? 1.0f : 0.0f;
      asim_exec ex = {.seed = 5, .sample0 = 11};
      for (int k = 0; k < n_isas; k++)
        for (int threads = 1; threads <= 3; threads++) {
          CU_ASSERT_OK(asim_isa_select(isas[k]));
          ex.threads = threads;
          float *dst = k == 0 && threads == 1 ? y0 : y;
          CU_ASSERT_OK(asim_linear_forward(dst, x, B, T, w, bias, &l, &ex));
          if (dst == y) CU_ASSERT_TRUE(same_bits(y0, y, B * T * OF, asim_isa_name(isas[k])));
        }
    }
  /* attention block */
  const int E = 48, H = 3, N = 7;
  float *ax = malloc(sizeof(float) * 2 * N * E), *qw = malloc(sizeof(float) * 3 * E * E), qb[3 * 48];
  float *pw = malloc(sizeof(float) * E * E), pb[48], *a0 = malloc(sizeof(float) * 2 * N * E), *a1 = malloc(sizeof(float) * 2 * N * E);
  for (int i = 0; i < 2 * N * E; i++) ax[i] = frand();
  for (int i = 0; i < 3 * E * E; i++) qw[i] = frand() * 0.3f;
  for (int i = 0; i < E * E; i++) pw[i] = frand() * 0.3f;
  for (int i = 0; i < 3 * E; i++) qb[i] = frand() * 0.1f;
  for (int i = 0; i < E; i++) pb[i] = frand() * 0.1f;
  for (int noise = 0; noise < 2; noise++) {
    asim_mha_dims a = {.embed_dim = E, .num_heads = H, .mode = ASIM_SIMULATION, .qk_qbit = 8, .qk_kbit = 9, .av_abit = 8,
                       .av_vbit = 8, .proj_wbit = 8, .proj_xbit = 9, .qk_adc_prec = noise ? 6 : 8, .av_adc_prec = 8,
                       .proj_adc_prec = 8, .nrow = 255, .qk_k_enc = -1, .av_a_enc = -1, .proj_act_enc = -1,
                       .hybrid_levels = -1, .layer_id = 30};
    a.qk_rand_noise_sigma = a.av_rand_noise_sigma = a.proj_rand_noise_sigma = noise ? 1.0f : 0.0f;
    asim_exec ex = {.seed = 2, .sample0 = 7};
    for (int k = 0; k < n_isas; k++)
      for (int threads = 1; threads <= 2; threads++) {
        CU_ASSERT_OK(asim_isa_select(isas[k]));
        ex.threads = threads;
        float *dst = k == 0 && threads == 1 ? a0 : a1;
        CU_ASSERT_OK(asim_mha_forward(dst, ax, 2, N, qw, qb, pw, pb, &a, &ex, NULL));
        if (dst == a1) CU_ASSERT_TRUE(same_bits(a0, a1, 2 * N * E, asim_isa_name(isas[k])));
      }
  }
  CU_ASSERT_OK(asim_isa_select(isas[n_isas - 1]));
  free(x), free(w), free(y0), free(y), free(ax), free(qw), free(pw), free(a0), free(a1);
}

/* The alias tables hold the ADC formula's code distribution: the probabilities they imply are
 * the Gaussian CDF differences (to 2^-32), and the formula path drawn many times agrees. */
static void noise_tables_hold_the_formula_distribution(void) {
  asim_macro_desc d = {.wbit = 2, .xbit = 1, .adc_prec = 4, .nrow = 255, .rand_noise_sigma = 2.0f,
                       .non_linear_sigma = 3.0f, .K = 255, .load_rows = 255, .n_loads = 1};
  asim_macro m;
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  const asim_noise_table *t = m.cycles[0].ntab;
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  const int A = 15, W = 1 << t->lw;
  const double cap = ldexp(1.0, 32 - t->lw);
  const int Ms[] = {0, 1, 17, 100, 128, 200, 255};
  for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++) {
    const int M = Ms[mi];
    double prob[16] = {0};
    for (int b = 0; b < W; b++) { /* probability mass of each bucket's two codes */
      const uint64_t e = t->ent[((int64_t)M << t->lw) | b];
      const int own = (int)((e >> 32) & 0xffff), alias = (int)(e >> 48);
      CU_ASSERT_TRUE(own <= A && alias <= A);
      prob[own] += (double)(uint32_t)e / cap / W;
      prob[alias] += (cap - (double)(uint32_t)e) / cap / W;
    }
    float v = (float)M / 255.0f;
    double s = sqrt(0.02 * 0.02 + 0.03 * 0.03 / (double)(v * 255.0f + 1.0f)), tot = 0;
    for (int c = 0; c <= A; c++) {
      double hi = c == A ? 1.0 : 0.5 * erfc(-(((c + 0.5) / A - v) / s) / sqrt(2.0));
      double lo = c == 0 ? 0.0 : 0.5 * erfc(-(((c - 0.5) / A - v) / s) / sqrt(2.0));
      CU_ASSERT_TRUE(fabs(prob[c] - (hi - lo)) < 3e-9);
      tot += prob[c];
    }
    CU_ASSERT_TRUE(fabs(tot - 1.0) < 1e-12);
    /* empirical: formula path (two normals) vs table path, 40000 draws each */
    int hf[16] = {0}, ht[16] = {0};
    const int n = 40000;
    asim_noise_key key = {3, 4};
    for (int i = 0; i < n; i++) {
      float z1, z2;
      asim_normal2(key, (uint64_t)M, (uint32_t)i, 0, ASIM_STREAM_ADC, &z1, &z2);
      float vf = asim_adc((float)M, 255.0f, 15.0f, 255, 1, 2.0f, 3.0f, z1, z2);
      float vt = asim_noise_sample(t, M, asim_uniform_u32(key, 1000 + (uint64_t)M, (uint32_t)i, 0, ASIM_STREAM_ADC));
      hf[(int)lrint(vf / 255.0 * A)]++;
      ht[(int)lrint(vt / 255.0 * A)]++;
    }
    double chi = 0;
    int dof = 0;
    for (int c = 0; c <= A; c++)
      if (hf[c] + ht[c] > 20) chi += (double)(hf[c] - ht[c]) * (hf[c] - ht[c]) / (hf[c] + ht[c]), dof++;
    if (chi > 3.0 * dof + 20) fprintf(stderr, "\n  M = %d: chi2 %.1f with %d classes", M, chi, dof);
    CU_ASSERT_TRUE(chi <= 3.0 * dof + 20);
  }
  asim_macro_free(&m);
}

/* A layer's cache is reused while nothing changes and rebuilt when weights, their values or the
 * settings change; cached and uncached results are identical. */
static void weight_cache_rebuilds_on_change(void) {
  const int C = 10, O = 6, H = 5;
  float x[2 * C * H * H], w[O * C * 9], y0[2 * O * H * H], y1[2 * O * H * H];
  for (int i = 0; i < 2 * C * H * H; i++) x[i] = frand();
  for (int i = 0; i < O * C * 9; i++) w[i] = frand();
  asim_wcache *wc;
  CU_ASSERT_OK(asim_wcache_new(&wc));
  asim_conv_dims c = {C, O, 3, 1, 1, asim_cim_defaults(), 4, 0, NULL};
  c.p.mode = ASIM_SIMULATION, c.p.nrow = 255, c.p.adc_prec = 5, c.p.wbit = 5, c.p.xbit = 6;
  CU_ASSERT_OK(asim_conv2d_forward(y0, x, 2, H, H, w, NULL, &c, NULL));
  c.cache = wc;
  CU_ASSERT_OK(asim_conv2d_forward(y1, x, 2, H, H, w, NULL, &c, NULL));
  CU_ASSERT_TRUE(same_bits(y0, y1, 2 * O * H * H, "cached"));
  CU_ASSERT_OK(asim_conv2d_forward(y1, x, 2, H, H, w, NULL, &c, NULL));
  CU_ASSERT_EQUAL(asim_wcache_builds(wc), 1);
  CU_ASSERT_TRUE(asim_wcache_bytes(wc) > 0);
  w[17] = -w[17] + 0.01f; /* edited in place: the checksum notices */
  CU_ASSERT_OK(asim_conv2d_forward(y1, x, 2, H, H, w, NULL, &c, NULL));
  CU_ASSERT_EQUAL(asim_wcache_builds(wc), 2);
  c.cache = NULL;
  CU_ASSERT_OK(asim_conv2d_forward(y0, x, 2, H, H, w, NULL, &c, NULL));
  CU_ASSERT_TRUE(same_bits(y0, y1, 2 * O * H * H, "after edit"));
  c.cache = wc;
  c.p.adc_prec = 6; /* other settings */
  CU_ASSERT_OK(asim_conv2d_forward(y1, x, 2, H, H, w, NULL, &c, NULL));
  CU_ASSERT_EQUAL(asim_wcache_builds(wc), 3);
  asim_wcache_invalidate(wc);
  CU_ASSERT_OK(asim_conv2d_forward(y1, x, 2, H, H, w, NULL, &c, NULL));
  CU_ASSERT_EQUAL(asim_wcache_builds(wc), 4);
  if (n_isas > 1) { /* another kernel set */
    CU_ASSERT_OK(asim_isa_select(isas[0]));
    CU_ASSERT_OK(asim_conv2d_forward(y0, x, 2, H, H, w, NULL, &c, NULL));
    CU_ASSERT_EQUAL(asim_wcache_builds(wc), 5);
    CU_ASSERT_TRUE(same_bits(y0, y1, 2 * O * H * H, "kernel set switch"));
    CU_ASSERT_OK(asim_isa_select(isas[n_isas - 1]));
  }
  asim_wcache_free(wc);
}

/* A cached layer reuses its activation workspace across calls: batches of other sizes and other
 * inputs give what an uncached call gives (lossless GEMM path, checked path and cycle path). */
static void layer_workspaces_are_reused_safely(void) {
  const int C = 20, O = 9, H = 7;
  const int Bs[] = {3, 1, 2, 3};
  float *x = malloc(sizeof(float) * 3 * C * H * H), *w = malloc(sizeof(float) * O * C * 9);
  float *y0 = malloc(sizeof(float) * 3 * O * H * H), *y1 = malloc(sizeof(float) * 3 * O * H * H);
  for (int i = 0; i < O * C * 9; i++) w[i] = frand();
  const int adcs[] = {8, 4};
  for (int t = 0; t < 2; t++) {
    asim_wcache *wc;
    CU_ASSERT_OK(asim_wcache_new(&wc));
    asim_conv_dims c = {C, O, 3, 1, 1, asim_cim_defaults(), 6, 0, NULL};
    c.p.mode = ASIM_SIMULATION, c.p.nrow = 255, c.p.adc_prec = adcs[t];
    asim_linear_dims l = {C * H, O, c.p, 7, NULL};
    for (size_t r = 0; r < sizeof Bs / sizeof Bs[0]; r++) {
      const int B = Bs[r];
      for (int i = 0; i < B * C * H * H; i++) x[i] = frand() * (r + 1.0f);
      c.cache = NULL;
      CU_ASSERT_OK(asim_conv2d_forward(y0, x, B, H, H, w, NULL, &c, NULL));
      c.cache = wc;
      CU_ASSERT_OK(asim_conv2d_forward(y1, x, B, H, H, w, NULL, &c, NULL));
      CU_ASSERT_TRUE(same_bits(y0, y1, (int64_t)B * O * H * H, "conv workspace"));
    }
    asim_wcache_free(wc);
    CU_ASSERT_OK(asim_wcache_new(&wc));
    for (size_t r = 0; r < sizeof Bs / sizeof Bs[0]; r++) { /* linear: B·T rows of C·H features */
      const int B = Bs[r], T = 3 - (int)r % 2;
      for (int i = 0; i < B * T * C * H; i++) x[i] = frand();
      l.cache = NULL;
      CU_ASSERT_OK(asim_linear_forward(y0, x, B, T, w, NULL, &l, NULL));
      l.cache = wc;
      CU_ASSERT_OK(asim_linear_forward(y1, x, B, T, w, NULL, &l, NULL));
      CU_ASSERT_TRUE(same_bits(y0, y1, (int64_t)B * T * O, "linear workspace"));
    }
    asim_wcache_free(wc);
  }
  free(x), free(w), free(y0), free(y1);
}

static void kernel_sets_are_named_and_checked(void) {
  asim_isa isa;
  CU_ASSERT_OK(asim_isa_parse("avx512", &isa));
  CU_ASSERT_EQUAL(isa, ASIM_ISA_AVX512);
  CU_ASSERT_EQUAL(asim_isa_parse("sse9", &isa), ASIM_EINVAL);
  asim_error_clear();
  CU_ASSERT_TRUE(asim_isa_available(ASIM_ISA_SCALAR));
  for (int i = ASIM_ISA_SCALAR; i <= ASIM_ISA_AMX; i++)
    if (!asim_isa_available((asim_isa)i)) {
      CU_ASSERT_EQUAL(asim_isa_select((asim_isa)i), ASIM_EUNSUP);
      asim_error_clear();
    }
  CU_ASSERT_EQUAL(asim_isa_select((asim_isa)9), ASIM_EINVAL);
  asim_error_clear();
  fprintf(stderr, "\n  kernel sets available:");
  for (int k = 0; k < n_isas; k++) fprintf(stderr, " %s", asim_isa_name(isas[k]));
  /* mismatched operands are an error, not a crash */
  asim_macro_desc d = {.wbit = 4, .xbit = 4, .adc_prec = 4, .nrow = 15, .K = 20, .load_rows = 15, .n_loads = 2};
  asim_macro_desc e = d;
  e.xbit = 5;
  asim_macro m, m2;
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  CU_ASSERT_OK(asim_macro_init(&m2, &e));
  asim_opnd W, X;
  CU_ASSERT_OK(asim_opnd_alloc(&W, 3, 4, 1, &m, ASIM_ISA_SCALAR));
  CU_ASSERT_OK(asim_opnd_alloc(&X, 3, 5, 0, &m2, ASIM_ISA_SCALAR));
  CU_ASSERT_OK(asim_opnd_prepare_w(&W, &m, ASIM_ISA_SCALAR, 0));
  CU_ASSERT_OK(asim_opnd_prepare_x(&X, &m2, ASIM_ISA_SCALAR));
  float acc[9];
  const asim_out out = asim_out_rows(acc, 1, 3, 3);
  CU_ASSERT_EQUAL(asim_engine_run(&out, &m, &W, &X, NULL, 1, ASIM_ISA_SCALAR, NULL), ASIM_ESHAPE);
  asim_error_clear();
  asim_opnd_free(&W), asim_opnd_free(&X);
  asim_macro_free(&m), asim_macro_free(&m2);
}

void asim_register_tests(void) {
  init_isas();
  ASIM_ADD_SUITE(kernels);
  ASIM_ADD_TEST(kernels, kernel_sets_are_named_and_checked);
  ASIM_ADD_TEST(kernels, every_kernel_set_matches_the_reference_on_random_plans);
  ASIM_ADD_TEST(kernels, lossless_gemm_matches_the_reference_on_random_plans);
  ASIM_ADD_TEST(kernels, untabulated_cycles_match_the_reference);
  ASIM_ADD_TEST(kernels, small_adc_tables_have_an_exact_code_form);
  ASIM_ADD_TEST(kernels, lossless_check_falls_back_when_partial_sums_pass_2_24);
  ASIM_ADD_SUITE(layers);
  ASIM_ADD_TEST(layers, conv_layer_matches_reference_pipeline);
  ASIM_ADD_TEST(layers, layers_agree_across_kernel_sets_and_threads);
  ASIM_ADD_TEST(layers, weight_cache_rebuilds_on_change);
  ASIM_ADD_TEST(layers, layer_workspaces_are_reused_safely);
  ASIM_ADD_SUITE(noise);
  ASIM_ADD_TEST(noise, noise_tables_hold_the_formula_distribution);
}
