/* What training must do exactly as ASiM / PyTorch, beyond the derivatives themselves: the
 * straight-through estimators of spec §1.8, the Train-mode forward equal to the library's, trim
 * noise drawn as the library draws it, MultiStepLR, tied and untrained parameters, the model
 * and configuration checks, and the ResNet-8 zoo member. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/config.h"
#include "asim/quant.h"
#include "asim/train.h"
#include "cu_util.h"

static float *seq(int64_t n, float a, float b) {
  float *x = malloc(sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) x[i] = a * sinf(b * (float)i + 0.3f);
  return x;
}

static void ste_signed_passes_nonzero_unsigned_passes_all(void) {
  const float x[6] = {-2.0f, -1e-9f, 0.0f, -0.0f, 1e-30f, 5.0f}, dy[6] = {1, 2, 3, 4, 5, 6};
  float dx[6];
  asim_fake_quantize_backward(dx, dy, x, 6, 1);
  const float want_s[6] = {1, 2, 0, 0, 5, 6}; /* d|x|/dx·sgn(x) with the sign detached: 0 only at x == 0 */
  CU_ASSERT_EQUAL(memcmp(dx, want_s, sizeof dx), 0);
  asim_fake_quantize_backward(dx, dy, x, 6, 0); /* unsigned: identity, negatives included (clamp STE) */
  CU_ASSERT_EQUAL(memcmp(dx, dy, sizeof dx), 0);
}

/* The Train-mode ASiMConv2d backward, against a direct double-precision convolution at the
 * fake-quantised operands with ASiM's STE masks (weights signed; activations unsigned or,
 * for QuantConv2d, signed) — values with exact zeros included. */
static void qat_conv_backward_is_the_ste_of_the_fake_quantised_conv(void) {
  for (int quant_conv = 0; quant_conv < 2; quant_conv++) {
    const int B = 2, C = 3, H = 5, W = 6, O = 4, k = 3, s = 2, p = 1;
    const int Ho = asim_conv_out_size(H, k, s, p), Wo = asim_conv_out_size(W, k, s, p);
    const int64_t nx = (int64_t)B * C * H * W, nw = (int64_t)O * C * k * k, ny = (int64_t)B * O * Ho * Wo;
    float *x = seq(nx, 1.5f, 0.77f), *w = seq(nw, 0.4f, 1.3f), *dy = seq(ny, 1.0f, 0.41f);
    for (int64_t i = 0; i < nx; i += 7) x[i] = 0.0f;
    for (int64_t i = 0; i < nw; i += 5) w[i] = 0.0f;
    asim_conv_dims d = {C, O, k, s, p, asim_cim_defaults(), 5, quant_conv};
    d.p.mode = ASIM_TRAIN;
    asim_exec ex = {.seed = 1};
    float sx, sw, *y = malloc(sizeof(float) * (size_t)ny);
    CU_ASSERT_OK(asim_conv2d_qat_forward(y, &sx, &sw, x, B, H, W, w, NULL, &d, &ex, 1, NULL));
    float *dx = malloc(sizeof(float) * (size_t)nx), *dw = calloc((size_t)nw, sizeof(float));
    float *g = malloc(sizeof(float) * (size_t)ny);
    memcpy(g, dy, sizeof(float) * (size_t)ny);
    CU_ASSERT_OK(asim_conv2d_qat_backward(dx, dw, NULL, g, x, B, H, W, w, sx, sw, &d, &ex, 1, NULL));
    const int sa = quant_conv; /* ResNet/VGG ASiMConv2d: unsigned activations; QuantConv2d: signed */
    float *xq = malloc(sizeof(float) * (size_t)nx), *wq = malloc(sizeof(float) * (size_t)nw);
    asim_fake_quantize(xq, x, nx, sx, 8, sa);
    asim_fake_quantize(wq, w, nw, sw, 8, 1);
    double *rdx = calloc((size_t)nx, sizeof(double)), *rdw = calloc((size_t)nw, sizeof(double));
    for (int b = 0; b < B; b++)
      for (int o = 0; o < O; o++)
        for (int oy = 0; oy < Ho; oy++)
          for (int ox = 0; ox < Wo; ox++) {
            const double gg = dy[((b * O + o) * Ho + oy) * Wo + ox];
            for (int c = 0; c < C; c++)
              for (int u = 0; u < k; u++)
                for (int v = 0; v < k; v++) {
                  const int iy = oy * s - p + u, ix = ox * s - p + v;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  const int64_t xi = ((int64_t)(b * C + c) * H + iy) * W + ix, wi = ((int64_t)(o * C + c) * k + u) * k + v;
                  rdw[wi] += gg * xq[xi];
                  rdx[xi] += gg * wq[wi];
                }
          }
    double ex_ = 0, nx_ = 0, ew = 0, nw_ = 0;
    int masked_ok = 1;
    for (int64_t i = 0; i < nx; i++) {
      const double want = (sa && x[i] == 0.0f) ? 0.0 : rdx[i];
      ex_ += (dx[i] - want) * (dx[i] - want), nx_ += want * want;
      if (sa && x[i] == 0.0f && dx[i] != 0.0f) masked_ok = 0;
    }
    for (int64_t i = 0; i < nw; i++) {
      const double want = w[i] == 0.0f ? 0.0 : rdw[i];
      ew += (dw[i] - want) * (dw[i] - want), nw_ += want * want;
      if (w[i] == 0.0f && dw[i] != 0.0f) masked_ok = 0;
    }
    CU_ASSERT(sqrt(ex_ / nx_) < 1e-5);
    CU_ASSERT(sqrt(ew / nw_) < 1e-5);
    CU_ASSERT(masked_ok);
    free(x), free(w), free(dy), free(y), free(dx), free(dw), free(g), free(xq), free(wq), free(rdx), free(rdw);
  }
}

/* The training forward of an ASiM layer is the library's Train-mode forward (same trim-noise
 * draws; only the float summation order may differ). */
static void qat_forward_equals_the_library_train_mode(void) {
  const int B = 3, C = 5, H = 7, W = 7, O = 6;
  const int64_t nx = (int64_t)B * C * H * W;
  float *x = seq(nx, 2.0f, 0.37f), *w = seq((int64_t)O * C * 9, 0.3f, 0.91f), *b = seq(O, 0.1f, 1.7f);
  for (int64_t i = 0; i < nx; i++) x[i] = fabsf(x[i]);
  float *y1 = malloc(sizeof(float) * (size_t)(B * O * H * W)), *y2 = malloc(sizeof(float) * (size_t)(B * O * H * W));
  asim_conv_dims d = {C, O, 3, 1, 1, asim_cim_defaults(), 9, 0};
  d.p.mode = ASIM_TRAIN, d.p.trim_noise = 40.0f;
  asim_exec ex = {.seed = 17, .sample0 = 1000};
  float sx, sw, trim[3 * 6 * 49];
  CU_ASSERT_OK(asim_conv2d_forward(y1, x, B, H, W, w, b, &d, &ex));
  CU_ASSERT_OK(asim_conv2d_qat_forward(y2, &sx, &sw, x, B, H, W, w, b, &d, &ex, 1, trim));
  double e = 0, n = 0;
  for (int i = 0; i < B * O * H * W; i++) e += (y1[i] - y2[i]) * (y1[i] - y2[i]), n += y1[i] * y1[i];
  CU_ASSERT(sqrt(e / n) < 1e-6);
  /* linear, tokens */
  asim_linear_dims l = {C * H, O, asim_cim_defaults(), 4};
  l.p.mode = ASIM_TRAIN, l.p.signed_act = 1, l.p.trim_noise = 25.0f;
  CU_ASSERT_OK(asim_linear_forward(y1, x, B, W, w, b, &l, &ex));
  CU_ASSERT_OK(asim_linear_qat_forward(y2, &sx, &sw, x, B, W, w, b, &l, &ex, 1, NULL));
  e = n = 0;
  for (int i = 0; i < B * W * O; i++) e += (y1[i] - y2[i]) * (y1[i] - y2[i]), n += y1[i] * y1[i];
  CU_ASSERT(sqrt(e / n) < 1e-6);
  free(x), free(w), free(b), free(y1), free(y2);
}

static void attention_training_forward_equals_the_library_train_mode(void) {
  const int B = 2, T = 5, E = 32;
  asim_mha_dims a = asim_model_settings_default().attn;
  a.embed_dim = E, a.num_heads = 4, a.layer_id = 30, a.attn_trim_noise = 30.0f, a.proj_trim_noise = 20.0f;
  a.qk_kbit = 9, a.proj_xbit = 9;
  float *x = seq(B * T * E, 1.0f, 0.53f), *qw = seq(3 * E * E, 0.2f, 0.71f), *qb = seq(3 * E, 0.1f, 0.3f);
  float *pw = seq(E * E, 0.2f, 0.19f), *pb = seq(E, 0.1f, 0.9f);
  float y1[2 * 5 * 32], y2[2 * 5 * 32];
  asim_exec ex = {.seed = 5, .sample0 = 77};
  asim_mha_cache c;
  CU_ASSERT_OK(asim_mha_forward(y1, x, B, T, qw, qb, pw, pb, &a, &ex, NULL));
  CU_ASSERT_OK(asim_mha_train_forward(y2, &c, x, B, T, qw, qb, pw, pb, &a, 0.0f, &ex, 1));
  asim_mha_cache_free(&c);
  double e = 0, n = 0;
  for (int i = 0; i < B * T * E; i++) e += (y1[i] - y2[i]) * (y1[i] - y2[i]), n += y1[i] * y1[i];
  CU_ASSERT(sqrt(e / n) < 1e-5);
  free(x), free(qw), free(qb), free(pw), free(pb);
}

static void trim_noise_terms_are_the_library_draws(void) {
  float y1[300], y2[300], t[300];
  for (int i = 0; i < 300; i++) y1[i] = y2[i] = 0.01f * (float)(i - 150);
  asim_noise_key k = {9, 3};
  asim_trim_noise(y1, 300, 100, 50.0f, k, 12);
  asim_trim_noise_forward(y2, 300, 100, 50.0f, k, 12);
  CU_ASSERT_EQUAL(memcmp(y1, y2, sizeof y1), 0);
  asim_trim_noise_terms(t, 300, 100, 50.0f, k, 12);
  float g[300];
  for (int i = 0; i < 300; i++) g[i] = 1.0f;
  asim_trim_noise_backward(g, 300, 100, 50.0f, k, 12);
  int ok = 1;
  for (int i = 0; i < 300; i++) ok &= g[i] == 1.0f + t[i];
  CU_ASSERT(ok);
}

/* run.train_macro_noise: the variance is the cycle sum of spec §3.1's error terms — per load, for
 * every cycle (i, j), 4^(i+j)·((R/A)²/12 + [noisy]·(σ_r² + σ_nl²)/100²·R²) — and hybrid cycles
 * keep only their rounding. */
static void macro_noise_variance_is_the_cycle_sum(void) {
  asim_cim_params p = asim_cim_defaults();
  p.wbit = p.xbit = 8, p.adc_prec = 6, p.nrow = 255, p.rand_noise_sigma = 1.0f, p.non_linear_sigma = 0.5f;
  double var, want = 0.0;
  const double R = 255.0, A = 63.0, s2 = (1.0 + 0.25) / 1e4;
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) want += ldexp(1.0, 2 * (i + j)) * ((R / A) * (R / A) / 12.0 + s2 * R * R);
  CU_ASSERT_OK(asim_cim_macro_noise_var(&var, &p, 0, 600)); /* 3 loads of 255 rows */
  CU_ASSERT_DOUBLE_EQUAL(var / (3.0 * want), 1.0, 1e-12);
  p.hybrid_levels = 2; /* (7,7), (7,6), (6,7) digital: rounding only */
  double hyb;
  CU_ASSERT_OK(asim_cim_macro_noise_var(&hyb, &p, 0, 255));
  const double dig = (ldexp(1.0, 28) + 2.0 * ldexp(1.0, 26)) * s2 * R * R;
  CU_ASSERT_DOUBLE_EQUAL(hyb / (want - dig), 1.0, 1e-12);
  p.hybrid_levels = -1, p.nrow = 0; /* a bad group reaches the caller as an error */
  CU_ASSERT_NOT_EQUAL(asim_cim_macro_noise_var(&var, &p, 0, 255), ASIM_OK);
}

/* The Train-mode layers add exactly that noise in the output domain: the difference to the same
 * forward without it has standard deviation sqrt(var)·s_x·s_w/D, zero mean, and the draws are
 * a function of (seed, layer, sample, element) only — a batch split in two gives the same values. */
static void train_macro_noise_adds_the_dequantised_macro_error(void) {
  const int B = 8, C = 16, H = 6, W = 6, O = 32, n = B * O * H * W;
  const int64_t nx = (int64_t)B * C * H * W;
  float *x = seq(nx, 2.0f, 0.37f), *w = seq((int64_t)O * C * 9, 0.3f, 0.91f);
  for (int64_t i = 0; i < nx; i++) x[i] = fabsf(x[i]);
  float *y0 = malloc(sizeof(float) * (size_t)n), *y1 = malloc(sizeof(float) * (size_t)n);
  float *y2 = malloc(sizeof(float) * (size_t)n);
  asim_conv_dims d = {C, O, 3, 1, 1, asim_cim_defaults(), 9, 0};
  d.p.mode = ASIM_TRAIN, d.p.adc_prec = 6, d.p.nrow = 64, d.p.rand_noise_sigma = d.p.non_linear_sigma = 0.5f;
  asim_exec ex = {.seed = 5, .sample0 = 40};
  float sx, sw;
  CU_ASSERT_OK(asim_conv2d_qat_forward(y0, &sx, &sw, x, B, H, W, w, NULL, &d, &ex, 1, NULL));
  d.p.train_macro_noise = 1;
  CU_ASSERT_OK(asim_conv2d_qat_forward(y1, &sx, &sw, x, B, H, W, w, NULL, &d, &ex, 1, NULL));
  double var, m = 0, m2 = 0;
  CU_ASSERT_OK(asim_cim_macro_noise_var(&var, &d.p, 0, (int64_t)C * 9));
  const double sigma = sqrt(var) * sx * sw / asim_dequant_divisor(8, 8, 0);
  for (int i = 0; i < n; i++) m += (y1[i] - y0[i]) / sigma, m2 += (y1[i] - y0[i]) * (y1[i] - y0[i]) / (sigma * sigma);
  m /= n, m2 /= n;
  CU_ASSERT(fabs(m) < 0.05);               /* 9216 draws: 4.8 standard errors */
  CU_ASSERT(fabs(sqrt(m2 - m * m) - 1.0) < 0.03);
  /* the second half of the batch alone, at its global sample index, draws the same noise (its
   * scales differ, so compare the noise terms, each divided by its own sigma) */
  asim_exec ex2 = {.seed = 5, .sample0 = 44};
  const int half = n / 2;
  float sx2, sw2;
  d.p.train_macro_noise = 0;
  CU_ASSERT_OK(asim_conv2d_qat_forward(y0, &sx2, &sw2, x + nx / 2, B / 2, H, W, w, NULL, &d, &ex2, 1, NULL));
  d.p.train_macro_noise = 1;
  CU_ASSERT_OK(asim_conv2d_qat_forward(y2, &sx2, &sw2, x + nx / 2, B / 2, H, W, w, NULL, &d, &ex2, 1, NULL));
  const double sigma2 = sqrt(var) * sx2 * sw2 / asim_dequant_divisor(8, 8, 0);
  double worst = 0;
  float *z = malloc(sizeof(float) * (size_t)n);
  CU_ASSERT_OK(asim_conv2d_qat_forward(z, &sx, &sw, x, B, H, W, w, NULL, &d, &ex, 1, NULL));
  d.p.train_macro_noise = 0;
  CU_ASSERT_OK(asim_conv2d_qat_forward(y1, &sx, &sw, x, B, H, W, w, NULL, &d, &ex, 1, NULL));
  for (int i = 0; i < half; i++) {
    const double a = (z[half + i] - y1[half + i]) / sigma, b = (y2[i] - y0[i]) / sigma2;
    worst = fmax(worst, fabs(a - b));
  }
  CU_ASSERT(worst < 1e-3);
  free(x), free(w), free(y0), free(y1), free(y2), free(z);
}

/* run.train_macro_noise_mix: a fraction mix of the samples is clean, the others get a strength
 * uniform in [0, 1); one value per (seed, sample), whatever the layer. */
static void macro_noise_mix_draws_clean_samples_and_uniform_strengths(void) {
  CU_ASSERT_EQUAL(asim_macro_noise_strength(3, 12, 0.0f), 1.0f);
  int clean = 0, n = 20000;
  double sum = 0, sum2 = 0;
  for (int s = 0; s < n; s++) {
    const float f = asim_macro_noise_strength(3, 1000 + s, 0.4f);
    CU_ASSERT(f >= 0.0f && f < 1.0f);
    if (f == 0.0f) clean++;
    else sum += f, sum2 += f * f;
  }
  const int noisy = n - clean;
  CU_ASSERT(fabs(clean / (double)n - 0.4) < 0.015);       /* 4.3 standard errors */
  CU_ASSERT(fabs(sum / noisy - 0.5) < 0.01);                /* uniform: mean 1/2, variance 1/12 */
  CU_ASSERT(fabs(sum2 / noisy - (sum / noisy) * (sum / noisy) - 1.0 / 12.0) < 0.004);
  CU_ASSERT_EQUAL(asim_macro_noise_strength(3, 77, 0.4f), asim_macro_noise_strength(3, 77, 0.4f));
  int differ = 0;
  for (int s = 0; s < 100; s++) differ += asim_macro_noise_strength(3, s, 0.4f) != asim_macro_noise_strength(4, s, 0.4f);
  CU_ASSERT(differ > 50); /* another epoch seed, other strengths */
}

static void multistep_lr_counts_passed_milestones(void) {
  const int ms[2] = {48, 72};
  CU_ASSERT_DOUBLE_EQUAL(asim_multistep_lr(0.01, ms, 2, 0.1, 0), 0.01, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(asim_multistep_lr(0.01, ms, 2, 0.1, 47), 0.01, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(asim_multistep_lr(0.01, ms, 2, 0.1, 48), 0.001, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(asim_multistep_lr(0.01, ms, 2, 0.1, 79), 0.0001, 1e-15);
  const int dup[2] = {0, 0}; /* config.py's derivation for max_epoch 1: PyTorch decays twice */
  CU_ASSERT_DOUBLE_EQUAL(asim_multistep_lr(1.0, dup, 2, 0.5, 0), 0.25, 1e-15);
}

static void sgd_first_step_and_weight_decay_follow_pytorch(void) {
  asim_model m;
  asim_model_settings s = asim_model_settings_default();
  CU_ASSERT_OK(asim_model_init(&m, "ResNet-8", 10, 1, 28, &s, 0));
  CU_ASSERT_OK(asim_model_init_random(&m, 3));
  asim_grads g;
  CU_ASSERT_OK(asim_grads_init(&g, &m));
  float *gfc = asim_grads_find(&g, "fc.bias"), *p = asim_state_find(&m.params, "fc.bias")->data;
  for (int i = 0; i < 10; i++) gfc[i] = 0.5f;
  const float p0 = p[0];
  asim_optim o;
  CU_ASSERT_OK(asim_optim_init(&o, ASIM_OPT_SGD, &g, 0.1, 0.9, 1e-4));
  CU_ASSERT_OK(asim_optim_step(&o, &m, &g)); /* buf = g + wd·p; p -= lr·buf */
  const float d1 = 0.5f + 1e-4f * p0, p1 = p0 - 0.1f * d1;
  CU_ASSERT_DOUBLE_EQUAL(p[0], p1, 1e-7);
  CU_ASSERT_OK(asim_optim_step(&o, &m, &g)); /* buf = 0.9·buf + g + wd·p */
  const float d2 = 0.9f * d1 + (0.5f + 1e-4f * p1);
  CU_ASSERT_DOUBLE_EQUAL(p[0], p1 - 0.1f * d2, 1e-7);
  asim_optim_free(&o);
  asim_grads_free(&g);
  asim_model_free(&m);
}

static void unused_stem_has_no_gradient_and_buffers_do_not_train(void) {
  for (int large = 0; large < 2; large++) {
    asim_model m;
    CU_ASSERT_OK(asim_model_init(&m, "ResNet-18", 10, 3, large ? 224 : 32, NULL, 0));
    CU_ASSERT_OK(asim_model_init_random(&m, 1));
    asim_grads g;
    CU_ASSERT_OK(asim_grads_init(&g, &m));
    CU_ASSERT_PTR_NULL(asim_grads_find(&g, large ? "conv1.weight" : "conv2.weight"));
    CU_ASSERT_PTR_NOT_NULL(asim_grads_find(&g, large ? "conv2.weight" : "conv1.weight"));
    CU_ASSERT_PTR_NULL(asim_grads_find(&g, "bn1.running_mean"));
    CU_ASSERT_PTR_NULL(asim_grads_find(&g, "bn1.num_batches_tracked"));
    CU_ASSERT_PTR_NOT_NULL(asim_grads_find(&g, "relu.alpha"));
    CU_ASSERT_PTR_NOT_NULL(asim_grads_find(&g, "layer4.1.relu.alpha"));
    CU_ASSERT_EQUAL(g.n_tie_groups, 0);
    asim_grads_free(&g);
    asim_model_free(&m);
  }
}

static void vgg_shared_alpha_is_one_tied_parameter(void) {
  asim_model m;
  CU_ASSERT_OK(asim_model_init(&m, "VGG11", 10, 3, 32, NULL, 0));
  CU_ASSERT_OK(asim_model_init_random(&m, 1));
  asim_grads g;
  CU_ASSERT_OK(asim_grads_init(&g, &m));
  CU_ASSERT_EQUAL(g.n_tie_groups, 1);
  int n = 0;
  double sum = 0;
  for (int i = 0; i < g.g.n; i++)
    if (g.tie[i] == 0) ((float *)g.g.tensors[i].data)[0] = (float)(n + 1), sum += n + 1, n++;
  CU_ASSERT(n >= 9); /* features.3/5/... and classifier.1/.4 */
  asim_grads_tie(&g);
  asim_optim o;
  CU_ASSERT_OK(asim_optim_init(&o, ASIM_OPT_SGD, &g, 0.01, 0.9, 1e-4));
  CU_ASSERT_OK(asim_optim_step(&o, &m, &g));
  int same = 1;
  float first = -1;
  for (int i = 0; i < g.g.n; i++)
    if (g.tie[i] == 0) {
      CU_ASSERT_DOUBLE_EQUAL(((float *)g.g.tensors[i].data)[0], sum, 1e-6);
      const float a = ((float *)m.params.tensors[g.pidx[i]].data)[0];
      if (first < 0) first = a;
      same &= a == first;
    }
  CU_ASSERT(same);
  CU_ASSERT(first < 6.0f);
  asim_optim_free(&o);
  asim_grads_free(&g);
  asim_model_free(&m);
}

static void training_forward_updates_running_statistics(void) {
  asim_model m;
  asim_model_settings s = asim_model_settings_default();
  s.conv.mode = s.linear.mode = ASIM_TRAIN;
  CU_ASSERT_OK(asim_model_init(&m, "ResNet-8", 10, 1, 28, &s, 0));
  CU_ASSERT_OK(asim_model_init_random(&m, 2));
  float *x = seq(4 * 784, 1.0f, 0.61f), logits[40];
  asim_tape *t;
  CU_ASSERT_OK(asim_tape_new(&t));
  asim_train_exec tx = {.training = 1, .fake_quant = 1};
  float rm0 = ((float *)asim_state_find(&m.params, "bn1.running_mean")->data)[0];
  CU_ASSERT_OK(asim_train_forward(&m, t, logits, x, 4, &tx));
  CU_ASSERT_EQUAL(((int64_t *)asim_state_find(&m.params, "bn1.num_batches_tracked")->data)[0], 1);
  CU_ASSERT(((float *)asim_state_find(&m.params, "bn1.running_mean")->data)[0] != rm0);
  tx.training = 0; /* model.eval(): nothing changes */
  float rm1 = ((float *)asim_state_find(&m.params, "bn1.running_mean")->data)[0];
  CU_ASSERT_OK(asim_train_forward(&m, t, logits, x, 4, &tx));
  CU_ASSERT_EQUAL(((float *)asim_state_find(&m.params, "bn1.running_mean")->data)[0], rm1);
  CU_ASSERT_EQUAL(((int64_t *)asim_state_find(&m.params, "bn1.num_batches_tracked")->data)[0], 1);
  asim_tape_free(t);
  free(x);
  asim_model_free(&m);
}

static void training_rejects_untrainable_models_and_configs(void) {
  asim_model m;
  asim_model_settings s = asim_model_settings_default(); /* Simulation-mode convs */
  CU_ASSERT_OK(asim_model_init(&m, "ResNet-8", 10, 1, 28, &s, 0));
  CU_ASSERT_EQUAL(asim_train_check_model(&m), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "asim_conv_mode"));
  asim_model_free(&m);
  asim_config c;
  asim_config_defaults(&c);
  c.run.job = ASIM_JOB_TRAIN;
  CU_ASSERT_OK(asim_train_check_config(&c, 2));
  c.milestones[0] = 30, c.milestones[1] = 20;
  CU_ASSERT_EQUAL(asim_train_check_config(&c, 2), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "out of order"));
  c.milestones[1] = 30; /* equal entries: PyTorch decays twice, accepted */
  CU_ASSERT_OK(asim_train_check_config(&c, 2));
  c.lr_init = 0.0;
  CU_ASSERT_EQUAL(asim_train_check_config(&c, 2), ASIM_EINVAL);
  c.lr_init = 0.01, c.train_bs = 3;
  CU_ASSERT_EQUAL(asim_train_check_config(&c, 4), ASIM_EINVAL);
  c.train_bs = 128, c.run.job = ASIM_JOB_SIMULATE;
  CU_ASSERT_EQUAL(asim_train_check_config(&c, 1), ASIM_EINVAL);
}

static void resnet8_is_a_small_asim_resnet(void) {
  asim_model m;
  CU_ASSERT_OK(asim_model_init(&m, "ResNet-8", 10, 1, 28, NULL, 0));
  CU_ASSERT_OK(asim_model_init_random(&m, 1));
  /* ASiM's key layout (both stems, one shared α per block, stem α last) at 16-32-64 planes */
  CU_ASSERT_STRING_EQUAL(m.params.names[0], "conv1.weight");
  CU_ASSERT_STRING_EQUAL(m.params.names[1], "conv2.weight");
  CU_ASSERT_STRING_EQUAL(m.params.names[m.params.n - 1], "relu.alpha");
  CU_ASSERT_EQUAL(asim_state_find(&m.params, "conv1.weight")->shape[0], 16);
  CU_ASSERT_EQUAL(asim_state_find(&m.params, "layer3.0.conv2.weight")->shape[0], 64);
  CU_ASSERT_PTR_NULL(asim_state_find(&m.params, "layer4.0.conv1.weight"));
  CU_ASSERT_EQUAL(asim_state_find(&m.params, "fc.weight")->shape[1], 64);
  CU_ASSERT_EQUAL(m.n_asim_layers, 11);
  /* its checkpoint is recognised from the keys (the pooled stem has none) */
  asim_model g;
  CU_ASSERT_OK(asim_model_infer(&g, &m.params, NULL, 0, NULL));
  CU_ASSERT_STRING_EQUAL(g.name, "ResNet-8");
  CU_ASSERT_EQUAL(g.stem_pool, 1);
  CU_ASSERT_EQUAL(g.width, 16);
  asim_model_free(&g);
  /* and the configuration knows it as a ResNet */
  asim_config c;
  CU_ASSERT_OK(asim_config_from_text(&c, "model_name = \"ResNet-8\"; task = \"Fashion-MNIST\"; input_size = 28;\n"
                                         "pretrain_model_path = \"m.h5\";", "test"));
  CU_ASSERT_EQUAL(asim_model_family_of(c.model_name), ASIM_FAMILY_RESNET);
  asim_model_free(&m);
}

static void weight_clip_clamps_asim_layer_weights_to_k_std(void) {
  asim_model m;
  CU_ASSERT_OK(asim_model_init(&m, "ResNet-8", 10, 1, 28, NULL, 0));
  CU_ASSERT_OK(asim_model_init_random(&m, 5));
  asim_state before = {0};
  for (int i = 0; i < m.params.n; i++) {
    asim_tensor t;
    CU_ASSERT_OK(asim_tensor_alloc(&t, ASIM_F32, m.params.tensors[i].ndim, m.params.tensors[i].shape));
    memcpy(t.data, m.params.tensors[i].data, sizeof(float) * (size_t)asim_tensor_numel(&t));
    CU_ASSERT_OK(asim_state_add(&before, m.params.names[i], &t));
  }
  CU_ASSERT_OK(asim_weight_clip(&m, 0.0)); /* off: nothing moves */
  for (int i = 0; i < m.params.n; i++)
    CU_ASSERT_EQUAL(memcmp(m.params.tensors[i].data, before.tensors[i].data,
                           sizeof(float) * (size_t)asim_tensor_numel(&before.tensors[i])), 0);
  const double k = 1.5;
  CU_ASSERT_OK(asim_weight_clip(&m, k));
  int clipped_layers = 0;
  for (int i = 0; i < m.params.n; i++) {
    const char *name = m.params.names[i];
    const float *w0 = before.tensors[i].data, *w = m.params.tensors[i].data;
    const int64_t n = asim_tensor_numel(&before.tensors[i]);
    const size_t len = strlen(name);
    /* the macro's weights: ASiMConv2d and the ASiMLinear classifier; not the QuantConv2d stems,
     * BatchNorm or PACT */
    const int asim = len > 7 && !strcmp(name + len - 7, ".weight") && !strstr(name, "bn") &&
                     !strstr(name, "downsample.1") && strncmp(name, "conv", 4);
    if (!asim) {
      CU_ASSERT_EQUAL(memcmp(w, w0, sizeof(float) * (size_t)n), 0);
      continue;
    }
    double s1 = 0.0, s2 = 0.0;
    for (int64_t e = 0; e < n; e++) s1 += w0[e], s2 += (double)w0[e] * w0[e];
    const double mean = s1 / (double)n;
    const float c = (float)(k * sqrt(s2 / (double)n - mean * mean));
    int64_t moved = 0, bad = 0;
    for (int64_t e = 0; e < n; e++) {
      const float want = w0[e] > c ? c : (w0[e] < -c ? -c : w0[e]);
      bad += w[e] != want, moved += w[e] != w0[e];
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(moved > n / 20 && moved < n / 4); /* ~13 % of a Gaussian lies beyond 1.5 std */
    clipped_layers++;
  }
  CU_ASSERT_EQUAL(clipped_layers, 9); /* ResNet-8: 8 ASiMConv2d and the fc */
  asim_state_free(&before);
  asim_model_free(&m);
  /* the other families name their ASiM layers' weights as the clipping expects */
  const char *names[] = {"VGG11-BN", "ViT-B-32"};
  const int sizes[] = {32, 64};
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_OK(asim_model_init(&m, names[i], 10, 3, sizes[i], NULL, 1));
    CU_ASSERT_OK(asim_model_init_random(&m, 5));
    CU_ASSERT_OK(asim_weight_clip(&m, k));
    asim_model_free(&m);
  }
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(train);
  ASIM_ADD_TEST(train, ste_signed_passes_nonzero_unsigned_passes_all);
  ASIM_ADD_TEST(train, qat_conv_backward_is_the_ste_of_the_fake_quantised_conv);
  ASIM_ADD_TEST(train, qat_forward_equals_the_library_train_mode);
  ASIM_ADD_TEST(train, attention_training_forward_equals_the_library_train_mode);
  ASIM_ADD_TEST(train, trim_noise_terms_are_the_library_draws);
  ASIM_ADD_TEST(train, macro_noise_variance_is_the_cycle_sum);
  ASIM_ADD_TEST(train, train_macro_noise_adds_the_dequantised_macro_error);
  ASIM_ADD_TEST(train, macro_noise_mix_draws_clean_samples_and_uniform_strengths);
  ASIM_ADD_TEST(train, multistep_lr_counts_passed_milestones);
  ASIM_ADD_TEST(train, sgd_first_step_and_weight_decay_follow_pytorch);
  ASIM_ADD_TEST(train, unused_stem_has_no_gradient_and_buffers_do_not_train);
  ASIM_ADD_TEST(train, vgg_shared_alpha_is_one_tied_parameter);
  ASIM_ADD_TEST(train, training_forward_updates_running_statistics);
  ASIM_ADD_TEST(train, training_rejects_untrainable_models_and_configs);
  ASIM_ADD_TEST(train, resnet8_is_a_small_asim_resnet);
  ASIM_ADD_TEST(train, weight_clip_clamps_asim_layer_weights_to_k_std);
}
