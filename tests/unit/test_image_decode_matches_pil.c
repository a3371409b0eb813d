/* PNG and JPEG decoding to RGB against PIL's Image.open(f).convert('RGB') on files written at
 * test time in many modes (PNG: exact; JPEG: same libjpeg-turbo, difference reported), and
 * clear errors for corrupt, truncated and unknown files. */
#include <stdlib.h>
#include <string.h>

#include "asim/image.h"
#include "cu_util.h"
#include "ds_test_util.h"

/* Writes one file per PIL mode / JPEG variant, then the reference RGB bytes of every file. */
static const char *make_script =
    "import sys, os, numpy as np\n"
    "from PIL import Image\n"
    "d = sys.argv[1]\n"
    "rng = np.random.default_rng(5)\n"
    "def smooth(h, w, c):\n"
    "    y, x = np.mgrid[0:h, 0:w]\n"
    "    base = np.stack([(x * 255 // max(w - 1, 1) + k * 60 + y * 3) % 256 for k in range(c)], -1)\n"
    "    return np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)\n"
    "rgb = smooth(37, 45, 3)\n"
    "Image.fromarray(rgb).save(d + '/rgb.png')\n"
    "Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (37, 45), dtype=np.uint8)])).save(d + '/rgba.png')\n"
    "Image.fromarray(rgb[:, :, 0]).save(d + '/l.png')\n"
    "Image.fromarray(rgb[:, :, :2].copy(), 'LA').save(d + '/la.png')\n"
    "Image.fromarray(rgb).quantize(200).save(d + '/p.png')\n"
    "p = Image.fromarray(rgb).quantize(16); p.info['transparency'] = 3; p.save(d + '/p_trns.png', transparency=3)\n"
    "Image.fromarray(rgb).quantize(16).save(d + '/p4.png', bits=4)\n"
    "Image.fromarray(rgb[:, :, 0] > 128).save(d + '/one.png')\n"
    "Image.fromarray((rgb[:, :, 0].astype(np.int32) * 5).astype(np.uint16), 'I;16').save(d + '/i16.png')\n"
    "Image.fromarray(rgb).save(d + '/rgb_trns.png', transparency=(10, 20, 30))\n"
    "big = smooth(75, 101, 3)\n"
    "Image.fromarray(big).save(d + '/j420.jpg', quality=75)\n"
    "Image.fromarray(big).save(d + '/j444.jpg', quality=95, subsampling=0)\n"
    "Image.fromarray(big).save(d + '/j422.jpg', quality=90, subsampling=1)\n"
    "Image.fromarray(big).save(d + '/jprog.jpg', quality=85, progressive=True)\n"
    "Image.fromarray(big).save(d + '/jopt.jpg', quality=60, optimize=True)\n"
    "Image.fromarray(big[:, :, 1]).save(d + '/jgray.jpg', quality=80)\n"
    "Image.fromarray(big).convert('CMYK').save(d + '/jcmyk.jpg', quality=90)\n"
    "Image.fromarray(smooth(17, 33, 3)).save(d + '/jodd.jpg', quality=70)\n"
    "Image.fromarray(big).save(d + '/jq100.jpg', quality=100, subsampling=0)\n"
    "for f in sorted(os.listdir(d)):\n"
    "    if f.endswith('.png') or f.endswith('.jpg') or f.endswith('.JPEG'):\n"
    "        im = Image.open(os.path.join(d, f)).convert('RGB')\n"
    "        np.asarray(im).tofile(os.path.join(d, f + '.ref'))\n"
    "        open(os.path.join(d, f + '.size'), 'w').write('%d %d' % im.size)\n";

/* Decodes dir/name and compares with PIL's reference; -1 if it cannot be compared. */
static int compare_one(const char *dir, const char *name, int *maxd, size_t *bad) {
  char p[4096];
  int rw = 0, rh = 0, w, h;
  snprintf(p, sizeof p, "%s/%s.size", dir, name);
  FILE *fs = fopen(p, "r");
  if (!fs) return -1;
  int got = fscanf(fs, "%d %d", &rw, &rh);
  fclose(fs);
  if (got != 2) return -1;
  uint8_t *rgb = NULL, *ref = NULL;
  size_t rl;
  snprintf(p, sizeof p, "%s/%s.ref", dir, name);
  if (tu_read(p, &ref, &rl) != 0) return -1;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  if (asim_image_load(p, &rgb, &w, &h) != ASIM_OK) {
    fprintf(stderr, "\n%s\n", asim_errmsg());
    free(ref);
    return -1;
  }
  int r = w == rw && h == rh && rl == (size_t)w * h * 3 ? 0 : -1;
  *maxd = 0;
  *bad = 0;
  for (size_t i = 0; r == 0 && i < rl; i++) {
    int d = abs((int)rgb[i] - (int)ref[i]);
    *bad += d != 0;
    if (d > *maxd) *maxd = d;
  }
  free(rgb);
  free(ref);
  return r;
}

static const char *files[] = {
    "rgb.png", "rgba.png", "l.png", "la.png", "p.png", "p_trns.png", "p4.png", "one.png",
    "i16.png", "rgb_trns.png", "interlaced.png", "gray_interlaced.png",
    "j420.jpg", "j444.jpg", "j422.jpg", "jprog.jpg", "jopt.jpg", "jgray.jpg", "jcmyk.jpg",
    "jodd.jpg", "jq100.jpg", "tj440.JPEG", "tj411.JPEG", "tjgray.JPEG", "png_named.JPEG"};

static void test_decode_matches_pil(void) {
  if (!tu_have_pil()) {
    fprintf(stderr, "\n  SKIP: %s with PIL and numpy not available; decode comparison not run\n", PYTHON);
    return;
  }
  char *dir = tu_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  /* Files only C can make: interlaced PNGs, rarer JPEG subsamplings, a PNG named .JPEG
   * (ImageNet has one; PIL goes by content). */
  int w = 61, h = 43;
  uint8_t *px = malloc((size_t)w * h * 3);
  tu_fill_smooth(px, w, h, 3, 3);
  CU_ASSERT_EQUAL(tu_write_png(tu_path(dir, "interlaced.png"), px, w, h, 3, 1), 0);
  CU_ASSERT_EQUAL(tu_write_png(tu_path(dir, "gray_interlaced.png"), px, w, h * 3, 1, 1), 0);
  CU_ASSERT_EQUAL(tu_write_png(tu_path(dir, "png_named.JPEG"), px, w, h, 3, 0), 0);
  CU_ASSERT_EQUAL(tu_write_jpeg(tu_path(dir, "tj440.JPEG"), px, w, h, 3, TJSAMP_440, 85), 0);
  CU_ASSERT_EQUAL(tu_write_jpeg(tu_path(dir, "tj411.JPEG"), px, w, h, 3, TJSAMP_411, 85), 0);
  CU_ASSERT_EQUAL(tu_write_jpeg(tu_path(dir, "tjgray.JPEG"), px, w, h * 3, 1, TJSAMP_GRAY, 85), 0);
  free(px);
  CU_ASSERT_EQUAL_FATAL(tu_run_python(dir, make_script, dir), 0);
  fprintf(stderr, "\n");
  for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
    int maxd = -1;
    size_t bad = 0;
    int r = compare_one(dir, files[k], &maxd, &bad);
    fprintf(stderr, "  %-20s vs PIL convert('RGB'): %s, %zu values differ, max |diff| %d\n",
            files[k], r == 0 ? "compared" : "FAILED", bad, maxd);
    CU_ASSERT_EQUAL(r, 0);
    /* Same libjpeg-turbo and settings as Pillow: JPEGs are expected to be exact too. */
    CU_ASSERT_EQUAL(bad, 0);
  }
  tu_rmtree(dir);
}

static void test_decode_errors_name_the_file(void) {
  char *dir = tu_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  int w = 40, h = 30;
  uint8_t *px = malloc((size_t)w * h * 3), *buf, *rgb = NULL;
  size_t len;
  tu_fill_smooth(px, w, h, 3, 9);
  const char *png = tu_path(dir, "good.png"), *jpg = tu_path(dir, "good.jpg");
  CU_ASSERT_EQUAL_FATAL(tu_write_png(png, px, w, h, 3, 0), 0);
  CU_ASSERT_EQUAL_FATAL(tu_write_jpeg(jpg, px, w, h, 3, TJSAMP_420, 90), 0);
  free(px);

  /* truncated PNG */
  CU_ASSERT_EQUAL_FATAL(tu_read(png, &buf, &len), 0);
  const char *p = tu_path(dir, "truncated.png");
  tu_write(p, buf, len / 2);
  CU_ASSERT_EQUAL(asim_image_load(p, &rgb, &w, &h), ASIM_EFORMAT);
  CU_ASSERT_PTR_NULL(rgb);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "truncated.png"));
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "corrupt PNG"));
  /* bad CRC of the IHDR chunk */
  buf[29] ^= 0xff;
  p = tu_path(dir, "badcrc.png");
  tu_write(p, buf, len);
  CU_ASSERT_EQUAL(asim_image_load(p, &rgb, &w, &h), ASIM_EFORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "badcrc.png"));
  free(buf);

  /* truncated JPEG: PIL refuses it ("image file is truncated"), so do we */
  CU_ASSERT_EQUAL_FATAL(tu_read(jpg, &buf, &len), 0);
  p = tu_path(dir, "truncated.jpg");
  tu_write(p, buf, len * 2 / 3);
  CU_ASSERT_EQUAL(asim_image_load(p, &rgb, &w, &h), ASIM_EFORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "truncated.jpg"));
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "corrupt JPEG"));
  /* header only */
  p = tu_path(dir, "stub.jpg");
  tu_write(p, buf, 20);
  CU_ASSERT_EQUAL(asim_image_load(p, &rgb, &w, &h), ASIM_EFORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "stub.jpg"));
  /* extraneous bytes before EOI: a warning PIL accepts, and so do we */
  uint8_t *ext = malloc(len + 3);
  memcpy(ext, buf, len - 2);
  memcpy(ext + len - 2, "\0\0\0\xff\xd9", 5);
  p = tu_path(dir, "extraneous.jpg");
  tu_write(p, ext, len + 3);
  CU_ASSERT_OK(asim_image_load(p, &rgb, &w, &h));
  CU_ASSERT(w == 40 && h == 30);
  free(rgb);
  rgb = NULL;
  free(ext);
  free(buf);

  /* unknown content, empty file, missing file, a folder */
  p = tu_path(dir, "text.png");
  tu_write_str(p, "hello, I am not an image");
  CU_ASSERT_EQUAL(asim_image_load(p, &rgb, &w, &h), ASIM_EFORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "text.png: not a PNG or JPEG"));
  p = tu_path(dir, "empty.png");
  tu_write(p, "", 0);
  CU_ASSERT_EQUAL(asim_image_load(p, &rgb, &w, &h), ASIM_EFORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "empty.png"));
  p = tu_path(dir, "missing.png");
  CU_ASSERT_EQUAL(asim_image_load(p, &rgb, &w, &h), ASIM_EIO);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "missing.png"));
  CU_ASSERT_EQUAL(asim_image_load(dir, &rgb, &w, &h), ASIM_EIO);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "not a regular file"));
  CU_ASSERT_PTR_NULL(rgb);
  tu_rmtree(dir);
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(decode);
  ASIM_ADD_TEST(decode, test_decode_matches_pil);
  ASIM_ADD_TEST(decode, test_decode_errors_name_the_file);
}
