/* image.c — PNG/JPEG decoding to RGB the way PIL's Image.open(p).convert('RGB') does, and
 * Pillow's BILINEAR resize (libImaging/Resample.c, 8 bits per channel), bit for bit. */
#include "asim/image.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

/* ---- Pillow bilinear resize -------------------------------------------------------------- */

#define PREC_BITS 22 /* Pillow: PRECISION_BITS = 32 - 8 - 2 */

typedef struct {
  int ksize;       /* taps per output index (max) */
  int *bounds;     /* per output index: first input index, tap count */
  int32_t *k;      /* out × ksize fixed-point weights */
} resample_coeffs;

static double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for box [0, in). Keeps its arithmetic
 * (double weights normalised by their sum, then rounded half away from zero to 22 bits). */
static asim_status precompute_coeffs(int in, int out, resample_coeffs *cf) {
  double scale = (double)((float)in - 0.0f) / out; /* Pillow's box edges are floats */
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 1.0 * filterscale; /* bilinear support is 1 */
  int ksize = (int)ceil(support) * 2 + 1;
  double *w = NULL;
  memset(cf, 0, sizeof *cf);
  ASIM_CHECK(asim_malloc(&w, (size_t)ksize * sizeof *w));
  asim_status st = asim_calloc(&cf->bounds, (size_t)out * 2, sizeof *cf->bounds);
  if (st == ASIM_OK) st = asim_calloc(&cf->k, (size_t)out * (size_t)ksize, sizeof *cf->k);
  if (st != ASIM_OK) {
    free(w);
    free(cf->bounds);
    return st;
  }
  cf->ksize = ksize;
  double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out; xx++) {
    double center = 0.0 + (xx + 0.5) * scale;
    double ww = 0.0;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in) xmax = in;
    xmax -= xmin;
    for (int x = 0; x < xmax; x++) {
      w[x] = bilinear_filter((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    int32_t *k = cf->k + (size_t)xx * ksize;
    for (int x = 0; x < xmax; x++) {
      double v = ww != 0.0 ? w[x] / ww : w[x];
      k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PREC_BITS)) : (int32_t)(0.5 + v * (1 << PREC_BITS));
    }
    cf->bounds[2 * xx] = xmin;
    cf->bounds[2 * xx + 1] = xmax;
  }
  free(w);
  return ASIM_OK;
}

static inline uint8_t clip8(int32_t ss) {
  int32_t v = ss >> PREC_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

asim_status asim_resize_bilinear_u8(const uint8_t *in, int w, int h, int c, uint8_t *out,
                                    int out_w, int out_h) {
  if (w <= 0 || h <= 0 || out_w <= 0 || out_h <= 0 || c < 1 || c > 4 ||
      w > ASIM_IMAGE_MAX_SIDE || h > ASIM_IMAGE_MAX_SIDE || out_w > ASIM_IMAGE_MAX_SIDE ||
      out_h > ASIM_IMAGE_MAX_SIDE)
    return ASIM_ERR(ASIM_EINVAL, "resize %dx%dx%d -> %dx%d: bad size", w, h, c, out_w, out_h);
  int need_h = out_w != w, need_v = out_h != h;
  if (!need_h && !need_v) {
    memcpy(out, in, (size_t)w * h * c);
    return ASIM_OK;
  }
  resample_coeffs ch = {0}, cv = {0};
  uint8_t *tmp = NULL;
  asim_status st = ASIM_OK;
  ASIM_CHECK_GOTO(st, precompute_coeffs(w, out_w, &ch), done);
  ASIM_CHECK_GOTO(st, precompute_coeffs(h, out_h, &cv), done);
  /* Like Pillow, the horizontal pass only covers the rows the vertical pass reads. */
  int y0 = 0, y1 = h;
  if (need_v) {
    y0 = cv.bounds[0];
    y1 = cv.bounds[2 * out_h - 2] + cv.bounds[2 * out_h - 1];
  }
  const uint8_t *src = in; /* rows y0.. of the image the vertical pass reads */
  int src_w = w;
  if (need_h) {
    uint8_t *dst = need_v ? NULL : out;
    if (need_v) {
      ASIM_CHECK_GOTO(st, asim_malloc(&tmp, (size_t)out_w * (size_t)(y1 - y0) * c), done);
      dst = tmp;
    }
    for (int y = y0; y < y1; y++) {
      const uint8_t *row = in + (size_t)y * w * c;
      uint8_t *orow = dst + (size_t)(y - y0) * out_w * c;
      for (int xx = 0; xx < out_w; xx++) {
        int xmin = ch.bounds[2 * xx], xn = ch.bounds[2 * xx + 1];
        const int32_t *k = ch.k + (size_t)xx * ch.ksize;
        for (int b = 0; b < c; b++) {
          int32_t ss = 1 << (PREC_BITS - 1);
          for (int x = 0; x < xn; x++) ss += row[(size_t)(x + xmin) * c + b] * k[x];
          orow[(size_t)xx * c + b] = clip8(ss);
        }
      }
    }
    src = tmp;
    src_w = out_w;
  } else {
    src = in + (size_t)y0 * w * c;
  }
  if (need_v) {
    size_t stride = (size_t)src_w * c;
    for (int yy = 0; yy < out_h; yy++) {
      int ymin = cv.bounds[2 * yy] - y0, yn = cv.bounds[2 * yy + 1];
      const int32_t *k = cv.k + (size_t)yy * cv.ksize;
      uint8_t *orow = out + (size_t)yy * stride;
      for (size_t xb = 0; xb < stride; xb++) {
        int32_t ss = 1 << (PREC_BITS - 1);
        for (int y = 0; y < yn; y++) ss += src[(size_t)(y + ymin) * stride + xb] * k[y];
        orow[xb] = clip8(ss);
      }
    }
  }
done:
  free(tmp);
  free(ch.bounds);
  free(ch.k);
  free(cv.bounds);
  free(cv.k);
  return st;
}

/* ---- files --------------------------------------------------------------------------------- */

asim_status asim_read_file(const char *path, uint8_t **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return ASIM_ERR(ASIM_EIO, "cannot open %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    return ASIM_ERR(ASIM_EIO, "%s is not a regular file", path);
  }
  uint8_t *b = NULL;
  asim_status st = asim_malloc(&b, (size_t)sb.st_size);
  if (st != ASIM_OK) {
    fclose(f);
    return st;
  }
  size_t got = fread(b, 1, (size_t)sb.st_size, f);
  int err = ferror(f);
  fclose(f);
  if (err || got != (size_t)sb.st_size) {
    free(b);
    return ASIM_ERR(ASIM_EIO, "cannot read %s (%zu of %lld bytes)", path, got,
                    (long long)sb.st_size);
  }
  *buf = b;
  *len = got;
  return ASIM_OK;
}

/* ---- PNG (libpng) ------------------------------------------------------------------------ */

typedef struct {
  const uint8_t *p;
  size_t len, pos;
  char msg[200];
} png_src;

static void png_read_mem(png_structp png, png_bytep out, size_t n) {
  png_src *s = png_get_io_ptr(png);
  if (n > s->len - s->pos) png_error(png, "file is truncated");
  memcpy(out, s->p + s->pos, n);
  s->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg) {
  png_src *s = png_get_error_ptr(png);
  snprintf(s->msg, sizeof s->msg, "%s", msg);
  png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { /* libraries stay silent */ }

/* PIL's mode mapping, then convert('RGB'): palette → its RGB entries, gray → replicated,
 * alpha dropped (not composited), tRNS ignored, 16-bit RGB(A)/LA → high byte (PIL's ";16B"
 * raw modes), 16-bit gray → mode "I", which convert('RGB') clips to 0…255. */
static asim_status png_decode(const uint8_t *buf, size_t len, const char *what, uint8_t **rgb,
                              int *wp, int *hp) {
  png_src src = {buf, len, 0, ""};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error,
                                           png_on_warning);
  if (!png) return ASIM_ERR(ASIM_ENOMEM, "%s: cannot create PNG reader", what);
  png_infop info = png_create_info_struct(png);
  uint8_t *volatile rows = NULL;
  png_bytep *volatile ptrs = NULL;
  uint8_t *volatile out = NULL;
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return ASIM_ERR(ASIM_ENOMEM, "%s: cannot create PNG reader", what);
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(ptrs);
    free(out);
    return ASIM_ERR(ASIM_EFORMAT, "%s: corrupt PNG: %s", what, src.msg);
  }
  png_set_read_fn(png, &src, png_read_mem);
  png_set_user_limits(png, ASIM_IMAGE_MAX_SIDE, ASIM_IMAGE_MAX_SIDE);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
  int gray16 = ctype == PNG_COLOR_TYPE_GRAY && depth == 16;
  if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png); /* may add alpha: dropped */
  if ((ctype & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16 && !gray16) png_set_strip_16(png); /* truncates: PIL keeps the high byte */
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int nch = png_get_channels(png, info);
  size_t rowbytes = png_get_rowbytes(png, info);
  rows = malloc(rowbytes * h);
  ptrs = malloc(sizeof(png_bytep) * h);
  out = malloc((size_t)w * h * 3);
  if (!rows || !ptrs || !out) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < h; y++) ptrs[y] = rows + y * rowbytes;
  png_read_image(png, ptrs);
  /* No png_read_end: PIL does not require the chunks after the image data either. */
  size_t np = (size_t)w * h;
  for (size_t i = 0; i < np; i++) {
    uint8_t *o = out + 3 * i;
    if (gray16) {
      unsigned v = (unsigned)rows[2 * i] << 8 | rows[2 * i + 1]; /* PNG is big-endian */
      o[0] = o[1] = o[2] = v > 255 ? 255 : (uint8_t)v;
    } else if (nch <= 2) {
      o[0] = o[1] = o[2] = rows[nch * i];
    } else {
      memcpy(o, rows + nch * i, 3);
    }
  }
  png_destroy_read_struct(&png, &info, NULL);
  free(rows);
  free(ptrs);
  *rgb = out;
  *wp = (int)w;
  *hp = (int)h;
  return ASIM_OK;
}

/* ---- JPEG (TurboJPEG) ------------------------------------------------------------------- */

/* Same libjpeg-turbo as Pillow with Pillow's defaults: accurate integer DCT (JDCT_ISLOW) and
 * fancy upsampling, which are TurboJPEG's defaults too (no FASTDCT / FASTUPSAMPLE flags). */
static asim_status jpeg_decode(const uint8_t *buf, size_t len, const char *what, uint8_t **rgb,
                               int *wp, int *hp) {
  tjhandle tj = tjInitDecompress();
  if (!tj) return ASIM_ERR(ASIM_ENOMEM, "%s: cannot create JPEG decoder", what);
  int w, h, subsamp, cs;
  uint8_t *out = NULL, *cmyk = NULL;
  asim_status st = ASIM_OK;
  if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: corrupt JPEG header: %s", what, tjGetErrorStr2(tj));
    goto done;
  }
  if (w <= 0 || h <= 0 || w > ASIM_IMAGE_MAX_SIDE || h > ASIM_IMAGE_MAX_SIDE) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: JPEG size %dx%d out of range", what, w, h);
    goto done;
  }
  int is_cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
  ASIM_CHECK_GOTO(st, asim_malloc(&out, (size_t)w * h * 3), done);
  if (is_cmyk) ASIM_CHECK_GOTO(st, asim_malloc(&cmyk, (size_t)w * h * 4), done);
  if (tjDecompress2(tj, buf, (unsigned long)len, is_cmyk ? cmyk : out, w, 0, h,
                    is_cmyk ? TJPF_CMYK : TJPF_RGB, 0) != 0) {
    const char *m = tjGetErrorStr2(tj);
    /* Warnings leave a complete image. PIL accepts those too, except running out of data,
     * which it reports as "image file is truncated". */
    if (tjGetErrorCode(tj) != TJERR_WARNING || strstr(m, "Premature end")) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: corrupt JPEG: %s", what, m);
      goto done;
    }
  }
  if (is_cmyk) {
    /* PIL reads 4-channel JPEGs as Adobe-inverted CMYK ("CMYK;I"), then cmyk2rgb. */
    size_t np = (size_t)w * h;
    for (size_t i = 0; i < np; i++) {
      int nk = cmyk[4 * i + 3]; /* 255 - (255 - raw k) */
      for (int b = 0; b < 3; b++) {
        int cv = 255 - cmyk[4 * i + b];
        int tmp = cv * nk + 128;
        int v = nk - (((tmp >> 8) + tmp) >> 8);
        out[3 * i + b] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
  }
done:
  tjDestroy(tj);
  free(cmyk);
  if (st != ASIM_OK) {
    free(out);
    return st;
  }
  *rgb = out;
  *wp = w;
  *hp = h;
  return ASIM_OK;
}

asim_status asim_image_decode(const uint8_t *buf, size_t len, const char *what, uint8_t **rgb,
                              int *w, int *h) {
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  *rgb = NULL;
  if (len >= 8 && memcmp(buf, png_sig, 8) == 0) {
    ASIM_CHECK(png_decode(buf, len, what, rgb, w, h));
  } else if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff) {
    ASIM_CHECK(jpeg_decode(buf, len, what, rgb, w, h));
  } else {
    return ASIM_ERR(ASIM_EFORMAT, "%s: not a PNG or JPEG file (%zu bytes, unknown signature)",
                    what, len);
  }
  return ASIM_OK;
}

asim_status asim_image_load(const char *path, uint8_t **rgb, int *w, int *h) {
  uint8_t *buf;
  size_t len;
  *rgb = NULL;
  ASIM_CHECK(asim_read_file(path, &buf, &len));
  asim_status st = asim_image_decode(buf, len, path, rgb, w, h);
  free(buf);
  if (st != ASIM_OK) return asim_error_trace(st, __FILE__, __LINE__, "asim_image_decode");
  return ASIM_OK;
}
