/* The training transform's steps (spec §7.4) against torchvision's functional ops on PIL
 * images, run at test time, byte for byte: adjust_brightness / contrast / saturation / hue,
 * pad-4 random crop + hflip, rotate(NEAREST, fill 0), on gray 28×28 and RGB 32×32 images.
 * Also: the random draws are a pure function of (seed, epoch, sample). */
#include <stdlib.h>
#include <string.h>

#include "asim/augment.h"
#include "cu_util.h"
#include "ds_test_util.h"

typedef struct {
  int op; /* 0 brightness 1 contrast 2 saturation 3 hue 4 rotate 5 crop+flip */
  int c, s;
  float v;
  int cy, cx, flip;
} acase;

static const acase cases[] = {
    {0, 1, 28, 0.5f, 0, 0, 0}, {0, 1, 28, 0.731f, 0, 0, 0}, {0, 1, 28, 1.37f, 0, 0, 0}, {0, 3, 32, 1.49f, 0, 0, 0}, {0, 3, 32, 0.62f, 0, 0, 0},
    {1, 1, 28, 0.5f, 0, 0, 0}, {1, 1, 28, 1.23f, 0, 0, 0}, {1, 3, 32, 0.81f, 0, 0, 0}, {1, 3, 32, 1.44f, 0, 0, 0},
    {2, 1, 28, 0.7f, 0, 0, 0}, {2, 3, 32, 0.55f, 0, 0, 0}, {2, 3, 32, 1.31f, 0, 0, 0},
    {3, 1, 28, 0.2f, 0, 0, 0}, {3, 3, 32, -0.3f, 0, 0, 0}, {3, 3, 32, -0.117f, 0, 0, 0}, {3, 3, 32, 0.05f, 0, 0, 0}, {3, 3, 32, 0.29f, 0, 0, 0},
    {4, 1, 28, -15.0f, 0, 0, 0}, {4, 1, 28, -7.31f, 0, 0, 0}, {4, 1, 28, 0.0f, 0, 0, 0}, {4, 1, 28, 4.2f, 0, 0, 0}, {4, 1, 28, 14.93f, 0, 0, 0},
    {4, 3, 32, -11.5f, 0, 0, 0}, {4, 3, 32, 9.99f, 0, 0, 0},
    {5, 1, 28, 0, 0, 0, 1}, {5, 1, 28, 0, 8, 3, 0}, {5, 3, 32, 0, 5, 8, 1},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static const char *script =
    "import sys, numpy as np\n"
    "from PIL import Image\n"
    "import torchvision.transforms.functional as F\n"
    "from torchvision.transforms import InterpolationMode\n"
    "d = sys.argv[1]\n"
    "for line in open(d + '/cases.txt'):\n"
    "    f = line.split()\n"
    "    k, op, c, s = map(int, f[:4]); v = float(f[4]); cy, cx, fl = map(int, f[5:8])\n"
    "    a = np.fromfile('%s/in%d.raw' % (d, k), dtype=np.uint8)\n"
    "    im = Image.fromarray(a.reshape(s, s) if c == 1 else a.reshape(s, s, 3), 'L' if c == 1 else 'RGB')\n"
    "    if op == 0: r = F.adjust_brightness(im, v)\n"
    "    elif op == 1: r = F.adjust_contrast(im, v)\n"
    "    elif op == 2: r = F.adjust_saturation(im, v)\n"
    "    elif op == 3: r = F.adjust_hue(im, v)\n"
    "    elif op == 4: r = F.rotate(im, v, InterpolationMode.NEAREST, False, None, 0)\n"
    "    else:\n"
    "        r = F.crop(F.pad(im, 4, fill=0), cy, cx, s, s)\n"
    "        if fl: r = F.hflip(r)\n"
    "    np.ascontiguousarray(np.asarray(r)).tofile('%s/ref%d.raw' % (d, k))\n";

static void augment_steps_bitexact_vs_torchvision(void) {
  if (!tu_have_pil() || system(PYTHON " -c 'import torchvision' 2>/dev/null") != 0) {
    fprintf(stderr, "\n  SKIP: %s with PIL, numpy and torchvision not available; comparison not run\n", PYTHON);
    return;
  }
  char *dir = tu_tmpdir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  uint8_t *in[NCASES];
  FILE *f = fopen(tu_path(dir, "cases.txt"), "w");
  for (int k = 0; k < NCASES; k++) {
    const acase *a = &cases[k];
    const size_t n = (size_t)a->s * a->s * a->c;
    in[k] = malloc(n);
    if (k % 2) tu_fill_smooth(in[k], a->s, a->s, a->c, 3 + k);
    else tu_fill_random(in[k], n, 3 + k);
    char name[64];
    snprintf(name, sizeof name, "in%d.raw", k);
    CU_ASSERT_EQUAL(tu_write(tu_path(dir, name), in[k], n), 0);
    fprintf(f, "%d %d %d %d %.9g %d %d %d\n", k, a->op, a->c, a->s, (double)a->v, a->cy, a->cx, a->flip);
  }
  fclose(f);
  CU_ASSERT_EQUAL_FATAL(tu_run_python(dir, script, dir), 0);
  static const char *names[] = {"brightness", "contrast", "saturation", "hue", "rotate", "pad+crop+flip"};
  for (int k = 0; k < NCASES; k++) {
    const acase *a = &cases[k];
    const size_t n = (size_t)a->s * a->s * a->c;
    uint8_t *out = malloc(n), *ref = NULL;
    size_t rl = 0;
    memcpy(out, in[k], n);
    switch (a->op) {
    case 0: asim_aug_brightness(out, (int64_t)a->s * a->s, a->c, a->v); break;
    case 1: asim_aug_contrast(out, (int64_t)a->s * a->s, a->c, a->v); break;
    case 2: asim_aug_saturation(out, (int64_t)a->s * a->s, a->c, a->v); break;
    case 3: asim_aug_hue(out, (int64_t)a->s * a->s, a->c, a->v); break;
    case 4: asim_aug_rotate(out, in[k], a->s, a->c, a->v); break;
    default: {
      /* the full apply with the identity jitter (brightness 1) and no rotation */
      asim_aug_params p = {0, 1.0f, 4, a->cy, a->cx, a->flip, 0.0f};
      CU_ASSERT_OK(asim_augment_apply(out, in[k], a->s, a->c, a->s, &p));
    }
    }
    char name[64];
    snprintf(name, sizeof name, "ref%d.raw", k);
    CU_ASSERT_EQUAL(tu_read(tu_path(dir, name), &ref, &rl), 0);
    CU_ASSERT_EQUAL(rl, n);
    size_t diff = 0;
    for (size_t i = 0; ref && i < n && rl == n; i++) diff += out[i] != ref[i];
    fprintf(stderr, "\n    %-14s %s %dx%d v=%-8g: %zu of %zu values differ", names[a->op], a->c == 1 ? "gray" : "RGB ",
            a->s, a->s, (double)a->v, diff, n);
    CU_ASSERT_EQUAL(diff, 0);
    free(out), free(ref), free(in[k]);
  }
  tu_rmtree(dir);
}

static void augment_draws_depend_only_on_seed_epoch_sample(void) {
  asim_aug_params a, b, c;
  asim_augment_draw(&a, 0, 7, 3, 12345, 28, 28);
  asim_augment_draw(&b, 0, 7, 3, 12345, 28, 28);
  CU_ASSERT_EQUAL(memcmp(&a, &b, sizeof a), 0);
  asim_augment_draw(&c, 0, 7, 4, 12345, 28, 28);
  CU_ASSERT_NOT_EQUAL(memcmp(&a, &c, sizeof a), 0);
  /* ranges over many draws */
  int seen[4] = {0}, flips = 0;
  for (int i = 0; i < 4000; i++) {
    asim_augment_draw(&a, 0, 1, 0, i, 28, 28);
    seen[a.jitter]++;
    flips += a.flip;
    CU_ASSERT(a.crop_y >= 0 && a.crop_y <= 8 && a.crop_x >= 0 && a.crop_x <= 8);
    CU_ASSERT(a.angle >= -15.0f && a.angle <= 15.0f);
    if (a.jitter == 3) {
      CU_ASSERT(a.factor >= -0.3f && a.factor <= 0.3f);
    } else {
      CU_ASSERT(a.factor >= 0.5f && a.factor <= 1.5f);
    }
  }
  for (int j = 0; j < 4; j++) CU_ASSERT(seen[j] > 850 && seen[j] < 1150);
  CU_ASSERT(flips > 1850 && flips < 2150);
  /* mixup's Beta(1, 1) is uniform: mean 1/2, variance 1/12 */
  double s = 0, s2 = 0;
  for (int i = 0; i < 4000; i++) {
    double l = asim_beta_draw(1.0, 5, 0, i);
    CU_ASSERT(l >= 0.0 && l <= 1.0);
    s += l, s2 += l * l;
  }
  CU_ASSERT_DOUBLE_EQUAL(s / 4000, 0.5, 0.02);
  CU_ASSERT_DOUBLE_EQUAL(s2 / 4000 - (s / 4000) * (s / 4000), 1.0 / 12, 0.01);
  CU_ASSERT_DOUBLE_EQUAL(asim_beta_draw(0.0, 5, 0, 0), 1.0, 0);
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(augment);
  ASIM_ADD_TEST(augment, augment_steps_bitexact_vs_torchvision);
  ASIM_ADD_TEST(augment, augment_draws_depend_only_on_seed_epoch_sample);
}
