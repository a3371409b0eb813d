/* The Debian Fashion-MNIST files through the IDX reader: sizes, the first and last test and
 * train images and labels against a numpy read of the .gz files, the float32 test transform
 * against numpy, and the 3-channel 32×32 variant against Pillow. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asim/dataset.h"
#include "cu_util.h"
#include "ds_test_util.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

static const char *script =
    "import sys, gzip, numpy as np\n"
    "from PIL import Image\n"
    "d, src = sys.argv[1], sys.argv[2]\n"
    "for split, pre in (('test', 't10k'), ('train', 'train')):\n"
    "    im = np.frombuffer(gzip.open('%s/%s-images-idx3-ubyte.gz' % (src, pre)).read(), np.uint8, offset=16)\n"
    "    lb = np.frombuffer(gzip.open('%s/%s-labels-idx1-ubyte.gz' % (src, pre)).read(), np.uint8, offset=8)\n"
    "    im = im.reshape(-1, 28, 28)\n"
    "    sel = [0, len(im) - 1]\n"
    "    im[sel].tofile('%s/%s.u8' % (d, split))\n"
    "    np.array([len(im)] + [int(lb[i]) for i in sel], np.int32).tofile('%s/%s.lab' % (d, split))\n"
    "    # ToTensor + Normalize in float32, as torchvision does\n"
    "    x = (im[sel].astype(np.float32) / np.float32(255) - np.float32(0.2860)) / np.float32(0.3530)\n"
    "    x.astype(np.float32).tofile('%s/%s.f32' % (d, split))\n"
    "    # ViT-style: Pillow bilinear to 32x32, then RGB\n"
    "    r = [np.asarray(Image.fromarray(im[i], 'L').resize((32, 32), Image.BILINEAR).convert('RGB')) for i in sel]\n"
    "    np.stack(r).tofile('%s/%s.rgb32' % (d, split))\n";

static void check_split(const char *dir, const char *split) {
  char p[4200];
  uint8_t *u8, *rgb32;
  int32_t *lab;
  float *f32;
  size_t n;
  snprintf(p, sizeof p, "%s/%s.u8", dir, split);
  CU_ASSERT_EQUAL_FATAL(tu_read(p, &u8, &n), 0);
  snprintf(p, sizeof p, "%s/%s.lab", dir, split);
  CU_ASSERT_EQUAL_FATAL(tu_read(p, (uint8_t **)&lab, &n), 0);
  snprintf(p, sizeof p, "%s/%s.f32", dir, split);
  CU_ASSERT_EQUAL_FATAL(tu_read(p, (uint8_t **)&f32, &n), 0);
  snprintf(p, sizeof p, "%s/%s.rgb32", dir, split);
  CU_ASSERT_EQUAL_FATAL(tu_read(p, &rgb32, &n), 0);

  asim_dataset *ds, *ds3;
  CU_ASSERT_OK(asim_dataset_open(&ds, &(asim_dataset_opts){.path = FMNIST, .task = "Fashion-MNIST", .split = split}));
  CU_ASSERT_OK(asim_dataset_open(&ds3, &(asim_dataset_opts){.path = FMNIST, .task = "Fashion-MNIST",
                                                           .split = split, .channels = 3, .input_size = 32}));
  int64_t N = asim_dataset_size(ds);
  CU_ASSERT_EQUAL(N, lab[0]);
  CU_ASSERT_EQUAL(N, !strcmp(split, "test") ? 10000 : 60000);
  int64_t idx[2] = {0, N - 1};
  for (int k = 0; k < 2; k++) {
    uint8_t g[784], c3[32 * 32 * 3];
    float x[784];
    int l = -1;
    CU_ASSERT_OK(asim_dataset_get_u8(ds, idx[k], g, &l));
    CU_ASSERT_EQUAL(l, lab[1 + k]);
    CU_ASSERT(memcmp(g, u8 + 784 * k, 784) == 0);
    CU_ASSERT_OK(asim_dataset_get(ds, idx[k], x, NULL));
    CU_ASSERT(memcmp(x, f32 + 784 * k, sizeof x) == 0); /* bit-identical float32 */
    CU_ASSERT_OK(asim_dataset_get_u8(ds3, idx[k], c3, NULL));
    CU_ASSERT(memcmp(c3, rgb32 + sizeof c3 * k, sizeof c3) == 0);
    fprintf(stderr, "\n  %s[%lld]: label %d (numpy %d), pixels, float32 transform and 3x32x32 "
            "Pillow variant compared", split, (long long)idx[k], l, lab[1 + k]);
  }
  asim_dataset_close(ds);
  asim_dataset_close(ds3);
  free(u8);
  free(lab);
  free(f32);
  free(rgb32);
}

static void test_fashion_mnist_first_last_vs_numpy(void) {
  if (access(FMNIST "/t10k-images-idx3-ubyte.gz", R_OK) != 0) {
    fprintf(stderr, "\n  SKIP: %s not installed (Debian package dataset-fashion-mnist)\n", FMNIST);
    return;
  }
  if (!tu_have_pil()) {
    fprintf(stderr, "\n  SKIP: %s with PIL and numpy not available\n", PYTHON);
    return;
  }
  char *dir = tu_tmpdir();
  char args[4400];
  snprintf(args, sizeof args, "%s %s", dir, FMNIST);
  CU_ASSERT_EQUAL_FATAL(tu_run_python(dir, script, args), 0);
  check_split(dir, "test");
  check_split(dir, "train");
  fprintf(stderr, "\n");
  tu_rmtree(dir);
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(fashion_mnist);
  ASIM_ADD_TEST(fashion_mnist, test_fashion_mnist_first_last_vs_numpy);
}
