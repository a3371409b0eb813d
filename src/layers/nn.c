#include "asim/nn.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "asim/conv.h"

void asim_batchnorm_forward(float *y, const float *x, int B, int C, int64_t HW, const float *gamma,
                            const float *beta, const float *mean, const float *var, float eps) {
  for (int c = 0; c < C; c++) {
    /* PyTorch's CPU kernel folds BN into one multiply-add per element */
    float inv = 1.0f / sqrtf(var[c] + eps);
    float a = inv * gamma[c];
    float s = beta[c] - mean[c] * a;
    for (int b = 0; b < B; b++) {
      const float *xr = x + ((int64_t)b * C + c) * HW;
      float *yr = y + ((int64_t)b * C + c) * HW;
      for (int64_t i = 0; i < HW; i++) yr[i] = fmaf(xr[i], a, s);
    }
  }
}

void asim_pact_forward(float *y, const float *x, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i] < 0.0f ? 0.0f : x[i];
    y[i] = v > alpha ? alpha : v;
  }
}

void asim_relu_forward(float *y, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void asim_add_inplace(float *y, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

void asim_maxpool_forward(float *y, const float *x, int BC, int H, int W, int k, int stride, int pad) {
  const int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  for (int p = 0; p < BC; p++) {
    const float *xp = x + (int64_t)p * H * W;
    float *yp = y + (int64_t)p * Ho * Wo;
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        float m = -INFINITY;
        for (int u = 0; u < k; u++) {
          int iy = oy * stride - pad + u;
          if (iy < 0 || iy >= H) continue;
          for (int v = 0; v < k; v++) {
            int ix = ox * stride - pad + v;
            if (ix < 0 || ix >= W) continue;
            float t = xp[iy * W + ix];
            if (t > m || isnan(t)) m = t;
          }
        }
        yp[oy * Wo + ox] = m;
      }
  }
}

void asim_adaptive_avgpool_forward(float *y, const float *x, int BC, int H, int W, int OH, int OW) {
  for (int p = 0; p < BC; p++) {
    const float *xp = x + (int64_t)p * H * W;
    for (int oy = 0; oy < OH; oy++) {
      int y0 = (oy * H) / OH, y1 = ((oy + 1) * H + OH - 1) / OH;
      for (int ox = 0; ox < OW; ox++) {
        int x0 = (ox * W) / OW, x1 = ((ox + 1) * W + OW - 1) / OW;
        float s = 0.0f;
        for (int iy = y0; iy < y1; iy++)
          for (int ix = x0; ix < x1; ix++) s += xp[iy * W + ix];
        y[((int64_t)p * OH + oy) * OW + ox] = s / (float)((y1 - y0) * (x1 - x0));
      }
    }
  }
}

void asim_layernorm_forward(float *y, const float *x, int64_t rows, int n, const float *gamma,
                            const float *beta, float eps) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    /* mean and biased variance accumulated in double, then rounded once */
    double s = 0.0, s2 = 0.0;
    for (int i = 0; i < n; i++) s += xr[i];
    double mean = s / n;
    for (int i = 0; i < n; i++) s2 += (xr[i] - mean) * (xr[i] - mean);
    float m = (float)mean, rstd = (float)(1.0 / sqrt(s2 / n + (double)eps));
    for (int i = 0; i < n; i++) yr[i] = (xr[i] - m) * rstd * gamma[i] + beta[i];
  }
}

void asim_gelu_forward(float *y, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

asim_status asim_conv2d_float(float *out, const float *in, int B, int C, int H, int W, const float *w, const float *bias,
                      int O, int k, int stride, int pad) {
  const int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  const int64_t K = (int64_t)C * k * k, P = (int64_t)Ho * Wo;
  float *cols;
  ASIM_CHECK(asim_malloc(&cols, sizeof(float) * (size_t)(P * K)));
  for (int b = 0; b < B; b++) {
    float *y = out + (int64_t)b * O * P;
    asim_im2col32(cols, in + (int64_t)b * C * H * W, C, H, W, k, stride, pad);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, (int)P, (int)K, 1.0f, w, (int)K, cols, (int)K, 0.0f, y,
                (int)P);
    if (bias)
      for (int o = 0; o < O; o++)
        for (int64_t p = 0; p < P; p++) y[o * P + p] += bias[o];
  }
  free(cols);
  return ASIM_OK;
}
