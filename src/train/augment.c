/* ASiM's training transform on 8-bit images (augment.h), each step transcribing what
 * torchvision runs on PIL images: ImageEnhance blends (Pillow's Blend.c), RGB -> L / HSV
 * conversions (Convert.c), RandomCrop with zero padding, hflip, and Image.rotate with NEAREST
 * (Geometry.c's fixed-point affine path). */
#include "asim/augment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asim/noise.h"

static asim_noise_key aug_key(uint32_t seed) {
  asim_noise_key k = {seed ^ 0xa06a06a0u, 0x0a060000u};
  return k;
}

void asim_augment_draw(asim_aug_params *p, int mode, uint32_t seed, uint32_t epoch, int64_t index, int S_in, int S_out) {
  float u[8];
  asim_uniform4(aug_key(seed), (uint32_t)index, (uint32_t)((uint64_t)index >> 32), epoch, 0, u);
  asim_uniform4(aug_key(seed), (uint32_t)index, (uint32_t)((uint64_t)index >> 32), epoch, 1, u + 4);
  memset(p, 0, sizeof *p);
  p->jitter = (int)(u[0] * 4.0f);
  if (p->jitter > 3) p->jitter = 3;
  p->factor = p->jitter == 3 ? -0.3f + 0.6f * u[1] : 0.5f + u[1]; /* ColorJitter(b/c/s=0.5) or (hue=0.3) */
  p->pad = 4;
  const int range = S_in + 2 * p->pad - S_out + 1; /* torch.randint(0, h − th + 1) */
  p->crop_y = range > 0 ? (int)(u[2] * (float)range) : 0;
  p->crop_x = range > 0 ? (int)(u[3] * (float)range) : 0;
  if (p->crop_y >= range) p->crop_y = range - 1;
  if (p->crop_x >= range) p->crop_x = range - 1;
  p->flip = u[4] < 0.5f;
  p->angle = -15.0f + 30.0f * u[5];
  if (mode == 1) p->jitter = -1, p->angle = 0.0f; /* crop + flip */
  if (mode == 2) { /* none: the centre crop of torchvision's CenterCrop */
    p->jitter = -1, p->angle = 0.0f, p->flip = 0, p->pad = 0;
    p->crop_y = p->crop_x = S_in > S_out ? (int)((S_in - S_out) / 2.0 + 0.5) : 0;
  }
}

/* Image.blend(degenerate, image, factor) for 8-bit bands: interpolation truncates, extrapolation
 * clips then truncates (Blend.c). */
static inline uint8_t blend(int deg, int v, float alpha) {
  if (alpha == 0.0f) return (uint8_t)deg;
  if (alpha == 1.0f) return (uint8_t)v;
  const float t = (float)deg + alpha * (float)(v - deg);
  if (alpha >= 0.0f && alpha <= 1.0f) return (uint8_t)t;
  return t <= 0.0f ? 0 : t >= 255.0f ? 255 : (uint8_t)t;
}

/* ITU-R 601-2 luma as Pillow's rgb2l: (R·19595 + G·38470 + B·7471 + 0x8000) >> 16 */
static inline int luma(const uint8_t *p) { return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16; }

void asim_aug_brightness(uint8_t *img, int64_t pixels, int C, float factor) {
  for (int64_t i = 0; i < pixels * C; i++) img[i] = blend(0, img[i], factor);
}

void asim_aug_contrast(uint8_t *img, int64_t pixels, int C, float factor) {
  /* degenerate: the mean of the L image, int(mean + 0.5) */
  double sum = 0.0;
  for (int64_t i = 0; i < pixels; i++) sum += C == 3 ? luma(img + 3 * i) : img[i];
  const int mean = (int)(sum / (double)pixels + 0.5);
  for (int64_t i = 0; i < pixels * C; i++) img[i] = blend(mean, img[i], factor);
}

void asim_aug_saturation(uint8_t *img, int64_t pixels, int C, float factor) {
  if (C != 3) return; /* L -> L -> blend with itself: unchanged */
  for (int64_t i = 0; i < pixels; i++) {
    const int l = luma(img + 3 * i);
    for (int c = 0; c < 3; c++) img[3 * i + c] = blend(l, img[3 * i + c], factor);
  }
}

static inline int clip8(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

void asim_aug_hue(uint8_t *img, int64_t pixels, int C, float shift) {
  if (C != 3) return; /* torchvision returns L images unchanged */
  const uint8_t dh = (uint8_t)(int)(shift * 255.0f); /* np.uint8(hue_factor * 255), wrapping */
  for (int64_t i = 0; i < pixels; i++) {
    uint8_t *px = img + 3 * i;
    const int r = px[0], g = px[1], b = px[2];
    const int maxc = r > g ? (r > b ? r : b) : (g > b ? g : b), minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
    uint8_t uh = 0, us = 0, uv = (uint8_t)maxc;
    if (minc != maxc) { /* rgb2hsv_row */
      const float cr = (float)(maxc - minc), s = cr / (float)maxc;
      const float rc = (float)(maxc - r) / cr, gc = (float)(maxc - g) / cr, bc = (float)(maxc - b) / cr;
      float h;
      if (r == maxc) h = bc - gc;
      else if (g == maxc) h = (float)(2.0 + rc - bc);
      else h = (float)(4.0 + gc - rc);
      h = (float)fmod(h / 6.0 + 1.0, 1.0);
      uh = (uint8_t)clip8((int)(h * 255.0));
      us = (uint8_t)clip8((int)(s * 255.0));
    }
    uh = (uint8_t)(uh + dh);
    if (us == 0) { /* hsv2rgb */
      px[0] = px[1] = px[2] = uv;
      continue;
    }
    const int ii = (int)floor((float)uh * 6.0 / 255.0);
    const float f = (float)((float)uh * 6.0 / 255.0 - (float)ii), fs = (float)((float)us / 255.0);
    const uint8_t p = (uint8_t)clip8((int)round((float)uv * (1.0 - fs)));
    const uint8_t q = (uint8_t)clip8((int)round((float)uv * (1.0 - fs * f)));
    const uint8_t t = (uint8_t)clip8((int)round((float)uv * (1.0 - fs * (1.0 - f))));
    switch (ii % 6) {
    case 0: px[0] = uv, px[1] = t, px[2] = p; break;
    case 1: px[0] = q, px[1] = uv, px[2] = p; break;
    case 2: px[0] = p, px[1] = uv, px[2] = t; break;
    case 3: px[0] = p, px[1] = q, px[2] = uv; break;
    case 4: px[0] = t, px[1] = p, px[2] = uv; break;
    default: px[0] = uv, px[1] = p, px[2] = q; break;
    }
  }
}

/* Python's round(x, 15): the double nearest the decimal rounded to 15 places (correctly rounded
 * printf and strtod reproduce it). */
static double round15(double x) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.15f", x);
  return strtod(buf, NULL);
}

static inline int fix16(double v) { /* FIX(v) = FLOOR(v·65536 + 0.5) */
  const double t = v * 65536.0 + 0.5;
  return t < 0.0 ? (int)floor(t) : (int)t;
}

void asim_aug_rotate(uint8_t *out, const uint8_t *in, int S, int C, float angle_deg) {
  double angle = fmod((double)angle_deg, 360.0);
  if (angle < 0) angle += 360.0; /* Python's % */
  if (angle == 0.0) {
    memcpy(out, in, (size_t)S * S * C);
    return;
  }
  const double cx = S / 2.0, cy = S / 2.0, a = -angle * M_PI / 180.0;
  double m[6] = {round15(cos(a)), round15(sin(a)), 0.0, round15(-sin(a)), round15(cos(a)), 0.0};
  const double m2 = m[0] * -cx + m[1] * -cy + m[2], m5 = m[3] * -cx + m[4] * -cy + m[5];
  m[2] = m2 + cx, m[5] = m5 + cy;
  /* affine_fixed: 16.16 fixed point, output pixel centres */
  const int a0 = fix16(m[0]), a1 = fix16(m[1]), a3 = fix16(m[3]), a4 = fix16(m[4]);
  int a2 = fix16(m[2] + m[0] * 0.5 + m[1] * 0.5), a5 = fix16(m[5] + m[3] * 0.5 + m[4] * 0.5);
  memset(out, 0, (size_t)S * S * C);
  for (int y = 0; y < S; y++) {
    int xx = a2, yy = a5;
    for (int x = 0; x < S; x++) {
      const int xin = xx >> 16;
      if (xin >= 0 && xin < S) {
        const int yin = yy >> 16;
        if (yin >= 0 && yin < S) memcpy(out + ((int64_t)y * S + x) * C, in + ((int64_t)yin * S + xin) * C, (size_t)C);
      }
      xx += a0, yy += a3;
    }
    a2 += a1, a5 += a4;
  }
}

asim_status asim_augment_apply(uint8_t *out, const uint8_t *in, int S_in, int C, int S_out, const asim_aug_params *p) {
  if (C != 1 && C != 3) return ASIM_ERR(ASIM_EINVAL, "augmentation: %d channels (1 or 3 supported)", C);
  const int P = S_in + 2 * p->pad;
  if (S_out > P || p->crop_y < 0 || p->crop_x < 0 || p->crop_y + S_out > P || p->crop_x + S_out > P)
    return ASIM_ERR(ASIM_EINVAL, "augmentation: crop %d at (%d, %d) outside the %d-pixel padded image", S_out, p->crop_y,
                    p->crop_x, P);
  uint8_t *img = NULL, *crop = NULL;
  ASIM_CHECK(asim_malloc(&img, (size_t)S_in * S_in * C));
  asim_status st = asim_malloc(&crop, (size_t)S_out * S_out * C);
  if (st) {
    free(img);
    return st;
  }
  memcpy(img, in, (size_t)S_in * S_in * C);
  const int64_t px = (int64_t)S_in * S_in;
  switch (p->jitter) {
  case 0: asim_aug_brightness(img, px, C, p->factor); break;
  case 1: asim_aug_contrast(img, px, C, p->factor); break;
  case 2: asim_aug_saturation(img, px, C, p->factor); break;
  case 3: asim_aug_hue(img, px, C, p->factor); break;
  default: break;
  }
  /* random crop from the zero-padded image, with the flip folded in */
  for (int y = 0; y < S_out; y++)
    for (int x = 0; x < S_out; x++) {
      const int sx = p->flip ? S_out - 1 - x : x;
      const int iy = y + p->crop_y - p->pad, ix = sx + p->crop_x - p->pad;
      uint8_t *o = crop + ((int64_t)y * S_out + x) * C;
      if (iy < 0 || iy >= S_in || ix < 0 || ix >= S_in) memset(o, 0, (size_t)C);
      else memcpy(o, img + ((int64_t)iy * S_in + ix) * C, (size_t)C);
    }
  asim_aug_rotate(out, crop, S_out, C, p->angle);
  free(img);
  free(crop);
  return ASIM_OK;
}

/* Gamma(a) by Marsaglia–Tsang (a < 1 boosted by U^(1/a)), counter-based normals/uniforms. */
static double gamma_draw(double a, asim_noise_key k, uint32_t c1, uint32_t c2) {
  double boost = 1.0;
  uint32_t n = 0;
  if (a < 1.0) {
    float u[4];
    asim_uniform4(k, c1, c2, n++, 7, u);
    boost = pow((double)u[0] + 1e-12, 1.0 / a);
    a += 1.0;
  }
  const double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    float z, z2, u[4];
    asim_normal2(k, c1, c2, n, 7, &z, &z2);
    asim_uniform4(k, c1, c2, n++, 8, u);
    const double v = pow(1.0 + c * z, 3);
    if (v <= 0.0) continue;
    if (log((double)u[0] + 1e-12) < 0.5 * z * z + d - d * v + d * log(v)) return boost * d * v;
  }
}

double asim_beta_draw(double alpha, uint32_t seed, uint32_t epoch, uint32_t step) {
  if (alpha <= 0.0) return 1.0; /* ASiM: lam = 1 when alpha <= 0 */
  asim_noise_key k = {seed ^ 0x313a313au, 0x0b0e7a00u};
  const double x = gamma_draw(alpha, k, epoch, 2 * step), y = gamma_draw(alpha, k, epoch, 2 * step + 1);
  return x / (x + y);
}
