/* Backward passes of every layer the 18 networks use (grad.h). */
#include "asim/grad.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- fake quantisers and trim noise ------------------------------------------------------ */

void asim_fake_quantize_backward(float *dx, const float *dy, const float *x, int64_t n, int is_signed) {
  if (is_signed) {
    /* d|x|/dx·sgn(x) with the sign detached: sgn(x)² = 1 for x != 0, 0 at x == 0 */
    for (int64_t i = 0; i < n; i++) dx[i] = x[i] != 0.0f ? dy[i] : 0.0f;
  } else if (dx != dy) {
    memcpy(dx, dy, sizeof(float) * (size_t)n);
  }
}

/* ξ·σ of element e, drawn exactly as asim_trim_noise draws it (cim.c): counter (sample,
 * element within the sample, cycle 0xffffffff, stream TRIM). */
static inline float trim_term(asim_noise_key key, int64_t sample0, int64_t e, int64_t per_sample, float sigma) {
  float z, unused;
  const int64_t s = e / per_sample;
  asim_normal2(key, (uint64_t)(sample0 + s), (uint32_t)(e - s * per_sample), 0xffffffffu, ASIM_STREAM_TRIM, &z,
               &unused);
  return z * sigma;
}

void asim_trim_noise_forward(float *y, int64_t n, int64_t per_sample, float pct, asim_noise_key key,
                             int64_t sample0) {
  if (pct == 0.0f) return;
  const float sigma = pct / 100.0f;
  for (int64_t e = 0; e < n; e++) y[e] = y[e] + trim_term(key, sample0, e, per_sample, sigma) * y[e];
}

void asim_trim_noise_terms(float *t, int64_t n, int64_t per_sample, float pct, asim_noise_key key, int64_t sample0) {
  const float sigma = pct / 100.0f;
  for (int64_t e = 0; e < n; e++) t[e] = trim_term(key, sample0, e, per_sample, sigma);
}

void asim_trim_noise_backward(float *dy, int64_t n, int64_t per_sample, float pct, asim_noise_key key,
                              int64_t sample0) {
  if (pct == 0.0f) return;
  const float sigma = pct / 100.0f;
  for (int64_t e = 0; e < n; e++) dy[e] *= 1.0f + trim_term(key, sample0, e, per_sample, sigma);
}

float asim_macro_noise_strength(uint32_t seed, int64_t sample, float mix) {
  if (mix <= 0.0f) return 1.0f;
  /* one draw per (seed, sample) — the layer id is fixed — so a sample sees one chip everywhere */
  float u[4];
  asim_uniform4((asim_noise_key){seed, 0x7fffffffu}, (uint32_t)(uint64_t)sample, (uint32_t)((uint64_t)sample >> 32), 0,
                ASIM_STREAM_MACRO_TRAIN, u);
  return u[0] < mix ? 0.0f : u[1];
}

void asim_macro_noise_forward(float *y, int64_t n, int64_t per_sample, float sigma, float mix, asim_noise_key key,
                              int64_t sample0) {
  if (sigma == 0.0f) return;
  for (int64_t e = 0; e < n; e++) {
    float z, unused;
    const int64_t s = e / per_sample;
    asim_normal2(key, (uint64_t)(sample0 + s), (uint32_t)(e - s * per_sample), 0xffffffffu, ASIM_STREAM_MACRO_TRAIN,
                 &z, &unused);
    y[e] += z * sigma * asim_macro_noise_strength(key.seed, sample0 + s, mix);
  }
}

/* ---- convolution ------------------------------------------------------------------------- */

/* cols[(c·k + u)·k + v][off + p] = x[c][oy·s − pad + u][ox·s − pad + v] (zero outside), row
 * stride ld: the (K × P) layout, so a chunk of samples sits side by side for one sgemm. */
static void im2col_kp(float *cols, int64_t ld, int64_t off, const float *x, int C, int H, int W, int k, int stride,
                      int pad, int Ho, int Wo) {
  for (int c = 0; c < C; c++)
    for (int u = 0; u < k; u++)
      for (int v = 0; v < k; v++) {
        float *dst = cols + ((int64_t)(c * k + u) * k + v) * ld + off;
        const float *xc = x + (int64_t)c * H * W;
        for (int oy = 0; oy < Ho; oy++) {
          const int iy = oy * stride - pad + u;
          float *d = dst + (int64_t)oy * Wo;
          if (iy < 0 || iy >= H) {
            memset(d, 0, sizeof(float) * (size_t)Wo);
            continue;
          }
          const float *xr = xc + (int64_t)iy * W;
          if (stride == 1) {
            for (int ox = 0; ox < Wo; ox++) {
              const int ix = ox - pad + v;
              d[ox] = (ix >= 0 && ix < W) ? xr[ix] : 0.0f;
            }
          } else {
            for (int ox = 0; ox < Wo; ox++) {
              const int ix = ox * stride - pad + v;
              d[ox] = (ix >= 0 && ix < W) ? xr[ix] : 0.0f;
            }
          }
        }
      }
}

/* The adjoint of im2col_kp: dx[c][iy][ix] += dcols[row][off + p]. */
static void col2im_kp(float *dx, const float *cols, int64_t ld, int64_t off, int C, int H, int W, int k, int stride,
                      int pad, int Ho, int Wo) {
  for (int c = 0; c < C; c++)
    for (int u = 0; u < k; u++)
      for (int v = 0; v < k; v++) {
        const float *src = cols + ((int64_t)(c * k + u) * k + v) * ld + off;
        float *xc = dx + (int64_t)c * H * W;
        for (int oy = 0; oy < Ho; oy++) {
          const int iy = oy * stride - pad + u;
          if (iy < 0 || iy >= H) continue;
          const float *s = src + (int64_t)oy * Wo;
          float *xr = xc + (int64_t)iy * W;
          for (int ox = 0; ox < Wo; ox++) {
            const int ix = ox * stride - pad + v;
            if (ix >= 0 && ix < W) xr[ix] += s[ox];
          }
        }
      }
}

/* Samples per sgemm chunk: the column buffer stays below ~16M floats. */
static int conv_chunk(int B, int64_t K, int64_t P) {
  int64_t nb = (int64_t)(16 << 20) / (K * P > 0 ? K * P : 1);
  if (nb < 1) nb = 1;
  return nb > B ? B : (int)nb;
}

asim_status asim_conv2d_train_forward(float *out, const float *x, int B, int C, int H, int W, const float *w,
                                      const float *bias, int O, int k, int stride, int pad) {
  const int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  if (B < 1 || Ho < 1 || Wo < 1)
    return ASIM_ERR(ASIM_ESHAPE, "conv: input %dx%dx%dx%d too small for kernel %d, stride %d, padding %d", B, C, H,
                    W, k, stride, pad);
  const int64_t K = (int64_t)C * k * k, P = (int64_t)Ho * Wo;
  const int nb = conv_chunk(B, K, P);
  float *cols = NULL, *tmp = NULL;
  asim_status st = ASIM_OK;
  ASIM_CHECK_GOTO(st, asim_malloc(&cols, sizeof(float) * (size_t)(K * P * nb)), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&tmp, sizeof(float) * (size_t)(O * P * nb)), done);
  for (int b0 = 0; b0 < B; b0 += nb) {
    const int n = B - b0 < nb ? B - b0 : nb;
    const int64_t ld = (int64_t)n * P;
    for (int j = 0; j < n; j++)
      im2col_kp(cols, ld, j * P, x + (int64_t)(b0 + j) * C * H * W, C, H, W, k, stride, pad, Ho, Wo);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, (int)ld, (int)K, 1.0f, w, (int)K, cols, (int)ld, 0.0f,
                tmp, (int)ld);
    for (int j = 0; j < n; j++)
      for (int o = 0; o < O; o++) {
        float *yo = out + ((int64_t)(b0 + j) * O + o) * P;
        const float *t = tmp + (int64_t)o * ld + j * P;
        const float bo = bias ? bias[o] : 0.0f;
        for (int64_t p = 0; p < P; p++) yo[p] = t[p] + bo;
      }
  }
done:
  free(cols);
  free(tmp);
  return st;
}

asim_status asim_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                                 int B, int C, int H, int W, int O, int k, int stride, int pad) {
  const int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  const int64_t K = (int64_t)C * k * k, P = (int64_t)Ho * Wo;
  const int nb = conv_chunk(B, K, P);
  float *cols = NULL, *dyr = NULL;
  asim_status st = ASIM_OK;
  ASIM_CHECK_GOTO(st, asim_malloc(&cols, sizeof(float) * (size_t)(K * P * nb)), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&dyr, sizeof(float) * (size_t)(O * P * nb)), done);
  if (dx) memset(dx, 0, sizeof(float) * (size_t)B * C * H * W);
  for (int b0 = 0; b0 < B; b0 += nb) {
    const int n = B - b0 < nb ? B - b0 : nb;
    const int64_t ld = (int64_t)n * P;
    /* dy of the chunk as (O × n·P) */
    for (int j = 0; j < n; j++)
      for (int o = 0; o < O; o++)
        memcpy(dyr + (int64_t)o * ld + j * P, dy + ((int64_t)(b0 + j) * O + o) * P, sizeof(float) * (size_t)P);
    if (db)
      for (int o = 0; o < O; o++) {
        double s = 0.0;
        for (int64_t p = 0; p < ld; p++) s += dyr[(int64_t)o * ld + p];
        db[o] += (float)s;
      }
    if (dw) {
      for (int j = 0; j < n; j++)
        im2col_kp(cols, ld, j * P, x + (int64_t)(b0 + j) * C * H * W, C, H, W, k, stride, pad, Ho, Wo);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, (int)K, (int)ld, 1.0f, dyr, (int)ld, cols, (int)ld,
                  1.0f, dw, (int)K);
    }
    if (dx) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)ld, O, 1.0f, w, (int)K, dyr, (int)ld, 0.0f,
                  cols, (int)ld);
      for (int j = 0; j < n; j++)
        col2im_kp(dx + (int64_t)(b0 + j) * C * H * W, cols, ld, j * P, C, H, W, k, stride, pad, Ho, Wo);
    }
  }
done:
  free(cols);
  free(dyr);
  return st;
}

/* ---- linear ------------------------------------------------------------------------------ */

void asim_linear_train_forward(float *out, const float *x, const float *w, const float *bias, int64_t R, int K, int O) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, O, K, 1.0f, x, K, w, K, 0.0f, out, O);
  if (bias)
    for (int64_t r = 0; r < R; r++)
      for (int o = 0; o < O; o++) out[r * O + o] += bias[o];
}

void asim_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int64_t R,
                          int K, int O) {
  if (dw) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, K, (int)R, 1.0f, dy, O, x, K, 1.0f, dw, K);
  if (db)
    for (int o = 0; o < O; o++) {
      double s = 0.0;
      for (int64_t r = 0; r < R; r++) s += dy[r * O + o];
      db[o] += (float)s;
    }
  if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, K, O, 1.0f, dy, O, w, K, 0.0f, dx, K);
}

/* ---- BatchNorm ----------------------------------------------------------------------------- */

static void reduce_sum(const asim_reduce *r, double *v, int n) {
  if (r && r->sum) r->sum(v, n, r->arg);
}

void asim_batchnorm_train_forward(float *y, float *mean, float *rstd, float *var_unbiased, double *n_total,
                                  const float *x, int B, int C, int64_t HW, const float *gamma, const float *beta,
                                  float eps, const asim_reduce *r) {
  double *acc = malloc(sizeof(double) * (size_t)(C + 1));
  double stack_acc[65];
  if (!acc && C + 1 <= 65) acc = stack_acc;
  /* two passes (mean, then centred squares), each summed over ranks: no cancellation */
  for (int c = 0; c < C; c++) {
    double s = 0.0;
    for (int b = 0; b < B; b++) {
      const float *xr = x + ((int64_t)b * C + c) * HW;
      for (int64_t i = 0; i < HW; i++) s += xr[i];
    }
    acc[c] = s;
  }
  acc[C] = (double)B * (double)HW;
  reduce_sum(r, acc, C + 1);
  const double N = acc[C];
  double *dmean = malloc(sizeof(double) * (size_t)C);
  for (int c = 0; c < C; c++) {
    double m = acc[c] / N;
    if (dmean) dmean[c] = m;
    mean[c] = (float)m;
  }
  for (int c = 0; c < C; c++) {
    const double m = dmean ? dmean[c] : mean[c];
    double s = 0.0;
    for (int b = 0; b < B; b++) {
      const float *xr = x + ((int64_t)b * C + c) * HW;
      for (int64_t i = 0; i < HW; i++) s += (xr[i] - m) * (xr[i] - m);
    }
    acc[c] = s;
  }
  reduce_sum(r, acc, C);
  for (int c = 0; c < C; c++) {
    const double var = acc[c] / N;
    rstd[c] = (float)(1.0 / sqrt(var + (double)eps));
    var_unbiased[c] = (float)(N > 1 ? acc[c] / (N - 1) : var);
    const float a = rstd[c] * gamma[c], m = mean[c];
    for (int b = 0; b < B; b++) {
      const float *xr = x + ((int64_t)b * C + c) * HW;
      float *yr = y + ((int64_t)b * C + c) * HW;
      for (int64_t i = 0; i < HW; i++) yr[i] = (xr[i] - m) * a + beta[c];
    }
  }
  if (n_total) *n_total = N;
  free(dmean);
  if (acc != stack_acc) free(acc);
}

void asim_batchnorm_update_running(float *running_mean, float *running_var, const float *mean,
                                   const float *var_unbiased, int C, float momentum) {
  for (int c = 0; c < C; c++) {
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * var_unbiased[c];
  }
}

void asim_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *mean, const float *rstd, const float *gamma, int B, int C, int64_t HW,
                             double n_total, const asim_reduce *r) {
  double *acc = malloc(sizeof(double) * (size_t)(2 * C));
  double stack_acc[128];
  if (!acc && 2 * C <= 128) acc = stack_acc;
  for (int c = 0; c < C; c++) {
    double s1 = 0.0, s2 = 0.0;
    for (int b = 0; b < B; b++) {
      const float *xr = x + ((int64_t)b * C + c) * HW, *gr = dy + ((int64_t)b * C + c) * HW;
      for (int64_t i = 0; i < HW; i++) {
        s1 += gr[i];
        s2 += (double)gr[i] * ((xr[i] - mean[c]) * rstd[c]);
      }
    }
    acc[c] = s1, acc[C + c] = s2;
    if (dbeta) dbeta[c] += (float)s1;
    if (dgamma) dgamma[c] += (float)s2;
  }
  if (dx) {
    reduce_sum(r, acc, 2 * C);
    for (int c = 0; c < C; c++) {
      const float g1 = (float)(acc[c] / n_total), g2 = (float)(acc[C + c] / n_total);
      const float a = rstd[c] * gamma[c];
      for (int b = 0; b < B; b++) {
        const float *xr = x + ((int64_t)b * C + c) * HW, *gr = dy + ((int64_t)b * C + c) * HW;
        float *dr = dx + ((int64_t)b * C + c) * HW;
        for (int64_t i = 0; i < HW; i++) {
          const float xhat = (xr[i] - mean[c]) * rstd[c];
          dr[i] = a * (gr[i] - g1 - xhat * g2);
        }
      }
    }
  }
  if (acc != stack_acc) free(acc);
}

/* ---- LayerNorm --------------------------------------------------------------------------- */

void asim_layernorm_train_forward(float *y, float *mean, float *rstd, const float *x, int64_t rows, int n,
                                  const float *gamma, const float *beta, float eps) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    double s = 0.0, s2 = 0.0;
    for (int i = 0; i < n; i++) s += xr[i];
    const double mu = s / n;
    for (int i = 0; i < n; i++) s2 += (xr[i] - mu) * (xr[i] - mu);
    const float m = (float)mu, rs = (float)(1.0 / sqrt(s2 / n + (double)eps));
    for (int i = 0; i < n; i++) yr[i] = (xr[i] - m) * rs * gamma[i] + beta[i];
    mean[r] = m, rstd[r] = rs;
  }
}

void asim_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *mean, const float *rstd, const float *gamma, int64_t rows, int n) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n, *gr = dy + r * n;
    double s1 = 0.0, s2 = 0.0;
    for (int i = 0; i < n; i++) {
      const float xhat = (xr[i] - mean[r]) * rstd[r], dxhat = gr[i] * gamma[i];
      s1 += dxhat;
      s2 += (double)dxhat * xhat;
      if (dgamma) dgamma[i] += gr[i] * xhat;
      if (dbeta) dbeta[i] += gr[i];
    }
    if (dx) {
      const float m1 = (float)(s1 / n), m2 = (float)(s2 / n);
      float *dr = dx + r * n;
      for (int i = 0; i < n; i++) {
        const float xhat = (xr[i] - mean[r]) * rstd[r];
        dr[i] = rstd[r] * (gr[i] * gamma[i] - m1 - xhat * m2);
      }
    }
  }
}

/* ---- activations, pooling -------------------------------------------------------------------- */

void asim_pact_backward(float *dx, float *dalpha, const float *dy, const float *x, int64_t n, float alpha) {
  double da = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i], g = dy[i];
    if (v > alpha) da += g;
    dx[i] = (v >= 0.0f && v <= alpha) ? g : 0.0f;
  }
  if (dalpha) *dalpha += (float)da;
}

void asim_relu_backward(float *dx, const float *dy, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

void asim_gelu_backward(float *dx, const float *dy, const float *x, int64_t n) {
  const float inv_sqrt_2pi = 0.3989422804014327f;
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
    const float pdf = inv_sqrt_2pi * expf(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

void asim_maxpool_train_forward(float *y, int32_t *argmax, const float *x, int BC, int H, int W, int k, int stride,
                                int pad) {
  const int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  for (int p = 0; p < BC; p++) {
    const float *xp = x + (int64_t)p * H * W;
    float *yp = y + (int64_t)p * Ho * Wo;
    int32_t *ap = argmax + (int64_t)p * Ho * Wo;
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        float m = -INFINITY;
        int32_t best = -1;
        for (int u = 0; u < k; u++) {
          const int iy = oy * stride - pad + u;
          if (iy < 0 || iy >= H) continue;
          for (int v = 0; v < k; v++) {
            const int ix = ox * stride - pad + v;
            if (ix < 0 || ix >= W) continue;
            const float t = xp[iy * W + ix];
            if (t > m || isnan(t) || best < 0) m = t, best = iy * W + ix; /* same winner as the inference kernel */
          }
        }
        yp[oy * Wo + ox] = m;
        ap[oy * Wo + ox] = best;
      }
  }
}

void asim_maxpool_backward(float *dx, const float *dy, const int32_t *argmax, int BC, int H, int W, int Ho, int Wo) {
  memset(dx, 0, sizeof(float) * (size_t)BC * H * W);
  for (int p = 0; p < BC; p++) {
    float *dp = dx + (int64_t)p * H * W;
    const float *gp = dy + (int64_t)p * Ho * Wo;
    const int32_t *ap = argmax + (int64_t)p * Ho * Wo;
    for (int i = 0; i < Ho * Wo; i++)
      if (ap[i] >= 0) dp[ap[i]] += gp[i];
  }
}

void asim_adaptive_avgpool_backward(float *dx, const float *dy, int BC, int H, int W, int OH, int OW) {
  memset(dx, 0, sizeof(float) * (size_t)BC * H * W);
  for (int p = 0; p < BC; p++) {
    float *dp = dx + (int64_t)p * H * W;
    for (int oy = 0; oy < OH; oy++) {
      const int y0 = (oy * H) / OH, y1 = ((oy + 1) * H + OH - 1) / OH;
      for (int ox = 0; ox < OW; ox++) {
        const int x0 = (ox * W) / OW, x1 = ((ox + 1) * W + OW - 1) / OW;
        const float g = dy[((int64_t)p * OH + oy) * OW + ox] / (float)((y1 - y0) * (x1 - x0));
        for (int iy = y0; iy < y1; iy++)
          for (int ix = x0; ix < x1; ix++) dp[iy * W + ix] += g;
      }
    }
  }
}

void asim_softmax_backward(float *dx, const float *dy, const float *y, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; r++) {
    const float *gr = dy + r * n, *yr = y + r * n;
    float *dr = dx + r * n;
    double dot = 0.0;
    for (int64_t i = 0; i < n; i++) dot += (double)gr[i] * yr[i];
    const float d = (float)dot;
    for (int64_t i = 0; i < n; i++) dr[i] = yr[i] * (gr[i] - d);
  }
}

/* ---- dropout ------------------------------------------------------------------------------- */

void asim_dropout_forward(float *y, const float *x, int64_t n, int64_t per_sample, float p, asim_noise_key key,
                          int64_t sample0) {
  if (p <= 0.0f) {
    if (y != x) memmove(y, x, sizeof(float) * (size_t)n);
    return;
  }
  const float scale = 1.0f / (1.0f - p);
  for (int64_t s0 = 0; s0 < n; s0 += per_sample) {
    const uint64_t sample = (uint64_t)(sample0 + s0 / per_sample);
    const int64_t len = n - s0 < per_sample ? n - s0 : per_sample;
    for (int64_t j = 0; j < len; j += 4) {
      float u[4];
      asim_uniform4(key, (uint32_t)(j / 4), (uint32_t)sample, (uint32_t)(sample >> 32), 0xd40u, u);
      for (int t = 0; t < 4 && j + t < len; t++) {
        const int64_t e = s0 + j + t;
        y[e] = u[t] >= p ? x[e] * scale : 0.0f;
      }
    }
  }
}

/* ---- losses -------------------------------------------------------------------------------- */

double asim_cross_entropy(float *dlogits, double *loss_per_sample, const float *logits, const int *labels,
                          const int *labels2, float lam, int B, int K, float smooth_eps, float scale) {
  const double off = K > 1 ? (double)smooth_eps / (K - 1) : 0.0, on = 1.0 - (double)smooth_eps;
  double total = 0.0;
  for (int b = 0; b < B; b++) {
    const float *z = logits + (int64_t)b * K;
    double mx = z[0];
    for (int i = 1; i < K; i++)
      if (z[i] > mx) mx = z[i];
    double se = 0.0;
    for (int i = 0; i < K; i++) se += exp((double)z[i] - mx);
    const double lse = mx + log(se);
    double loss = 0.0;
    for (int i = 0; i < K; i++) {
      double t = i == labels[b] ? on : off;
      if (labels2) t = (double)lam * t + (1.0 - (double)lam) * (i == labels2[b] ? on : off);
      const double logp = (double)z[i] - lse;
      loss -= t * logp;
      if (dlogits) dlogits[(int64_t)b * K + i] = (float)(scale * (exp(logp) - t));
    }
    if (loss_per_sample) loss_per_sample[b] = loss;
    total += loss;
  }
  return total;
}
