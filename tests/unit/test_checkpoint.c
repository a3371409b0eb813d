/* test_checkpoint — the PyTorch checkpoint reader (fixtures, hostile files, the golden ResNet-18
 * checkpoint, random torch-made checkpoints), the HDF5 checkpoint format and the torchvision
 * mapping. Fixtures: tests/data/pkl (make_fixtures.py). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "asim/checkpoint.h"
#include "cu_util.h"

#define PKL ASIM_TEST_DATA "/pkl/"

static int exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static char tmpdir[256];

static const char *tmp_path(const char *name) {
  static char buf[4][512];
  static int k;
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof tmpdir, "%s/asim_ckpt_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) snprintf(tmpdir, sizeof tmpdir, "/tmp");
  }
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
  return buf[k];
}

/* Same keys in the same order, dtypes, shapes and bytes (NaN == NaN for floats). Returns the
 * number of mismatching entries, printing the first few. */
static int compare_states(const asim_state *a, const asim_state *b, const char *what) {
  int bad = 0;
  if (a->n != b->n) {
    fprintf(stderr, "\n%s: %d vs %d entries\n", what, a->n, b->n);
    return 1;
  }
  for (int i = 0; i < a->n; i++) {
    const asim_tensor *x = &a->tensors[i], *y = &b->tensors[i];
    int ok = strcmp(a->names[i], b->names[i]) == 0 && x->dtype == y->dtype && asim_tensor_same_shape(x, y);
    if (ok) {
      size_t n = (size_t)asim_tensor_numel(x), es = asim_dtype_size(x->dtype);
      if (memcmp(x->data, y->data, n * es) != 0) {
        if (x->dtype != ASIM_F32) ok = 0;
        for (size_t e = 0; ok && e < n; e++) {
          float p = ((float *)x->data)[e], q = ((float *)y->data)[e];
          if (!(isnan(p) && isnan(q)) && memcmp(&p, &q, 4) != 0) ok = 0;
        }
      }
    }
    if (!ok && bad++ < 5) {
      char s1[64], s2[64];
      fprintf(stderr, "\n%s: entry %d: '%s' %s %s vs '%s' %s %s\n", what, i, a->names[i], asim_dtype_name(x->dtype),
              asim_tensor_shape_str(x, s1, sizeof s1), b->names[i], asim_dtype_name(y->dtype), asim_tensor_shape_str(y, s2, sizeof s2));
    }
  }
  return bad;
}

/* NAME.pkl read natively must equal NAME.expect.h5 (written by h5py from torch's tensors). */
static void check_fixture(const char *dir, const char *name, asim_ckpt_meta *meta_out) {
  char p[512], e[512];
  snprintf(p, sizeof p, "%s%s.pkl", dir, name);
  snprintf(e, sizeof e, "%s%s.expect.h5", dir, name);
  asim_state got = {0}, want = {0};
  asim_ckpt_meta m, mw;
  CU_ASSERT_OK(asim_pkl_read(p, &got, &m));
  CU_ASSERT_OK(asim_ckpt_h5_read(e, &want, &mw));
  CU_ASSERT_EQUAL(compare_states(&got, &want, name), 0);
  CU_ASSERT_EQUAL(m.epoch, mw.epoch);
  CU_ASSERT_TRUE(m.best_acc == mw.best_acc);
  /* the same bytes through the memory reader */
  size_t len;
  char *buf = slurp(p, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
  asim_state mem = {0};
  CU_ASSERT_OK(asim_pkl_read_mem(buf, len, &mem, NULL));
  CU_ASSERT_EQUAL(compare_states(&mem, &want, name), 0);
  free(buf);
  if (meta_out) *meta_out = m;
  asim_state_free(&got);
  asim_state_free(&want);
  asim_state_free(&mem);
}

/* ---- valid fixtures ---------------------------------------------------------------------- */

static void test_plain_state_dict(void) {
  asim_ckpt_meta m;
  check_fixture(PKL, "plain_state", &m);
  CU_ASSERT_EQUAL(m.epoch, -1);
  asim_state s = {0};
  CU_ASSERT_OK(asim_pkl_read(PKL "plain_state.pkl", &s, NULL));
  CU_ASSERT_EQUAL(s.n, 8);
  asim_tensor *nbt = asim_state_find(&s, "bn.num_batches_tracked");
  CU_ASSERT_PTR_NOT_NULL_FATAL(nbt);
  CU_ASSERT_EQUAL(nbt->dtype, ASIM_I64);
  CU_ASSERT_EQUAL(nbt->ndim, 0);
  CU_ASSERT_EQUAL(((int64_t *)nbt->data)[0], 3);
  asim_state_free(&s);
}

static void test_asim_checkpoint_dict(void) {
  asim_ckpt_meta m;
  check_fixture(PKL, "asim_dict", &m);
  CU_ASSERT_EQUAL(m.epoch, 7);
  CU_ASSERT_DOUBLE_EQUAL(m.best_acc, 0.8125, 0);
}

static void test_zero_dim_tensors(void) {
  check_fixture(PKL, "scalar0d", NULL);
  asim_state s = {0};
  CU_ASSERT_OK(asim_pkl_read(PKL "scalar0d.pkl", &s, NULL));
  CU_ASSERT_EQUAL(s.tensors[0].ndim, 0);
  CU_ASSERT_EQUAL(((float *)s.tensors[0].data)[0], 6.0f);
  CU_ASSERT_EQUAL(s.tensors[1].dtype, ASIM_I64);
  CU_ASSERT_EQUAL(((int64_t *)s.tensors[1].data)[0], 5);
  CU_ASSERT_EQUAL(s.tensors[2].ndim, 1);
  asim_state_free(&s);
}

static void test_half_bf16_double_converted(void) {
  check_fixture(PKL, "dtypes", NULL);
  asim_state s = {0};
  CU_ASSERT_OK(asim_pkl_read(PKL "dtypes.pkl", &s, NULL));
  static const asim_dtype want[] = {ASIM_F32, ASIM_F32, ASIM_F32, ASIM_F32, ASIM_I32, ASIM_U8, ASIM_I64};
  CU_ASSERT_EQUAL_FATAL(s.n, 7);
  for (int i = 0; i < 7; i++) CU_ASSERT_EQUAL(s.tensors[i].dtype, want[i]);
  const float *f16 = s.tensors[0].data;
  CU_ASSERT_EQUAL(f16[4], 65504.0f);
  CU_ASSERT_TRUE(isinf(f16[7]) && f16[7] > 0);
  CU_ASSERT_TRUE(f16[1] == 0 && signbit(f16[1]));
  asim_state_free(&s);
}

static void test_empty_state_dict(void) {
  asim_ckpt_meta m;
  check_fixture(PKL, "empty_state", &m);
  CU_ASSERT_EQUAL(m.epoch, 1);
  asim_state s = {0}, r = {0};
  CU_ASSERT_OK(asim_pkl_read(PKL "empty_state.pkl", &s, NULL));
  CU_ASSERT_EQUAL(s.n, 0);
  const char *out = tmp_path("empty.h5");
  CU_ASSERT_OK(asim_ckpt_h5_write(out, &s, NULL));
  CU_ASSERT_OK(asim_ckpt_h5_read(out, &r, NULL));
  CU_ASSERT_EQUAL(r.n, 0);
  unlink(out);
}

static void test_noncontiguous_views(void) { check_fixture(PKL, "noncontig", NULL); }
static void test_shared_storage(void) { check_fixture(PKL, "shared", NULL); }

static void test_training_checkpoint_with_optimizer(void) {
  asim_ckpt_meta m;
  check_fixture(PKL, "train_ckpt", &m);
  CU_ASSERT_EQUAL(m.epoch, 3);
  CU_ASSERT_DOUBLE_EQUAL(m.best_acc, 0.5, 0);
}

static void test_protocol4_parameter_deflate(void) {
  check_fixture(PKL, "protocol4", NULL);
  check_fixture(PKL, "parameter", NULL);
  check_fixture(PKL, "deflate", NULL);
}

static void test_dispatch_by_magic(void) {
  asim_state a = {0}, b = {0};
  asim_ckpt_meta m;
  CU_ASSERT_OK(asim_ckpt_read(PKL "asim_dict.pkl", &a, &m));
  CU_ASSERT_EQUAL(m.epoch, 7);
  CU_ASSERT_OK(asim_ckpt_read(PKL "asim_dict.expect.h5", &b, &m));
  CU_ASSERT_EQUAL(m.epoch, 7);
  CU_ASSERT_EQUAL(compare_states(&a, &b, "dispatch"), 0);
  asim_state_free(&a);
  asim_state_free(&b);
  CU_ASSERT_EQUAL(asim_ckpt_read(PKL "make_fixtures.py", &a, NULL), ASIM_EFORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "neither"));
  CU_ASSERT_EQUAL(asim_ckpt_read(PKL "does_not_exist.pkl", &a, NULL), ASIM_EIO);
  CU_ASSERT_EQUAL(a.n, 0);
  asim_error_clear();
}

/* ---- hostile files ------------------------------------------------------------------------ */

static const struct {
  const char *file;
  asim_status code;
  const char *mention; /* the message must name the offending thing */
} hostile[] = {
    {"h_unknown_opcode", ASIM_EFORMAT, "opcode 0xfe"},
    {"h_inst", ASIM_EFORMAT, "(INST)"},
    {"h_os_system", ASIM_EFORMAT, "forbidden global 'posix.system'"},
    {"h_eval", ASIM_EFORMAT, "forbidden global 'builtins.eval'"},
    {"h_truncated", ASIM_EFORMAT, "truncated"},
    {"h_tensor_beyond_storage", ASIM_EFORMAT, "needs element 99 of storage '0', which has only 4 elements"},
    {"h_short_storage", ASIM_EFORMAT, "holds 16 bytes but storage '0' claims 1000"},
    {"h_huge_size", ASIM_EFORMAT, "tensor size overflows"},
    {"h_huge_storage", ASIM_EFORMAT, "storage '0' has a bad element count"},
    {"h_missing_storage", ASIM_EFORMAT, "no archive entry 'archive/data/7'"},
    {"h_build_tensor", ASIM_EFORMAT, "BUILD of a tensor"},
    {"h_bad_crc", ASIM_EFORMAT, "CRC-32 mismatch"},
    {"h_deflate_bomb", ASIM_EFORMAT, "claims 268435456 bytes from"},
    {"h_legacy", ASIM_EUNSUP, "legacy"},
    {"h_not_dict", ASIM_EFORMAT, "holds a list, not a dict"},
    {"h_not_tensor", ASIM_EFORMAT, "entry 'w' is an int, not a tensor"},
    {"h_duplicate_key", ASIM_EFORMAT, "duplicate state dict key 'w'"},
};

static void test_hostile_files_refused(void) {
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    char p[512];
    snprintf(p, sizeof p, PKL "%s.pkl", hostile[i].file);
    asim_state s = {0};
    asim_ckpt_meta m;
    asim_status st = asim_pkl_read(p, &s, &m);
    int ok = st == hostile[i].code && strstr(asim_errmsg(), hostile[i].mention) && strstr(asim_errmsg(), hostile[i].file);
    if (!ok) fprintf(stderr, "\n%s: status %s, message:\n%s\n", hostile[i].file, asim_status_name(st), asim_errmsg());
    CU_ASSERT_TRUE(ok);
    CU_ASSERT_EQUAL(s.n, 0);
    asim_error_clear();
  }
  CU_ASSERT_FALSE(exists("/tmp/asim_pwned"));
}

/* Every prefix of a valid checkpoint is refused cleanly; random byte flips never crash (the
 * sanitizer build turns any memory error into a failure). */
static void test_truncations_and_bit_flips(void) {
  static const char *names[] = {"plain_state", "noncontig", "deflate", "protocol4", "train_ckpt"};
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
    char p[512];
    size_t len;
    snprintf(p, sizeof p, PKL "%s.pkl", names[f]);
    char *buf = slurp(p, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    for (size_t cut = 0; cut < len; cut += (cut < 64 || len - cut < 64) ? 1 : 7) {
      asim_state s = {0};
      CU_ASSERT_NOT_EQUAL(asim_pkl_read_mem(buf, cut, &s, NULL), ASIM_OK);
      CU_ASSERT_EQUAL(s.n, 0);
    }
    char *mut = malloc(len);
    for (int it = 0; it < 400; it++) {
      memcpy(mut, buf, len);
      for (int k = 0; k < 1 + it % 4; k++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        mut[(rng >> 33) % len] ^= (char)(1u << ((rng >> 20) & 7));
      }
      asim_state s = {0};
      asim_pkl_read_mem(mut, len, &s, NULL);
      asim_state_free(&s);
    }
    free(mut);
    free(buf);
  }
  asim_error_clear();
}

/* Inputs the fuzzer found (tests/data/pkl/fuzz/): each must be handled without a crash. */
static void test_fuzz_regressions(void) {
  char list[512];
  snprintf(list, sizeof list, PKL "fuzz/LIST");
  FILE *f = fopen(list, "r");
  if (!f) {
    fprintf(stderr, "\nno fuzz regression list %s\n", list);
    return;
  }
  char name[256];
  int n = 0;
  while (fscanf(f, "%255s", name) == 1) {
    char p[600];
    size_t len;
    snprintf(p, sizeof p, PKL "fuzz/%s", name);
    char *buf = slurp(p, &len);
    CU_ASSERT_PTR_NOT_NULL(buf);
    if (!buf) continue;
    asim_state s = {0};
    asim_pkl_read_mem(buf, len, &s, NULL);
    asim_state_free(&s);
    free(buf);
    n++;
  }
  fclose(f);
  asim_error_clear();
  CU_ASSERT_TRUE(n > 0);
}

/* ---- the golden ResNet-18 checkpoint -------------------------------------------------------- */

static void test_golden_resnet18_bit_exact(void) {
  const char *pkl = ASIM_GOLDEN "/model_resnet18_cifar10.pkl", *h5 = ASIM_GOLDEN "/model_resnet18_cifar10_weights.h5";
  if (!exists(pkl) || !exists(h5)) {
    fprintf(stderr, "\nSKIP: golden model files not found in %s\n", ASIM_GOLDEN);
    return;
  }
  asim_state a = {0}, b = {0};
  asim_ckpt_meta ma, mb;
  CU_ASSERT_OK(asim_pkl_read(pkl, &a, &ma));
  CU_ASSERT_OK(asim_ckpt_h5_read(h5, &b, &mb)); /* the reference HDF5 file is a valid checkpoint */
  CU_ASSERT_EQUAL(a.n, 132);
  CU_ASSERT_EQUAL(compare_states(&a, &b, "golden resnet18"), 0);
  CU_ASSERT_EQUAL(ma.epoch, 0);
  CU_ASSERT_DOUBLE_EQUAL(ma.best_acc, 0.0, 0);
  CU_ASSERT_EQUAL(mb.classes, 10); /* from its `num_classes` attribute */
  CU_ASSERT_PTR_NOT_NULL(strstr(mb.model_name, "ResNet-18"));
  asim_tensor *nbt = asim_state_find(&a, "bn1.num_batches_tracked"), *alpha = asim_state_find(&a, "relu.alpha");
  CU_ASSERT_TRUE(nbt && nbt->dtype == ASIM_I64 && nbt->ndim == 0 && ((int64_t *)nbt->data)[0] == 1);
  CU_ASSERT_TRUE(alpha && alpha->dtype == ASIM_F32 && alpha->ndim == 0);
  /* and through the HDF5 writer */
  const char *out = tmp_path("golden.h5");
  asim_state c = {0};
  CU_ASSERT_OK(asim_ckpt_h5_write(out, &a, &ma));
  CU_ASSERT_OK(asim_ckpt_h5_read(out, &c, NULL));
  CU_ASSERT_EQUAL(compare_states(&a, &c, "golden roundtrip"), 0);
  unlink(out);
  asim_state_free(&a);
  asim_state_free(&b);
  asim_state_free(&c);
}

/* ---- random checkpoints made by torch at test time ------------------------------------------ */

static const char *python(void) { return getenv("ASIM_PYTHON") ? getenv("ASIM_PYTHON") : "/usr/bin/python3"; }

static void test_random_torch_checkpoints(void) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s -c 'import torch, h5py' >/dev/null 2>&1", python());
  if (system(cmd) != 0) {
    fprintf(stderr, "\nSKIP: %s cannot import torch and h5py: random checkpoints not tested\n", python());
    return;
  }
  const char *dir = tmp_path("random");
  mkdir(dir, 0700);
  int n = 60;
  unsigned seed = getenv("ASIM_CKPT_SEED") ? (unsigned)atoi(getenv("ASIM_CKPT_SEED")) : (unsigned)time(NULL);
  snprintf(cmd, sizeof cmd, "%s %s/pkl/make_random.py %s %u %d", python(), ASIM_TEST_DATA, dir, seed, n);
  fprintf(stderr, "\n  %s (rerun with ASIM_CKPT_SEED=%u)\n", cmd, seed);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  for (int i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "rand_%d", i);
    char d[600];
    snprintf(d, sizeof d, "%s/", dir);
    check_fixture(d, name, NULL);
    snprintf(cmd, sizeof cmd, "%s/rand_%d.pkl", dir, i);
    unlink(cmd);
    snprintf(cmd, sizeof cmd, "%s/rand_%d.expect.h5", dir, i);
    unlink(cmd);
  }
  rmdir(dir);
}

/* ---- HDF5 checkpoints ---------------------------------------------------------------------- */

static void test_roundtrip_pkl_h5(void) {
  static const char *names[] = {"plain_state", "asim_dict", "scalar0d", "dtypes", "noncontig", "shared", "train_ckpt"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char p[512];
    snprintf(p, sizeof p, PKL "%s.pkl", names[i]);
    asim_state a = {0}, b = {0};
    asim_ckpt_meta m, r;
    CU_ASSERT_OK(asim_pkl_read(p, &a, &m));
    snprintf(m.model_name, sizeof m.model_name, "model-%zu", i);
    m.classes = (int64_t)i + 2;
    snprintf(m.provenance, sizeof m.provenance, "test \"%s\"\nline 2", names[i]);
    const char *out = tmp_path("rt.h5");
    CU_ASSERT_OK(asim_ckpt_h5_write(out, &a, &m));
    CU_ASSERT_OK(asim_ckpt_h5_read(out, &b, &r));
    CU_ASSERT_EQUAL(compare_states(&a, &b, names[i]), 0);
    CU_ASSERT_STRING_EQUAL(r.model_name, m.model_name);
    CU_ASSERT_STRING_EQUAL(r.provenance, m.provenance);
    CU_ASSERT_EQUAL(r.classes, m.classes);
    CU_ASSERT_EQUAL(r.epoch, m.epoch);
    CU_ASSERT_TRUE(r.best_acc == m.best_acc);
    unlink(out);
    asim_state_free(&a);
    asim_state_free(&b);
  }
}

static asim_status make_state(asim_state *s, int n, const char *prefix) {
  for (int i = 0; i < n; i++) {
    asim_tensor t;
    int64_t shape[2] = {2, i % 5 + 1};
    char name[160];
    ASIM_CHECK(asim_tensor_alloc(&t, i % 7 == 6 ? ASIM_I64 : ASIM_F32, i % 3 == 0 ? 0 : 2, shape));
    if (t.dtype == ASIM_F32)
      for (int64_t e = 0; e < asim_tensor_numel(&t); e++) ((float *)t.data)[e] = (float)i + 0.25f * (float)e;
    else ((int64_t *)t.data)[0] = -i;
    snprintf(name, sizeof name, "%s.block%04d.with_a_rather_long_parameter_name_\"quoted\"\\.weight", prefix, i);
    asim_status st = asim_state_add(s, name, &t);
    if (st) {
      asim_tensor_free(&t);
      return st;
    }
  }
  return ASIM_OK;
}

static void test_h5_many_keys_and_escapes(void) {
  /* 2500 long names: keys_json > 64 KiB needs dense attribute storage */
  asim_state a = {0}, b = {0};
  CU_ASSERT_OK(make_state(&a, 2500, "model"));
  const char *out = tmp_path("many.h5");
  CU_ASSERT_OK(asim_ckpt_h5_write(out, &a, NULL));
  CU_ASSERT_OK(asim_ckpt_h5_read(out, &b, NULL));
  CU_ASSERT_EQUAL(compare_states(&a, &b, "many keys"), 0);
  unlink(out);
  asim_state_free(&a);
  asim_state_free(&b);
}

static void test_h5_optimizer_group(void) {
  asim_state a = {0}, o = {0}, o2 = {0}, r = {0};
  CU_ASSERT_OK(asim_pkl_read(PKL "plain_state.pkl", &a, NULL));
  CU_ASSERT_OK(make_state(&o, 9, "momentum"));
  const char *out = tmp_path("opt.h5");
  CU_ASSERT_OK(asim_ckpt_h5_write(out, &a, NULL));
  int ex = -1;
  CU_ASSERT_OK(asim_ckpt_h5_has_group(out, "optimizer", &ex));
  CU_ASSERT_EQUAL(ex, 0);
  asim_ckpt_scalars sc = {.n = 3, .name = {"lr", "momentum", "step"}, .value = {0.1, 0.9, 1234}}, rs;
  CU_ASSERT_OK(asim_ckpt_h5_write_group(out, "optimizer", &o, &sc));
  CU_ASSERT_OK(asim_ckpt_h5_has_group(out, "optimizer", &ex));
  CU_ASSERT_EQUAL(ex, 1);
  CU_ASSERT_OK(asim_ckpt_h5_has_group(out, "optimizer/sgd", &ex));
  CU_ASSERT_EQUAL(ex, 0);
  CU_ASSERT_OK(asim_ckpt_h5_read_group(out, "optimizer", &r, &rs));
  CU_ASSERT_EQUAL(compare_states(&o, &r, "optimizer group"), 0);
  CU_ASSERT_EQUAL(rs.n, 3);
  for (int i = 0; i < rs.n; i++) {
    int found = 0;
    for (int j = 0; j < 3; j++)
      if (!strcmp(rs.name[i], sc.name[j])) found = rs.value[i] == sc.value[j];
    CU_ASSERT_TRUE(found);
  }
  asim_state_free(&r);
  /* the model state is untouched, and the group is replaced on rewrite */
  CU_ASSERT_OK(asim_ckpt_h5_read(out, &r, NULL));
  CU_ASSERT_EQUAL(compare_states(&a, &r, "model after group"), 0);
  asim_state_free(&r);
  CU_ASSERT_OK(make_state(&o2, 2, "other"));
  CU_ASSERT_OK(asim_ckpt_h5_write_group(out, "optimizer", &o2, NULL));
  CU_ASSERT_OK(asim_ckpt_h5_read_group(out, "optimizer", &r, &rs));
  CU_ASSERT_EQUAL(compare_states(&o2, &r, "replaced group"), 0);
  CU_ASSERT_EQUAL(rs.n, 0);
  asim_state_free(&r);
  CU_ASSERT_OK(asim_ckpt_h5_write_group(out, "extra/nested", &o2, NULL));
  CU_ASSERT_OK(asim_ckpt_h5_has_group(out, "extra/nested", &ex));
  CU_ASSERT_EQUAL(ex, 1);
  /* errors */
  CU_ASSERT_EQUAL(asim_ckpt_h5_write_group(out, "../x", &o2, NULL), ASIM_EINVAL);
  CU_ASSERT_EQUAL(asim_ckpt_h5_write_group(out, "/abs", &o2, NULL), ASIM_EINVAL);
  CU_ASSERT_EQUAL(asim_ckpt_h5_read_group(out, "nothere", &r, NULL), ASIM_EFORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "no group 'nothere'"));
  CU_ASSERT_NOT_EQUAL(asim_ckpt_h5_write_group(tmp_path("missing.h5"), "optimizer", &o2, NULL), ASIM_OK);
  asim_error_clear();
  unlink(out);
  asim_state_free(&a);
  asim_state_free(&o);
  asim_state_free(&o2);
}

static void test_h5_errors(void) {
  asim_state s = {0}, r = {0};
  asim_tensor t;
  int64_t shape[1] = {3};
  CU_ASSERT_OK(asim_tensor_alloc(&t, ASIM_F32, 1, shape));
  CU_ASSERT_OK(asim_state_add(&s, "a/b", &t));
  const char *out = tmp_path("bad.h5");
  CU_ASSERT_EQUAL(asim_ckpt_h5_write(out, &s, NULL), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "'a/b'"));
  CU_ASSERT_FALSE(exists(out));
  asim_state_free(&s);
  CU_ASSERT_OK(asim_tensor_alloc(&t, ASIM_F32, 1, shape));
  CU_ASSERT_OK(asim_state_add(&s, "w", &t));
  CU_ASSERT_OK(asim_tensor_alloc(&t, ASIM_F32, 1, shape));
  CU_ASSERT_OK(asim_state_add(&s, "w", &t));
  CU_ASSERT_EQUAL(asim_ckpt_h5_write(out, &s, NULL), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "duplicate"));
  asim_state_free(&s);
  /* not HDF5; HDF5 without keys_json (a layer case file); an unwritable directory */
  CU_ASSERT_EQUAL(asim_ckpt_h5_read(PKL "plain_state.pkl", &r, NULL), ASIM_EFORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "plain_state.pkl"));
  CU_ASSERT_EQUAL(asim_ckpt_h5_read(ASIM_GOLDEN "/fc_inf_signed_w3a5_100x10_nobias.h5", &r, NULL), exists(ASIM_GOLDEN "/fc_inf_signed_w3a5_100x10_nobias.h5") ? ASIM_EFORMAT : ASIM_EIO);
  CU_ASSERT_EQUAL(asim_ckpt_h5_read("/nonexistent/x.h5", &r, NULL), ASIM_EIO);
  CU_ASSERT_EQUAL(asim_ckpt_h5_write("/nonexistent/dir/x.h5", &s, NULL), ASIM_EIO);
  CU_ASSERT_EQUAL(r.n, 0);
  asim_error_clear();
}

/* h5py and h5dump read our files (skipped when not installed). */
static void test_h5_readable_by_h5py_and_h5dump(void) {
  asim_state a = {0};
  asim_ckpt_meta m;
  CU_ASSERT_OK(asim_pkl_read(PKL "asim_dict.pkl", &a, &m));
  snprintf(m.model_name, sizeof m.model_name, "small");
  m.classes = 2;
  snprintf(m.provenance, sizeof m.provenance, "unit test");
  const char *out = tmp_path("py.h5");
  CU_ASSERT_OK(asim_ckpt_h5_write(out, &a, &m));
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s -c 'import h5py' >/dev/null 2>&1", python());
  if (system(cmd) == 0) {
    snprintf(cmd, sizeof cmd,
             "%s -c \"import h5py, json, numpy as np; f = h5py.File('%s', 'r'); k = json.loads(f.attrs['keys_json']); "
             "assert k == ['conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked', 'fc.weight', 'fc.bias'], k; "
             "assert f['conv.weight'].shape == (4, 3, 3, 3) and f['conv.weight'].dtype == np.float32; "
             "assert f['bn.num_batches_tracked'].shape == () and f['bn.num_batches_tracked'].dtype == np.int64 and f['bn.num_batches_tracked'][()] == 3; "
             "assert f.attrs['epoch'] == 7 and f.attrs['best_acc'] == 0.8125 and f.attrs['classes'] == 2; "
             "assert f.attrs['model_name'] == b'small' and f.attrs['provenance'] == b'unit test'\"",
             python(), out);
    CU_ASSERT_EQUAL(system(cmd), 0);
  } else fprintf(stderr, "\nSKIP: h5py not importable\n");
  if (system("command -v h5dump >/dev/null 2>&1") == 0) {
    snprintf(cmd, sizeof cmd, "h5dump -H '%s' >/dev/null", out);
    CU_ASSERT_EQUAL(system(cmd), 0);
  } else fprintf(stderr, "\nSKIP: h5dump not installed\n");
  unlink(out);
  asim_state_free(&a);
}

/* ---- torchvision mapping --------------------------------------------------------------------- */

static float first_value(const asim_tensor *t) {
  return t->dtype == ASIM_I64 ? (float)((int64_t *)t->data)[0] : ((float *)t->data)[0];
}

static void check_mapping(const char *fixture, const char *arch, int classes, int pact) {
  char p[512], mp[512];
  snprintf(p, sizeof p, PKL "%s.pkl", fixture);
  snprintf(mp, sizeof mp, PKL "%s.map", fixture);
  asim_state src = {0}, s = {0};
  CU_ASSERT_OK(asim_pkl_read(p, &src, NULL));
  CU_ASSERT_OK(asim_pkl_read(p, &s, NULL));
  CU_ASSERT_OK(asim_ckpt_map_torchvision(&s, arch, classes, 42, pact));
  FILE *f = fopen(mp, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  char dst[256], from[256];
  int i = 0, bad = 0, vit = strncmp(arch, "vit", 3) == 0;
  while (fscanf(f, "%255s %255s", dst, from) == 2) {
    int head = !strcmp(dst, "fc.weight") || !strcmp(dst, "fc.bias") || !strcmp(dst, "heads.weight") || !strcmp(dst, "heads.bias");
    if (!pact && strstr(dst, "alpha")) continue;
    if (i >= s.n || strcmp(s.names[i], dst) != 0) {
      if (bad++ < 3) fprintf(stderr, "\n%s: entry %d is '%s', expected '%s'\n", fixture, i, i < s.n ? s.names[i] : "(end)", dst);
      i++;
      continue;
    }
    const asim_tensor *t = &s.tensors[i];
    if (strcmp(from, "-") != 0 && !(head && classes != 1000)) { /* moved from the source */
      const asim_tensor *o = asim_state_find(&src, from);
      int ok = o && asim_tensor_same_shape(o, t) && o->dtype == t->dtype && first_value(o) == first_value(t);
      for (int64_t e = 0; ok && t->dtype == ASIM_F32 && e < asim_tensor_numel(t); e += 997) ok = ((float *)t->data)[e] == first_value(o);
      if (!ok && bad++ < 3) fprintf(stderr, "\n%s: '%s' does not hold '%s'\n", fixture, dst, from);
    } else if (strstr(dst, "alpha")) {
      CU_ASSERT_TRUE(t->ndim == 0 && ((float *)t->data)[0] == 6.0f);
    } else if (strstr(dst, "num_batches_tracked")) {
      CU_ASSERT_TRUE(t->ndim == 0 && t->dtype == ASIM_I64 && ((int64_t *)t->data)[0] == 0);
    } else if (!strcmp(dst, "conv1.weight")) { /* Kaiming normal, fan_out = 64*9 */
      double sum = 0, sq = 0;
      int64_t n = asim_tensor_numel(t);
      CU_ASSERT_TRUE(t->ndim == 4 && t->shape[0] == 64 && t->shape[1] == 3 && t->shape[2] == 3 && t->shape[3] == 3);
      for (int64_t e = 0; e < n; e++) sum += ((float *)t->data)[e], sq += ((float *)t->data)[e] * ((float *)t->data)[e];
      double sd = sqrt(sq / n - (sum / n) * (sum / n)), want = sqrt(2.0 / 576);
      CU_ASSERT_TRUE(fabs(sd - want) < 0.1 * want && fabs(sum / n) < 0.1 * want);
    } else if (head) { /* fresh head: Xavier-uniform weight, zero bias */
      int64_t n = asim_tensor_numel(t), in = vit ? 768 : t->ndim == 2 ? t->shape[1] : 0;
      double bound = sqrt(6.0 / (double)(in + classes)), mx = 0;
      CU_ASSERT_EQUAL(t->shape[0], classes);
      for (int64_t e = 0; e < n; e++) mx = fmax(mx, fabs(((float *)t->data)[e]));
      if (strstr(dst, "weight")) CU_ASSERT_TRUE(mx <= bound && mx > 0.9 * bound);
      if (strstr(dst, "bias")) CU_ASSERT_TRUE(mx == 0);
    } else if (bad++ < 3) fprintf(stderr, "\n%s: unexpected generated entry '%s'\n", fixture, dst);
    i++;
  }
  fclose(f);
  CU_ASSERT_EQUAL(i, s.n);
  CU_ASSERT_EQUAL(bad, 0);
  asim_state_free(&src);
  asim_state_free(&s);
}

static void test_map_torchvision_resnets(void) {
  check_mapping("tv_resnet18", "resnet18", 1000, 1);
  check_mapping("tv_resnet18", "ResNet-18", 10, 1);
  check_mapping("tv_resnet18", "resnet18", 10, 0);
  check_mapping("tv_resnet18_nonbt", "resnet18", 100, 1);
  check_mapping("tv_resnet50", "resnet50", 1000, 1);
  check_mapping("tv_resnet50", "resnet50", 10, 1);
  asim_state s = {0};
  CU_ASSERT_OK(asim_pkl_read(PKL "tv_resnet18.pkl", &s, NULL));
  CU_ASSERT_OK(asim_ckpt_map_torchvision(&s, "resnet18", 10, 1, 1));
  CU_ASSERT_EQUAL(s.n, 132); /* spec §6.4 */
  if (exists(ASIM_GOLDEN "/model_resnet18_cifar10_weights.h5")) { /* ASiM's own key order and shapes */
    asim_state g = {0};
    CU_ASSERT_OK(asim_ckpt_h5_read(ASIM_GOLDEN "/model_resnet18_cifar10_weights.h5", &g, NULL));
    CU_ASSERT_EQUAL_FATAL(g.n, s.n);
    for (int i = 0; i < g.n; i++) {
      CU_ASSERT_STRING_EQUAL(g.names[i], s.names[i]);
      CU_ASSERT_TRUE(asim_tensor_same_shape(&g.tensors[i], &s.tensors[i]) && g.tensors[i].dtype == s.tensors[i].dtype);
    }
    asim_state_free(&g);
  }
  asim_state_free(&s);
  CU_ASSERT_OK(asim_pkl_read(PKL "tv_resnet50.pkl", &s, NULL));
  CU_ASSERT_OK(asim_ckpt_map_torchvision(&s, "resnet50", 10, 1, 1));
  CU_ASSERT_EQUAL(s.n, 338); /* spec §6.4 */
  asim_state_free(&s);
}

static void test_map_torchvision_vit(void) {
  check_mapping("tv_vit_b_32", "vit_b_32", 1000, 1);
  check_mapping("tv_vit_b_32", "vit-b-32", 10, 0);
  check_mapping("tv_vit_b_32_seq", "vit_b_32", 1000, 0);
  asim_state s = {0};
  CU_ASSERT_OK(asim_pkl_read(PKL "tv_vit_b_32.pkl", &s, NULL));
  CU_ASSERT_OK(asim_ckpt_map_torchvision(&s, "vit_b_32", 10, 1, 1));
  CU_ASSERT_EQUAL(s.n, 152); /* spec §6.4: no alpha keys in ViTs */
  asim_state_free(&s);
}

static void test_map_deterministic_seed(void) {
  asim_state a = {0}, b = {0}, c = {0};
  CU_ASSERT_OK(asim_pkl_read(PKL "tv_resnet18.pkl", &a, NULL));
  CU_ASSERT_OK(asim_pkl_read(PKL "tv_resnet18.pkl", &b, NULL));
  CU_ASSERT_OK(asim_pkl_read(PKL "tv_resnet18.pkl", &c, NULL));
  CU_ASSERT_OK(asim_ckpt_map_torchvision(&a, "resnet18", 10, 7, 1));
  CU_ASSERT_OK(asim_ckpt_map_torchvision(&b, "resnet18", 10, 7, 1));
  CU_ASSERT_OK(asim_ckpt_map_torchvision(&c, "resnet18", 10, 8, 1));
  CU_ASSERT_EQUAL(compare_states(&a, &b, "same seed"), 0);
  CU_ASSERT_NOT_EQUAL(memcmp(a.tensors[0].data, c.tensors[0].data, 64 * 27 * 4), 0);
  asim_state_free(&a);
  asim_state_free(&b);
  asim_state_free(&c);
}

static void test_map_errors_leave_input_untouched(void) {
  asim_state s = {0};
  CU_ASSERT_OK(asim_pkl_read(PKL "tv_resnet18.pkl", &s, NULL));
  int n = s.n;
  char *first = strdup(s.names[0]);
  CU_ASSERT_EQUAL(asim_ckpt_map_torchvision(&s, "resnet19", 10, 0, 1), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "unknown torchvision architecture 'resnet19'"));
  CU_ASSERT_EQUAL(asim_ckpt_map_torchvision(&s, "resnet34", 10, 0, 1), ASIM_EFORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "layer1.2.conv1.weight"));
  CU_ASSERT_EQUAL(asim_ckpt_map_torchvision(&s, "resnet50", 10, 0, 1), ASIM_ESHAPE);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "layer1.0.conv1.weight"));
  CU_ASSERT_EQUAL(asim_ckpt_map_torchvision(&s, "vit_b_16", 10, 0, 1), ASIM_EFORMAT);
  CU_ASSERT_EQUAL(asim_ckpt_map_torchvision(&s, "resnet18", 0, 0, 1), ASIM_EINVAL);
  CU_ASSERT_EQUAL(s.n, n);
  CU_ASSERT_STRING_EQUAL(s.names[0], first);
  CU_ASSERT_PTR_NOT_NULL(s.tensors[0].data);
  /* an extra key is refused, naming it */
  asim_tensor t;
  int64_t one = 1;
  CU_ASSERT_OK(asim_tensor_alloc(&t, ASIM_F32, 1, &one));
  CU_ASSERT_OK(asim_state_add(&s, "layer5.0.conv1.weight", &t));
  CU_ASSERT_EQUAL(asim_ckpt_map_torchvision(&s, "resnet18", 10, 0, 1), ASIM_EFORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "unexpected key 'layer5.0.conv1.weight'"));
  CU_ASSERT_EQUAL(s.n, n + 1);
  asim_error_clear();
  free(first);
  asim_state_free(&s);
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(pkl_reader);
  ASIM_ADD_TEST(pkl_reader, test_plain_state_dict);
  ASIM_ADD_TEST(pkl_reader, test_asim_checkpoint_dict);
  ASIM_ADD_TEST(pkl_reader, test_zero_dim_tensors);
  ASIM_ADD_TEST(pkl_reader, test_half_bf16_double_converted);
  ASIM_ADD_TEST(pkl_reader, test_empty_state_dict);
  ASIM_ADD_TEST(pkl_reader, test_noncontiguous_views);
  ASIM_ADD_TEST(pkl_reader, test_shared_storage);
  ASIM_ADD_TEST(pkl_reader, test_training_checkpoint_with_optimizer);
  ASIM_ADD_TEST(pkl_reader, test_protocol4_parameter_deflate);
  ASIM_ADD_TEST(pkl_reader, test_dispatch_by_magic);
  ASIM_ADD_TEST(pkl_reader, test_golden_resnet18_bit_exact);
  ASIM_ADD_TEST(pkl_reader, test_random_torch_checkpoints);
  ASIM_ADD_SUITE(pkl_hostile);
  ASIM_ADD_TEST(pkl_hostile, test_hostile_files_refused);
  ASIM_ADD_TEST(pkl_hostile, test_truncations_and_bit_flips);
  ASIM_ADD_TEST(pkl_hostile, test_fuzz_regressions);
  ASIM_ADD_SUITE(ckpt_h5);
  ASIM_ADD_TEST(ckpt_h5, test_roundtrip_pkl_h5);
  ASIM_ADD_TEST(ckpt_h5, test_h5_many_keys_and_escapes);
  ASIM_ADD_TEST(ckpt_h5, test_h5_optimizer_group);
  ASIM_ADD_TEST(ckpt_h5, test_h5_errors);
  ASIM_ADD_TEST(ckpt_h5, test_h5_readable_by_h5py_and_h5dump);
  ASIM_ADD_SUITE(ckpt_map);
  ASIM_ADD_TEST(ckpt_map, test_map_torchvision_resnets);
  ASIM_ADD_TEST(ckpt_map, test_map_torchvision_vit);
  ASIM_ADD_TEST(ckpt_map, test_map_deterministic_seed);
  ASIM_ADD_TEST(ckpt_map, test_map_errors_leave_input_untouched);
}
