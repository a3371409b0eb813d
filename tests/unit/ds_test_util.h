/* Helpers for the dataset tests: temporary folders, small files in every format written at
 * test time (PNG via libpng, JPEG via TurboJPEG, raw bytes, gzip), and running Pillow. */
#ifndef ASIM_DS_TEST_UTIL_H
#define ASIM_DS_TEST_UTIL_H

#include <ftw.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#define TU_UNUSED __attribute__((unused))
#define PYTHON "/usr/bin/python3"

/* Deterministic pseudo-random bytes (xorshift). */
static TU_UNUSED void tu_fill_random(uint8_t *p, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)(x >> 24);
  }
}

/* A smooth image with some noise: closer to photographs than pure noise (for JPEG). */
static TU_UNUSED void tu_fill_smooth(uint8_t *p, int w, int h, int c, uint32_t seed) {
  uint8_t *noise = malloc((size_t)w * h * c);
  tu_fill_random(noise, (size_t)w * h * c, seed);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int k = 0; k < c; k++) {
        size_t i = ((size_t)y * w + x) * c + k;
        int v = (x * 255 / (w > 1 ? w - 1 : 1) * (k + 1) + y * 255 / (h > 1 ? h - 1 : 1)) / (k + 2) +
                (noise[i] % 32) - 16 + (int)(seed % 50);
        p[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
  free(noise);
}

static TU_UNUSED char *tu_tmpdir(void) {
  char tmpl[] = "/tmp/asim-data-test-XXXXXX";
  char *d = mkdtemp(tmpl);
  return d ? strdup(d) : NULL;
}

static int tu_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  return remove(p);
}

static TU_UNUSED void tu_rmtree(char *dir) {
  if (!dir) return;
  if (!getenv("ASIM_KEEP_TEST_DATA")) nftw(dir, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  free(dir);
}

/* Path buffer "a/b" (static rotation of 8 buffers: fine for short-lived use). */
static TU_UNUSED const char *tu_path(const char *a, const char *b) {
  static char bufs[8][4096];
  static int k;
  char *s = bufs[k++ & 7];
  if (snprintf(s, 4096, "%s/%s", a, b) >= 4096) s[0] = 0; /* too long: fail loudly later */
  return s;
}

static TU_UNUSED int tu_mkdir(const char *a, const char *b) { return mkdir(tu_path(a, b), 0755); }

static TU_UNUSED int tu_write(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(data, 1, n, f);
  return fclose(f) == 0 && w == n ? 0 : -1;
}

static TU_UNUSED int tu_write_str(const char *path, const char *s) { return tu_write(path, s, strlen(s)); }

static TU_UNUSED int tu_write_gz(const char *path, const void *data, size_t n) {
  gzFile g = gzopen(path, "wb");
  if (!g) return -1;
  int w = gzwrite(g, data, (unsigned)n);
  return gzclose(g) == Z_OK && w == (int)n ? 0 : -1;
}

/* 8-bit PNG of c = 1 (gray), 3 (RGB) or 4 (RGBA) channels; interlaced if asked. */
static TU_UNUSED int tu_write_png(const char *path, const uint8_t *px, int w, int h, int c, int interlace) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return -1;
  }
  png_init_io(png, f);
  int ct = c == 1 ? PNG_COLOR_TYPE_GRAY : c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
  png_set_IHDR(png, info, w, h, 8, ct, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_bytep *rows = malloc(sizeof(png_bytep) * h);
  for (int y = 0; y < h; y++) rows[y] = (png_bytep)px + (size_t)y * w * c;
  png_set_rows(png, info, rows);
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
  png_destroy_write_struct(&png, &info);
  free(rows);
  return fclose(f) == 0 ? 0 : -1;
}

/* RGB (c = 3) or gray (c = 1) JPEG; subsamp TJSAMP_*. */
static TU_UNUSED int tu_write_jpeg(const char *path, const uint8_t *px, int w, int h, int c,
                                   int subsamp, int quality) {
  tjhandle tj = tjInitCompress();
  unsigned char *buf = NULL;
  unsigned long len = 0;
  int r = tjCompress2(tj, px, w, 0, h, c == 1 ? TJPF_GRAY : TJPF_RGB, &buf, &len,
                      c == 1 ? TJSAMP_GRAY : subsamp, quality, 0);
  if (r == 0) r = tu_write(path, buf, len);
  tjFree(buf);
  tjDestroy(tj);
  return r;
}

static TU_UNUSED int tu_read(const char *path, uint8_t **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  *buf = malloc(n > 0 ? (size_t)n : 1);
  *len = fread(*buf, 1, (size_t)n, f);
  fclose(f);
  return *len == (size_t)n ? 0 : -1;
}

static TU_UNUSED int tu_have_pil(void) {
  return system(PYTHON " -c 'import PIL, numpy' >/dev/null 2>&1") == 0;
}

/* Runs a Python script (text) with arguments; returns its exit status. */
static TU_UNUSED int tu_run_python(const char *dir, const char *script, const char *args) {
  const char *sp = tu_path(dir, "script.py");
  if (tu_write_str(sp, script) != 0) return -1;
  char cmd[32768];
  snprintf(cmd, sizeof cmd, PYTHON " %s %s", sp, args ? args : "");
  return system(cmd);
}

#endif
