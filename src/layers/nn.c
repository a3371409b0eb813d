#include "asim/nn.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/conv.h"

void asim_batchnorm_forward(float *y, const float *x, int B, int C, int64_t HW, const float *gamma,
                            const float *beta, const float *mean, const float *var, float eps) {
  for (int c = 0; c < C; c++) {
    /* PyTorch's CPU kernel folds BN into one multiply-add per element; its AVX2 build contracts
     * both the constant term and the per-element step into FMAs (bit-exact with this form) */
    float inv = 1.0f / sqrtf(var[c] + eps);
    float a = inv * gamma[c];
    float s = fmaf(-mean[c], a, beta[c]);
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

/* PyTorch's float sum of a contiguous row (ATen SumKernel, AVX2 build): 8-lane vector
 * accumulators in four interleaved rows with cascade levels, the scalar tail, then the lanes
 * in order. Reproducing it makes global average pooling bit-exact, which matters because its
 * output is quantised by the classifier. `lanes` items of `w` floats each. */
static void row_sum(float *out, const float *x, int64_t n_items, int w) {
  enum { ILP = 4, LEVELS = 4 };
  float acc[LEVELS][ILP][8];
  memset(acc, 0, sizeof acc);
  const int64_t rows = n_items / ILP;
  int log2 = 0;
  while (((int64_t)1 << log2) < rows) log2++;
  const int power = log2 / LEVELS > 4 ? log2 / LEVELS : 4;
  const int64_t step = (int64_t)1 << power, mask = step - 1;
  int64_t i = 0;
  while (i + step <= rows) {
    for (int64_t j = 0; j < step; j++, i++)
      for (int k = 0; k < ILP; k++)
        for (int l = 0; l < w; l++) acc[0][k][l] += x[(i * ILP + k) * w + l];
    for (int j = 1; j < LEVELS; j++) {
      for (int k = 0; k < ILP; k++)
        for (int l = 0; l < w; l++) acc[j][k][l] += acc[j - 1][k][l], acc[j - 1][k][l] = 0.0f;
      if (i & (mask << (j * power))) break;
    }
  }
  for (; i < rows; i++)
    for (int k = 0; k < ILP; k++)
      for (int l = 0; l < w; l++) acc[0][k][l] += x[(i * ILP + k) * w + l];
  for (int j = 1; j < LEVELS; j++)
    for (int k = 0; k < ILP; k++)
      for (int l = 0; l < w; l++) acc[0][k][l] += acc[j][k][l];
  for (int64_t r = rows * ILP; r < n_items; r++)
    for (int l = 0; l < w; l++) acc[0][0][l] += x[r * w + l];
  for (int k = 1; k < ILP; k++)
    for (int l = 0; l < w; l++) acc[0][0][l] += acc[0][k][l];
  memcpy(out, acc[0][0], sizeof(float) * (size_t)w);
}

static float torch_sum(const float *x, int64_t n) {
  float v[8];
  if (n < 8) {
    row_sum(v, x, n, 1);
    return v[0];
  }
  const int64_t nv = n / 8;
  row_sum(v, x, nv, 8);
  float s = 0.0f;
  for (int64_t k = nv * 8; k < n; k++) s += x[k];
  for (int l = 0; l < 8; l++) s += v[l];
  return s;
}

void asim_adaptive_avgpool_forward(float *y, const float *x, int BC, int H, int W, int OH, int OW) {
  for (int p = 0; p < BC; p++) {
    const float *xp = x + (int64_t)p * H * W;
    if (OH == 1 && OW == 1) { /* PyTorch computes this case as a mean */
      y[p] = torch_sum(xp, (int64_t)H * W) / (float)((int64_t)H * W);
      continue;
    }
    for (int oy = 0; oy < OH; oy++) {
      int y0 = (oy * H) / OH, y1 = ((oy + 1) * H + OH - 1) / OH;
      for (int ox = 0; ox < OW; ox++) {
        int x0 = (ox * W) / OW, x1 = ((ox + 1) * W + OW - 1) / OW;
        float s = 0.0f;
        for (int iy = y0; iy < y1; iy++)
          for (int ix = x0; ix < x1; ix++) s += xp[iy * W + ix];
        y[((int64_t)p * OH + oy) * OW + ox] = s / (float)(y1 - y0) / (float)(x1 - x0);
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

/* PyTorch (1.13, CPU) computes a float conv with oneDNN when the batch has more than one
 * sample, the kernel is larger than 3x3 or the input has more than 20480 values; oneDNN's
 * first-layer kernel accumulates taps in (kh, kw, ic) order with FMAs and adds the bias last.
 * Otherwise it runs im2col + BLAS sgemm. Following the same choice makes the stems of every
 * network (few input channels) bit-exact with ASiM, which matters because their outputs are
 * quantised downstream. Wider convs use sgemm (training), where exactness is not needed. */
static int torch_uses_onednn(int64_t B, int C, int H, int W, int k) {
  return B > 1 || k > 3 || B * C * H * W > 20480;
}

static void conv_direct_fma(float *out, const float *in, int B, int C, int H, int W, const float *w,
                            const float *bias, int O, int k, int stride, int pad) {
  const int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  float *acc = malloc(sizeof(float) * (size_t)O);
  float *wt = malloc(sizeof(float) * (size_t)O * C * k * k); /* taps-major: wt[((u·k+v)·C+c)·O + o] */
  if (!acc || !wt) { /* fall back to the same order without the transposed copy */
    free(acc), free(wt);
    acc = NULL, wt = NULL;
  }
  if (wt)
    for (int o = 0; o < O; o++)
      for (int c = 0; c < C; c++)
        for (int u = 0; u < k; u++)
          for (int v = 0; v < k; v++) wt[(((int64_t)u * k + v) * C + c) * O + o] = w[(((int64_t)o * C + c) * k + u) * k + v];
  for (int b = 0; b < B; b++)
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        float stack_acc[64];
        float *a = acc ? acc : stack_acc;
        int Ochunk = acc ? O : (O < 64 ? O : 64);
        for (int o0 = 0; o0 < O; o0 += Ochunk) {
          int o1 = o0 + Ochunk < O ? o0 + Ochunk : O;
          for (int o = o0; o < o1; o++) a[o - o0] = 0.0f;
          for (int u = 0; u < k; u++) {
            int iy = oy * stride - pad + u;
            if (iy < 0 || iy >= H) continue;
            for (int v = 0; v < k; v++) {
              int ix = ox * stride - pad + v;
              if (ix < 0 || ix >= W) continue;
              for (int c = 0; c < C; c++) {
                const float xv = in[(((int64_t)b * C + c) * H + iy) * W + ix];
                if (wt) {
                  const float *wr = wt + (((int64_t)u * k + v) * C + c) * O;
                  for (int o = o0; o < o1; o++) a[o - o0] = fmaf(xv, wr[o], a[o - o0]);
                } else {
                  for (int o = o0; o < o1; o++) a[o - o0] = fmaf(xv, w[(((int64_t)o * C + c) * k + u) * k + v], a[o - o0]);
                }
              }
            }
          }
          for (int o = o0; o < o1; o++)
            out[(((int64_t)b * O + o) * Ho + oy) * Wo + ox] = bias ? a[o - o0] + bias[o] : a[o - o0];
        }
      }
  free(acc);
  free(wt);
}

asim_status asim_conv2d_float(float *out, const float *in, int B, int C, int H, int W, const float *w, const float *bias,
                              int O, int k, int stride, int pad, int64_t torch_batch) {
  if (C <= 4 && torch_uses_onednn(torch_batch, C, H, W, k)) {
    conv_direct_fma(out, in, B, C, H, W, w, bias, O, k, stride, pad);
    return ASIM_OK;
  }
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
