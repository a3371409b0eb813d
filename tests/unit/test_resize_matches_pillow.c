/* Pillow-exact bilinear resize (spec §7.5): asim_resize_bilinear_u8 against Pillow's own
 * Image.resize(..., BILINEAR), run at test time, bit for bit, up- and down-sampling. */
#include <stdlib.h>
#include <string.h>

#include "asim/image.h"
#include "cu_util.h"
#include "ds_test_util.h"

typedef struct {
  int w, h, c, ow, oh, smooth;
} rcase;

static const rcase cases[] = {
    {32, 32, 3, 224, 224, 0},  /* CIFAR → ViT input */
    {32, 32, 3, 224, 224, 1},
    {500, 375, 3, 224, 224, 1}, /* typical ImageNet validation sizes */
    {457, 600, 3, 224, 224, 0},
    {28, 28, 1, 32, 32, 0},    /* MNIST to a CIFAR-sized network, gray */
    {28, 28, 1, 224, 224, 1},
    {224, 224, 3, 32, 32, 0},  /* strong downsampling (support scaling) */
    {1000, 17, 3, 224, 224, 0},
    {7, 5, 3, 13, 3, 0},       /* up in x, down in y */
    {32, 40, 3, 32, 224, 0},   /* only the vertical pass runs */
    {40, 32, 3, 224, 32, 0},   /* only the horizontal pass runs */
    {1, 1, 3, 4, 4, 0},
    {3, 300, 4, 224, 224, 0},  /* 4 channels */
    {32, 32, 3, 32, 32, 0},    /* unchanged */
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static const char *script =
    "import sys, numpy as np\n"
    "from PIL import Image\n"
    "d = sys.argv[1]\n"
    "for line in open(d + '/cases.txt'):\n"
    "    k, w, h, c, ow, oh = map(int, line.split())\n"
    "    a = np.fromfile('%s/in%d.raw' % (d, k), dtype=np.uint8)\n"
    "    a = a.reshape(h, w) if c == 1 else a.reshape(h, w, c)\n"
    "    mode = {1: 'L', 3: 'RGB', 4: 'RGBA'}[c]\n"
    "    im = Image.fromarray(a, mode)\n"
    "    if c == 4:\n"
    "        # RGBA resizes premultiplied in Pillow; compare the per-channel kernel via 4 L bands\n"
    "        bands = [b.resize((ow, oh), Image.BILINEAR) for b in im.split()]\n"
    "        r = np.stack([np.asarray(b) for b in bands], axis=-1)\n"
    "    else:\n"
    "        r = np.asarray(im.resize((ow, oh), Image.BILINEAR))\n"
    "    np.ascontiguousarray(r).tofile('%s/ref%d.raw' % (d, k))\n";

static void test_resize_bitexact_vs_pillow(void) {
  if (!tu_have_pil()) {
    fprintf(stderr, "\n  SKIP: %s with PIL and numpy not available; Pillow comparison not run\n", PYTHON);
    return;
  }
  char *dir = tu_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  uint8_t *in[NCASES];
  FILE *f = fopen(tu_path(dir, "cases.txt"), "w");
  for (int k = 0; k < NCASES; k++) {
    const rcase *r = &cases[k];
    size_t n = (size_t)r->w * r->h * r->c;
    in[k] = malloc(n);
    if (r->smooth) tu_fill_smooth(in[k], r->w, r->h, r->c, 7 + k);
    else tu_fill_random(in[k], n, 7 + k);
    char name[64];
    snprintf(name, sizeof name, "in%d.raw", k);
    CU_ASSERT_EQUAL(tu_write(tu_path(dir, name), in[k], n), 0);
    fprintf(f, "%d %d %d %d %d %d\n", k, r->w, r->h, r->c, r->ow, r->oh);
  }
  fclose(f);
  CU_ASSERT_EQUAL_FATAL(tu_run_python(dir, script, dir), 0);
  fprintf(stderr, "\n");
  for (int k = 0; k < NCASES; k++) {
    const rcase *r = &cases[k];
    size_t n = (size_t)r->ow * r->oh * r->c, rl;
    uint8_t *out = malloc(n), *ref = NULL;
    char name[64];
    snprintf(name, sizeof name, "ref%d.raw", k);
    CU_ASSERT_EQUAL(tu_read(tu_path(dir, name), &ref, &rl), 0);
    CU_ASSERT_EQUAL(rl, n);
    CU_ASSERT_OK(asim_resize_bilinear_u8(in[k], r->w, r->h, r->c, out, r->ow, r->oh));
    size_t bad = 0;
    int maxd = 0;
    for (size_t i = 0; i < n && i < rl; i++) {
      int d = abs((int)out[i] - (int)ref[i]);
      if (d) bad++;
      if (d > maxd) maxd = d;
    }
    fprintf(stderr, "  %4dx%-4d c=%d -> %4dx%-4d %-6s: %zu values, %zu differ, max |diff| %d\n",
            r->w, r->h, r->c, r->ow, r->oh, r->smooth ? "smooth" : "noise", n, bad, maxd);
    CU_ASSERT_EQUAL(bad, 0);
    free(out);
    free(ref);
    free(in[k]);
  }
  tu_rmtree(dir);
}

static void test_resize_rejects_bad_sizes(void) {
  uint8_t a[4] = {0}, b[4];
  CU_ASSERT_EQUAL(asim_resize_bilinear_u8(a, 0, 1, 3, b, 1, 1), ASIM_EINVAL);
  CU_ASSERT_EQUAL(asim_resize_bilinear_u8(a, 1, 1, 5, b, 1, 1), ASIM_EINVAL);
  CU_ASSERT_EQUAL(asim_resize_bilinear_u8(a, 1, 1, 1, b, 1, -2), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "bad size"));
}

/* A constant image stays constant whatever the scale (weights sum to 1 in fixed point). */
static void test_resize_keeps_constant_images(void) {
  uint8_t in[20 * 30 * 3], out[57 * 11 * 3];
  for (int v = 0; v < 256; v += 51) {
    memset(in, v, sizeof in);
    CU_ASSERT_OK(asim_resize_bilinear_u8(in, 20, 30, 3, out, 57, 11));
    int ok = 1;
    for (size_t i = 0; i < sizeof out; i++) ok &= out[i] == v;
    CU_ASSERT(ok);
  }
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(resize);
  ASIM_ADD_TEST(resize, test_resize_bitexact_vs_pillow);
  ASIM_ADD_TEST(resize, test_resize_rejects_bad_sizes);
  ASIM_ADD_TEST(resize, test_resize_keeps_constant_images);
}
