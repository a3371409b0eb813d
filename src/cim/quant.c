#include "asim/quant.h"

#include <math.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* The maxima skip NaNs (a NaN never compares greater), as a scalar loop would; the vector
 * version only may return -0 for +0 when the maximum is zero (the scale fl(m + eps) is the same). */
float asim_absmax(const float *x, int64_t n) {
  float m = 0.0f;
  int64_t i = 0;
#if defined(__AVX512F__)
  __m512 v = _mm512_setzero_ps();
  for (; i + 16 <= n; i += 16) v = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), v); /* NaN lane: keeps v */
  m = _mm512_reduce_max_ps(v);
#endif
  for (; i < n; i++) {
    float a = fabsf(x[i]);
    if (a > m) m = a;
  }
  return m;
}

float asim_max(const float *x, int64_t n) {
  if (n <= 0) return 0.0f;
  float m = x[0];
  if (isnan(m)) return m; /* the scalar loop never replaces a NaN start */
  int64_t i = 1;
#if defined(__AVX512F__)
  __m512 v = _mm512_set1_ps(m);
  for (; i + 16 <= n; i += 16) v = _mm512_max_ps(_mm512_loadu_ps(x + i), v);
  float vm = _mm512_reduce_max_ps(v);
  if (vm > m) m = vm;
#endif
  for (; i < n; i++)
    if (x[i] > m) m = x[i];
  return m;
}

static inline float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

void asim_quantize(int32_t *q, const float *x, int64_t n, float s, int bits, int is_signed) {
  const float L = (float)asim_levels(bits, is_signed);
  if (is_signed) {
    for (int64_t i = 0; i < n; i++) {
      float c = rintf(clamp01(fabsf(x[i]) / s) * L);
      q[i] = x[i] > 0.0f ? (int32_t)c : (x[i] < 0.0f ? -(int32_t)c : 0);
    }
  } else {
    for (int64_t i = 0; i < n; i++) q[i] = (int32_t)rintf(clamp01(x[i] / s) * L);
  }
}

void asim_fake_quantize(float *y, const float *x, int64_t n, float s, int bits, int is_signed) {
  const float L = (float)asim_levels(bits, is_signed);
  if (is_signed) {
    for (int64_t i = 0; i < n; i++) {
      float c = rintf(clamp01(fabsf(x[i]) / s) * L);
      float sg = x[i] > 0.0f ? 1.0f : (x[i] < 0.0f ? -1.0f : 0.0f);
      y[i] = ((c / L) * s) * sg;
    }
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = (rintf(clamp01(x[i] / s) * L) / L) * s;
  }
}

float asim_dequant_divisor(int wbit, int xbit, int x_signed) {
  return (float)((double)asim_levels(wbit, 1) * (double)asim_levels(xbit, x_signed));
}

void asim_dequantize(float *y, int64_t n, float s_w, float s_x, float D) {
  const float s = s_w * s_x;
  for (int64_t i = 0; i < n; i++) y[i] = (y[i] * s) / D;
}
