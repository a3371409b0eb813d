/* Every dataset format read back from small sets written at test time: labels, sample order,
 * pixels (exact for lossless sources), the test transform, ASiM's label quirk handling, the
 * packed HDF5 round trip and concurrent reads. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "asim/dataset.h"
#include "asim/image.h"
#include "cu_util.h"
#include "ds_test_util.h"

static uint8_t *img32(int cls, int j) { /* the pixels of CIFAR-style sample (class, j) */
  uint8_t *p = malloc(32 * 32 * 3);
  tu_fill_random(p, 32 * 32 * 3, (uint32_t)(cls * 100 + j + 1));
  return p;
}

/* root/<class>/{"9.png","10.png","a.png"} + files that must be ignored; creation order is
 * scrambled so that only sorting gives the expected order. */
static const char *pngnames[3] = {"a.png", "9.png", "10.png"}; /* sorted: 10, 9, a */
static const int png_sorted[3] = {2, 1, 0};                     /* index into pngnames */

static void make_png_folders(const char *root, const char **classes, int ncls) {
  mkdir(root, 0755);
  for (int c = ncls - 1; c >= 0; c--) {
    const char *cd = tu_path(root, classes[c]);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", cd);
    mkdir(dir, 0755);
    for (int j = 0; j < 3; j++) {
      uint8_t *p = img32(c, j);
      CU_ASSERT_EQUAL(tu_write_png(tu_path(dir, pngnames[j]), p, 32, 32, 3, 0), 0);
      free(p);
    }
    tu_write_str(tu_path(dir, "notes.txt"), "not an image");
    uint8_t *p = img32(9, 9);
    tu_write_png(tu_path(dir, "upper.PNG"), p, 32, 32, 3, 0); /* suffix is case-sensitive */
    free(p);
  }
}

static const char *cifar_classes[3] = {"airplane", "bird", "cat"};

static void expect_float_transform(const asim_dataset *ds, int64_t i, const uint8_t *hwc) {
  int S = asim_dataset_input_size(ds), C = asim_dataset_channels(ds), lab = -1;
  float *x = malloc(sizeof(float) * S * S * C), mean[3], std[3];
  asim_dataset_norm(ds, mean, std);
  CU_ASSERT_OK(asim_dataset_get(ds, i, x, &lab));
  CU_ASSERT_EQUAL(lab, asim_dataset_label(ds, i));
  int ok = 1;
  for (int c = 0; c < C; c++)
    for (int q = 0; q < S * S; q++) {
      float v = ((float)hwc[q * C + c] / 255.0f - mean[c]) / std[c];
      ok &= memcmp(&v, &x[c * S * S + q], 4) == 0; /* bit-identical float32 */
    }
  CU_ASSERT(ok);
  free(x);
}

static void test_png_folders_labels_order_pixels(void) {
  char *dir = tu_tmpdir();
  char root[4096];
  snprintf(root, sizeof root, "%s/test", dir);
  make_png_folders(root, cifar_classes, 3);
  asim_dataset *ds;
  asim_dataset_opts o = {.path = root, .task = "CIFAR-10"}; /* format auto */
  CU_ASSERT_OK(asim_dataset_open(&ds, &o));
  CU_ASSERT_EQUAL(asim_dataset_format_of(ds), ASIM_FMT_FOLDERS);
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 9);
  CU_ASSERT_EQUAL(asim_dataset_classes(ds), 10);
  CU_ASSERT_EQUAL(asim_dataset_channels(ds), 3);
  CU_ASSERT_EQUAL(asim_dataset_input_size(ds), 32);
  uint8_t hwc[32 * 32 * 3];
  for (int i = 0; i < 9; i++) {
    int c = i / 3, j = png_sorted[i % 3], lab = -1;
    CU_ASSERT_EQUAL(asim_dataset_label(ds, i), c);
    char nm[256], want[256];
    CU_ASSERT_OK(asim_dataset_sample_name(ds, i, nm, sizeof nm));
    snprintf(want, sizeof want, "%s/%s", cifar_classes[c], pngnames[j]);
    CU_ASSERT_STRING_EQUAL(nm, want);
    CU_ASSERT_OK(asim_dataset_get_u8(ds, i, hwc, &lab));
    CU_ASSERT_EQUAL(lab, c);
    uint8_t *p = img32(c, j);
    CU_ASSERT(memcmp(p, hwc, sizeof hwc) == 0); /* PNG is lossless: exact */
    expect_float_transform(ds, i, p);
    free(p);
  }
  CU_ASSERT_EQUAL(asim_dataset_label(ds, 9), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_dataset_name(ds), "CIFAR-10"));
  CU_ASSERT_STRING_EQUAL(asim_dataset_path(ds), root);
  asim_dataset_close(ds);

  /* Upsampled for a ViT: the Pillow resize of the decoded PNG. */
  o.input_size = 48;
  CU_ASSERT_OK(asim_dataset_open(&ds, &o));
  uint8_t big[48 * 48 * 3], want[48 * 48 * 3];
  CU_ASSERT_OK(asim_dataset_get_u8(ds, 4, big, NULL));
  uint8_t *p = img32(1, png_sorted[1]);
  CU_ASSERT_OK(asim_resize_bilinear_u8(p, 32, 32, 3, want, 48, 48));
  CU_ASSERT(memcmp(big, want, sizeof big) == 0);
  expect_float_transform(ds, 4, want);
  free(p);
  asim_dataset_close(ds);
  tu_rmtree(dir);
}

static void test_png_folders_stray_file_label_quirk(void) {
  char *dir = tu_tmpdir();
  char root[4096];
  snprintf(root, sizeof root, "%s/test", dir);
  make_png_folders(root, cifar_classes, 3);
  tu_write_str(tu_path(root, "zz-after-all-classes.txt"), "harmless: sorts last");
  asim_dataset *ds;
  asim_dataset_opts o = {.path = root, .task = "CIFAR-10", .format = "folders"};
  CU_ASSERT_OK(asim_dataset_open(&ds, &o)); /* shifts nothing: accepted */
  CU_ASSERT_EQUAL(asim_dataset_label(ds, 8), 2);
  asim_dataset_close(ds);

  tu_write_str(tu_path(root, "README"), "sorts before 'airplane' (uppercase first)");
  CU_ASSERT_EQUAL(asim_dataset_open(&ds, &o), ASIM_EFORMAT);
  CU_ASSERT_PTR_NULL(ds);
  const char *m = asim_errmsg();
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "'README' is not a folder"));
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "'airplane'"));
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "shift"));
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "'asim'"));

  o.label_mode = ASIM_LABELS_ASIM; /* ASiM: README takes index 0 */
  CU_ASSERT_OK(asim_dataset_open(&ds, &o));
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 9);
  for (int i = 0; i < 9; i++) CU_ASSERT_EQUAL(asim_dataset_label(ds, i), i / 3 + 1);
  asim_dataset_close(ds);

  o.label_mode = ASIM_LABELS_DIRS;
  CU_ASSERT_OK(asim_dataset_open(&ds, &o));
  for (int i = 0; i < 9; i++) CU_ASSERT_EQUAL(asim_dataset_label(ds, i), i / 3);
  asim_dataset_close(ds);
  tu_rmtree(dir);
}

static void test_jpeg_folders_imagenet(void) {
  char *dir = tu_tmpdir();
  char root[4096];
  snprintf(root, sizeof root, "%s/valid", dir);
  mkdir(root, 0755);
  const char *wnids[2] = {"n01440764", "n01443537"};
  int sizes[2][2] = {{50, 37}, {29, 61}};
  for (int c = 0; c < 2; c++) {
    tu_mkdir(root, wnids[c]);
    char d[4200];
    snprintf(d, sizeof d, "%s/%s", root, wnids[c]);
    for (int j = 0; j < 2; j++) {
      int w = sizes[j][0], h = sizes[j][1];
      uint8_t *p = malloc((size_t)w * h * 3);
      tu_fill_smooth(p, w, h, 3, (uint32_t)(10 * c + j));
      char nm[128];
      snprintf(nm, sizeof nm, "ILSVRC2012_val_%08d.JPEG", 2 - j);
      CU_ASSERT_EQUAL(tu_write_jpeg(tu_path(d, nm), p, w, h, 3, TJSAMP_420, 90), 0);
      CU_ASSERT_EQUAL(tu_write_jpeg(tu_path(d, "lower.jpg"), p, w, h, 3, TJSAMP_420, 90), 0);
      free(p);
    }
  }
  asim_dataset *ds;
  asim_dataset_opts o = {.path = root, .task = "ImageNet", .input_size = 40};
  CU_ASSERT_OK(asim_dataset_open(&ds, &o));
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 4);
  CU_ASSERT_EQUAL(asim_dataset_classes(ds), 1000);
  uint8_t out[40 * 40 * 3], want[40 * 40 * 3];
  for (int i = 0; i < 4; i++) {
    CU_ASSERT_EQUAL(asim_dataset_label(ds, i), i / 2);
    char nm[256], exp[256];
    CU_ASSERT_OK(asim_dataset_sample_name(ds, i, nm, sizeof nm));
    snprintf(exp, sizeof exp, "%s/ILSVRC2012_val_%08d.JPEG", wnids[i / 2], i % 2 + 1);
    CU_ASSERT_STRING_EQUAL(nm, exp);
    /* the decoded file (compared with Pillow in test_image_decode_matches_pil), resized */
    uint8_t *rgb;
    int w, h;
    CU_ASSERT_OK(asim_image_load(tu_path(root, nm), &rgb, &w, &h));
    CU_ASSERT_OK(asim_resize_bilinear_u8(rgb, w, h, 3, want, 40, 40));
    CU_ASSERT_OK(asim_dataset_get_u8(ds, i, out, NULL));
    CU_ASSERT(memcmp(out, want, sizeof out) == 0);
    expect_float_transform(ds, i, want);
    free(rgb);
  }
  asim_dataset_close(ds);
  o.input_size = 0; /* ImageNet default: 224 */
  CU_ASSERT_OK(asim_dataset_open(&ds, &o));
  CU_ASSERT_EQUAL(asim_dataset_input_size(ds), 224);
  asim_dataset_close(ds);
  tu_rmtree(dir);
}

/* CIFAR binary record: [coarse,] label, R plane, G plane, B plane. */
static void write_cifar_bin(const char *path, int c100, int nrec, int seed, int label_mod) {
  int rec = c100 ? 3074 : 3073;
  uint8_t *b = malloc((size_t)nrec * rec);
  for (int r = 0; r < nrec; r++) {
    uint8_t *p = b + (size_t)r * rec;
    if (c100) p[0] = (uint8_t)((seed + r) % 20), p[1] = (uint8_t)((seed + 7 * r) % label_mod);
    else p[0] = (uint8_t)((seed + r) % label_mod);
    tu_fill_random(p + (c100 ? 2 : 1), 3072, (uint32_t)(seed * 1000 + r));
  }
  CU_ASSERT_EQUAL(tu_write(path, b, (size_t)nrec * rec), 0);
  free(b);
}

static void check_cifar_record(const asim_dataset *ds, int64_t i, int c100, int seed, int r) {
  uint8_t planes[3072], hwc[3072];
  tu_fill_random(planes, 3072, (uint32_t)(seed * 1000 + r));
  CU_ASSERT_OK(asim_dataset_get_u8(ds, i, hwc, NULL));
  int ok = 1;
  for (int q = 0; q < 1024; q++)
    for (int c = 0; c < 3; c++) ok &= hwc[3 * q + c] == planes[c * 1024 + q];
  CU_ASSERT(ok);
  (void)c100;
}

static void test_cifar_binaries(void) {
  char *dir = tu_tmpdir();
  char c10[4096], c100[4096];
  snprintf(c10, sizeof c10, "%s/cifar-10-batches-bin", dir);
  snprintf(c100, sizeof c100, "%s/cifar-100-binary", dir);
  mkdir(c10, 0755);
  mkdir(c100, 0755);
  write_cifar_bin(tu_path(c10, "test_batch.bin"), 0, 7, 1, 10);
  for (int k = 1; k <= 5; k++) {
    char nm[64];
    snprintf(nm, sizeof nm, "data_batch_%d.bin", k);
    write_cifar_bin(tu_path(c10, nm), 0, 2, 10 + k, 10);
  }
  write_cifar_bin(tu_path(c100, "test.bin"), 1, 5, 3, 100);
  write_cifar_bin(tu_path(c100, "train.bin"), 1, 3, 4, 100);

  asim_dataset *ds;
  asim_dataset_opts o = {.path = c10, .task = "CIFAR-10"};
  CU_ASSERT_OK(asim_dataset_open(&ds, &o)); /* auto, split test */
  CU_ASSERT_EQUAL(asim_dataset_format_of(ds), ASIM_FMT_CIFAR_BIN);
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 7);
  for (int r = 0; r < 7; r++) {
    CU_ASSERT_EQUAL(asim_dataset_label(ds, r), (1 + r) % 10);
    check_cifar_record(ds, r, 0, 1, r);
  }
  asim_dataset_close(ds);

  o.split = "train";
  CU_ASSERT_OK(asim_dataset_open(&ds, &o));
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 10);
  for (int i = 0; i < 10; i++) {
    int k = i / 2 + 1, r = i % 2;
    CU_ASSERT_EQUAL(asim_dataset_label(ds, i), (10 + k + r) % 10);
    check_cifar_record(ds, i, 0, 10 + k, r);
  }
  char nm[128];
  CU_ASSERT_OK(asim_dataset_sample_name(ds, 5, nm, sizeof nm));
  CU_ASSERT_STRING_EQUAL(nm, "data_batch_3.bin#1");
  asim_dataset_close(ds);

  /* one batch file named directly */
  asim_dataset_opts of = {.path = tu_path(c10, "data_batch_2.bin"), .task = "CIFAR-10"};
  CU_ASSERT_OK(asim_dataset_open(&ds, &of));
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 2);
  check_cifar_record(ds, 1, 0, 12, 1);
  asim_dataset_close(ds);

  /* CIFAR-100: the fine label (second byte) is the label */
  asim_dataset_opts o100 = {.path = c100, .task = "CIFAR-100"};
  CU_ASSERT_OK(asim_dataset_open(&ds, &o100));
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 5);
  CU_ASSERT_EQUAL(asim_dataset_classes(ds), 100);
  for (int r = 0; r < 5; r++) {
    CU_ASSERT_EQUAL(asim_dataset_label(ds, r), (3 + 7 * r) % 100);
    check_cifar_record(ds, r, 1, 3, r);
  }
  /* CIFAR-100 constants, upsampled to 64 */
  asim_dataset_close(ds);
  o100.input_size = 64;
  o100.split = "train";
  CU_ASSERT_OK(asim_dataset_open(&ds, &o100));
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 3);
  float mean[3], std[3];
  asim_dataset_norm(ds, mean, std);
  CU_ASSERT(mean[0] == (float)0.5071 && std[2] == (float)0.2761);
  uint8_t planes[3072], src[3072], want[64 * 64 * 3];
  tu_fill_random(planes, 3072, 4 * 1000 + 2);
  for (int q = 0; q < 1024; q++)
    for (int c = 0; c < 3; c++) src[3 * q + c] = planes[c * 1024 + q];
  CU_ASSERT_OK(asim_resize_bilinear_u8(src, 32, 32, 3, want, 64, 64));
  expect_float_transform(ds, 2, want);
  asim_dataset_close(ds);
  tu_rmtree(dir);
}

static void write_idx(const char *dir, const char *prefix, int n, int gz, int seed) {
  size_t il = 16 + (size_t)n * 784, ll = 8 + (size_t)n;
  uint8_t *im = calloc(il, 1), *lb = calloc(ll, 1);
  uint8_t hi[16] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)n, 0, 0, 0, 28, 0, 0, 0, 28};
  uint8_t hl[8] = {0, 0, 8, 1, 0, 0, 0, (uint8_t)n};
  memcpy(im, hi, 16);
  memcpy(lb, hl, 8);
  tu_fill_random(im + 16, (size_t)n * 784, (uint32_t)seed);
  for (int i = 0; i < n; i++) lb[8 + i] = (uint8_t)((seed + 3 * i) % 10);
  char a[256], b[256];
  snprintf(a, sizeof a, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
  snprintf(b, sizeof b, "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
  if (gz) {
    CU_ASSERT_EQUAL(tu_write_gz(tu_path(dir, a), im, il), 0);
    CU_ASSERT_EQUAL(tu_write_gz(tu_path(dir, b), lb, ll), 0);
  } else {
    CU_ASSERT_EQUAL(tu_write(tu_path(dir, a), im, il), 0);
    CU_ASSERT_EQUAL(tu_write(tu_path(dir, b), lb, ll), 0);
  }
  free(im);
  free(lb);
}

static void test_idx_gzip_and_plain(void) {
  char *dir = tu_tmpdir();
  write_idx(dir, "t10k", 5, 1, 21);
  write_idx(dir, "train", 4, 0, 22);
  asim_dataset *ds;
  asim_dataset_opts o = {.path = dir, .task = "Fashion-MNIST"};
  CU_ASSERT_OK(asim_dataset_open(&ds, &o));
  CU_ASSERT_EQUAL(asim_dataset_format_of(ds), ASIM_FMT_IDX);
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 5);
  CU_ASSERT_EQUAL(asim_dataset_channels(ds), 1);
  CU_ASSERT_EQUAL(asim_dataset_input_size(ds), 28);
  uint8_t all[5 * 784], g[784];
  tu_fill_random(all, sizeof all, 21);
  for (int i = 0; i < 5; i++) {
    CU_ASSERT_EQUAL(asim_dataset_label(ds, i), (21 + 3 * i) % 10);
    CU_ASSERT_OK(asim_dataset_get_u8(ds, i, g, NULL));
    CU_ASSERT(memcmp(g, all + 784 * i, 784) == 0);
    expect_float_transform(ds, i, g);
  }
  float mean[3], std[3];
  asim_dataset_norm(ds, mean, std);
  CU_ASSERT(mean[0] == (float)0.2860 && std[0] == (float)0.3530);
  asim_dataset_close(ds);

  /* plain train split, 3 channels (gray replicated) at 32×32, MNIST constants */
  asim_dataset_opts t = {.path = dir, .task = "MNIST", .split = "train", .channels = 3, .input_size = 32};
  CU_ASSERT_OK(asim_dataset_open(&ds, &t));
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 4);
  CU_ASSERT_EQUAL(asim_dataset_channels(ds), 3);
  uint8_t tr[4 * 784], r32[32 * 32], out[32 * 32 * 3], want[32 * 32 * 3];
  tu_fill_random(tr, sizeof tr, 22);
  CU_ASSERT_OK(asim_resize_bilinear_u8(tr + 784 * 3, 28, 28, 1, r32, 32, 32));
  for (int q = 0; q < 1024; q++) want[3 * q] = want[3 * q + 1] = want[3 * q + 2] = r32[q];
  CU_ASSERT_OK(asim_dataset_get_u8(ds, 3, out, NULL));
  CU_ASSERT(memcmp(out, want, sizeof out) == 0);
  expect_float_transform(ds, 3, want);
  asim_dataset_norm(ds, mean, std);
  CU_ASSERT(mean[2] == (float)0.1307 && std[1] == (float)0.3081);
  asim_dataset_close(ds);

  /* the images file given directly: the labels file is found beside it */
  asim_dataset_opts f = {.path = tu_path(dir, "t10k-images-idx3-ubyte.gz"), .task = "MNIST"};
  CU_ASSERT_OK(asim_dataset_open(&ds, &f));
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 5);
  char nm[128];
  CU_ASSERT_OK(asim_dataset_sample_name(ds, 4, nm, sizeof nm));
  CU_ASSERT_STRING_EQUAL(nm, "t10k-images-idx3-ubyte.gz#4");
  asim_dataset_close(ds);
  tu_rmtree(dir);
}

static void test_cifar100_csv_layout(void) {
  char *dir = tu_tmpdir();
  char root[4096];
  snprintf(root, sizeof root, "%s/test_images", dir);
  mkdir(root, 0755);
  const char *files[5] = {"c.jpg", "a.jpg", "b.jpg", "z.jpg", "notes.txt"};
  uint8_t *px = malloc(32 * 32 * 3);
  for (int k = 0; k < 4; k++) {
    tu_fill_smooth(px, 32, 32, 3, (uint32_t)k);
    CU_ASSERT_EQUAL(tu_write_jpeg(tu_path(root, files[k]), px, 32, 32, 3, TJSAMP_420, 95), 0);
  }
  free(px);
  tu_write_str(tu_path(root, files[4]), "x");
  /* pandas-style index column, label names with a quoted comma, CRLF line ends */
  tu_write_str(tu_path(dir, "train.csv"),
               ",image_id,fine_label_names,fine_labels,coarse_labels\r\n"
               "0,a.jpg,apple,5,1\r\n"
               "1,\"b.jpg\",\"maple_tree, big\",7,2\r\n"
               "2,c.jpg,bus,9,3\r\n");
  tu_write_str(tu_path(dir, "test.csv"), "image_id,fine_labels\n a.jpg , 42\n\nq.jpg,1\n");
  asim_dataset *ds;
  asim_dataset_opts o = {.path = root, .task = "CIFAR-100"};
  CU_ASSERT_OK(asim_dataset_open(&ds, &o));
  CU_ASSERT_EQUAL(asim_dataset_format_of(ds), ASIM_FMT_CSV);
  CU_ASSERT_EQUAL_FATAL(asim_dataset_size(ds), 3); /* z.jpg is in no CSV: skipped */
  const char *order[3] = {"a.jpg", "b.jpg", "c.jpg"};
  int labels[3] = {42, 7, 9}; /* a.jpg: test.csv wins */
  uint8_t out[32 * 32 * 3];
  for (int i = 0; i < 3; i++) {
    char nm[64];
    CU_ASSERT_OK(asim_dataset_sample_name(ds, i, nm, sizeof nm));
    CU_ASSERT_STRING_EQUAL(nm, order[i]);
    CU_ASSERT_EQUAL(asim_dataset_label(ds, i), labels[i]);
    uint8_t *rgb;
    int w, h;
    CU_ASSERT_OK(asim_image_load(tu_path(root, order[i]), &rgb, &w, &h));
    CU_ASSERT_OK(asim_dataset_get_u8(ds, i, out, NULL));
    CU_ASSERT(w == 32 && h == 32 && memcmp(out, rgb, sizeof out) == 0);
    free(rgb);
  }
  asim_dataset_close(ds);
  tu_rmtree(dir);
}

/* Pack → read back: identical samples, labels and names; metadata from the file. */
static void test_hdf5_pack_roundtrip(void) {
  char *dir = tu_tmpdir();
  char root[4096], h5[4096];
  snprintf(root, sizeof root, "%s/test", dir);
  snprintf(h5, sizeof h5, "%s/cifar.h5", dir);
  make_png_folders(root, cifar_classes, 3);
  asim_dataset *src, *ds;
  asim_dataset_opts o = {.path = root, .task = "CIFAR-10"};
  CU_ASSERT_OK(asim_dataset_open(&src, &o));
  CU_ASSERT_OK(asim_dataset_pack(src, h5, MPI_COMM_SELF, NULL, NULL));
  asim_dataset_opts oh = {.path = h5}; /* auto format, task from the file */
  CU_ASSERT_OK(asim_dataset_open(&ds, &oh));
  CU_ASSERT_EQUAL(asim_dataset_format_of(ds), ASIM_FMT_HDF5);
  CU_ASSERT_EQUAL(asim_dataset_task(ds), ASIM_TASK_CIFAR10);
  CU_ASSERT_EQUAL(asim_dataset_classes(ds), 10);
  CU_ASSERT_EQUAL_FATAL(asim_dataset_size(ds), 9);
  CU_ASSERT_EQUAL(asim_dataset_input_size(ds), 32);
  uint8_t a[3072], b[3072];
  for (int i = 0; i < 9; i++) {
    int la, lb;
    char na[128], nb[128];
    CU_ASSERT_OK(asim_dataset_get_u8(src, i, a, &la));
    CU_ASSERT_OK(asim_dataset_get_u8(ds, i, b, &lb));
    CU_ASSERT(la == lb && memcmp(a, b, sizeof a) == 0);
    CU_ASSERT_OK(asim_dataset_sample_name(src, i, na, sizeof na));
    CU_ASSERT_OK(asim_dataset_sample_name(ds, i, nb, sizeof nb));
    CU_ASSERT_STRING_EQUAL(na, nb);
  }
  asim_dataset_close(ds);
  /* Stored pixels are the 32×32 originals (resized = 0): resizing them now is exact. */
  oh.input_size = 48;
  o.input_size = 48;
  asim_dataset *s48;
  CU_ASSERT_OK(asim_dataset_open(&ds, &oh));
  CU_ASSERT_OK(asim_dataset_open(&s48, &o));
  float *x = malloc(sizeof(float) * 48 * 48 * 3), *y = malloc(sizeof(float) * 48 * 48 * 3);
  CU_ASSERT_OK(asim_dataset_get(ds, 7, x, NULL));
  CU_ASSERT_OK(asim_dataset_get(s48, 7, y, NULL));
  CU_ASSERT(memcmp(x, y, sizeof(float) * 48 * 48 * 3) == 0);
  asim_dataset_close(ds);
  /* Packed at 48 (resized = 1): asking for another size is refused. */
  CU_ASSERT_OK(asim_dataset_pack(s48, h5, MPI_COMM_SELF, NULL, NULL));
  oh.input_size = 32;
  CU_ASSERT_EQUAL(asim_dataset_open(&ds, &oh), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "--input-size 32"));
  oh.input_size = 0;
  oh.task = "CIFAR-100";
  CU_ASSERT_EQUAL(asim_dataset_open(&ds, &oh), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "holds task CIFAR-10"));
  oh.task = "CIFAR-10";
  CU_ASSERT_OK(asim_dataset_open(&ds, &oh));
  CU_ASSERT_OK(asim_dataset_get(ds, 7, x, NULL));
  CU_ASSERT(memcmp(x, y, sizeof(float) * 48 * 48 * 3) == 0);
  asim_dataset_close(ds);
  asim_dataset_close(s48);
  asim_dataset_close(src);
  free(x);
  free(y);

  /* IDX with channels = 3: stored as 3 channels */
  write_idx(dir, "t10k", 3, 1, 5);
  asim_dataset_opts oi = {.path = dir, .format = "idx", .task = "MNIST", .channels = 3};
  CU_ASSERT_OK(asim_dataset_open(&src, &oi));
  CU_ASSERT_OK(asim_dataset_pack(src, h5, MPI_COMM_SELF, NULL, NULL));
  CU_ASSERT_OK(asim_dataset_open(&ds, &(asim_dataset_opts){.path = h5, .format = "hdf5"}));
  CU_ASSERT_EQUAL(asim_dataset_channels(ds), 3);
  CU_ASSERT_EQUAL(asim_dataset_task(ds), ASIM_TASK_MNIST);
  uint8_t g3[28 * 28 * 3], h3[28 * 28 * 3];
  CU_ASSERT_OK(asim_dataset_get_u8(src, 2, g3, NULL));
  CU_ASSERT_OK(asim_dataset_get_u8(ds, 2, h3, NULL));
  CU_ASSERT(memcmp(g3, h3, sizeof g3) == 0);
  asim_dataset_close(ds);
  asim_dataset_close(src);
  tu_rmtree(dir);
}

/* A file made with h5py (variable-length string attributes, no /names) is read too. */
static void test_hdf5_written_by_h5py(void) {
  if (system(PYTHON " -c 'import h5py, numpy' >/dev/null 2>&1") != 0) {
    fprintf(stderr, "\n  SKIP: h5py not available\n");
    return;
  }
  char *dir = tu_tmpdir();
  const char *script =
      "import sys, h5py, numpy as np\n"
      "with h5py.File(sys.argv[1] + '/py.h5', 'w') as f:\n"
      "    f['images'] = (np.arange(4 * 8 * 8 * 3) % 251).astype(np.uint8).reshape(4, 8, 8, 3)\n"
      "    f['labels'] = np.array([3, 1, 4, 1], dtype=np.int64)\n"
      "    f.attrs['task'] = 'CIFAR-10'\n"
      "    f.attrs['classes'] = 10\n"
      "    f.attrs['source'] = 'made by h5py'\n"
      "    f.attrs['format_version'] = 1\n";
  CU_ASSERT_EQUAL_FATAL(tu_run_python(dir, script, dir), 0);
  asim_dataset *ds;
  CU_ASSERT_OK(asim_dataset_open(&ds, &(asim_dataset_opts){.path = tu_path(dir, "py.h5")}));
  CU_ASSERT_EQUAL(asim_dataset_size(ds), 4);
  CU_ASSERT_EQUAL(asim_dataset_label(ds, 2), 4);
  CU_ASSERT_EQUAL(asim_dataset_input_size(ds), 8);
  uint8_t px[8 * 8 * 3];
  CU_ASSERT_OK(asim_dataset_get_u8(ds, 1, px, NULL));
  CU_ASSERT_EQUAL(px[5], (192 + 5) % 251);
  char nm[64];
  CU_ASSERT_OK(asim_dataset_sample_name(ds, 3, nm, sizeof nm));
  CU_ASSERT_STRING_EQUAL(nm, "#3");
  asim_dataset_close(ds);
  tu_rmtree(dir);
}

/* Several threads reading one handle give what serial reads give. */
typedef struct {
  const asim_dataset *ds;
  const float *ref;
  int ok;
} thr_arg;

static void *reader(void *p) {
  thr_arg *a = p;
  int64_t n = asim_dataset_size(a->ds);
  size_t sz = (size_t)asim_dataset_input_size(a->ds) * asim_dataset_input_size(a->ds) *
              asim_dataset_channels(a->ds);
  float *x = malloc(sizeof(float) * sz);
  a->ok = 1;
  for (int rep = 0; rep < 5; rep++)
    for (int64_t i = n - 1; i >= 0; i--) {
      if (asim_dataset_get(a->ds, i, x, NULL) != ASIM_OK || memcmp(x, a->ref + i * sz, sz * 4)) a->ok = 0;
    }
  free(x);
  return NULL;
}

static void test_concurrent_reads(void) {
  char *dir = tu_tmpdir();
  char root[4096], h5[4096];
  snprintf(root, sizeof root, "%s/test", dir);
  snprintf(h5, sizeof h5, "%s/c.h5", dir);
  make_png_folders(root, cifar_classes, 3);
  asim_dataset *png, *hd;
  CU_ASSERT_OK(asim_dataset_open(&png, &(asim_dataset_opts){.path = root, .task = "CIFAR-10", .input_size = 40}));
  CU_ASSERT_OK(asim_dataset_pack(png, h5, MPI_COMM_SELF, NULL, NULL));
  CU_ASSERT_OK(asim_dataset_open(&hd, &(asim_dataset_opts){.path = h5}));
  size_t sz = 40 * 40 * 3;
  float *ref = malloc(sizeof(float) * sz * 9);
  for (int i = 0; i < 9; i++) CU_ASSERT_OK(asim_dataset_get(png, i, ref + i * sz, NULL));
  pthread_t t[4];
  thr_arg a[4];
  for (int k = 0; k < 4; k++) {
    a[k] = (thr_arg){k % 2 ? hd : png, ref, 0};
    pthread_create(&t[k], NULL, reader, &a[k]);
  }
  for (int k = 0; k < 4; k++) {
    pthread_join(t[k], NULL);
    CU_ASSERT(a[k].ok);
  }
  free(ref);
  asim_dataset_close(hd);
  asim_dataset_close(png);
  tu_rmtree(dir);
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(formats);
  ASIM_ADD_TEST(formats, test_png_folders_labels_order_pixels);
  ASIM_ADD_TEST(formats, test_png_folders_stray_file_label_quirk);
  ASIM_ADD_TEST(formats, test_jpeg_folders_imagenet);
  ASIM_ADD_TEST(formats, test_cifar_binaries);
  ASIM_ADD_TEST(formats, test_idx_gzip_and_plain);
  ASIM_ADD_TEST(formats, test_cifar100_csv_layout);
  ASIM_ADD_TEST(formats, test_hdf5_pack_roundtrip);
  ASIM_ADD_TEST(formats, test_hdf5_written_by_h5py);
  ASIM_ADD_TEST(formats, test_concurrent_reads);
}
