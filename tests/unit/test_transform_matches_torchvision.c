/* End to end: asim_dataset_get on ImageNet-style JPEG folders and CIFAR-10 PNG folders gives
 * the same float32 bits as ASiM's torchvision test transform (PIL open + convert('RGB'),
 * Resize((S, S)), ToTensor, Normalize), run at test time. */
#include <stdlib.h>
#include <string.h>

#include "asim/dataset.h"
#include "cu_util.h"
#include "ds_test_util.h"

static const char *script =
    "import sys, numpy as np\n"
    "from PIL import Image\n"
    "import torch, torchvision.transforms as T\n"
    "a = sys.argv[1:]\n"
    "for k in range(0, len(a), 5):  # jobs: root list S task out\n"
    "    root, lst, S, task, out = a[k], a[k + 1], int(a[k + 2]), a[k + 3], a[k + 4]\n"
    "    norm = {'ImageNet': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),\n"
    "            'CIFAR-10': ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))}[task]\n"
    "    tf = T.Compose([T.Resize((S, S)), T.ToTensor(), T.Normalize(*norm)])\n"
    "    xs = [tf(Image.open(root + '/' + n.strip()).convert('RGB')).numpy() for n in open(lst)]\n"
    "    np.stack(xs).astype(np.float32).tofile(out)\n";

typedef struct {
  const char *root, *task;
  int S;
  char lst[4200], out[4200];
} job;

/* Writes job k's sample list (our order) and appends its arguments for the script. */
static void prepare(const char *dir, job *j, int k, char *args, size_t cap) {
  asim_dataset *ds;
  CU_ASSERT_OK(asim_dataset_open(&ds, &(asim_dataset_opts){.path = j->root, .task = j->task, .input_size = j->S}));
  snprintf(j->lst, sizeof j->lst, "%s/list%d.txt", dir, k);
  snprintf(j->out, sizeof j->out, "%s/ref%d.f32", dir, k);
  FILE *f = fopen(j->lst, "w");
  for (int64_t i = 0; i < asim_dataset_size(ds); i++) {
    char nm[512];
    CU_ASSERT_OK(asim_dataset_sample_name(ds, i, nm, sizeof nm));
    fprintf(f, "%s\n", nm);
  }
  fclose(f);
  size_t L = strlen(args);
  snprintf(args + L, cap - L, " %s %s %d %s %s", j->root, j->lst, j->S, j->task, j->out);
  asim_dataset_close(ds);
}

static void check(const job *j) {
  asim_dataset *ds;
  CU_ASSERT_OK(asim_dataset_open(&ds, &(asim_dataset_opts){.path = j->root, .task = j->task, .input_size = j->S}));
  int64_t n = asim_dataset_size(ds);
  float *ref;
  size_t len, per = (size_t)3 * j->S * j->S;
  CU_ASSERT_EQUAL_FATAL(tu_read(j->out, (uint8_t **)&ref, &len), 0);
  CU_ASSERT_EQUAL_FATAL(len, sizeof(float) * per * (size_t)n);
  float *x = malloc(sizeof(float) * per);
  size_t bad = 0;
  double maxd = 0;
  for (int64_t i = 0; i < n; i++) {
    CU_ASSERT_OK(asim_dataset_get(ds, i, x, NULL));
    for (size_t q = 0; q < per; q++) {
      float r = ref[i * per + q];
      if (memcmp(&x[q], &r, 4)) bad++;
      double d = x[q] > r ? x[q] - r : r - x[q];
      if (d > maxd) maxd = d;
    }
  }
  fprintf(stderr, "\n  %-8s S=%-3d %lld images: %zu of %zu float32 values differ, max |diff| %g",
          j->task, j->S, (long long)n, bad, per * (size_t)n, maxd);
  CU_ASSERT_EQUAL(bad, 0);
  free(x);
  free(ref);
  asim_dataset_close(ds);
}

static void test_transform_bits_vs_torchvision(void) {
  if (system(PYTHON " -c 'import PIL, numpy, torch, torchvision' >/dev/null 2>&1") != 0) {
    fprintf(stderr, "\n  SKIP: %s with PIL, numpy, torch and torchvision not available\n", PYTHON);
    return;
  }
  char *dir = tu_tmpdir();
  char inet[4200], cifar[4200];
  snprintf(inet, sizeof inet, "%s/valid", dir);
  snprintf(cifar, sizeof cifar, "%s/test", dir);
  mkdir(inet, 0755);
  mkdir(cifar, 0755);
  /* ImageNet-like: typical validation sizes, one already 224×224 (no resize), gray JPEG */
  int sizes[5][3] = {{500, 375, 3}, {457, 600, 3}, {224, 224, 3}, {100, 80, 3}, {333, 500, 1}};
  const char *wnids[2] = {"n01440764", "n15075141"};
  for (int k = 0; k < 5; k++) {
    int w = sizes[k][0], h = sizes[k][1], c = sizes[k][2];
    uint8_t *p = malloc((size_t)w * h * c);
    tu_fill_smooth(p, w, h, c, (uint32_t)k);
    char d[4400], nm[64];
    snprintf(d, sizeof d, "%s/%s", inet, wnids[k % 2]);
    mkdir(d, 0755);
    snprintf(nm, sizeof nm, "ILSVRC2012_val_%08d.JPEG", k + 1);
    CU_ASSERT_EQUAL(tu_write_jpeg(tu_path(d, nm), p, w, h, c, k == 1 ? TJSAMP_444 : TJSAMP_420, 88), 0);
    free(p);
  }
  /* CIFAR-10 PNGs: 32 (no resize) and 224 (ViT) */
  for (int k = 0; k < 4; k++) {
    uint8_t p[32 * 32 * 3];
    tu_fill_random(p, sizeof p, (uint32_t)k + 50);
    char d[4400], nm[64];
    snprintf(d, sizeof d, "%s/%s", cifar, k < 2 ? "cat" : "dog");
    mkdir(d, 0755);
    snprintf(nm, sizeof nm, "%04d.png", k);
    CU_ASSERT_EQUAL(tu_write_png(tu_path(d, nm), p, 32, 32, 3, 0), 0);
  }
  job jobs[3] = {{.root = inet, .task = "ImageNet", .S = 224}, {.root = cifar, .task = "CIFAR-10", .S = 32},
                 {.root = cifar, .task = "CIFAR-10", .S = 224}};
  char args[30000] = "";
  for (int k = 0; k < 3; k++) prepare(dir, &jobs[k], k, args, sizeof args);
  CU_ASSERT_EQUAL_FATAL(tu_run_python(dir, script, args), 0);
  for (int k = 0; k < 3; k++) check(&jobs[k]);
  fprintf(stderr, "\n");
  tu_rmtree(dir);
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(transform);
  ASIM_ADD_TEST(transform, test_transform_bits_vs_torchvision);
}
