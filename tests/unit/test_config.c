/* test_config.c — the configuration module: the conf/ ports of ASiM's seven config.py files
 * load with the spec §10 values, the effective text round-trips exactly, --set and run-time
 * assignments parse like libconfig values, and every bad input is rejected with a message
 * naming file:line (or --set) and the key. */
#include <CUnit/CUnit.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asim/config.h"
#include "cu_util.h"

/* ------------------------------------------------------------------ helpers */

static char tmpdir[256];
static char srcdir[1024];

static int setup(void) {
  const char *env = getenv("ASIM_SOURCE_DIR");
  if (env)
    snprintf(srcdir, sizeof srcdir, "%s", env);
  else { /* ASIM_TEST_DATA = <source>/tests/data */
    snprintf(srcdir, sizeof srcdir, "%s", ASIM_TEST_DATA);
    char *t = strstr(srcdir, "/tests/data");
    if (t) *t = 0;
  }
  snprintf(tmpdir, sizeof tmpdir, "/tmp/asim_test_config_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : 1;
}

static const char *written[64];
static int n_written;

static int teardown(void) {
  for (int i = 0; i < n_written; i++) {
    unlink(written[i]);
    free((void *)written[i]);
  }
  rmdir(tmpdir);
  return 0;
}

/* Writes `text` to tmpdir/name and returns the path (owned here). */
static const char *write_cfg(const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
  for (int i = 0; i < n_written; i++)
    if (strcmp(written[i], path) == 0) return written[i];
  written[n_written] = strdup(path);
  return written[n_written++];
}

static const char *conf_path(const char *name) {
  static char path[1200];
  snprintf(path, sizeof path, "%s/conf/%s", srcdir, name);
  return path;
}

static asim_status load_conf(asim_config *c, const char *name) {
  return asim_config_load(c, conf_path(name), NULL, 0);
}

/* The error message contains every one of the NULL-terminated strings. */
static int msg_has(const char *first, ...) {
  const char *m = asim_errmsg();
  va_list ap;
  va_start(ap, first);
  int ok = 1;
  for (const char *s = first; s; s = va_arg(ap, const char *))
    if (!strstr(m, s)) {
      fprintf(stderr, "\n  missing \"%s\" in message:\n%s\n", s, m);
      ok = 0;
    }
  va_end(ap);
  return ok;
}

/* to_text -> from_text gives the same configuration and the same text again. */
static void assert_round_trip(const asim_config *c) {
  char *t1 = NULL, *t2 = NULL;
  asim_config d;
  CU_ASSERT_OK(asim_config_to_text(c, &t1));
  CU_ASSERT_OK(asim_config_from_text(&d, t1, "round trip"));
  CU_ASSERT_TRUE(asim_config_equal(c, &d));
  CU_ASSERT_OK(asim_config_to_text(&d, &t2));
  CU_ASSERT_STRING_EQUAL(t1, t2);
  free(t1);
  free(t2);
}

/* ------------------------------------------------------------------ conf/ files */

static const char *const CONFS[] = {"default.cfg",      "resnet18_cifar10.cfg",
                                    "resnet18_imagenet.cfg", "vit_cifar10.cfg",
                                    "vit_imagenet.cfg", "train_resnet18_cifar10_nat.cfg",
                                    "train_resnet18_cifar10_qat.cfg"};

static void test_every_conf_file_loads_validates_and_round_trips(void) {
  for (size_t i = 0; i < sizeof CONFS / sizeof CONFS[0]; i++) {
    asim_config c;
    CU_ASSERT_OK(load_conf(&c, CONFS[i]));
    CU_ASSERT_OK(asim_config_validate(&c));
    CU_ASSERT_EQUAL(asim_config_notes(&c, NULL, 0), 0); /* shipped configs: nothing odd */
    assert_round_trip(&c);
  }
}

static void test_default_cfg_is_asim_main_config(void) {
  asim_config d, f, none;
  asim_config_defaults(&d);
  CU_ASSERT_OK(asim_config_validate(&d));
  CU_ASSERT_OK(load_conf(&f, "default.cfg"));
  CU_ASSERT_TRUE(asim_config_equal(&d, &f));
  CU_ASSERT_OK(asim_config_load(&none, NULL, NULL, 0)); /* no file: the defaults */
  CU_ASSERT_TRUE(asim_config_equal(&d, &none));
  /* spec §10 column M */
  CU_ASSERT_EQUAL(d.task, ASIM_TASK_CIFAR10);
  CU_ASSERT_EQUAL(d.model_name, ASIM_MODEL_RESNET18);
  CU_ASSERT_EQUAL(d.input_size, 32);
  CU_ASSERT_EQUAL(d.large_model, 0);
  CU_ASSERT_EQUAL(d.cls_num, 10);
  CU_ASSERT_EQUAL(d.asim_conv_mode, ASIM_SIMULATION);
  CU_ASSERT_EQUAL(d.asim_vit_attn_mode, ASIM_TRAIN);
  CU_ASSERT_EQUAL(d.asim_conv_nrow, 255);
  CU_ASSERT_EQUAL(d.asim_act_enc, ASIM_NONE);
  CU_ASSERT_EQUAL(d.asim_cnn_hybrid_levels, ASIM_NONE);
  CU_ASSERT_EQUAL(d.asim_linear_layer, ASIM_LINEAR_FC);
  CU_ASSERT_EQUAL(d.quant_conv_mode, ASIM_TRAIN);
  CU_ASSERT_EQUAL(d.test_bs, 128);
  CU_ASSERT_EQUAL(d.n_milestones, 2);
  CU_ASSERT_EQUAL(d.milestones[0], 120);
  CU_ASSERT_EQUAL(d.milestones[1], 180);
  CU_ASSERT_DOUBLE_EQUAL(d.weight_decay, 1e-4, 0);
  CU_ASSERT_STRING_EQUAL(d.device, "cuda");
}

static void test_s1_resnet18_cifar10_values(void) {
  asim_config c;
  CU_ASSERT_OK(load_conf(&c, "resnet18_cifar10.cfg"));
  CU_ASSERT_EQUAL(c.task, ASIM_TASK_CIFAR10);
  CU_ASSERT_EQUAL(c.model_name, ASIM_MODEL_RESNET18);
  CU_ASSERT_EQUAL(c.test_bs, 512);
  CU_ASSERT_EQUAL(c.input_size, 32);
  CU_ASSERT_EQUAL(c.origin_size, 32);
  CU_ASSERT_EQUAL(c.cls_num, 10);
  CU_ASSERT_EQUAL(c.asim_conv_mode, ASIM_SIMULATION);
  CU_ASSERT_EQUAL(c.asim_linear_mode, ASIM_SIMULATION);
  CU_ASSERT_EQUAL(c.asim_conv_wbit, 8);
  CU_ASSERT_EQUAL(c.asim_conv_adc_prec, 8);
  CU_ASSERT_DOUBLE_EQUAL(c.asim_conv_trim_noise, 0.0, 0);
  CU_ASSERT_EQUAL(c.run.job, ASIM_JOB_SIMULATE);
  CU_ASSERT_STRING_EQUAL(c.pretrain_model_path, "models/resnet18_cifar10_w8a8_pact_trim_100.pkl");
  CU_ASSERT_STRING_EQUAL(c.test_dir, "data/CIFAR10/test");
}

static void test_s2_resnet18_imagenet_values(void) {
  asim_config c;
  CU_ASSERT_OK(load_conf(&c, "resnet18_imagenet.cfg"));
  CU_ASSERT_EQUAL(c.task, ASIM_TASK_IMAGENET);
  CU_ASSERT_EQUAL(c.input_size, 224);
  CU_ASSERT_EQUAL(c.origin_size, 256);
  CU_ASSERT_EQUAL(c.image_size, 224);
  CU_ASSERT_EQUAL(c.large_model, 1);
  CU_ASSERT_EQUAL(c.cls_num, 1000);
  CU_ASSERT_EQUAL(c.test_bs, 128);
  CU_ASSERT_STRING_EQUAL(c.pretrain_model_path, "models/resnet18_imagenet_w8a8_pact_trim_50.pkl");
  CU_ASSERT_STRING_EQUAL(c.test_dir, "data/ImageNet/valid");
}

static void check_vit(const asim_config *c, asim_task task, int cls) {
  CU_ASSERT_EQUAL(c->task, task);
  CU_ASSERT_EQUAL(c->cls_num, cls);
  CU_ASSERT_EQUAL(c->model_name, ASIM_MODEL_VIT_B32);
  CU_ASSERT_EQUAL(c->input_size, 224);
  CU_ASSERT_EQUAL(c->image_size, 224);
  CU_ASSERT_EQUAL(c->large_model, 1);
  CU_ASSERT_EQUAL(c->test_bs, 64);
  CU_ASSERT_EQUAL(c->asim_vit_attn_qk_kbit, 9);
  CU_ASSERT_EQUAL(c->asim_vit_attn_proj_xbit, 9);
  CU_ASSERT_EQUAL(c->asim_vit_attn_qk_qbit, 8);
  CU_ASSERT_EQUAL(c->asim_vit_attn_av_abit, 8);
  CU_ASSERT_EQUAL(c->asim_vit_attn_mode, ASIM_SIMULATION);
  CU_ASSERT_EQUAL(c->asim_vit_mlp_mode, ASIM_SIMULATION);
  CU_ASSERT_EQUAL(c->asim_vit_fc_mode, ASIM_SIMULATION);
  CU_ASSERT_EQUAL(c->vit_quant_conv_proj, 0);
  CU_ASSERT_EQUAL(c->asim_vit_attn_qk_k_enc, ASIM_NONE);
  CU_ASSERT_EQUAL(asim_model_id_patch(c->model_name), 32);
}

static void test_s3_s4_vit_values(void) {
  asim_config c;
  CU_ASSERT_OK(load_conf(&c, "vit_cifar10.cfg"));
  check_vit(&c, ASIM_TASK_CIFAR10, 10);
  CU_ASSERT_STRING_EQUAL(c.pretrain_model_path, "models/vitb32_cifar10_w8a8_trim_60.pkl");
  CU_ASSERT_OK(load_conf(&c, "vit_imagenet.cfg"));
  check_vit(&c, ASIM_TASK_IMAGENET, 1000);
  CU_ASSERT_STRING_EQUAL(c.pretrain_model_path, "models/vitb32_imagenet_w8a8_trim_40.pkl");
}

static void test_t1_t2_training_values(void) {
  asim_config n, q;
  CU_ASSERT_OK(load_conf(&n, "train_resnet18_cifar10_nat.cfg"));
  CU_ASSERT_EQUAL(n.run.job, ASIM_JOB_TRAIN);
  CU_ASSERT_EQUAL(n.asim_conv_mode, ASIM_TRAIN);
  CU_ASSERT_EQUAL(n.asim_linear_mode, ASIM_TRAIN);
  CU_ASSERT_DOUBLE_EQUAL(n.asim_conv_trim_noise, 50.0, 0);
  CU_ASSERT_DOUBLE_EQUAL(n.asim_linear_trim_noise, 50.0, 0);
  CU_ASSERT_EQUAL(n.max_epoch, 80);
  CU_ASSERT_DOUBLE_EQUAL(n.lr_init, 0.001, 0);
  CU_ASSERT_EQUAL(n.n_milestones, 2);
  CU_ASSERT_EQUAL(n.milestones[0], 48); /* derived: [int(0.6*80), int(0.9*80)] */
  CU_ASSERT_EQUAL(n.milestones[1], 72);
  CU_ASSERT_EQUAL(n.test_bs, 128);
  CU_ASSERT_STRING_EQUAL(n.pretrain_model_path, "models/resnet18_cifar10_w8a8_pact_trim_100.pkl");

  CU_ASSERT_OK(load_conf(&q, "train_resnet18_cifar10_qat.cfg"));
  CU_ASSERT_EQUAL(q.run.job, ASIM_JOB_TRAIN);
  CU_ASSERT_EQUAL(q.asim_conv_mode, ASIM_TRAIN);
  CU_ASSERT_DOUBLE_EQUAL(q.asim_conv_trim_noise, 0.0, 0);
  CU_ASSERT_EQUAL(q.max_epoch, 200);
  CU_ASSERT_DOUBLE_EQUAL(q.lr_init, 0.01, 0);
  CU_ASSERT_EQUAL(q.milestones[0], 120);
  CU_ASSERT_EQUAL(q.milestones[1], 180);
  CU_ASSERT_STRING_EQUAL(q.pretrain_model_path, ""); /* "None": from scratch */
}

/* Omitted keys take ASiM's defaults; keys config.py computes follow their sources. */
static void test_omitted_keys_and_derived_keys(void) {
  asim_config c;
  CU_ASSERT_OK(asim_config_load(&c, write_cfg("empty.cfg", "# nothing\n"), NULL, 0));
  asim_config d;
  asim_config_defaults(&d);
  CU_ASSERT_TRUE(asim_config_equal(&c, &d));
  CU_ASSERT_OK(asim_config_load(&c, write_cfg("derived.cfg",
                                              "task = \"CIFAR-100\";\n"
                                              "input_size = 224; origin_size = 256;\n"
                                              "max_epoch = 80;\n"),
                                NULL, 0));
  CU_ASSERT_EQUAL(c.cls_num, 100);
  CU_ASSERT_EQUAL(c.image_size, 224);
  CU_ASSERT_EQUAL(c.large_model, 1);
  CU_ASSERT_EQUAL(c.milestones[0], 48);
  CU_ASSERT_EQUAL(c.milestones[1], 72);
  /* explicit values win over the derivation */
  CU_ASSERT_OK(asim_config_load(&c, write_cfg("explicit.cfg", "max_epoch = 80;\n"
                                                              "milestones = [10, 20, 30];\n"),
                                NULL, 0));
  CU_ASSERT_EQUAL(c.n_milestones, 3);
  CU_ASSERT_EQUAL(c.milestones[2], 30);
}

/* ASiM spellings: "None", True/False, integer literals for floats. */
static void test_python_spellings(void) {
  asim_config c;
  CU_ASSERT_OK(asim_config_load(&c, write_cfg("spell.cfg",
                                              "PACT = False\n" /* no ';' needed */
                                              "asim_act_enc = 4\n"
                                              "asim_cnn_hybrid_levels = 2\n"
                                              "asim_vit_attn_qk_k_enc = \"None\"\n"
                                              "lr_init = 1\n"
                                              "asim_conv_trim_noise = 50\n"),
                                NULL, 0));
  CU_ASSERT_EQUAL(c.PACT, 0);
  CU_ASSERT_EQUAL(c.asim_act_enc, 4);
  CU_ASSERT_EQUAL(c.asim_cnn_hybrid_levels, 2);
  CU_ASSERT_EQUAL(c.asim_vit_attn_qk_k_enc, ASIM_NONE);
  CU_ASSERT_DOUBLE_EQUAL(c.lr_init, 1.0, 0);
  CU_ASSERT_DOUBLE_EQUAL(c.asim_conv_trim_noise, 50.0, 0);
}

static void test_crlf_and_byte_order_mark(void) {
  asim_config c;
  CU_ASSERT_OK(asim_config_load(&c, write_cfg("crlf.cfg", "\xef\xbb\xbftest_bs = 32;\r\n"
                                                          "asim_conv_adc_prec = 6;\r\n"),
                                NULL, 0));
  CU_ASSERT_EQUAL(c.test_bs, 32);
  CU_ASSERT_EQUAL(c.asim_conv_adc_prec, 6);
}

static void test_include_and_device_ignored(void) {
  asim_config c;
  write_cfg("base.cfg", "test_bs = 32;\ndevice = \"cuda:1\";\n");
  CU_ASSERT_OK(asim_config_load(&c, write_cfg("top.cfg", "@include \"base.cfg\"\n"
                                                         "asim_conv_adc_prec = 6;\n"),
                                NULL, 0));
  CU_ASSERT_EQUAL(c.test_bs, 32);
  CU_ASSERT_EQUAL(c.asim_conv_adc_prec, 6);
  CU_ASSERT_STRING_EQUAL(c.device, "cuda:1");
}

/* ------------------------------------------------------------------ --set and run-time set */

static void test_set_overrides_parse_like_libconfig_values(void) {
  const char *ov[] = {"asim_conv_adc_prec=6",
                      "model_name=ResNet-34", /* bare word for a string key */
                      "milestones=[10,20]",
                      "run.seed=7",
                      " lr_init = 1e-3 ;",
                      "asim_act_enc=None",
                      "asim_linear_act_enc=2",
                      "report.logits=true",
                      "test_dir=\"data/x y\"",
                      "run.seed=4294967295", /* later wins; 64-bit without L is fine here */
                      "data.max_samples=1000",
                      "report.diagnostics=true"};
  asim_config c;
  CU_ASSERT_OK(asim_config_load(&c, conf_path("resnet18_cifar10.cfg"), ov, 12));
  CU_ASSERT_EQUAL(c.asim_conv_adc_prec, 6);
  CU_ASSERT_EQUAL(c.model_name, ASIM_MODEL_RESNET34);
  CU_ASSERT_EQUAL(c.n_milestones, 2);
  CU_ASSERT_EQUAL(c.milestones[0], 10);
  CU_ASSERT_EQUAL(c.milestones[1], 20);
  CU_ASSERT_EQUAL(c.run.seed, 4294967295u);
  CU_ASSERT_DOUBLE_EQUAL(c.lr_init, 1e-3, 0);
  CU_ASSERT_EQUAL(c.asim_act_enc, ASIM_NONE);
  CU_ASSERT_EQUAL(c.asim_linear_act_enc, 2);
  CU_ASSERT_EQUAL(c.report.logits, 1);
  CU_ASSERT_STRING_EQUAL(c.test_dir, "data/x y");
  CU_ASSERT_EQUAL(c.data.max_samples, 1000);
  CU_ASSERT_EQUAL(c.report.diagnostics, 1);
  CU_ASSERT_EQUAL(c.test_bs, 512); /* the file's value */
  assert_round_trip(&c);
}

static void test_runtime_set_get_and_apply(void) {
  asim_config c, before;
  char buf[64];
  CU_ASSERT_OK(load_conf(&c, "resnet18_cifar10.cfg"));
  CU_ASSERT_OK(asim_config_set(&c, "asim_conv_adc_prec", "6"));
  CU_ASSERT_EQUAL(c.asim_conv_adc_prec, 6);
  CU_ASSERT_OK(asim_config_get_text(&c, "asim_conv_adc_prec", buf, sizeof buf));
  CU_ASSERT_STRING_EQUAL(buf, "6");
  CU_ASSERT_OK(asim_config_get_text(&c, "asim_conv_mode", buf, sizeof buf));
  CU_ASSERT_STRING_EQUAL(buf, "\"Simulation\"");
  CU_ASSERT_OK(asim_config_get_text(&c, "asim_act_enc", buf, sizeof buf));
  CU_ASSERT_STRING_EQUAL(buf, "\"None\"");
  CU_ASSERT_OK(asim_config_get_text(&c, "run.seed", buf, sizeof buf));
  CU_ASSERT_STRING_EQUAL(buf, "1");
  CU_ASSERT_OK(asim_config_get_text(&c, "lr_init", buf, sizeof buf));
  CU_ASSERT_STRING_EQUAL(buf, "0.01");
  /* what get_text writes, set reads back */
  CU_ASSERT_OK(asim_config_set(&c, "asim_conv_mode", "\"Inference\""));
  CU_ASSERT_EQUAL(c.asim_conv_mode, ASIM_INFERENCE);

  /* a rejected value leaves the configuration untouched */
  before = c;
  CU_ASSERT_EQUAL(asim_config_set(&c, "asim_conv_adc_prec", "0"), ASIM_EINVAL);
  CU_ASSERT_TRUE(msg_has("set", "asim_conv_adc_prec = 0", "1..127", NULL));
  CU_ASSERT_TRUE(asim_config_equal(&c, &before));
  /* a rule between keys: the key being set is blamed, the other one named */
  CU_ASSERT_EQUAL(asim_config_set(&c, "asim_act_enc", "9"), ASIM_EINVAL);
  CU_ASSERT_TRUE(msg_has("asim_act_enc = 9", "asim_conv_xbit", NULL));
  /* changes that must go together */
  CU_ASSERT_EQUAL(asim_config_set(&c, "task", "ImageNet"), ASIM_EINVAL);
  CU_ASSERT_TRUE(msg_has("task", "cls_num", "1000", NULL));
  const char *both[] = {"task=ImageNet", "cls_num=1000"};
  CU_ASSERT_OK(asim_config_apply(&c, both, 2, "sweep point 3"));
  CU_ASSERT_EQUAL(c.cls_num, 1000);
  CU_ASSERT_EQUAL(asim_config_set(&c, "input_size", "224"), ASIM_EINVAL); /* image_size too */
  CU_ASSERT_TRUE(msg_has("image_size", "input_size", NULL));
  const char *sz[] = {"input_size=224", "image_size=224", "origin_size=256"};
  CU_ASSERT_OK(asim_config_apply(&c, sz, 3, "sweep point 4"));
  CU_ASSERT_EQUAL(c.large_model, 1); /* re-derived */
  const char *bad[] = {"asim_conv_wbit=1"};
  CU_ASSERT_EQUAL(asim_config_apply(&c, bad, 1, "sweep point 5"), ASIM_EINVAL);
  CU_ASSERT_TRUE(msg_has("sweep point 5", "asim_conv_wbit", NULL));

  /* get_text errors */
  CU_ASSERT_EQUAL(asim_config_get_text(&c, "asim_conv_adcprec", buf, sizeof buf), ASIM_EINVAL);
  CU_ASSERT_TRUE(msg_has("asim_conv_adcprec", "did you mean asim_conv_adc_prec", NULL));
  CU_ASSERT_EQUAL(asim_config_get_text(&c, "test_dir", buf, 4), ASIM_EINVAL);
  CU_ASSERT_TRUE(msg_has("test_dir", "buffer", NULL));
  asim_error_clear();
}

/* ------------------------------------------------------------------ text round trip */

static void test_text_round_trip_is_exact(void) {
  asim_config c;
  asim_config_defaults(&c);
  /* awkward values set through the public setter */
  const char *ov[] = {"lr_init=0.1",
                      "weight_decay=3.3333333333333335e-05",
                      "mixup_alpha=-0.0",
                      "momentum=0.30000000000000004",
                      "asim_conv_rand_noise_sigma=1e-300",
                      "asim_conv_non_linear_sigma=5e-324",
                      "label_smooth_eps=0.999999999999",
                      "factor=1",
                      "run.seed=4294967295",
                      "milestones=[]",
                      "task=MNIST",
                      "data.channels=1",
                      "data.mean=[0.1307]",
                      "data.std=[0.30810000000000004]",
                      "test_dir=\"data/we\\\"ird\\\\path and \xc3\xa9\"",
                      "pretrain_model_path=None",
                      "run.job=train",
                      "report.logits=false",
                      "asim_vit_hybrid_levels=0"};
  CU_ASSERT_OK(asim_config_apply(&c, ov, (int)(sizeof ov / sizeof ov[0]), "test"));
  CU_ASSERT_STRING_EQUAL(c.test_dir, "data/we\"ird\\path and \xc3\xa9");
  CU_ASSERT_EQUAL(c.run.seed, 4294967295u);
  CU_ASSERT_EQUAL(c.n_milestones, 0);
  CU_ASSERT_EQUAL(c.asim_vit_hybrid_levels, 0); /* 0 and None stay distinct */
  assert_round_trip(&c);

  /* every key appears in the text */
  char *t = NULL;
  CU_ASSERT_OK(asim_config_to_text(&c, &t));
  for (int k = 0; k < asim_config_nkeys(); k++) {
    const char *name = asim_config_key(k), *dot = strchr(name, '.');
    char needle[128];
    snprintf(needle, sizeof needle, "%s%s = ", dot ? "  " : "\n", dot ? dot + 1 : name);
    if (!strstr(t, needle)) fprintf(stderr, "\n  %s missing from the text\n", name);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, needle));
  }
  free(t);
}

static void test_from_text_and_broadcast(void) {
  asim_config c;
  CU_ASSERT_EQUAL(asim_config_from_text(&c, "asim_conv_wbit = 1;\n", "rank-0 text"), ASIM_EINVAL);
  CU_ASSERT_TRUE(msg_has("rank-0 text:1", "asim_conv_wbit", NULL));
  CU_ASSERT_EQUAL(asim_config_from_text(&c, "x = ;\n", "rank-0 text"), ASIM_EFORMAT);
  CU_ASSERT_TRUE(msg_has("rank-0 text:1", "syntax error", NULL));

  const char *ov[] = {"asim_conv_adc_prec=5"};
  CU_ASSERT_OK(asim_config_load_bcast(&c, conf_path("vit_cifar10.cfg"), ov, 1, MPI_COMM_WORLD));
  CU_ASSERT_EQUAL(c.asim_conv_adc_prec, 5);
  CU_ASSERT_EQUAL(c.asim_vit_attn_qk_kbit, 9);
  CU_ASSERT_EQUAL(asim_config_load_bcast(&c, conf_path("nope.cfg"), NULL, 0, MPI_COMM_WORLD),
                  ASIM_EIO);
  asim_error_clear();
}

/* ------------------------------------------------------------------ bad inputs */

typedef struct {
  const char *name;     /* test label */
  const char *file;     /* file content, NULL: no file */
  const char *set[3];   /* --set overrides */
  asim_status code;
  const char *want[4];  /* substrings of the message ("@" = the file name) */
} bad_case;

static const bad_case BAD[] = {
    {"unknown key + suggestion", "task = \"CIFAR-10\";\nasim_conv_adc_pre = 6;\n", {NULL},
     ASIM_EINVAL, {"@:2", "asim_conv_adc_pre", "did you mean asim_conv_adc_prec?"}},
    {"wrong type", "\n\nasim_conv_wbit = \"8\";\n", {NULL}, ASIM_EINVAL,
     {"@:3", "asim_conv_wbit = \"8\"", "integer"}},
    {"float for an int", "asim_conv_xbit = 8.0;\n", {NULL}, ASIM_EINVAL,
     {"@:1", "asim_conv_xbit", "integer in 2..16"}},
    {"adc_prec 0", "asim_conv_adc_prec = 0;\n", {NULL}, ASIM_EINVAL,
     {"@:1", "asim_conv_adc_prec = 0", "1..127"}},
    {"wbit 1", "# c\nasim_linear_wbit = 1;\n", {NULL}, ASIM_EINVAL,
     {"@:2", "asim_linear_wbit = 1", "2..16"}},
    {"act_enc > xbit", "asim_conv_xbit = 4;\nasim_act_enc = 6;\n", {NULL}, ASIM_EINVAL,
     {"@:2", "asim_act_enc = 6", "asim_conv_xbit = 4", "asim_conv_xbit set at"}},
    {"signed bit-parallel needs act_enc < xbit",
     "asim_linear_signed_act = true;\nasim_linear_act_enc = 8;\n", {NULL}, ASIM_EINVAL,
     {"@:2", "asim_linear_act_enc = 8", "below asim_linear_xbit = 8"}},
    {"conv bit-parallel is unsigned only", "asim_signed_act = true;\nasim_act_enc = 2;\n", {NULL},
     ASIM_EINVAL, {"@:2", "asim_act_enc = 2", "signed"}},
    {"qk_k_enc vs query width (ASiM quirk)",
     "asim_vit_attn_qk_kbit = 9;\nasim_vit_attn_qk_k_enc = 8;\n", {NULL}, ASIM_EINVAL,
     {"@:2", "asim_vit_attn_qk_k_enc = 8", "asim_vit_attn_qk_qbit"}},
    {"nrow 0", "asim_vit_attn_nrow = 0;\n", {NULL}, ASIM_EINVAL,
     {"@:1", "asim_vit_attn_nrow = 0", "1..16777216"}},
    {"conv nrow below 3x3", "asim_conv_nrow = 8;\n", {NULL}, ASIM_EINVAL,
     {"@:1", "asim_conv_nrow = 8", ">= 9"}},
    {"hybrid_levels -1 is not None", "asim_cnn_hybrid_levels = -1;\n", {NULL}, ASIM_EINVAL,
     {"@:1", "asim_cnn_hybrid_levels = -1", "\"None\" or an integer in 0..32"}},
    {"hybrid_levels negative", "asim_vit_hybrid_levels = -3;\n", {NULL}, ASIM_EINVAL,
     {"@:1", "asim_vit_hybrid_levels = -3"}},
    {"hybrid_levels too large", "asim_cnn_hybrid_levels = 20;\n", {NULL}, ASIM_EINVAL,
     {"@:1", "asim_cnn_hybrid_levels = 20", "15 cycle levels"}},
    {"bad mode string", "asim_conv_mode = \"simulation\";\n", {NULL}, ASIM_EINVAL,
     {"@:1", "asim_conv_mode", "did you mean \"Simulation\"?"}},
    {"QuantConv2d has no Simulation", "quant_conv_mode = \"Simulation\";\n", {NULL}, ASIM_EINVAL,
     {"@:1", "quant_conv_mode", "\"Train\", \"Inference\""}},
    {"unknown model", "model_name = \"ResNet-19\";\n", {NULL}, ASIM_EINVAL,
     {"@:1", "model_name = \"ResNet-19\"", "did you mean \"ResNet-18\"?"}},
    {"bad task", "task = \"CIFAR10\";\n", {NULL}, ASIM_EINVAL,
     {"@:1", "task = \"CIFAR10\"", "did you mean \"CIFAR-10\"?"}},
    {"cls_num does not match task", "task = \"ImageNet\";\ncls_num = 10;\ninput_size = 224;\n"
     "origin_size = 256;\n", {NULL}, ASIM_EINVAL, {"@:2", "cls_num = 10", "1000"}},
    {"ViT input not a multiple of the patch", "model_name = \"ViT-B-16\";\ninput_size = 100;\n",
     {NULL}, ASIM_EINVAL, {"@:2", "input_size = 100", "multiple of 16"}},
    {"large_model contradicts input_size", "large_model = true;\n", {NULL}, ASIM_EINVAL,
     {"@:1", "large_model = true", "input_size > 100"}},
    {"milestones decreasing", "milestones = [180, 120];\n", {NULL}, ASIM_EINVAL,
     {"@:1", "milestones = [180, 120]", "must not decrease"}},
    {"lr 0", "lr_init = 0;\n", {NULL}, ASIM_EINVAL, {"@:1", "lr_init", "> 0"}},
    {"lr negative", "\nlr_init = -0.1;\n", {NULL}, ASIM_EINVAL, {"@:2", "lr_init = -0.1", "> 0"}},
    {"test_bs 0", "test_bs = 0;\n", {NULL}, ASIM_EINVAL, {"@:1", "test_bs = 0"}},
    {"simulation needs weights", "pretrain_model_path = \"None\";\n", {NULL}, ASIM_EINVAL,
     {"@:1", "pretrain_model_path", "run.job"}},
    {"integer literal wraps in libconfig", "asim_conv_nrow = 4294967551;\n", {NULL}, ASIM_EINVAL,
     {"@:1", "asim_conv_nrow = 4294967551", "out of range"}},
    {"own group key typo", "run = {\n  sed = 3;\n};\n", {NULL}, ASIM_EINVAL,
     {"@:2", "run.sed", "did you mean run.seed?"}},
    {"group given as a value", "run = 5;\n", {NULL}, ASIM_EINVAL, {"@:1", "run", "group"}},
    {"top-level key inside a group", "data = {\n  test_bs = 4;\n};\n", {NULL}, ASIM_EINVAL,
     {"@:2", "data.test_bs", "did you mean test_bs?"}},
    {"Windows path with a libconfig escape", "\ntest_dir = \"D:\\datasets\\CIFAR10\\test\";\n",
     {NULL}, ASIM_EINVAL, {"@:2", "test_dir = \"D:", "control character", "backslash"}},
    {"transforms line from config.py", "transforms_test = \"x\";\n", {NULL}, ASIM_EINVAL,
     {"@:1", "transforms_test", "remove this line"}},
    {"syntax error with line number", "task = \"CIFAR-10\";\n\nasim_conv_wbit = ;\n", {NULL},
     ASIM_EFORMAT, {"@:3", "syntax error", "asim_conv_wbit"}},
    {"unquoted Python None", "asim_act_enc = None\n", {NULL}, ASIM_EFORMAT,
     {"@:1", "asim_act_enc", "\"None\" (with the quotes)"}},
    {"Python single quotes", "\nasim_conv_mode = 'Train'\n", {NULL}, ASIM_EFORMAT,
     {"@:2", "asim_conv_mode", "double quotes"}},
    {"report.diagnostics must be a bool", "test_bs = 2;\nreport = { diagnostics = 1; };\n", {NULL}, ASIM_EINVAL,
     {"@:2", "report.diagnostics", "true or false"}},
    {"duplicate key", "test_bs = 1;\ntest_bs = 2;\n", {NULL}, ASIM_EFORMAT,
     {"@:2", "duplicate"}},
    {"--set without '='", NULL, {"asim_conv_adc_prec"}, ASIM_EINVAL,
     {"--set", "asim_conv_adc_prec", "expected key=value"}},
    {"--set unparsable value", NULL, {"asim_conv_adc_prec=6x"}, ASIM_EINVAL,
     {"--set", "asim_conv_adc_prec = 6x", "cannot parse"}},
    {"--set missing value", NULL, {"asim_conv_adc_prec="}, ASIM_EINVAL,
     {"--set", "asim_conv_adc_prec", "missing"}},
    {"--set unknown key", NULL, {"asim_conv_adcprec=6"}, ASIM_EINVAL,
     {"--set", "asim_conv_adcprec", "did you mean asim_conv_adc_prec?"}},
    {"--set out of range", NULL, {"asim_conv_adc_prec=0"}, ASIM_EINVAL,
     {"--set: asim_conv_adc_prec = 0", "1..127"}},
    {"--set bad enum", NULL, {"asim_vit_mlp_mode=Simulate"}, ASIM_EINVAL,
     {"--set", "asim_vit_mlp_mode = \"Simulate\"", "did you mean \"Simulation\"?"}},
    {"--set against the file: blamed at --set", "asim_act_enc = 6;\n", {"asim_conv_xbit=4"},
     ASIM_EINVAL, {"--set: asim_conv_xbit = 4", "asim_act_enc set at", "@:1"}},
    {"several problems at once", "asim_conv_wbit = 1;\nfoo = 2;\n", {"test_bs=0"}, ASIM_EINVAL,
     {"3 configuration problems", "@:1: asim_conv_wbit", "@:2: foo", "--set: test_bs = 0"}},
};

static void test_bad_inputs_name_location_and_key(void) {
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    const bad_case *b = &BAD[i];
    const char *path = b->file ? write_cfg("bad.cfg", b->file) : NULL;
    int n = 0;
    while (n < 3 && b->set[n]) n++;
    asim_config c, before;
    asim_config_defaults(&c);
    before = c;
    asim_status st = asim_config_load(&c, path, b->set, n);
    if (st != b->code)
      fprintf(stderr, "\n  case \"%s\": status %d, expected %d\n%s\n", b->name, st, b->code,
              asim_errmsg());
    CU_ASSERT_EQUAL(st, b->code);
    CU_ASSERT_TRUE(asim_config_equal(&c, &before)); /* untouched on error */
    for (int w = 0; w < 4 && b->want[w]; w++) {
      char want[512];
      const char *at = strchr(b->want[w], '@');
      if (at)
        snprintf(want, sizeof want, "%.*sbad.cfg%s", (int)(at - b->want[w]), b->want[w], at + 1);
      else
        snprintf(want, sizeof want, "%s", b->want[w]);
      if (!strstr(asim_errmsg(), want))
        fprintf(stderr, "\n  case \"%s\": missing \"%s\" in:\n%s\n", b->name, want, asim_errmsg());
      CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), want));
    }
  }
  asim_error_clear();
}

static void test_missing_file_and_include_errors(void) {
  asim_config c;
  char path[600];
  snprintf(path, sizeof path, "%s/does-not-exist.cfg", tmpdir);
  CU_ASSERT_EQUAL(asim_config_load(&c, path, NULL, 0), ASIM_EIO);
  CU_ASSERT_TRUE(msg_has("does-not-exist.cfg", "No such file", NULL));
  /* a problem inside an included file names that file */
  write_cfg("inc_bad.cfg", "\nasim_conv_adc_prec = 0;\n");
  CU_ASSERT_EQUAL(asim_config_load(&c, write_cfg("inc_top.cfg", "@include \"inc_bad.cfg\"\n"),
                                   NULL, 0),
                  ASIM_EINVAL);
  CU_ASSERT_TRUE(msg_has("inc_bad.cfg:2", "asim_conv_adc_prec = 0", NULL));
  write_cfg("inc_syn.cfg", "a = 1;\nb = ;\n");
  CU_ASSERT_EQUAL(asim_config_load(&c, write_cfg("inc_top2.cfg", "@include \"inc_syn.cfg\"\n"),
                                   NULL, 0),
                  ASIM_EFORMAT);
  CU_ASSERT_TRUE(msg_has("inc_syn.cfg:2", "syntax error", NULL));
  asim_error_clear();
}

/* A struct changed in code is checked by the same rules. */
static void test_validate_struct_changed_in_code(void) {
  asim_config c;
  asim_config_defaults(&c);
  c.asim_conv_adc_prec = 0;
  CU_ASSERT_EQUAL(asim_config_validate(&c), ASIM_EINVAL);
  CU_ASSERT_TRUE(msg_has("asim_conv_adc_prec = 0", NULL));
  asim_config_defaults(&c);
  c.input_size = 224; /* large_model and image_size not updated */
  CU_ASSERT_EQUAL(asim_config_validate(&c), ASIM_EINVAL);
  CU_ASSERT_TRUE(msg_has("large_model", "image_size", NULL));
  asim_config_defaults(&c);
  c.asim_conv_mode = (asim_mode)7;
  CU_ASSERT_EQUAL(asim_config_validate(&c), ASIM_EINVAL);
  CU_ASSERT_TRUE(msg_has("asim_conv_mode", NULL));
  asim_error_clear();
}

static void test_notes_on_valid_but_odd_settings(void) {
  asim_config c;
  char buf[4096];
  const char *ov[] = {"asim_conv_nrow=256", "asim_conv_trim_noise=5", "run.act_scale=sample"};
  CU_ASSERT_OK(asim_config_load(&c, NULL, ov, 3));
  CU_ASSERT_EQUAL(asim_config_notes(&c, buf, sizeof buf), 3);
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "C=256 uses 252"));
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "C=512 uses 504"));
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "asim_conv_trim_noise"));
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "act_scale"));
  const char *ov2[] = {"asim_conv_mode=Train", "asim_conv_rand_noise_sigma=3"};
  CU_ASSERT_OK(asim_config_load(&c, NULL, ov2, 2));
  CU_ASSERT_EQUAL(asim_config_notes(&c, buf, sizeof buf), 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "no effect"));
}

/* docs/config.md documents every key. */
static void test_docs_list_every_key(void) {
  char path[1200];
  snprintf(path, sizeof path, "%s/docs/config.md", srcdir);
  FILE *f = fopen(path, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  static char doc[1 << 17];
  size_t n = fread(doc, 1, sizeof doc - 1, f);
  fclose(f);
  doc[n] = 0;
  for (int k = 0; k < asim_config_nkeys(); k++) {
    char needle[128];
    snprintf(needle, sizeof needle, "`%s`", asim_config_key(k));
    if (!strstr(doc, needle)) fprintf(stderr, "\n  %s not in docs/config.md\n", needle);
    CU_ASSERT_PTR_NOT_NULL(strstr(doc, needle));
  }
}

static void test_names_and_model_table(void) {
  CU_ASSERT_STRING_EQUAL(asim_model_id_name(ASIM_MODEL_VGG16_BN), "VGG16-BN");
  CU_ASSERT_STRING_EQUAL(asim_model_id_name(ASIM_MODEL_VIT_H14), "ViT-H-14");
  CU_ASSERT_EQUAL(asim_model_id_patch(ASIM_MODEL_VIT_H14), 14);
  CU_ASSERT_EQUAL(asim_model_family_of(ASIM_MODEL_RESNET152), ASIM_FAMILY_RESNET);
  CU_ASSERT_EQUAL(asim_model_family_of(ASIM_MODEL_VGG11), ASIM_FAMILY_VGG);
  CU_ASSERT_EQUAL(asim_model_family_of(ASIM_MODEL_VIT_B16), ASIM_FAMILY_VIT);
  CU_ASSERT_STRING_EQUAL(asim_task_name(ASIM_TASK_FASHION_MNIST), "Fashion-MNIST");
  CU_ASSERT_EQUAL(asim_task_classes(ASIM_TASK_CIFAR100), 100);
  CU_ASSERT_EQUAL(asim_task_channels(ASIM_TASK_MNIST), 1);
  CU_ASSERT_STRING_EQUAL(asim_mode_name(ASIM_SIMULATION), "Simulation");
  /* every model name is accepted by --set */
  for (int m = 0; m < ASIM_MODEL_COUNT; m++) {
    asim_config c;
    char a[64];
    snprintf(a, sizeof a, "model_name=%s", asim_model_id_name((asim_model_id)m));
    const char *ov[] = {a, "input_size=224", "origin_size=256"};
    CU_ASSERT_OK(asim_config_load(&c, NULL, ov, 3));
    CU_ASSERT_EQUAL(c.model_name, m);
  }
}

void asim_register_tests(void) {
  CU_pSuite s = CU_add_suite("config", setup, teardown);
  CU_add_test(s, "every conf file loads, validates and round-trips",
              test_every_conf_file_loads_validates_and_round_trips);
  CU_add_test(s, "default.cfg is ASiM main/config.py", test_default_cfg_is_asim_main_config);
  CU_add_test(s, "S1 resnet18_cifar10 values", test_s1_resnet18_cifar10_values);
  CU_add_test(s, "S2 resnet18_imagenet values", test_s2_resnet18_imagenet_values);
  CU_add_test(s, "S3/S4 ViT values", test_s3_s4_vit_values);
  CU_add_test(s, "T1/T2 training values", test_t1_t2_training_values);
  CU_add_test(s, "omitted and derived keys", test_omitted_keys_and_derived_keys);
  CU_add_test(s, "Python spellings", test_python_spellings);
  CU_add_test(s, "@include; device accepted", test_include_and_device_ignored);
  CU_add_test(s, "CRLF and byte-order mark", test_crlf_and_byte_order_mark);
  CU_add_test(s, "--set parses libconfig values", test_set_overrides_parse_like_libconfig_values);
  CU_add_test(s, "run-time set/get/apply", test_runtime_set_get_and_apply);
  CU_add_test(s, "text round trip is exact", test_text_round_trip_is_exact);
  CU_add_test(s, "from_text and broadcast", test_from_text_and_broadcast);
  CU_add_test(s, "bad inputs name location and key", test_bad_inputs_name_location_and_key);
  CU_add_test(s, "missing file and include errors", test_missing_file_and_include_errors);
  CU_add_test(s, "validate a struct changed in code", test_validate_struct_changed_in_code);
  CU_add_test(s, "notes on valid but odd settings", test_notes_on_valid_but_odd_settings);
  CU_add_test(s, "docs list every key", test_docs_list_every_key);
  CU_add_test(s, "names and model table", test_names_and_model_table);
}
