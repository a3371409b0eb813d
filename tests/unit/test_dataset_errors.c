/* Broken datasets fail at open (or at the read of the broken sample) with an error naming the
 * file or entry and saying what is wrong; nothing crashes and nothing leaks. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "asim/dataset.h"
#include "cu_util.h"
#include "ds_test_util.h"

/* Opens with `o`, expects status `code` and every NULL-terminated substring in the message. */
static void expect_open_error(const asim_dataset_opts *o, asim_status code, ...) {
  asim_dataset *ds = (asim_dataset *)1;
  asim_error_clear();
  asim_status st = asim_dataset_open(&ds, o);
  CU_ASSERT_EQUAL(st, code);
  CU_ASSERT_PTR_NULL(ds);
  if (st == ASIM_OK) asim_dataset_close(ds);
  va_list ap;
  va_start(ap, code);
  for (const char *s; (s = va_arg(ap, const char *));) {
    int found = strstr(asim_errmsg(), s) != NULL;
    if (!found) fprintf(stderr, "\n  expected '%s' in:\n%s\n", s, asim_errmsg());
    CU_ASSERT(found);
  }
  va_end(ap);
}

static void write_png_dir(const char *dir, const char *name) {
  uint8_t px[8 * 8 * 3];
  tu_fill_random(px, sizeof px, 3);
  CU_ASSERT_EQUAL(tu_write_png(tu_path(dir, name), px, 8, 8, 3, 0), 0);
}

static void test_bad_options(void) {
  expect_open_error(&(asim_dataset_opts){.path = NULL}, ASIM_EINVAL, "no path", NULL);
  expect_open_error(&(asim_dataset_opts){.path = "/tmp", .format = "zip", .task = "MNIST"},
                    ASIM_EINVAL, "unknown dataset format 'zip'", NULL);
  expect_open_error(&(asim_dataset_opts){.path = "/tmp", .format = "folders", .task = "SVHN"},
                    ASIM_EINVAL, "unknown task 'SVHN'", NULL);
  expect_open_error(&(asim_dataset_opts){.path = "/tmp", .format = "folders"}, ASIM_EINVAL,
                    "a task is required", NULL);
  expect_open_error(&(asim_dataset_opts){.path = "/usr/share/datasets/fashion-mnist", .format = "idx",
                                         .task = "MNIST", .split = "val"},
                    ASIM_EINVAL, "split 'val'", NULL);
  expect_open_error(&(asim_dataset_opts){.path = "/tmp", .format = "folders", .task = "MNIST",
                                         .channels = 2},
                    ASIM_EINVAL, "channels", NULL);
  expect_open_error(&(asim_dataset_opts){.path = "/tmp", .format = "folders", .task = "MNIST",
                                         .input_size = -3},
                    ASIM_EINVAL, "input size -3", NULL);
}

static void test_folder_errors(void) {
  char *dir = tu_tmpdir();
  char root[4096], p[4200];
  asim_dataset_opts o = {.path = root, .task = "CIFAR-10", .format = "folders"};
  snprintf(root, sizeof root, "%s/missing", dir);
  expect_open_error(&o, ASIM_EIO, "cannot open folder", "missing", NULL);
  o.format = NULL; /* auto detection reports the missing path too */
  expect_open_error(&o, ASIM_EIO, "dataset path", "missing", NULL);
  o.format = "folders";

  snprintf(root, sizeof root, "%s/flat", dir);
  mkdir(root, 0755);
  write_png_dir(root, "a.png");
  expect_open_error(&o, ASIM_EFORMAT, "has no class folders", "flat", NULL);
  o.format = NULL;
  expect_open_error(&o, ASIM_EFORMAT, "cannot tell the dataset format", NULL);
  o.format = "folders";

  snprintf(root, sizeof root, "%s/noimages", dir);
  mkdir(root, 0755);
  tu_mkdir(root, "cat");
  tu_mkdir(root, "dog");
  snprintf(p, sizeof p, "%s/cat", root);
  write_png_dir(p, "a.jpg");
  expect_open_error(&o, ASIM_EFORMAT, "no images (names ending in '.png')", "2 class folders", NULL);
  o.task = "MNIST"; /* no default extension */
  expect_open_error(&o, ASIM_EINVAL, "no default image extension", NULL);
  o.task = "CIFAR-10";

  /* 11 class folders are too many for CIFAR-10 */
  snprintf(root, sizeof root, "%s/eleven", dir);
  mkdir(root, 0755);
  for (int c = 0; c < 11; c++) {
    char nm[16];
    snprintf(nm, sizeof nm, "c%02d", c);
    tu_mkdir(root, nm);
    snprintf(p, sizeof p, "%s/%s", root, nm);
    write_png_dir(p, "x.png");
  }
  expect_open_error(&o, ASIM_EFORMAT, "'c10' would get label 10", "10 classes", NULL);
  /* ...and a stray file before them is flagged even in ASiM mode when labels overflow */
  o.label_mode = ASIM_LABELS_ASIM;
  tu_write_str(tu_path(root, ".DS_Store"), "x");
  expect_open_error(&o, ASIM_EFORMAT, "'c09' would get label 10", NULL);
  o.label_mode = ASIM_LABELS_STRICT;
  expect_open_error(&o, ASIM_EFORMAT, "'.DS_Store' is not a folder", NULL);

  /* a corrupt PNG opens (only listings are read) and fails when read, naming the file */
  snprintf(root, sizeof root, "%s/corrupt", dir);
  mkdir(root, 0755);
  tu_mkdir(root, "cat");
  snprintf(p, sizeof p, "%s/cat", root);
  write_png_dir(p, "good.png");
  tu_write_str(tu_path(p, "broken.png"), "\x89PNG\r\n\x1a\n garbage");
  asim_dataset *ds;
  CU_ASSERT_OK(asim_dataset_open(&ds, &o));
  float x[32 * 32 * 3];
  uint8_t u[32 * 32 * 3];
  CU_ASSERT_EQUAL(asim_dataset_get(ds, 0, x, NULL), ASIM_EFORMAT); /* broken.png sorts first */
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "cat/broken.png: corrupt PNG"));
  CU_ASSERT_OK(asim_dataset_get(ds, 1, x, NULL));
  CU_ASSERT_EQUAL(asim_dataset_get_u8(ds, 2, u, NULL), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "sample 2 out of range 0..1"));
  CU_ASSERT_EQUAL(asim_dataset_get_u8(ds, -1, u, NULL), ASIM_EINVAL);
  asim_dataset_close(ds);
  tu_rmtree(dir);
}

static void write_idx_pair(const char *dir, uint32_t imagic, uint32_t n_img, size_t img_bytes,
                           uint32_t lmagic, uint32_t n_lab, size_t lab_bytes, int gz, int badlabel) {
  uint8_t *im = calloc(16 + img_bytes, 1), *lb = calloc(8 + lab_bytes, 1);
  uint8_t hi[16] = {imagic >> 24, imagic >> 16, imagic >> 8, imagic, n_img >> 24, n_img >> 16,
                    n_img >> 8, n_img, 0, 0, 0, 28, 0, 0, 0, 28};
  uint8_t hl[8] = {lmagic >> 24, lmagic >> 16, lmagic >> 8, lmagic, n_lab >> 24, n_lab >> 16,
                   n_lab >> 8, n_lab};
  memcpy(im, hi, 16);
  memcpy(lb, hl, 8);
  if (badlabel && lab_bytes) lb[8 + lab_bytes - 1] = 10;
  const char *a = gz ? "t10k-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte";
  const char *b = gz ? "t10k-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte";
  remove(tu_path(dir, "t10k-images-idx3-ubyte.gz"));
  remove(tu_path(dir, "t10k-labels-idx1-ubyte.gz"));
  remove(tu_path(dir, "t10k-images-idx3-ubyte"));
  remove(tu_path(dir, "t10k-labels-idx1-ubyte"));
  if (gz) {
    tu_write_gz(tu_path(dir, a), im, 16 + img_bytes);
    tu_write_gz(tu_path(dir, b), lb, 8 + lab_bytes);
  } else {
    tu_write(tu_path(dir, a), im, 16 + img_bytes);
    tu_write(tu_path(dir, b), lb, 8 + lab_bytes);
  }
  free(im);
  free(lb);
}

static void test_idx_errors(void) {
  char *dir = tu_tmpdir();
  asim_dataset_opts o = {.path = dir, .task = "Fashion-MNIST", .format = "idx"};
  expect_open_error(&o, ASIM_EIO, "no t10k-images-idx3-ubyte[.gz] for the test split", NULL);
  /* wrong magic (a labels file where images belong) */
  write_idx_pair(dir, 0x801, 3, 3 * 784, 0x801, 3, 3, 1, 0);
  expect_open_error(&o, ASIM_EFORMAT, "t10k-images-idx3-ubyte.gz: not an IDX image file",
                    "magic 00000801", NULL);
  write_idx_pair(dir, 0x803, 3, 3 * 784, 0x803, 3, 3, 0, 0);
  expect_open_error(&o, ASIM_EFORMAT, "t10k-labels-idx1-ubyte: not an IDX label file", NULL);
  /* truncated pixels, plain and gzipped */
  write_idx_pair(dir, 0x803, 3, 3 * 784 - 100, 0x801, 3, 3, 0, 0);
  expect_open_error(&o, ASIM_EFORMAT, "header says 3 images of 28x28", "(truncated)", NULL);
  write_idx_pair(dir, 0x803, 3, 3 * 784 - 100, 0x801, 3, 3, 1, 0);
  expect_open_error(&o, ASIM_EFORMAT, "decompressed data has 2268 bytes (truncated)", NULL);
  /* count mismatch between images and labels */
  write_idx_pair(dir, 0x803, 3, 3 * 784, 0x801, 2, 2, 1, 0);
  expect_open_error(&o, ASIM_EFORMAT, "count mismatch", "3 images", "2 labels", NULL);
  /* labels file shorter than its header says */
  write_idx_pair(dir, 0x803, 3, 3 * 784, 0x801, 3, 2, 1, 0);
  expect_open_error(&o, ASIM_EFORMAT, "header says 3 labels", "(truncated)", NULL);
  /* label out of range for a 10-class task */
  write_idx_pair(dir, 0x803, 3, 3 * 784, 0x801, 3, 3, 1, 1);
  expect_open_error(&o, ASIM_EFORMAT, "sample 2 (t10k-images-idx3-ubyte.gz#2) has label 10", NULL);
  /* a gzip stream cut in the middle */
  write_idx_pair(dir, 0x803, 3, 3 * 784, 0x801, 3, 3, 1, 0);
  uint8_t *buf;
  size_t len;
  const char *gzp = tu_path(dir, "t10k-images-idx3-ubyte.gz");
  CU_ASSERT_EQUAL_FATAL(tu_read(gzp, &buf, &len), 0);
  tu_write(gzp, buf, len - 12);
  free(buf);
  expect_open_error(&o, ASIM_EFORMAT, "t10k-images-idx3-ubyte.gz", NULL);
  tu_rmtree(dir);
}

static void test_cifar_bin_errors(void) {
  char *dir = tu_tmpdir();
  asim_dataset_opts o = {.path = dir, .task = "CIFAR-10", .format = "cifar-bin"};
  expect_open_error(&o, ASIM_EIO, "missing test_batch.bin", NULL);
  uint8_t *rec = calloc(3073 * 2, 1);
  tu_write(tu_path(dir, "test_batch.bin"), rec, 3073 * 2 - 5);
  expect_open_error(&o, ASIM_EFORMAT, "test_batch.bin: size 6141 bytes is not a positive multiple",
                    "3073-byte", NULL);
  rec[3073] = 12;
  tu_write(tu_path(dir, "test_batch.bin"), rec, 3073 * 2);
  expect_open_error(&o, ASIM_EFORMAT, "test_batch.bin: record 1 has label 12", NULL);
  o.task = "ImageNet";
  expect_open_error(&o, ASIM_EINVAL, "CIFAR-10 or CIFAR-100, not task ImageNet", NULL);
  o.task = "CIFAR-100";
  expect_open_error(&o, ASIM_EIO, "missing test.bin", NULL);
  free(rec);
  tu_rmtree(dir);
}

static void test_csv_errors(void) {
  char *dir = tu_tmpdir();
  char root[4096];
  snprintf(root, sizeof root, "%s/test_images", dir);
  mkdir(root, 0755);
  uint8_t px[8 * 8 * 3] = {0};
  tu_write_jpeg(tu_path(root, "a.jpg"), px, 8, 8, 3, TJSAMP_420, 90);
  asim_dataset_opts o = {.path = root, .task = "CIFAR-100", .format = "csv"};
  expect_open_error(&o, ASIM_EIO, "neither", "train.csv", "test.csv", NULL);
  tu_write_str(tu_path(dir, "test.csv"), "image_id,fine_label\na.jpg,3\n");
  expect_open_error(&o, ASIM_EFORMAT, "test.csv: header lacks the column 'fine_labels'", NULL);
  tu_write_str(tu_path(dir, "test.csv"), "image_id,fine_labels\nb.jpg,3\na.jpg,abc\n");
  expect_open_error(&o, ASIM_EFORMAT, "test.csv:3: fine_labels 'abc'", NULL);
  tu_write_str(tu_path(dir, "test.csv"), "image_id,fine_labels\nb.jpg,3\n");
  expect_open_error(&o, ASIM_EFORMAT, "none of its 1 files is listed", NULL);
  tu_write_str(tu_path(dir, "test.csv"), "image_id,fine_labels\na.jpg,31\n");
  o.task = "CIFAR-10"; /* label 31 does not fit a 10-class task */
  expect_open_error(&o, ASIM_EFORMAT, "sample 0 (a.jpg) has label 31, not in 0..9", NULL);
  tu_rmtree(dir);
}

static void test_hdf5_errors(void) {
  char *dir = tu_tmpdir();
  char h5[4200];
  snprintf(h5, sizeof h5, "%s/x.h5", dir);
  asim_dataset_opts o = {.path = h5, .format = "hdf5"};
  tu_write_str(h5, "not hdf5 at all");
  expect_open_error(&o, ASIM_EIO, "x.h5 as an HDF5 file", NULL);
  if (system(PYTHON " -c 'import h5py, numpy' >/dev/null 2>&1") != 0) {
    fprintf(stderr, "\n  SKIP: h5py not available for the malformed-HDF5 cases\n");
    tu_rmtree(dir);
    return;
  }
  /* one file per malformation, x_<case>.h5 */
  const char *script =
      "import sys, h5py, numpy as np\n"
      "d = sys.argv[1]\n"
      "for case in sys.argv[2:]:\n"
      "  with h5py.File(d + '/x_' + case + '.h5', 'w') as f:\n"
      "    n = 4\n"
      "    f['images'] = np.zeros((n, 8, 8, 3) if case != 'rank' else (n, 8, 8), np.uint8) "
      "if case != 'float' else np.zeros((n, 8, 8, 3), np.float32)\n"
      "    if case != 'nolabels':\n"
      "        f['labels'] = np.array([0, 1, 2, 3 if case != 'badlabel' else 10][: 3 if case == 'count' else 4], np.int32)\n"
      "    f.attrs['task'] = 'CIFAR-10' if case != 'task' else 'SVHN'\n"
      "    f.attrs['classes'] = 10\n"
      "    f.attrs['source'] = 'x'\n"
      "    if case != 'noversion':\n"
      "        f.attrs['format_version'] = 1 if case != 'version' else 7\n";
  struct {
    const char *name, *want;
  } cases[] = {
      {"rank", "/images must be uint8 (N, S, S, C)"},
      {"float", "not uint8"},
      {"nolabels", "no dataset /labels"},
      {"count", "count mismatch: /images has 4 samples, /labels 3"},
      {"badlabel", "/labels[3] = 10 not in 0..9"},
      {"task", "task = 'SVHN' is not a known task"},
      {"noversion", "attribute 'format_version' missing"},
      {"version", "format_version 7"},
  };
  char args[4400];
  int o_ = snprintf(args, sizeof args, "%s", dir);
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
    o_ += snprintf(args + o_, sizeof args - (size_t)o_, " %s", cases[k].name);
  CU_ASSERT_EQUAL_FATAL(tu_run_python(dir, script, args), 0);
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    snprintf(h5, sizeof h5, "%s/x_%s.h5", dir, cases[k].name);
    expect_open_error(&o, ASIM_EFORMAT, cases[k].want, h5, NULL);
  }
  tu_rmtree(dir);
}

static void test_pack_errors(void) {
  char *dir = tu_tmpdir();
  char root[4096], p[4200];
  snprintf(root, sizeof root, "%s/set", dir);
  mkdir(root, 0755);
  tu_mkdir(root, "cat");
  snprintf(p, sizeof p, "%s/cat", root);
  write_png_dir(p, "a.png");
  tu_write_str(tu_path(p, "b.png"), "\x89PNG\r\n\x1a\n truncated");
  asim_dataset *ds;
  CU_ASSERT_OK(asim_dataset_open(&ds, &(asim_dataset_opts){.path = root, .task = "CIFAR-10"}));
  const char *out = tu_path(dir, "out.h5");
  CU_ASSERT_EQUAL(asim_dataset_pack(ds, out, MPI_COMM_SELF, NULL, NULL), ASIM_EFORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "rank 0 of 1 failed"));
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "cat/b.png: corrupt PNG"));
  CU_ASSERT_NOT_EQUAL(access(out, F_OK), 0); /* partial file removed */
  CU_ASSERT_EQUAL(asim_dataset_pack(ds, "/nonexistent-dir/x.h5", MPI_COMM_SELF, NULL, NULL), ASIM_EIO);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "cannot create /nonexistent-dir/x.h5"));
  asim_dataset_close(ds);
  tu_rmtree(dir);
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(errors);
  ASIM_ADD_TEST(errors, test_bad_options);
  ASIM_ADD_TEST(errors, test_folder_errors);
  ASIM_ADD_TEST(errors, test_idx_errors);
  ASIM_ADD_TEST(errors, test_cifar_bin_errors);
  ASIM_ADD_TEST(errors, test_csv_errors);
  ASIM_ADD_TEST(errors, test_hdf5_errors);
  ASIM_ADD_TEST(errors, test_pack_errors);
}
