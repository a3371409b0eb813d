/* Every backward pass of training matches central finite differences of its forward (relative
 * error of the gradient vector <= 1e-3, float32 forwards, double-precision loss L = Σ r·y with
 * fixed random r). Fake quantisers are piecewise constant, so the layers are differentiated
 * with quantisation off (fake_quant = 0) and the straight-through estimators are pinned
 * separately (test_train_semantics.c); trim noise and dropout masks are fixed functions of
 * their counters and are differentiated through. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/grad.h"
#include "asim/model.h"
#include "asim/nn.h"
#include "asim/train.h"
#include "cu_util.h"

#define TOL 1e-3

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* xorshift64*, uniform in [0,1) */
  rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
  return (double)((rng_state * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static void fill(float *x, int64_t n, double lo, double hi) {
  for (int64_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * urand());
}
static float *rnd(int64_t n, double lo, double hi) {
  float *x = malloc(sizeof(float) * (size_t)n);
  fill(x, n, lo, hi);
  return x;
}
static double dot(const float *r, const float *y, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += (double)r[i] * y[i];
  return s;
}

/* The function under test: returns L(current parameters). */
typedef double (*loss_fn)(void *ctx);

/* Compares analytic[i] with central differences of f w.r.t. theta[i] for up to `samples`
 * coordinates; prints and returns the relative error ||a − fd|| / ||fd||. */
static double fd_check(const char *what, loss_fn f, void *ctx, float *theta, const float *analytic, int64_t n,
                       double h, int samples) {
  double num = 0.0, den = 0.0;
  const int all = n <= samples;
  for (int s = 0; s < (all ? n : samples); s++) {
    int64_t i = all ? s : (int64_t)(urand() * (double)n);
    const float keep = theta[i];
    const double hh = h * fmax(1.0, fabs(keep));
    theta[i] = (float)(keep + hh);
    const double up = f(ctx);
    theta[i] = (float)(keep - hh);
    const double dn = f(ctx);
    theta[i] = keep;
    const double step = ((double)(float)(keep + hh) - (double)(float)(keep - hh));
    const double fd = (up - dn) / step;
    num += (fd - analytic[i]) * (fd - analytic[i]);
    den += fd * fd;
  }
  double rel = den > 0 ? sqrt(num / den) : sqrt(num);
  printf("\n    %-40s rel. error %.2e", what, rel);
  CU_ASSERT(rel <= TOL);
  return rel;
}

/* ---- linear, conv ------------------------------------------------------------------------ */

typedef struct {
  int B, T, C, H, W, O, k, s, p;
  float *x, *w, *b, *y, *r;
  int qat, trim;
  asim_exec ex;
} layer_ctx;

static double linear_loss(void *v) {
  layer_ctx *c = v;
  const int64_t R = (int64_t)c->B * c->T;
  if (c->qat) {
    asim_linear_dims d = {c->C, c->O, asim_cim_defaults(), 7};
    d.p.mode = ASIM_TRAIN, d.p.signed_act = 1, d.p.trim_noise = c->trim ? 30.0f : 0.0f;
    float sx, sw;
    asim_linear_qat_forward(c->y, &sx, &sw, c->x, c->B, c->T, c->w, c->b, &d, &c->ex, 0, NULL);
  } else {
    asim_linear_train_forward(c->y, c->x, c->w, c->b, R, c->C, c->O);
  }
  return dot(c->r, c->y, R * c->O);
}

static void linear_backward_matches(void) {
  for (int qat = 0; qat < 2; qat++) {
    layer_ctx c = {.B = 3, .T = qat ? 4 : 1, .C = 13, .O = 5, .qat = qat, .trim = qat, .ex = {.seed = 5, .sample0 = 11}};
    const int64_t R = (int64_t)c.B * c.T;
    c.x = rnd(R * c.C, -1, 1), c.w = rnd((int64_t)c.O * c.C, -1, 1), c.b = rnd(c.O, -1, 1);
    c.y = malloc(sizeof(float) * (size_t)(R * c.O)), c.r = rnd(R * c.O, -1, 1);
    float *dx = calloc((size_t)(R * c.C), 4), *dw = calloc((size_t)(c.O * c.C), 4), *db = calloc((size_t)c.O, 4);
    float *dy = malloc(sizeof(float) * (size_t)(R * c.O));
    memcpy(dy, c.r, sizeof(float) * (size_t)(R * c.O));
    if (qat) {
      asim_linear_dims d = {c.C, c.O, asim_cim_defaults(), 7};
      d.p.mode = ASIM_TRAIN, d.p.signed_act = 1, d.p.trim_noise = 30.0f;
      linear_loss(&c);
      CU_ASSERT_OK(asim_linear_qat_backward(dx, dw, db, dy, c.x, c.B, c.T, c.w, 0, 0, &d, &c.ex, 0, NULL));
    } else {
      asim_linear_backward(dx, dw, db, dy, c.x, c.w, R, c.C, c.O);
    }
    fd_check(qat ? "ASiMLinear + trim noise: input" : "linear: input", linear_loss, &c, c.x, dx, R * c.C, 1e-2, 60);
    fd_check(qat ? "ASiMLinear + trim noise: weight" : "linear: weight", linear_loss, &c, c.w, dw, (int64_t)c.O * c.C,
             1e-2, 60);
    fd_check(qat ? "ASiMLinear + trim noise: bias" : "linear: bias", linear_loss, &c, c.b, db, c.O, 1e-2, 60);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(dx), free(dw), free(db), free(dy);
  }
}

static double conv_loss(void *v) {
  layer_ctx *c = v;
  const int Ho = asim_conv_out_size(c->H, c->k, c->s, c->p), Wo = asim_conv_out_size(c->W, c->k, c->s, c->p);
  if (c->qat) {
    asim_conv_dims d = {c->C, c->O, c->k, c->s, c->p, asim_cim_defaults(), 3, 0};
    d.p.mode = ASIM_TRAIN, d.p.trim_noise = 20.0f;
    float sx, sw;
    asim_conv2d_qat_forward(c->y, &sx, &sw, c->x, c->B, c->H, c->W, c->w, c->b, &d, &c->ex, 0, NULL);
  } else {
    asim_conv2d_train_forward(c->y, c->x, c->B, c->C, c->H, c->W, c->w, c->b, c->O, c->k, c->s, c->p);
  }
  return dot(c->r, c->y, (int64_t)c->B * c->O * Ho * Wo);
}

static void conv_backward_matches(void) {
  const int geo[][4] = {{3, 1, 1, 0}, {3, 2, 1, 0}, {1, 2, 0, 0}, {7, 2, 3, 0}, {3, 1, 1, 1}};
  for (size_t gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
    layer_ctx c = {.B = 2, .C = 3, .H = 7, .W = 6, .O = 4, .k = geo[gi][0], .s = geo[gi][1], .p = geo[gi][2],
                   .qat = geo[gi][3], .ex = {.seed = 9, .sample0 = 4}};
    const int Ho = asim_conv_out_size(c.H, c.k, c.s, c.p), Wo = asim_conv_out_size(c.W, c.k, c.s, c.p);
    const int64_t nx = (int64_t)c.B * c.C * c.H * c.W, nw = (int64_t)c.O * c.C * c.k * c.k,
                  ny = (int64_t)c.B * c.O * Ho * Wo;
    c.x = rnd(nx, -1, 1), c.w = rnd(nw, -1, 1), c.b = rnd(c.O, -1, 1), c.y = malloc(sizeof(float) * (size_t)ny);
    c.r = rnd(ny, -1, 1);
    float *dx = calloc((size_t)nx, 4), *dw = calloc((size_t)nw, 4), *db = calloc((size_t)c.O, 4);
    float *dy = malloc(sizeof(float) * (size_t)ny);
    memcpy(dy, c.r, sizeof(float) * (size_t)ny);
    if (c.qat) {
      asim_conv_dims d = {c.C, c.O, c.k, c.s, c.p, asim_cim_defaults(), 3, 0};
      d.p.mode = ASIM_TRAIN, d.p.trim_noise = 20.0f;
      CU_ASSERT_OK(asim_conv2d_qat_backward(dx, dw, db, dy, c.x, c.B, c.H, c.W, c.w, 0, 0, &d, &c.ex, 0, NULL));
    } else {
      CU_ASSERT_OK(asim_conv2d_backward(dx, dw, db, dy, c.x, c.w, c.B, c.C, c.H, c.W, c.O, c.k, c.s, c.p));
    }
    char what[96];
    snprintf(what, sizeof what, "conv k%d s%d p%d%s: input", c.k, c.s, c.p, c.qat ? " + trim" : "");
    fd_check(what, conv_loss, &c, c.x, dx, nx, 1e-2, 60);
    snprintf(what, sizeof what, "conv k%d s%d p%d%s: weight", c.k, c.s, c.p, c.qat ? " + trim" : "");
    fd_check(what, conv_loss, &c, c.w, dw, nw, 1e-2, 60);
    snprintf(what, sizeof what, "conv k%d s%d p%d%s: bias", c.k, c.s, c.p, c.qat ? " + trim" : "");
    fd_check(what, conv_loss, &c, c.b, db, c.O, 1e-2, 60);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(dx), free(dw), free(db), free(dy);
  }
}

/* ---- normalisation ----------------------------------------------------------------------- */

typedef struct {
  int B, C, HW, ln;
  float *x, *g, *b, *y, *r, *f;
} norm_ctx;

static double norm_loss(void *v) {
  norm_ctx *c = v;
  const int64_t n = (int64_t)c->B * c->C * c->HW;
  if (c->ln) {
    asim_layernorm_train_forward(c->y, c->f, c->f + c->B * c->HW, c->x, (int64_t)c->B * c->HW, c->C, c->g, c->b,
                                 1e-5f);
  } else {
    float *vu = malloc(sizeof(float) * (size_t)c->C);
    asim_batchnorm_train_forward(c->y, c->f, c->f + c->C, vu, NULL, c->x, c->B, c->C, c->HW, c->g, c->b, 1e-5f, NULL);
    free(vu);
  }
  return dot(c->r, c->y, n);
}

static void batchnorm_and_layernorm_backward_match(void) {
  for (int ln = 0; ln < 2; ln++) {
    norm_ctx c = {.B = 3, .C = ln ? 24 : 5, .HW = ln ? 4 : 6, .ln = ln};
    const int64_t n = (int64_t)c.B * c.C * c.HW;
    c.x = rnd(n, -2, 3), c.g = rnd(c.C, 0.5, 1.5), c.b = rnd(c.C, -1, 1), c.y = malloc(sizeof(float) * (size_t)n);
    c.r = rnd(n, -1, 1), c.f = malloc(sizeof(float) * (size_t)(2 * (c.B * c.HW + c.C)));
    float *dx = calloc((size_t)n, 4), *dg = calloc((size_t)c.C, 4), *db = calloc((size_t)c.C, 4);
    norm_loss(&c);
    if (ln) {
      asim_layernorm_backward(dx, dg, db, c.r, c.x, c.f, c.f + c.B * c.HW, c.g, (int64_t)c.B * c.HW, c.C);
    } else {
      float vu[8], mean[8], rstd[8];
      double N;
      asim_batchnorm_train_forward(c.y, mean, rstd, vu, &N, c.x, c.B, c.C, c.HW, c.g, c.b, 1e-5f, NULL);
      CU_ASSERT_DOUBLE_EQUAL(N, (double)c.B * c.HW, 0);
      asim_batchnorm_backward(dx, dg, db, c.r, c.x, mean, rstd, c.g, c.B, c.C, c.HW, N, NULL);
    }
    fd_check(ln ? "LayerNorm: input" : "BatchNorm (batch stats): input", norm_loss, &c, c.x, dx, n, 1e-3, 80);
    fd_check(ln ? "LayerNorm: weight" : "BatchNorm: weight", norm_loss, &c, c.g, dg, c.C, 1e-3, 80);
    fd_check(ln ? "LayerNorm: bias" : "BatchNorm: bias", norm_loss, &c, c.b, db, c.C, 1e-3, 80);
    free(c.x), free(c.g), free(c.b), free(c.y), free(c.r), free(c.f), free(dx), free(dg), free(db);
  }
}

static void batchnorm_running_statistics_follow_pytorch(void) {
  /* momentum 0.1, unbiased batch variance: values from torch.nn.BatchNorm2d on this input */
  const float x[8] = {1, 2, 3, 4, 10, 20, 30, 40}; /* B = 2, C = 1, HW = 4 */
  float y[8], mean, rstd, vu, rm = 0.0f, rv = 1.0f, g = 1.0f, b = 0.0f;
  double N;
  asim_batchnorm_train_forward(y, &mean, &rstd, &vu, &N, x, 2, 1, 4, &g, &b, 1e-5f, NULL);
  asim_batchnorm_update_running(&rm, &rv, &mean, &vu, 1, 0.1f);
  CU_ASSERT_DOUBLE_EQUAL(mean, 13.75, 1e-5);
  CU_ASSERT_DOUBLE_EQUAL(rm, 1.375, 1e-6);
  /* Σ(x − 13.75)² = 1517.5: unbiased variance 1517.5/7 for the running estimate, biased 1517.5/8 in rstd */
  CU_ASSERT_DOUBLE_EQUAL(rv, 0.9 + 0.1 * 1517.5 / 7.0, 1e-4);
  CU_ASSERT_DOUBLE_EQUAL(rstd, 1.0 / sqrt(1517.5 / 8.0 + 1e-5), 1e-7);
}

/* ---- element-wise, pooling, softmax, dropout, loss ---------------------------------------- */

typedef struct {
  int kind; /* 0 pact, 1 relu, 2 gelu, 3 maxpool, 4 avgpool 8->7, 5 global avgpool, 6 softmax, 7 dropout */
  int64_t n, ny;
  float *x, *y, *r, alpha;
  int32_t *idx;
} ew_ctx;

static double ew_loss(void *v) {
  ew_ctx *c = v;
  switch (c->kind) {
  case 0: asim_pact_forward(c->y, c->x, c->n, c->alpha); break;
  case 1: asim_relu_forward(c->y, c->x, c->n); break;
  case 2: asim_gelu_forward(c->y, c->x, c->n); break;
  case 3: asim_maxpool_train_forward(c->y, c->idx, c->x, 6, 8, 8, 3, 2, 1); break;
  case 4: asim_adaptive_avgpool_forward(c->y, c->x, 6, 8, 8, 7, 7); break;
  case 5: asim_adaptive_avgpool_forward(c->y, c->x, 6, 8, 8, 1, 1); break;
  case 6: asim_softmax_rows(c->y, c->x, 6, 64); break;
  case 7: asim_dropout_forward(c->y, c->x, c->n, 64, 0.3f, (asim_noise_key){3, 0x80000005u}, 17); break;
  }
  return dot(c->r, c->y, c->ny);
}

static void activation_pooling_softmax_dropout_backward_match(void) {
  const char *names[] = {"PACT: input", "ReLU", "GELU (erf)", "max-pool 3/2/1", "adaptive avg-pool 8->7",
                         "global avg-pool", "softmax", "dropout p=0.3"};
  for (int kind = 0; kind < 8; kind++) {
    ew_ctx c = {.kind = kind, .n = 6 * 64, .alpha = 1.3f};
    c.ny = kind == 3 ? 6 * 16 : kind == 4 ? 6 * 49 : kind == 5 ? 6 : c.n;
    c.x = rnd(c.n, -3, 3);
    /* keep the points away from the kinks (0, α) and from max-pool ties */
    for (int64_t i = 0; i < c.n; i++) {
      if (fabsf(c.x[i]) < 0.05f) c.x[i] += 0.1f;
      if (fabsf(c.x[i] - c.alpha) < 0.05f) c.x[i] += 0.1f;
    }
    c.y = malloc(sizeof(float) * (size_t)c.n), c.r = rnd(c.ny, -1, 1), c.idx = malloc(sizeof(int32_t) * 6 * 16);
    float *dx = calloc((size_t)c.n, 4), da = 0.0f;
    ew_loss(&c);
    switch (kind) {
    case 0: asim_pact_backward(dx, &da, c.r, c.x, c.n, c.alpha); break;
    case 1: asim_relu_backward(dx, c.r, c.x, c.n); break;
    case 2: asim_gelu_backward(dx, c.r, c.x, c.n); break;
    case 3: asim_maxpool_backward(dx, c.r, c.idx, 6, 8, 8, 4, 4); break;
    case 4: asim_adaptive_avgpool_backward(dx, c.r, 6, 8, 8, 7, 7); break;
    case 5: asim_adaptive_avgpool_backward(dx, c.r, 6, 8, 8, 1, 1); break;
    case 6: asim_softmax_backward(dx, c.r, c.y, 6, 64); break;
    case 7: asim_dropout_forward(dx, c.r, c.n, 64, 0.3f, (asim_noise_key){3, 0x80000005u}, 17); break;
    }
    fd_check(names[kind], ew_loss, &c, c.x, dx, c.n, 1e-3, 100);
    if (kind == 0) fd_check("PACT: alpha", ew_loss, &c, &c.alpha, &da, 1, 1e-3, 1);
    free(c.x), free(c.y), free(c.r), free(c.idx), free(dx);
  }
}

typedef struct {
  int B, K, mix;
  float *z, eps, lam;
  int *y, *y2;
} ce_ctx;

static double ce_loss(void *v) {
  ce_ctx *c = v;
  return asim_cross_entropy(NULL, NULL, c->z, c->y, c->mix ? c->y2 : NULL, c->lam, c->B, c->K, c->eps, 1.0f) / c->B;
}

static void cross_entropy_label_smoothing_mixup_backward_match(void) {
  for (int v = 0; v < 3; v++) {
    ce_ctx c = {.B = 4, .K = 10, .mix = v == 2, .eps = v ? 0.01f : 0.0f, .lam = 0.35f};
    int y[4] = {3, 0, 9, 3}, y2[4] = {1, 0, 2, 7};
    c.y = y, c.y2 = y2, c.z = rnd(40, -3, 3);
    float dz[40];
    asim_cross_entropy(dz, NULL, c.z, y, c.mix ? y2 : NULL, c.lam, c.B, c.K, c.eps, 1.0f / c.B);
    fd_check(v == 0 ? "cross-entropy" : v == 1 ? "cross-entropy, label smoothing 0.01" : "cross-entropy, smoothing + mixup",
             ce_loss, &c, c.z, dz, 40, 1e-3, 40);
    free(c.z);
  }
  /* ASiM's smoothing weights: 1 − ε on the label, ε/(K − 1) elsewhere; value check */
  float z[3] = {0.0f, 0.0f, 0.0f};
  int y = 1;
  double l = asim_cross_entropy(NULL, NULL, z, &y, NULL, 1.0f, 1, 3, 0.3f, 1.0f);
  CU_ASSERT_DOUBLE_EQUAL(l, log(3.0), 1e-9); /* uniform logits: every weighting gives log K */
  float z2[3] = {1.0f, 2.0f, 0.5f};
  l = asim_cross_entropy(NULL, NULL, z2, &y, NULL, 1.0f, 1, 3, 0.3f, 1.0f);
  double lse = log(exp(1.0) + exp(2.0) + exp(0.5));
  CU_ASSERT_DOUBLE_EQUAL(l, -(0.7 * (2.0 - lse) + 0.15 * (1.0 - lse) + 0.15 * (0.5 - lse)), 1e-6);
}

/* ---- attention ----------------------------------------------------------------------------- */

typedef struct {
  int B, T;
  asim_mha_dims a;
  float *x, *qw, *qb, *pw, *pb, *y, *r, drop;
  asim_exec ex;
} mha_ctx;

static double mha_loss(void *v) {
  mha_ctx *c = v;
  asim_mha_cache cache;
  asim_mha_train_forward(c->y, &cache, c->x, c->B, c->T, c->qw, c->qb, c->pw, c->pb, &c->a, c->drop, &c->ex, 0);
  asim_mha_cache_free(&cache);
  return dot(c->r, c->y, (int64_t)c->B * c->T * c->a.embed_dim);
}

static void attention_backward_matches(void) {
  mha_ctx c = {.B = 2, .T = 5, .drop = 0.2f, .ex = {.seed = 12, .sample0 = 3}};
  c.a = asim_model_settings_default().attn;
  c.a.embed_dim = 16, c.a.num_heads = 4, c.a.layer_id = 21;
  c.a.attn_trim_noise = 25.0f, c.a.proj_trim_noise = 15.0f;
  const int E = 16;
  const int64_t nx = (int64_t)c.B * c.T * E;
  c.x = rnd(nx, -1, 1), c.qw = rnd(3 * E * E, -0.5, 0.5), c.qb = rnd(3 * E, -0.2, 0.2);
  c.pw = rnd(E * E, -0.5, 0.5), c.pb = rnd(E, -0.2, 0.2), c.y = malloc(sizeof(float) * (size_t)nx), c.r = rnd(nx, -1, 1);
  float *dx = calloc((size_t)nx, 4), *dqw = calloc(3 * E * E, 4), *dqb = calloc(3 * E, 4), *dpw = calloc(E * E, 4),
        *dpb = calloc(E, 4);
  asim_mha_cache cache;
  CU_ASSERT_OK(asim_mha_train_forward(c.y, &cache, c.x, c.B, c.T, c.qw, c.qb, c.pw, c.pb, &c.a, c.drop, &c.ex, 0));
  CU_ASSERT_OK(asim_mha_backward(dx, dqw, dqb, dpw, dpb, c.r, c.x, c.B, c.T, c.qw, c.pw, &cache, &c.a, c.drop, &c.ex, 0));
  asim_mha_cache_free(&cache);
  fd_check("attention (trim, dropout): input", mha_loss, &c, c.x, dx, nx, 1e-3, 80);
  fd_check("attention: qkv weight", mha_loss, &c, c.qw, dqw, 3 * E * E, 1e-3, 80);
  fd_check("attention: qkv bias", mha_loss, &c, c.qb, dqb, 3 * E, 1e-3, 48);
  fd_check("attention: proj weight", mha_loss, &c, c.pw, dpw, E * E, 1e-3, 80);
  fd_check("attention: proj bias", mha_loss, &c, c.pb, dpb, E, 1e-3, 16);
  free(c.x), free(c.qw), free(c.qb), free(c.pw), free(c.pb), free(c.y), free(c.r);
  free(dx), free(dqw), free(dqb), free(dpw), free(dpb);
}

/* ---- whole networks: the op-list backward (residuals, stems, pools, tokens, dropout) -------- */

typedef struct {
  asim_model *m;
  asim_tape *t;
  float *x, *logits;
  int B, *labels;
  asim_train_exec tx;
} net_ctx;

static double net_loss(void *v) {
  net_ctx *c = v;
  /* BN running statistics change on every training forward; the loss does not depend on them */
  asim_train_forward(c->m, c->t, c->logits, c->x, c->B, &c->tx);
  return asim_cross_entropy(NULL, NULL, c->logits, c->labels, NULL, 1.0f, c->B, c->m->classes, 0.01f, 1.0f) / c->B;
}

static void network_check(const char *name, int size, int in_ch, int vit_layers, int training, int samples,
                          int per_tensor, int B) {
  asim_model m;
  asim_model_settings s = asim_model_settings_default();
  s.conv.mode = s.linear.mode = s.quant_conv.mode = ASIM_TRAIN;
  s.conv.trim_noise = 10.0f, s.linear.trim_noise = 10.0f;
  s.vit_mlp.trim_noise = 10.0f, s.attn.attn_trim_noise = 10.0f;
  CU_ASSERT_OK(asim_model_init(&m, name, 10, in_ch, size, &s, vit_layers));
  CU_ASSERT_OK(asim_model_init_random(&m, 7));
  /* A kink-free operating point: ReLU/PACT kinks and float32 rounding through a deep net make
   * finite differences of the whole network unreliable (errors of 1e-2 that shrink with the
   * step until rounding takes over). BatchNorm and VGG classifier biases of +20 keep every
   * ReLU/PACT input positive and α = 1e6 never clips, so the network is smooth (affine convs,
   * BatchNorm batch statistics, pooling, residual adds, LayerNorm, GELU, attention, dropout
   * masks fixed by their counters) and differences are accurate; the masks of the kinks
   * themselves are checked layer by layer above. */
  for (int i = 0; i < m.params.n; i++) {
    const char *nm = m.params.names[i], *leaf = strrchr(nm, '.');
    float *p = m.params.tensors[i].data;
    const int64_t n = asim_tensor_numel(&m.params.tensors[i]);
    if (!leaf || m.params.tensors[i].dtype != ASIM_F32) continue;
    char rm[160];
    snprintf(rm, sizeof rm, "%.*s.running_mean", (int)(leaf - nm), nm);
    const int bn_bias = !strcmp(leaf, ".bias") && asim_state_find(&m.params, rm);
    const int relu_linear_bias = !strcmp(nm, "classifier.0.bias") || !strcmp(nm, "classifier.3.bias");
    if (!strcmp(leaf, ".alpha")) p[0] = 1e6f;
    if (bn_bias || relu_linear_bias)
      for (int64_t j = 0; j < n; j++) p[j] = 20.0f;
  }
  net_ctx c = {.m = &m, .B = B, .tx = {.training = training, .fake_quant = 0, .ex = {.seed = 4, .sample0 = 100}}};
  int labels[3] = {1, 7, 3};
  c.labels = labels;
  const int64_t nx = (int64_t)c.B * in_ch * size * size;
  c.x = rnd(nx, -2, 2), c.logits = malloc(sizeof(float) * 30);
  CU_ASSERT_OK(asim_tape_new(&c.t));
  asim_grads g;
  CU_ASSERT_OK(asim_grads_init(&g, &m));
  float dl[30], *dx = malloc(sizeof(float) * (size_t)nx);
  CU_ASSERT_OK(asim_train_forward(&m, c.t, c.logits, c.x, c.B, &c.tx));
  asim_cross_entropy(dl, NULL, c.logits, labels, NULL, 1.0f, c.B, 10, 0.01f, 1.0f / c.B);
  CU_ASSERT_OK(asim_train_backward(&m, c.t, dl, &g, dx));
  /* directional derivatives: a per-coordinate check drowns in float32 noise for deep nets
   * (single gradients are ~1e-5), so compare g·v with (L(θ + hv) − L(θ − hv))/2h along random
   * ±1 directions v, for the input and for all parameters at once; the best of three step sizes
   * (truncation vs rounding) is reported */
  char what[128];
  float *v = malloc(sizeof(float) * (size_t)nx), *x0 = malloc(sizeof(float) * (size_t)nx);
  memcpy(x0, c.x, sizeof(float) * (size_t)nx);
  for (int rep = 0; rep < samples; rep++) {
    double ana = 0.0, best = 1e30;
    for (int64_t i = 0; i < nx; i++) v[i] = urand() < 0.5 ? -1.0f : 1.0f, ana += (double)v[i] * dx[i];
    for (double h = 1e-2; h >= 1e-3; h /= 10) {
      for (int64_t i = 0; i < nx; i++) c.x[i] = (float)(x0[i] + h * v[i]);
      const double up = net_loss(&c);
      for (int64_t i = 0; i < nx; i++) c.x[i] = (float)(x0[i] - h * v[i]);
      const double dn = net_loss(&c);
      const double fd = (up - dn) / (2 * h);
      best = fmin(best, fabs(fd - ana) / fmax(fabs(fd), 1e-12));
    }
    memcpy(c.x, x0, sizeof(float) * (size_t)nx);
    snprintf(what, sizeof what, "%s%s: d/d input", name, training ? " (train)" : " (eval)");
    printf("\n    %-40s rel. error %.2e", what, best);
    CU_ASSERT(best <= TOL);
  }
  /* all trainable parameters along one direction (scaled by max(|θ|, 0.01) per tensor) */
  for (int rep = 0; rep < per_tensor; rep++) {
    double ana = 0.0, best = 1e30;
    float **save = calloc((size_t)g.g.n, sizeof(float *)), **dir = calloc((size_t)g.g.n, sizeof(float *));
    for (int i = 0; i < g.g.n; i++) {
      const int64_t n = asim_tensor_numel(&g.g.tensors[i]);
      float *p = m.params.tensors[g.pidx[i]].data, *a = g.g.tensors[i].data;
      save[i] = malloc(sizeof(float) * (size_t)n), dir[i] = malloc(sizeof(float) * (size_t)n);
      memcpy(save[i], p, sizeof(float) * (size_t)n);
      float sc = 0.0f;
      for (int64_t j = 0; j < n; j++) sc = fmaxf(sc, fabsf(p[j]));
      sc = fmaxf(sc, 0.01f);
      for (int64_t j = 0; j < n; j++) dir[i][j] = (urand() < 0.5 ? -sc : sc), ana += (double)dir[i][j] * a[j];
    }
    for (double h = 1e-2; h >= 1e-3; h /= 10) {
      double lv[2];
      for (int sgn = 0; sgn < 2; sgn++) {
        for (int i = 0; i < g.g.n; i++) {
          const int64_t n = asim_tensor_numel(&g.g.tensors[i]);
          float *p = m.params.tensors[g.pidx[i]].data;
          for (int64_t j = 0; j < n; j++) p[j] = (float)(save[i][j] + (sgn ? -h : h) * dir[i][j]);
        }
        lv[sgn] = net_loss(&c);
      }
      const double fd = (lv[0] - lv[1]) / (2 * h);
      best = fmin(best, fabs(fd - ana) / fmax(fabs(fd), 1e-12));
    }
    for (int i = 0; i < g.g.n; i++) {
      memcpy(m.params.tensors[g.pidx[i]].data, save[i], sizeof(float) * (size_t)asim_tensor_numel(&g.g.tensors[i]));
      free(save[i]), free(dir[i]);
    }
    free(save), free(dir);
    printf("\n    %-40s rel. error %.2e (%d tensors)", name, best, g.g.n);
    CU_ASSERT(best <= TOL);
  }
  free(v), free(x0);
  asim_grads_free(&g);
  asim_tape_free(c.t);
  free(c.x), free(c.logits), free(dx);
  asim_model_free(&m);
}

/* A whole network by directional differences where float32 allows it: a one-block ViT (smooth).
 * ResNets and VGGs carry max-pool and ReLU/PACT kinks and float32 rounding through many layers,
 * which finite differences cannot resolve to 1e-3; every architecture is compared with PyTorch
 * autograd in float64 instead (test_training_matches_pytorch.c). */
static void vit_backward_matches(void) { network_check("ViT-B-32", 64, 3, 1, 1, 2, 2, 2); }

void asim_register_tests(void) {
  ASIM_ADD_SUITE(gradients);
  ASIM_ADD_TEST(gradients, linear_backward_matches);
  ASIM_ADD_TEST(gradients, conv_backward_matches);
  ASIM_ADD_TEST(gradients, batchnorm_and_layernorm_backward_match);
  ASIM_ADD_TEST(gradients, batchnorm_running_statistics_follow_pytorch);
  ASIM_ADD_TEST(gradients, activation_pooling_softmax_dropout_backward_match);
  ASIM_ADD_TEST(gradients, cross_entropy_label_smoothing_mixup_backward_match);
  ASIM_ADD_TEST(gradients, attention_backward_matches);
  ASIM_ADD_TEST(gradients, vit_backward_matches);
}
