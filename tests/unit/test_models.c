/* Every architecture of the zoo builds with ASiM's key layout, initialises, adopts a
 * checkpoint of its own format, rejects a mismatching one, and runs a forward pass at a small
 * input size (ViTs at reduced depth). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/checkpoint.h"
#include "asim/model.h"
#include <unistd.h>
#include "cu_util.h"

static void count_key(void *arg, const char *name, int ndim, const int64_t *shape) { (*(int *)arg)++; }

typedef struct {
  const char *name;
  int size, keys; /* keys: expected state_dict entries (spec §6.4), 0 = not checked */
} zoo_entry;

static const zoo_entry zoo[] = {
  {"ResNet-18", 32, 132}, {"ResNet-34", 32, 0}, {"ResNet-50", 32, 338}, {"ResNet-101", 32, 0}, {"ResNet-152", 32, 0},
  {"VGG11", 32, 0}, {"VGG13", 32, 0}, {"VGG16", 32, 0}, {"VGG19", 32, 0}, {"VGG11-BN", 32, 0}, {"VGG13-BN", 32, 0},
  {"VGG16-BN", 32, 0}, {"VGG19-BN", 32, 0}, {"ViT-B-16", 32, 0}, {"ViT-B-32", 64, 0}, {"ViT-L-16", 32, 0},
  {"ViT-L-32", 32, 0}, {"ViT-H-14", 28, 0},
};

static void every_architecture_builds_loads_and_runs(void) {
  for (size_t z = 0; z < sizeof zoo / sizeof zoo[0]; z++) {
    asim_model m;
    asim_model_settings s = asim_model_settings_default();
    /* cheap settings so the whole zoo runs in seconds: Inference-mode ASiM layers */
    s.conv.mode = s.linear.mode = ASIM_INFERENCE;
    CU_ASSERT_OK(asim_model_init(&m, zoo[z].name, 10, 3, zoo[z].size, &s, 2));
    int nkeys = 0;
    asim_model_keys(&m, count_key, &nkeys);
    if (zoo[z].keys) CU_ASSERT_EQUAL(nkeys, zoo[z].keys);
    CU_ASSERT_OK(asim_model_init_random(&m, 42));
    CU_ASSERT_EQUAL(m.params.n, nkeys);
    /* a checkpoint of its own format: written to HDF5, read back, adopted */
    char path[256];
    snprintf(path, sizeof path, "/tmp/asim_test_models_%d.h5", (int)getpid());
    asim_ckpt_meta meta;
    asim_ckpt_meta_init(&meta);
    CU_ASSERT_OK(asim_ckpt_h5_write(path, &m.params, &meta));
    asim_state st = {0};
    CU_ASSERT_OK(asim_ckpt_read(path, &st, &meta));
    unlink(path);
    CU_ASSERT_OK(asim_model_load_state(&m, &st, 0));
    const int B = 2, S = zoo[z].size;
    float *x = malloc(sizeof(float) * B * 3 * S * S), logits[2 * 10];
    for (int i = 0; i < B * 3 * S * S; i++) x[i] = sinf((float)i * 0.37f);
    asim_exec ex = {.seed = 1};
    CU_ASSERT_OK(asim_model_forward(&m, logits, x, B, &ex, NULL, NULL));
    int finite = 1;
    for (int i = 0; i < B * 10; i++) finite &= isfinite(logits[i]);
    CU_ASSERT_TRUE(finite);
    free(x);
    asim_model_free(&m);
  }
}

static void resnet18_key_layout_matches_asim(void) {
  asim_model m;
  CU_ASSERT_OK(asim_model_init(&m, "ResNet-18", 10, 3, 32, NULL, 0));
  CU_ASSERT_OK(asim_model_init_random(&m, 1));
  /* order as ASiM stores it: stems, bn1, blocks (relu.alpha after the downsample), fc, stem alpha last */
  CU_ASSERT_STRING_EQUAL(m.params.names[0], "conv1.weight");
  CU_ASSERT_STRING_EQUAL(m.params.names[1], "conv2.weight");
  CU_ASSERT_STRING_EQUAL(m.params.names[19], "layer1.0.relu.alpha");
  CU_ASSERT_STRING_EQUAL(m.params.names[51], "layer2.0.relu.alpha");
  CU_ASSERT_STRING_EQUAL(m.params.names[45], "layer2.0.downsample.0.weight");
  CU_ASSERT_STRING_EQUAL(m.params.names[131], "relu.alpha");
  CU_ASSERT_STRING_EQUAL(m.params.names[129], "fc.weight");
  asim_tensor *t = asim_state_find(&m.params, "layer4.1.conv2.weight");
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  CU_ASSERT_EQUAL(t->shape[0], 512);
  CU_ASSERT_EQUAL(asim_state_find(&m.params, "bn1.num_batches_tracked")->dtype, ASIM_I64);
  asim_model_free(&m);
}

static void mismatching_checkpoint_is_refused_naming_the_key(void) {
  asim_model a, b;
  CU_ASSERT_OK(asim_model_init(&a, "ResNet-18", 10, 3, 32, NULL, 0));
  CU_ASSERT_OK(asim_model_init(&b, "ResNet-18", 100, 3, 32, NULL, 0));
  CU_ASSERT_OK(asim_model_init_random(&a, 1));
  asim_state st = a.params;
  memset(&a.params, 0, sizeof a.params);
  CU_ASSERT_EQUAL(asim_model_load_state(&b, &st, 0), ASIM_ESHAPE);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "fc.weight"));
  asim_error_clear();
  CU_ASSERT_OK(asim_model_load_state(&a, &st, 0)); /* still intact after the refusal */
  asim_model_free(&a);
  asim_model_free(&b);
}

static void architecture_is_inferred_from_the_checkpoint(void) {
  const char *names[] = {"ResNet-50", "VGG13-BN", "VGG11", "ViT-B-32"};
  const int sizes[] = {32, 32, 224, 64};
  for (int i = 0; i < 4; i++) {
    asim_model m, g;
    CU_ASSERT_OK(asim_model_init(&m, names[i], 7, 3, sizes[i], NULL, 3));
    CU_ASSERT_OK(asim_model_init_random(&m, 5));
    CU_ASSERT_OK(asim_model_infer(&g, &m.params, NULL, sizes[i] > 100, NULL));
    CU_ASSERT_EQUAL(g.classes, 7);
    CU_ASSERT_EQUAL(g.n_ops, m.n_ops);
    CU_ASSERT_EQUAL(g.image_size, m.image_size);
    if (i < 3 && strcmp(g.name, names[i])) fprintf(stderr, "\n  inferred %s for %s", g.name, names[i]);
    if (i < 3) CU_ASSERT_STRING_EQUAL(g.name, names[i]);
    asim_model_free(&g);
    asim_model_free(&m);
  }
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(models);
  ASIM_ADD_TEST(models, resnet18_key_layout_matches_asim);
  ASIM_ADD_TEST(models, mismatching_checkpoint_is_refused_naming_the_key);
  ASIM_ADD_TEST(models, architecture_is_inferred_from_the_checkpoint);
  ASIM_ADD_TEST(models, every_architecture_builds_loads_and_runs);
}
