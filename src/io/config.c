/* config.c — asim_config: the key table, libconfig parsing, --set overrides, whole-config
 * validation and the text round trip. Rules and their reasons: docs/config.md. */
#include "asim/config.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ================================================================ names */

static const char *const MODES[] = {"Train", "Inference", "Simulation", NULL};
/* QuantConv2d only has Train and Inference (ASiM asserts on anything else, spec §1.1). */
static const char *const QMODES[] = {"Train", "Inference", NULL};
static const char *const TASKS[] = {"CIFAR-10", "CIFAR-100", "ImageNet", "MNIST", "Fashion-MNIST",
                                    NULL};
static const char *const MODELS[] = {
    "ResNet-18", "ResNet-34", "ResNet-50", "ResNet-101", "ResNet-152", "VGG11",
    "VGG13",     "VGG16",     "VGG19",     "VGG11-BN",   "VGG13-BN",   "VGG16-BN",
    "VGG19-BN",  "ViT-B-16",  "ViT-B-32",  "ViT-L-16",   "ViT-L-32",   "ViT-H-14",  "ResNet-8", NULL};
static const char *const LINEARS[] = {"fc", "proj", NULL};
static const char *const JOBS[] = {"simulate", "train", NULL};
static const char *const SCALES[] = {"batch", "sample", NULL};
static const char *const FORMATS[] = {"auto", "folders", "csv", "cifar-bin", "idx", "hdf5", NULL};
const char *asim_config_data_format_name(asim_data_format f) { return (unsigned)f < 6 ? FORMATS[f] : "auto"; }
static const char *const ORDERS[] = {"sorted", "listing", NULL};
static const char *const AUGMENTS[] = {"asim", "crop-flip", "none", NULL};
static const char *const GROUPS[] = {"run", "report", "data", "compat", NULL};

const char *asim_model_id_name(asim_model_id m) {
  return (unsigned)m < ASIM_MODEL_COUNT ? MODELS[m] : "?";
}
asim_model_family asim_model_family_of(asim_model_id m) {
  if (m <= ASIM_MODEL_RESNET152 || m == ASIM_MODEL_RESNET8) return ASIM_FAMILY_RESNET;
  if (m <= ASIM_MODEL_VGG19_BN) return ASIM_FAMILY_VGG;
  return ASIM_FAMILY_VIT;
}
int asim_model_id_patch(asim_model_id m) {
  switch (m) {
  case ASIM_MODEL_VIT_B16: case ASIM_MODEL_VIT_L16: return 16;
  case ASIM_MODEL_VIT_B32: case ASIM_MODEL_VIT_L32: return 32;
  case ASIM_MODEL_VIT_H14: return 14;
  default: return 0;
  }
}
int asim_task_channels(asim_task t) {
  return (t == ASIM_TASK_MNIST || t == ASIM_TASK_FASHION_MNIST) ? 1 : 3;
}
int asim_config_channels(const asim_config *cfg) {
  return cfg->data.channels ? cfg->data.channels : asim_task_channels(cfg->task);
}

/* ================================================================ the key table */

typedef enum {
  KT_INT,       /* int in lo..hi */
  KT_INT_NONE,  /* int in lo..hi, or "None" stored as ASIM_NONE */
  KT_U32,       /* uint32_t */
  KT_FLOAT,     /* double; integer literals accepted */
  KT_BOOL,      /* int 0/1 */
  KT_TRI,       /* true, false or "auto" (ASIM_AUTO) */
  KT_ENUM,      /* string from `choices`, stored as its index */
  KT_STR,       /* non-empty string */
  KT_PATH,      /* non-empty string or "None" (stored as "") */
  KT_INT_LIST,  /* int array; count at count_off */
  KT_FLOAT_LIST /* double array; count at count_off */
} ktype;

typedef enum { FC_ANY, FC_GE0, FC_GT0, FC_UNIT, FC_FACTOR } fcheck;

typedef struct {
  const char *name;
  ktype type;
  size_t off;
  long lo, hi;                /* integer range (also of list elements) */
  fcheck fc;                  /* float keys and float list elements */
  const char *const *choices; /* enum keys */
  size_t cap;                 /* string capacity (bytes) or list capacity (entries) */
  size_t count_off;           /* list keys: offset of the int entry count */
} keydef;

#define OFF(f) offsetof(asim_config, f)
#define FSIZE(f) sizeof(((asim_config *)0)->f)
/* Ranges come as one macro argument (BITS = "2, 16"): expand it before splitting. */
#define KI(f, ...) KI_(f, __VA_ARGS__)
#define KI_(f, lo, hi) {#f, KT_INT, OFF(f), lo, hi, FC_ANY, NULL, 0, 0}
#define KN(f, ...) KN_(f, __VA_ARGS__)
#define KN_(f, lo, hi) {#f, KT_INT_NONE, OFF(f), lo, hi, FC_ANY, NULL, 0, 0}
#define KU(f) {#f, KT_U32, OFF(f), 0, 0, FC_ANY, NULL, 0, 0}
#define KF(f, chk) {#f, KT_FLOAT, OFF(f), 0, 0, chk, NULL, 0, 0}
#define KB(f) {#f, KT_BOOL, OFF(f), 0, 1, FC_ANY, NULL, 0, 0}
#define KT3(f) {#f, KT_TRI, OFF(f), 0, 0, FC_ANY, NULL, 0, 0}
#define KE(f, ch) {#f, KT_ENUM, OFF(f), 0, 0, FC_ANY, ch, 0, 0}
#define KS(f) {#f, KT_STR, OFF(f), 0, 0, FC_ANY, NULL, FSIZE(f), 0}
#define KP(f) {#f, KT_PATH, OFF(f), 0, 0, FC_ANY, NULL, FSIZE(f), 0}
#define KIL(f, n, lo, hi)                                                                          \
  { #f, KT_INT_LIST, OFF(f), lo, hi, FC_ANY, NULL, FSIZE(f) / sizeof(int), OFF(n) }
#define KFL(f, n, chk)                                                                             \
  { #f, KT_FLOAT_LIST, OFF(f), 0, 0, chk, NULL, FSIZE(f) / sizeof(double), OFF(n) }

/* Bounds (reasons in docs/config.md):
 * bits 2..16: a 1-bit signed code has no magnitude level (2^(b-1)-1 = 0, the quantiser divides
 *   by it); 16 = ASIM_MAX_BITS of the macro model, beyond ASiM's 4..9-bit uses.
 * adc_prec 1..127: A = 2^adc_prec - 1 must stay finite in float32 (2^128 overflows); ASiM's
 *   reference cases use 100 for an ideal ADC.
 * nrow 1..2^24: column counts are float32 integers in ASiM, exact only up to 2^24.
 * act_enc 1..16: at most the activation width (cross-checked). hybrid levels 0..32. */
#define BITS 2, 16
#define ADC 1, 127
#define NROW 1, 16777216L
#define ENC 1, 16
#define HYB 0, 32
#define VOTES 1, 255 /* num_samp: conversions per voted cycle */
#define SIZE 1, 4096
#define BATCH 1, 1048576L

static const keydef KEYS[] = {
    /* spec §10.1 */
    KE(task, TASKS), KE(model_name, MODELS), KI(input_size, SIZE), KI(origin_size, SIZE),
    KI(image_size, SIZE), KB(large_model), KS(device), KI(cls_num, 1, 100000), KB(PACT),
    /* spec §10.2 */
    KN(asim_cnn_hybrid_levels, HYB), KE(asim_conv_mode, MODES), KI(asim_conv_wbit, BITS),
    KI(asim_conv_xbit, BITS), KI(asim_conv_adc_prec, ADC), KI(asim_conv_nrow, NROW),
    KF(asim_conv_rand_noise_sigma, FC_GE0), KF(asim_conv_non_linear_sigma, FC_GE0),
    KN(asim_act_enc, ENC), KB(asim_signed_act), KF(asim_conv_trim_noise, FC_GE0),
    /* ASiM's extensions (spec §11) per layer group: majority voting, current domain, W4A4 */
    KN(asim_conv_voting_levels, HYB), KN(asim_conv_num_samp, VOTES),
    KF(asim_conv_non_linear_alpha, FC_GE0), KF(asim_conv_weight_var, FC_GE0), KB(asim_conv_weight_bp),
    KE(asim_linear_mode, MODES), KI(asim_linear_wbit, BITS), KI(asim_linear_xbit, BITS),
    KI(asim_linear_adc_prec, ADC), KI(asim_linear_nrow, NROW),
    KF(asim_linear_rand_noise_sigma, FC_GE0), KF(asim_linear_non_linear_sigma, FC_GE0),
    KN(asim_linear_act_enc, ENC), KB(asim_linear_signed_act), KE(asim_linear_layer, LINEARS),
    KF(asim_linear_trim_noise, FC_GE0),
    KN(asim_linear_voting_levels, HYB), KN(asim_linear_num_samp, VOTES),
    KF(asim_linear_non_linear_alpha, FC_GE0), KF(asim_linear_weight_var, FC_GE0), KB(asim_linear_weight_bp),
    KE(quant_conv_mode, QMODES), KI(quant_conv_wbit, BITS),
    KI(quant_conv_xbit, BITS),
    /* spec §10.3 */
    KB(vit_quant_conv_proj), KN(asim_vit_hybrid_levels, HYB), KI(asim_vit_attn_qk_qbit, BITS),
    KI(asim_vit_attn_qk_kbit, BITS), KI(asim_vit_attn_av_abit, BITS),
    KI(asim_vit_attn_av_vbit, BITS), KI(asim_vit_attn_proj_wbit, BITS),
    KI(asim_vit_attn_proj_xbit, BITS), KI(asim_vit_attn_qk_adc_prec, ADC),
    KI(asim_vit_attn_av_adc_prec, ADC), KI(asim_vit_attn_proj_adc_prec, ADC),
    KI(asim_vit_attn_nrow, NROW), KF(asim_vit_attn_qk_rand_noise_sigma, FC_GE0),
    KF(asim_vit_attn_av_rand_noise_sigma, FC_GE0), KF(asim_vit_attn_proj_rand_noise_sigma, FC_GE0),
    KF(asim_vit_attn_qk_non_linear_sigma, FC_GE0), KF(asim_vit_attn_av_non_linear_sigma, FC_GE0),
    KF(asim_vit_attn_proj_non_linear_sigma, FC_GE0), KN(asim_vit_attn_qk_k_enc, ENC),
    KN(asim_vit_attn_av_a_enc, ENC), KN(asim_vit_attn_proj_act_enc, ENC),
    KE(asim_vit_attn_mode, MODES), KF(asim_vit_attn_attn_trim_noise, FC_GE0),
    KF(asim_vit_attn_proj_trim_noise, FC_GE0), KN(asim_vit_attn_voting_levels, HYB),
    KN(asim_vit_attn_num_samp, VOTES), KI(asim_vit_mlp_wbit, BITS),
    KI(asim_vit_mlp_xbit, BITS), KI(asim_vit_mlp_adc_prec, ADC), KI(asim_vit_mlp_nrow, NROW),
    KF(asim_vit_mlp_rand_noise_sigma, FC_GE0), KF(asim_vit_mlp_non_linear_sigma, FC_GE0),
    KN(asim_vit_mlp_act_enc, ENC), KE(asim_vit_mlp_mode, MODES),
    KF(asim_vit_mlp_trim_noise, FC_GE0),
    KN(asim_vit_mlp_voting_levels, HYB), KN(asim_vit_mlp_num_samp, VOTES),
    KF(asim_vit_mlp_non_linear_alpha, FC_GE0), KF(asim_vit_mlp_weight_var, FC_GE0), KB(asim_vit_mlp_weight_bp),
    KI(asim_vit_fc_wbit, BITS), KI(asim_vit_fc_xbit, BITS),
    KI(asim_vit_fc_adc_prec, ADC), KI(asim_vit_fc_nrow, NROW),
    KF(asim_vit_fc_rand_noise_sigma, FC_GE0), KF(asim_vit_fc_non_linear_sigma, FC_GE0),
    KN(asim_vit_fc_act_enc, ENC), KE(asim_vit_fc_mode, MODES), KF(asim_vit_fc_trim_noise, FC_GE0),
    KN(asim_vit_fc_voting_levels, HYB), KN(asim_vit_fc_num_samp, VOTES),
    KF(asim_vit_fc_non_linear_alpha, FC_GE0), KF(asim_vit_fc_weight_var, FC_GE0), KB(asim_vit_fc_weight_bp),
    KI(asim_vit_quant_conv_wbit, BITS), KI(asim_vit_quant_conv_xbit, BITS),
    KE(asim_vit_quant_conv_mode, QMODES),
    /* spec §10.4 */
    KS(train_dir), KS(valid_dir), KS(test_dir), KP(pretrain_model_path), KI(train_bs, BATCH),
    KI(valid_bs, BATCH), KI(test_bs, BATCH), KI(train_workers, 0, 1024), KI(test_workers, 0, 1024),
    KI(max_epoch, 1, 1000000), KF(lr_init, FC_GT0), KIL(milestones, n_milestones, 0, INT_MAX),
    KB(mixup), KB(label_smooth), KF(momentum, FC_UNIT), KF(weight_decay, FC_GE0),
    KF(factor, FC_FACTOR), KI(log_interval, 1, INT_MAX), KF(mixup_alpha, FC_ANY),
    KF(label_smooth_eps, FC_UNIT),
    /* asim-mpi's own groups */
    KE(run.job, JOBS), KU(run.seed), KE(run.act_scale, SCALES), KI(run.threads, 1, 1024),
    KF(run.pact_alpha, FC_GE0), KF(run.weight_clip, FC_GE0), KB(run.train_macro_noise), KF(run.train_macro_noise_mix, FC_UNIT),
    KS(report.path), KT3(report.logits), KB(report.predictions), KB(report.print_predictions),
    KB(report.diagnostics),
    KS(report.checkpoint_dir), KE(data.format, FORMATS), KI(data.channels, 0, 3),
    KI(data.max_samples, 0, INT_MAX), KFL(data.mean, data.n_mean, FC_ANY),
    KFL(data.std, data.n_std, FC_GT0), KE(data.augment, AUGMENTS), KB(compat.conv_channel_drop),
    KB(compat.quant_conv_double_bias), KB(compat.label_index_counts_files),
    KE(compat.cifar100_order, ORDERS), KB(compat.wbp_linear_requantize), KB(compat.wbp_act_enc_wrap),
};
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

/* Section comments in the written text. */
static const struct {
  const char *key, *title;
} SECTIONS[] = {
    {"task", "task, model, sizes (ASiM config.py, spec 10.1)"},
    {"asim_cnn_hybrid_levels", "ResNet/VGG ASiM layers (spec 10.2)"},
    {"vit_quant_conv_proj", "ViT ASiM layers (spec 10.3)"},
    {"train_dir", "paths, batches, training (spec 10.4)"},
    {"run.job", "asim-mpi's own groups (docs/config.md)"},
};

int asim_config_nkeys(void) { return NKEYS; }
const char *asim_config_key(int i) { return (i >= 0 && i < NKEYS) ? KEYS[i].name : NULL; }

static int find_key(const char *name) {
  for (int k = 0; k < NKEYS; k++)
    if (strcmp(KEYS[k].name, name) == 0) return k;
  return -1;
}
static int is_group(const char *name) {
  for (int g = 0; GROUPS[g]; g++)
    if (strcmp(GROUPS[g], name) == 0) return 1;
  return 0;
}
static int choice_index(const char *const *ch, const char *s) {
  for (int i = 0; ch[i]; i++)
    if (strcmp(ch[i], s) == 0) return i;
  return -1;
}

#define FIELD(c, k, T) ((T *)((char *)(c) + KEYS[k].off))
#define CFIELD(c, k, T) ((const T *)((const char *)(c) + KEYS[k].off))
#define COUNT(c, k) ((int *)((char *)(c) + KEYS[k].count_off))
#define CCOUNT(c, k) ((const int *)((const char *)(c) + KEYS[k].count_off))

/* ================================================================ defaults */

static void set_str(char *dst, size_t cap, const char *src) {
  memset(dst, 0, cap); /* whole field: equal configs are equal byte for byte */
  snprintf(dst, cap, "%s", src);
}
#define SETS(field, s) set_str((field), sizeof(field), (s))

void asim_config_defaults(asim_config *c) {
  memset(c, 0, sizeof *c);
  c->task = ASIM_TASK_CIFAR10;
  c->model_name = ASIM_MODEL_RESNET18;
  c->input_size = 32;
  c->origin_size = 32;
  c->image_size = 32;
  c->large_model = 0;
  SETS(c->device, "cuda");
  c->cls_num = 10;
  c->PACT = 1;

  c->asim_cnn_hybrid_levels = ASIM_NONE;
  c->asim_conv_mode = ASIM_SIMULATION;
  c->asim_conv_wbit = c->asim_conv_xbit = c->asim_conv_adc_prec = 8;
  c->asim_conv_nrow = 255;
  c->asim_act_enc = ASIM_NONE;
  c->asim_conv_voting_levels = c->asim_linear_voting_levels = ASIM_NONE;
  c->asim_vit_mlp_voting_levels = c->asim_vit_fc_voting_levels = ASIM_NONE;
  c->asim_conv_num_samp = c->asim_linear_num_samp = ASIM_NONE;
  c->asim_vit_mlp_num_samp = c->asim_vit_fc_num_samp = ASIM_NONE;
  c->asim_vit_attn_voting_levels = c->asim_vit_attn_num_samp = ASIM_NONE;
  c->asim_linear_mode = ASIM_SIMULATION;
  c->asim_linear_wbit = c->asim_linear_xbit = c->asim_linear_adc_prec = 8;
  c->asim_linear_nrow = 255;
  c->asim_linear_act_enc = ASIM_NONE;
  c->asim_linear_layer = ASIM_LINEAR_FC;
  c->quant_conv_mode = ASIM_TRAIN;
  c->quant_conv_wbit = c->quant_conv_xbit = 8;

  c->asim_vit_hybrid_levels = ASIM_NONE;
  c->asim_vit_attn_qk_qbit = c->asim_vit_attn_qk_kbit = 8;
  c->asim_vit_attn_av_abit = c->asim_vit_attn_av_vbit = 8;
  c->asim_vit_attn_proj_wbit = c->asim_vit_attn_proj_xbit = 8;
  c->asim_vit_attn_qk_adc_prec = c->asim_vit_attn_av_adc_prec = c->asim_vit_attn_proj_adc_prec = 8;
  c->asim_vit_attn_nrow = 255;
  c->asim_vit_attn_qk_k_enc = c->asim_vit_attn_av_a_enc = c->asim_vit_attn_proj_act_enc = ASIM_NONE;
  c->asim_vit_attn_mode = ASIM_TRAIN;
  c->asim_vit_mlp_wbit = c->asim_vit_mlp_xbit = c->asim_vit_mlp_adc_prec = 8;
  c->asim_vit_mlp_nrow = 255;
  c->asim_vit_mlp_act_enc = ASIM_NONE;
  c->asim_vit_mlp_mode = ASIM_TRAIN;
  c->asim_vit_fc_wbit = c->asim_vit_fc_xbit = c->asim_vit_fc_adc_prec = 8;
  c->asim_vit_fc_nrow = 255;
  c->asim_vit_fc_act_enc = ASIM_NONE;
  c->asim_vit_fc_mode = ASIM_TRAIN;
  c->asim_vit_quant_conv_wbit = c->asim_vit_quant_conv_xbit = 8;
  c->asim_vit_quant_conv_mode = ASIM_TRAIN;

  SETS(c->train_dir, "data/CIFAR10/train");
  SETS(c->valid_dir, "data/CIFAR10/test");
  SETS(c->test_dir, "data/CIFAR10/test");
  SETS(c->pretrain_model_path, "models/resnet18_cifar10_w8a8_pact_trim_100.pkl");
  c->train_bs = c->valid_bs = c->test_bs = 128;
  c->train_workers = c->test_workers = 8;
  c->max_epoch = 200;
  c->lr_init = 0.01;
  c->milestones[0] = 120;
  c->milestones[1] = 180;
  c->n_milestones = 2;
  c->momentum = 0.9;
  c->weight_decay = 1e-4;
  c->factor = 0.1;
  c->log_interval = 10;
  c->mixup_alpha = 1.0;
  c->label_smooth_eps = 0.01;

  c->run.job = ASIM_JOB_SIMULATE;
  c->run.seed = 1;
  c->run.act_scale = ASIM_ACT_SCALE_BATCH;
  c->run.threads = 1;
  SETS(c->report.path, "out/report.h5");
  c->report.logits = ASIM_AUTO;
  c->report.predictions = 1;
  c->report.print_predictions = 0;
  c->report.diagnostics = 0;
  SETS(c->report.checkpoint_dir, "out/checkpoints");
  c->data.format = ASIM_DATA_AUTO;
  c->data.augment = ASIM_AUGMENT_ASIM;
  c->compat.conv_channel_drop = 1;
  c->compat.quant_conv_double_bias = 1;
  c->compat.label_index_counts_files = 1;
  c->compat.cifar100_order = ASIM_ORDER_SORTED;
  c->sweep.n_keys = 0;
  c->sweep.repeats = 1;
}

/* ================================================================ text building */

typedef struct {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_grow(sbuf *b, size_t add) {
  if (b->oom || b->n + add + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->n + add + 1) cap *= 2;
  char *q = realloc(b->p, cap);
  if (!q) {
    b->oom = 1;
    return;
  }
  b->p = q;
  b->cap = cap;
}
static void sb_put(sbuf *b, const char *s, size_t n) {
  sb_grow(b, n);
  if (b->oom) return;
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_vprintf(sbuf *b, const char *fmt, va_list ap) {
  va_list aq;
  va_copy(aq, ap);
  int m = vsnprintf(NULL, 0, fmt, aq);
  va_end(aq);
  if (m < 0) return;
  sb_grow(b, (size_t)m);
  if (b->oom) return;
  vsnprintf(b->p + b->n, (size_t)m + 1, fmt, ap);
  b->n += (size_t)m;
}
static void sb_printf(sbuf *b, const char *fmt, ...) ASIM_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(b, fmt, ap);
  va_end(ap);
}
/* Copies the buffer into out (truncated with "..."), frees it. */
static const char *sb_take(sbuf *b, char *out, size_t len) {
  const char *s = b->oom || !b->p ? "" : b->p;
  if (strlen(s) < len)
    snprintf(out, len, "%s", s);
  else
    snprintf(out, len, "%.*s...", (int)(len > 4 ? len - 4 : 0), s);
  free(b->p);
  memset(b, 0, sizeof *b);
  return out;
}

/* Shortest decimal that reads back as the same double, always with a '.' or an exponent so
 * that libconfig sees a float. */
static void fmt_double(double v, char out[48]) {
  for (int p = 1; p <= 17; p++) {
    snprintf(out, 48, "%.*g", p, v);
    if (strtod(out, NULL) == v) break;
  }
  if (!strpbrk(out, ".eEni")) strcat(out, ".0");
}

static void sb_quoted(sbuf *b, const char *s) {
  sb_puts(b, "\"");
  for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
    switch (*q) {
    case '"': sb_puts(b, "\\\""); break;
    case '\\': sb_puts(b, "\\\\"); break;
    case '\n': sb_puts(b, "\\n"); break;
    case '\t': sb_puts(b, "\\t"); break;
    case '\r': sb_puts(b, "\\r"); break;
    case '\f': sb_puts(b, "\\f"); break;
    default:
      if (*q < 0x20 || *q == 0x7f)
        sb_printf(b, "\\x%02x", *q);
      else
        sb_put(b, (const char *)q, 1);
    }
  }
  sb_puts(b, "\"");
}

/* The value of key k in libconfig syntax. */
static void sb_value(sbuf *b, const asim_config *c, int k) {
  const keydef *d = &KEYS[k];
  char num[48];
  switch (d->type) {
  case KT_INT: sb_printf(b, "%d", *CFIELD(c, k, int)); break;
  case KT_INT_NONE: {
    int v = *CFIELD(c, k, int);
    if (v == ASIM_NONE)
      sb_puts(b, "\"None\"");
    else
      sb_printf(b, "%d", v);
    break;
  }
  case KT_U32: {
    uint32_t v = *CFIELD(c, k, uint32_t);
    sb_printf(b, v > INT_MAX ? "%uL" : "%u", (unsigned)v); /* libconfig ints are 32-bit signed */
    break;
  }
  case KT_FLOAT: fmt_double(*CFIELD(c, k, double), num); sb_puts(b, num); break;
  case KT_BOOL: sb_puts(b, *CFIELD(c, k, int) ? "true" : "false"); break;
  case KT_TRI: {
    int v = *CFIELD(c, k, int);
    sb_puts(b, v == ASIM_AUTO ? "\"auto\"" : v ? "true" : "false");
    break;
  }
  case KT_ENUM: {
    int v = *CFIELD(c, k, int), n = 0;
    while (d->choices[n]) n++;
    if (v >= 0 && v < n)
      sb_quoted(b, d->choices[v]);
    else
      sb_printf(b, "%d", v); /* only reachable from a struct filled in code */
    break;
  }
  case KT_STR: sb_quoted(b, CFIELD(c, k, char)); break;
  case KT_PATH: {
    const char *s = CFIELD(c, k, char);
    sb_quoted(b, s[0] ? s : "None");
    break;
  }
  case KT_INT_LIST:
  case KT_FLOAT_LIST: {
    int n = *CCOUNT(c, k);
    sb_puts(b, "[");
    for (int i = 0; i < n && i < (int)d->cap; i++) {
      if (i) sb_puts(b, ", ");
      if (d->type == KT_INT_LIST)
        sb_printf(b, "%d", CFIELD(c, k, int)[i]);
      else {
        fmt_double(CFIELD(c, k, double)[i], num);
        sb_puts(b, num);
      }
    }
    sb_puts(b, "]");
    break;
  }
  }
}

static const char *value_str(const asim_config *c, int k, char *out, size_t len) {
  sbuf b = {0};
  sb_value(&b, c, k);
  return sb_take(&b, out, len);
}

/* A libconfig setting as written (for messages about values that could not be stored). */
static void sb_setting(sbuf *b, const config_setting_t *s, int depth) {
  char num[48];
  switch (config_setting_type(s)) {
  case CONFIG_TYPE_INT: sb_printf(b, "%d", config_setting_get_int(s)); break;
  case CONFIG_TYPE_INT64: sb_printf(b, "%lldL", (long long)config_setting_get_int64(s)); break;
  case CONFIG_TYPE_FLOAT: fmt_double(config_setting_get_float(s), num); sb_puts(b, num); break;
  case CONFIG_TYPE_STRING: sb_quoted(b, config_setting_get_string(s)); break;
  case CONFIG_TYPE_BOOL: sb_puts(b, config_setting_get_bool(s) ? "true" : "false"); break;
  case CONFIG_TYPE_GROUP: sb_puts(b, "{ ... }"); break;
  case CONFIG_TYPE_ARRAY:
  case CONFIG_TYPE_LIST: {
    int list = config_setting_type(s) == CONFIG_TYPE_LIST, n = config_setting_length(s);
    sb_puts(b, list ? "(" : "[");
    for (int i = 0; i < n && depth < 3; i++) {
      if (i) sb_puts(b, ", ");
      sb_setting(b, config_setting_get_elem(s, (unsigned)i), depth + 1);
    }
    sb_puts(b, list ? ")" : "]");
    break;
  }
  default: sb_puts(b, "?");
  }
}

/* ================================================================ suggestions */

static int fold(int ch) { return ch == '-' ? '_' : tolower(ch); }

/* Edit distance ignoring case and '-' versus '_' (names are short: capped at 127). */
static int edit_distance(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 127 || lb > 127) return 1000;
  int row[128], prev[128];
  for (int j = 0; j <= lb; j++) prev[j] = j;
  for (int i = 1; i <= la; i++) {
    row[0] = i;
    for (int j = 1; j <= lb; j++) {
      int cost = fold((unsigned char)a[i - 1]) != fold((unsigned char)b[j - 1]);
      int v = prev[j - 1] + cost;
      if (prev[j] + 1 < v) v = prev[j] + 1;
      if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
      row[j] = v;
    }
    memcpy(prev, row, sizeof(int) * (size_t)(lb + 1));
  }
  return prev[lb];
}

static const char *closest(const char *name, const char *const *cands, int n, int maxd) {
  const char *best = NULL;
  int bd = maxd + 1;
  for (int i = 0; i < n; i++) {
    int d = edit_distance(name, cands[i]);
    if (d < bd) {
      bd = d;
      best = cands[i];
    }
  }
  return best;
}

/* A known key (or group) close to an unknown name, or NULL. */
static const char *suggest_key(const char *name) {
  const char *dot = strchr(name, '.');
  if (dot && find_key(dot + 1) >= 0) /* "cfg.test_bs", or a top-level key put in a group */
    return KEYS[find_key(dot + 1)].name;
  if (!dot) /* "seed" for "run.seed" */
    for (int k = 0; k < NKEYS; k++) {
      const char *kd = strchr(KEYS[k].name, '.');
      if (kd && strcmp(kd + 1, name) == 0) return KEYS[k].name;
    }
  const char *cands[NKEYS + 4];
  int n = 0;
  for (int k = 0; k < NKEYS; k++) cands[n++] = KEYS[k].name;
  for (int g = 0; GROUPS[g]; g++) cands[n++] = GROUPS[g];
  int len = (int)strlen(name), maxd = len / 4 > 2 ? len / 4 : 2;
  return closest(name, cands, n, maxd);
}

static const char *suggest_choice(const char *s, const char *const *choices) {
  int n = 0;
  while (choices[n]) n++;
  return closest(s, choices, n, 3);
}

/* ================================================================ the working context */

#define MAX_PROBLEMS 30
#define MAX_BAD_LINES 64

enum { R_BASE = 0, R_FILE = 1, R_SET = 2 }; /* precedence of a value's origin */

typedef struct {
  long order; /* source position (key_order) */
  int n;      /* arrival: keeps the sort stable */
  char text[400];
} problem_t;

/* One load / apply / validate: a working copy (committed only when everything passes), where
 * each value came from, and the problems found. */
typedef struct {
  asim_config c;
  signed char rank[NKEYS];      /* origin of each value in this batch (R_BASE: not set) */
  signed char derived[NKEYS];   /* skip its own range check: derived from another key, or
                                   its value was already rejected */
  const char *file[NKEYS];      /* origin label (file name, "--set", ...) */
  int line[NKEYS];
  int seq[NKEYS];               /* position of the --set that gave the value */
  const char *base;             /* how to name values not set in this batch */
  const char *text_label;       /* file name for settings of the main text */
  const char *incdir;           /* @include directory (names of included files are relative) */
  char incnames[8][512];        /* "incdir/name" of included files, for messages */
  int n_incnames;
  int bad_lines[MAX_BAD_LINES]; /* main-text lines with a rejected integer literal */
  int n_bad;
  int n_assign;                 /* --set assignments seen so far */
  long order;                   /* sort position of the next problem (see key_order) */
  int nprob;
  problem_t prob[MAX_PROBLEMS];
} ctx;

/* Problems are listed in source order: file lines, then --set in order, then the rest. */
static long key_order(const ctx *x, int k) {
  if (x->rank[k] == R_FILE) return 10000000L + x->line[k];
  if (x->rank[k] == R_SET) return 20000000L + x->seq[k];
  return 30000000L;
}

static void problem(ctx *x, const char *fmt, ...) ASIM_PRINTF(2, 3);
static void problem(ctx *x, const char *fmt, ...) {
  int i = x->nprob++;
  if (i >= MAX_PROBLEMS) return;
  x->prob[i].order = x->order;
  x->prob[i].n = i;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->prob[i].text, sizeof x->prob[i].text, fmt, ap);
  va_end(ap);
}

static int prob_cmp(const void *a, const void *b) {
  const problem_t *pa = a, *pb = b;
  if (pa->order != pb->order) return pa->order < pb->order ? -1 : 1;
  return pa->n - pb->n;
}

/* One error for everything collected: a single problem on one line, several as a list. */
static asim_status report_problems(ctx *x) {
  if (x->nprob == 1) return ASIM_ERR(ASIM_EINVAL, "%s", x->prob[0].text);
  int n = x->nprob < MAX_PROBLEMS ? x->nprob : MAX_PROBLEMS;
  qsort(x->prob, (size_t)n, sizeof x->prob[0], prob_cmp);
  char msg[7000];
  size_t len = 0;
  msg[0] = 0;
  for (int i = 0; i < n && len + 8 < sizeof msg; i++) {
    snprintf(msg + len, sizeof msg - len, "\n  %s", x->prob[i].text);
    len = strlen(msg);
  }
  if (x->nprob > MAX_PROBLEMS && len + 40 < sizeof msg)
    snprintf(msg + len, sizeof msg - len, "\n  ... and %d more", x->nprob - MAX_PROBLEMS);
  return ASIM_ERR(ASIM_EINVAL, "%d configuration problems:%s", x->nprob, msg);
}

static const char *where(const char *file, int line, char *out, size_t len) {
  if (line > 0)
    snprintf(out, len, "%s:%d", file, line);
  else
    snprintf(out, len, "%s", file);
  return out;
}
static const char *key_where(const ctx *x, int k, char *out, size_t len) {
  if (x->rank[k] == R_BASE) return snprintf(out, len, "%s", x->base), out;
  return where(x->file[k], x->line[k], out, len);
}

/* ================================================================ per-key rules */

static const char *float_rule(fcheck fc) {
  switch (fc) {
  case FC_GE0: return "a number >= 0";
  case FC_GT0: return "a number > 0";
  case FC_UNIT: return "a number in [0, 1)";
  case FC_FACTOR: return "a number in (0, 1]";
  default: return "a finite number";
  }
}
static int float_ok(fcheck fc, double v) {
  if (!isfinite(v)) return 0;
  switch (fc) {
  case FC_GE0: return v >= 0;
  case FC_GT0: return v > 0;
  case FC_UNIT: return v >= 0 && v < 1;
  case FC_FACTOR: return v > 0 && v <= 1;
  default: return 1;
  }
}

/* "must be ..." for key k. */
static const char *rule_text(int k, char *out, size_t len) {
  const keydef *d = &KEYS[k];
  sbuf b = {0};
  switch (d->type) {
  case KT_INT: sb_printf(&b, "must be an integer in %ld..%ld", d->lo, d->hi); break;
  case KT_INT_NONE:
    sb_printf(&b, "must be \"None\" or an integer in %ld..%ld", d->lo, d->hi);
    break;
  case KT_U32: sb_puts(&b, "must be an integer in 0..4294967295"); break;
  case KT_FLOAT: sb_printf(&b, "must be %s", float_rule(d->fc)); break;
  case KT_BOOL: sb_puts(&b, "must be true or false"); break;
  case KT_TRI: sb_puts(&b, "must be true, false or \"auto\""); break;
  case KT_ENUM:
    sb_puts(&b, "must be one of ");
    for (int i = 0; d->choices[i]; i++) {
      if (i) sb_puts(&b, ", ");
      sb_quoted(&b, d->choices[i]);
    }
    break;
  case KT_STR: sb_printf(&b, "must be a non-empty string of at most %zu bytes", d->cap - 1); break;
  case KT_PATH:
    sb_printf(&b, "must be a path (non-empty string of at most %zu bytes) or \"None\"", d->cap - 1);
    break;
  case KT_INT_LIST:
    sb_printf(&b, "must be a list of at most %zu integers in %ld..%ld, e.g. [120, 180]", d->cap,
              d->lo, d->hi);
    break;
  case KT_FLOAT_LIST:
    sb_printf(&b, "must be a list of at most %zu numbers (%s), e.g. [0.5, 0.5, 0.5]", d->cap,
              float_rule(d->fc));
    break;
  }
  return sb_take(&b, out, len);
}

/* Range rule of a stored value; 0 when fine, else why[] holds the reason. */
static int check_value(const asim_config *c, int k, char *why, size_t len) {
  const keydef *d = &KEYS[k];
  switch (d->type) {
  case KT_INT: {
    int v = *CFIELD(c, k, int);
    if (v < d->lo || v > d->hi) return rule_text(k, why, len), 1;
    return 0;
  }
  case KT_INT_NONE: {
    int v = *CFIELD(c, k, int);
    if (v != ASIM_NONE && (v < d->lo || v > d->hi)) return rule_text(k, why, len), 1;
    return 0;
  }
  case KT_FLOAT:
    if (!float_ok(d->fc, *CFIELD(c, k, double))) return rule_text(k, why, len), 1;
    return 0;
  case KT_BOOL: {
    int v = *CFIELD(c, k, int);
    if (v != 0 && v != 1) return rule_text(k, why, len), 1;
    return 0;
  }
  case KT_TRI: {
    int v = *CFIELD(c, k, int);
    if (v != 0 && v != 1 && v != ASIM_AUTO) return rule_text(k, why, len), 1;
    return 0;
  }
  case KT_ENUM: {
    int v = *CFIELD(c, k, int), n = 0;
    while (d->choices[n]) n++;
    if (v < 0 || v >= n) return rule_text(k, why, len), 1;
    return 0;
  }
  case KT_STR:
  case KT_PATH: {
    const char *s = CFIELD(c, k, char);
    if ((d->type == KT_STR && !s[0]) || !memchr(s, 0, d->cap)) return rule_text(k, why, len), 1;
    /* A ported Windows path "D:\data\test" reads as "D:\data<TAB>est": in libconfig strings a
     * backslash starts an escape. No legitimate path or name holds control characters. */
    for (const unsigned char *q = (const unsigned char *)s; *q; q++)
      if (*q < 0x20 || *q == 0x7f)
        return snprintf(why, len, "contains a control character (byte 0x%02x): in libconfig "
                                  "strings a backslash starts an escape (\\t is a tab); write "
                                  "paths with / or double the backslashes",
                        *q),
               1;
    return 0;
  }
  case KT_INT_LIST:
  case KT_FLOAT_LIST: {
    int n = *CCOUNT(c, k);
    if (n < 0 || n > (int)d->cap) return rule_text(k, why, len), 1;
    for (int i = 0; i < n; i++) {
      if (d->type == KT_FLOAT_LIST ? !float_ok(d->fc, CFIELD(c, k, double)[i])
                                   : (CFIELD(c, k, int)[i] < d->lo || CFIELD(c, k, int)[i] > d->hi))
        return rule_text(k, why, len), 1;
      /* Milestones are epochs at which the learning rate is multiplied by `factor`
       * (PyTorch MultiStepLR): a decreasing list is a typo. */
      if (d->type == KT_INT_LIST && i > 0 && CFIELD(c, k, int)[i] < CFIELD(c, k, int)[i - 1])
        return snprintf(why, len, "must not decrease (entries are epochs at which the learning "
                                  "rate is multiplied by factor)"),
               1;
    }
    return 0;
  }
  case KT_U32: return 0;
  }
  return 0;
}

/* ================================================================ applying a setting */

static void key_problem(ctx *x, int k, const char *file, int line, const char *value,
                        const char *why) {
  char w[512];
  problem(x, "%s: %s = %s: %s", where(file, line, w, sizeof w), KEYS[k].name, value, why);
}

static int store_int(const keydef *d, long long v, void *field) {
  if (d->type == KT_U32) {
    if (v < 0 || v > 4294967295LL) return 0;
    *(uint32_t *)field = (uint32_t)v;
    return 1;
  }
  if (v < INT_MIN || v > INT_MAX) return 0;
  *(int *)field = (int)v;
  return 1;
}

static int is_number(int t) {
  return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT;
}
static long long get_int(const config_setting_t *s) {
  return config_setting_type(s) == CONFIG_TYPE_INT64 ? (long long)config_setting_get_int64(s)
                                                     : (long long)config_setting_get_int(s);
}
static double get_number(const config_setting_t *s) {
  int t = config_setting_type(s);
  return t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s) : (double)get_int(s);
}

/* Converts setting s into key k's field (type rules only; ranges are checked afterwards for
 * every key at once) and records where the value came from. */
static void apply(ctx *x, int k, const config_setting_t *s, const char *file, int line, int rank) {
  const keydef *d = &KEYS[k];
  void *field = (char *)&x->c + d->off;
  int t = config_setting_type(s), ok = 0;
  char hint[160] = "";
  const char *str = t == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;

  x->rank[k] = (signed char)rank;
  x->file[k] = file;
  x->line[k] = line;
  x->seq[k] = x->n_assign;
  if (rank > R_BASE && file == x->text_label) /* literal already rejected by scan_ints() */
    for (int i = 0; i < x->n_bad; i++)
      if (x->bad_lines[i] == line) return;

  switch (d->type) {
  case KT_INT:
  case KT_U32:
  case KT_INT_NONE:
    if (d->type == KT_INT_NONE && str) {
      if (strcmp(str, "None") == 0) {
        *(int *)field = ASIM_NONE;
        ok = 1;
      } else if (strcasecmp(str, "none") == 0 || strcasecmp(str, "null") == 0)
        snprintf(hint, sizeof hint, "; did you mean \"None\"?");
    } else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
      long long v = get_int(s);
      /* -1 is how None is stored: as an integer it is just out of range */
      ok = store_int(d, v, field) && !(d->type == KT_INT_NONE && v == ASIM_NONE);
    }
    break;
  case KT_FLOAT:
    if (is_number(t)) {
      *(double *)field = get_number(s);
      ok = 1;
    }
    break;
  case KT_BOOL:
    if (t == CONFIG_TYPE_BOOL) {
      *(int *)field = config_setting_get_bool(s) ? 1 : 0;
      ok = 1;
    }
    break;
  case KT_TRI:
    if (t == CONFIG_TYPE_BOOL) {
      *(int *)field = config_setting_get_bool(s) ? 1 : 0;
      ok = 1;
    } else if (str && strcmp(str, "auto") == 0) {
      *(int *)field = ASIM_AUTO;
      ok = 1;
    }
    break;
  case KT_ENUM:
    if (str) {
      int i = choice_index(d->choices, str);
      if (i >= 0) {
        *(int *)field = i;
        ok = 1;
      } else {
        const char *sg = suggest_choice(str, d->choices);
        if (sg) snprintf(hint, sizeof hint, "; did you mean \"%s\"?", sg);
      }
    }
    break;
  case KT_STR:
  case KT_PATH:
    if (str && str[0] && strlen(str) < d->cap) {
      set_str(field, d->cap, (d->type == KT_PATH && strcmp(str, "None") == 0) ? "" : str);
      ok = 1;
    }
    break;
  case KT_INT_LIST:
  case KT_FLOAT_LIST:
    if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) {
      int n = config_setting_length(s);
      ok = n <= (int)d->cap;
      for (int i = 0; ok && i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        int et = config_setting_type(e);
        if (d->type == KT_INT_LIST) {
          long long v = (et == CONFIG_TYPE_INT || et == CONFIG_TYPE_INT64) ? get_int(e) : LLONG_MIN;
          ok = v >= INT_MIN && v <= INT_MAX;
          if (ok) ((int *)field)[i] = (int)v;
        } else {
          ok = is_number(et);
          if (ok) ((double *)field)[i] = get_number(e);
        }
      }
      if (ok) *COUNT(&x->c, k) = n;
    }
    break;
  }
  if (!ok) {
    char why[512], val[256];
    sbuf b = {0};
    sb_setting(&b, s, 0);
    sb_take(&b, val, sizeof val);
    rule_text(k, why, sizeof why);
    if (strlen(why) + strlen(hint) < sizeof why) strcat(why, hint);
    key_problem(x, k, file, line, val, why);
    x->derived[k] = 1; /* its previous value stays; do not report it twice */
  }
}

/* Lines that ported Python typically gets wrong: say how to write them in libconfig. */
static const char *syntax_hint(const char *ln) {
  while (*ln == ' ' || *ln == '\t') ln++;
  if (strncmp(ln, "cfg.", 4) == 0) return "; drop the \"cfg.\" prefix of config.py";
  const char *eq = strpbrk(ln, "=:");
  if (eq) {
    const char *v = eq + 1;
    while (*v == ' ' || *v == '\t') v++;
    if (strncmp(v, "None", 4) == 0 && !isalnum((unsigned char)v[4]) && v[4] != '_')
      return "; Python None is written \"None\" (with the quotes)";
    if (*v == '\'') return "; strings take double quotes";
    if (isalpha((unsigned char)*v) && strncasecmp(v, "true", 4) && strncasecmp(v, "false", 5))
      return "; strings take double quotes";
  }
  return "";
}

static void unknown_key(ctx *x, const char *name, const char *file, int line) {
  char w[512];
  where(file, line, w, sizeof w);
  if (strncmp(name, "transforms_", 11) == 0) {
    problem(x, "%s: %s: not a setting in asim-mpi: the transforms follow from task, input_size "
               "and origin_size (spec 7.3-7.4); remove this line", w, name);
    return;
  }
  const char *sg = suggest_key(name);
  if (sg)
    problem(x, "%s: %s: unknown key; did you mean %s?", w, name, sg);
  else
    problem(x, "%s: %s: unknown key (docs/config.md lists every key)", w, name);
}

static const char *include_name(ctx *x, const char *name) {
  char full[512];
  snprintf(full, sizeof full, "%s/%s", x->incdir, name);
  for (int i = 0; i < x->n_incnames; i++)
    if (strcmp(x->incnames[i], full) == 0) return x->incnames[i];
  if (x->n_incnames == 8) return name;
  snprintf(x->incnames[x->n_incnames], sizeof x->incnames[0], "%s", full);
  return x->incnames[x->n_incnames++];
}

/* sweep.link = (["k1", "k2", ...], ...) (or one array): each group's keys, all swept with the
 * same number of values, become one axis, placed where its first key is. */
static void read_sweep_link(ctx *x, const config_setting_t *link, const char *file) {
  char w[512];
  int ln = config_setting_source_line(link);
  const config_setting_t *groups[ASIM_SWEEP_MAX_KEYS];
  int ng = 0, t = config_setting_type(link);
  if (t == CONFIG_TYPE_ARRAY) groups[ng++] = link;
  else if (t == CONFIG_TYPE_LIST)
    for (int i = 0; i < config_setting_length(link) && ng < ASIM_SWEEP_MAX_KEYS; i++)
      groups[ng++] = config_setting_get_elem(link, (unsigned)i);
  if (ng == 0 || (t == CONFIG_TYPE_LIST && config_setting_length(link) > ASIM_SWEEP_MAX_KEYS)) {
    problem(x, "%s: sweep.link: must be an array of swept key names or a list of them, e.g. "
            "link = ([\"asim_conv_adc_prec\", \"asim_linear_adc_prec\"]);", where(file, ln, w, sizeof w));
    return;
  }
  for (int gi = 0; gi < ng; gi++) {
    const config_setting_t *gs = groups[gi];
    if (config_setting_type(gs) != CONFIG_TYPE_ARRAY || config_setting_length(gs) < 2) {
      problem(x, "%s: sweep.link: group %d must be an array of at least two swept key names", where(file, ln, w, sizeof w),
              gi + 1);
      continue;
    }
    int ks[ASIM_SWEEP_MAX_KEYS], nk = 0, first = ASIM_SWEEP_MAX_KEYS, ok = 1;
    for (int i = 0; i < config_setting_length(gs); i++) {
      const char *name = config_setting_get_string_elem(gs, (unsigned)i);
      int k = -1;
      for (int j = 0; name && j < x->c.sweep.n_keys; j++)
        if (!strcmp(x->c.sweep.key[j], name)) k = j;
      if (k < 0 || nk == ASIM_SWEEP_MAX_KEYS) {
        problem(x, "%s: sweep.link: \"%s\" is not a key swept in this group", where(file, ln, w, sizeof w),
                name ? name : "(not a string)");
        ok = 0;
      } else if (x->c.sweep.axis[k] != k) {
        problem(x, "%s: sweep.link: %s is linked twice", where(file, ln, w, sizeof w), name);
        ok = 0;
      } else {
        ks[nk++] = k;
        if (k < first) first = k;
      }
    }
    for (int i = 0; ok && i < nk; i++)
      if (x->c.sweep.n_values[ks[i]] != x->c.sweep.n_values[ks[0]]) {
        problem(x, "%s: sweep.link: %s has %d values, %s has %d: linked keys need as many",
                where(file, ln, w, sizeof w), x->c.sweep.key[ks[i]], x->c.sweep.n_values[ks[i]], x->c.sweep.key[ks[0]],
                x->c.sweep.n_values[ks[0]]);
        ok = 0;
      }
    for (int i = 0; ok && i < nk; i++) x->c.sweep.axis[ks[i]] = first; /* the axis sits at its first key */
  }
}

/* sweep = { key = [values]; repeats = N; }: checked here for form (known keys, lists of at most
 * ASIM_SWEEP_MAX_VALUES scalars); each point is validated when it is applied. */
static void read_sweep(ctx *x, const config_setting_t *g, const char *file, int line) {
  char w[512];
  if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
    problem(x, "%s: sweep: must be a group, e.g. sweep = { asim_conv_adc_prec = [4, 6, 8]; repeats = 3; };",
            where(file, line, w, sizeof w));
    return;
  }
  x->c.sweep.n_keys = 0;
  x->c.sweep.repeats = 1;
  const config_setting_t *link = NULL;
  for (int i = 0; i < config_setting_length(g); i++) {
    const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
    const char *name = config_setting_name(s);
    int ln = config_setting_source_line(s);
    if (!strcmp(name, "link")) {
      link = s;
      continue;
    }
    if (!strcmp(name, "repeats")) {
      if (config_setting_type(s) != CONFIG_TYPE_INT || config_setting_get_int(s) < 1 || config_setting_get_int(s) > 10000)
        problem(x, "%s: sweep.repeats: must be an integer in 1..10000", where(file, ln, w, sizeof w));
      else
        x->c.sweep.repeats = config_setting_get_int(s);
      continue;
    }
    if (find_key(name) < 0 || strchr(name, '.') != NULL) {
      const char *sg = suggest_key(name);
      problem(x, "%s: sweep.%s: not a sweepable key%s%s", where(file, ln, w, sizeof w), name,
              sg ? "; did you mean " : "", sg ? sg : "");
      continue;
    }
    int t = config_setting_type(s), n = config_setting_length(s);
    if ((t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) || n < 1 || n > ASIM_SWEEP_MAX_VALUES) {
      problem(x, "%s: sweep.%s: must be a list of 1..%d values, e.g. [4, 6, 8]", where(file, ln, w, sizeof w), name,
              ASIM_SWEEP_MAX_VALUES);
      continue;
    }
    if (x->c.sweep.n_keys == ASIM_SWEEP_MAX_KEYS) {
      problem(x, "%s: sweep: at most %d keys", where(file, ln, w, sizeof w), ASIM_SWEEP_MAX_KEYS);
      continue;
    }
    int k = x->c.sweep.n_keys++;
    snprintf(x->c.sweep.key[k], sizeof x->c.sweep.key[k], "%s", name);
    x->c.sweep.n_values[k] = n;
    x->c.sweep.axis[k] = k;
    for (int v = 0; v < n; v++) {
      sbuf b = {0};
      const config_setting_t *e = config_setting_get_elem(s, (unsigned)v);
      if (config_setting_type(e) == CONFIG_TYPE_GROUP || config_setting_type(e) == CONFIG_TYPE_LIST ||
          config_setting_type(e) == CONFIG_TYPE_ARRAY)
        problem(x, "%s: sweep.%s: values must be scalars", where(file, ln, w, sizeof w), name);
      sb_setting(&b, e, 0);
      if (b.p && strlen(b.p) >= sizeof x->c.sweep.value[k][v])
        problem(x, "%s: sweep.%s: value too long", where(file, ln, w, sizeof w), name);
      snprintf(x->c.sweep.value[k][v], sizeof x->c.sweep.value[k][v], "%s", b.p ? b.p : "");
      free(b.p);
    }
  }
  if (link) read_sweep_link(x, link, file);
}

int64_t asim_config_sweep_points(const asim_config *cfg) {
  int64_t n = 1;
  for (int k = 0; k < cfg->sweep.n_keys; k++)
    if (cfg->sweep.axis[k] == k) n *= cfg->sweep.n_values[k];
  return n;
}

int asim_config_sweep_index(const asim_config *cfg, int64_t p, int k) {
  for (int a = cfg->sweep.n_keys - 1; a >= 0; a--) { /* last axis fastest */
    if (cfg->sweep.axis[a] != a) continue;
    const int nv = cfg->sweep.n_values[a];
    if (a == cfg->sweep.axis[k]) return (int)(p % nv);
    p /= nv;
  }
  return 0;
}

int asim_config_sweep_point(const asim_config *cfg, int64_t p, char assign[][128]) {
  for (int k = 0; k < cfg->sweep.n_keys; k++)
    snprintf(assign[k], 128, "%s=%s", cfg->sweep.key[k], cfg->sweep.value[k][asim_config_sweep_index(cfg, p, k)]);
  return cfg->sweep.n_keys;
}

static void walk(ctx *x, const config_setting_t *g, const char *group, int rank) {
  int n = config_setting_length(g);
  for (int i = 0; i < n; i++) {
    const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
    const char *name = config_setting_name(s);
    const char *file = config_setting_source_file(s);
    int line = config_setting_source_line(s);
    char full[300];
    if (!name) continue;
    if (!file)
      file = x->text_label;
    else if (file[0] != '/' && x->incdir && strcmp(file, x->text_label) != 0)
      file = include_name(x, file);
    snprintf(full, sizeof full, "%s%s%s", group ? group : "", group ? "." : "", name);
    x->order = 10000000L + line;
    if (!group && !strcmp(name, "sweep")) {
      read_sweep(x, s, file, line);
      continue;
    }
    if (!group && is_group(name)) {
      if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        char w[512];
        problem(x, "%s: %s: must be a group, e.g. %s = { ... };", where(file, line, w, sizeof w),
                name, name);
      } else
        walk(x, s, name, rank);
      continue;
    }
    int k = find_key(full);
    if (k < 0)
      unknown_key(x, full, file, line);
    else
      apply(x, k, s, file, line, rank);
  }
}

/* libconfig 1.5 silently wraps integer literals outside 32 bits (3000000000 reads as
 * -1294967296) and 64-bit ones with an L suffix beyond int64. Find them in the source.
 * With `key` set, `text` is the value of that key (a --set) and has no line numbers. */
static void scan_ints(ctx *x, const char *text, const char *label, const char *key) {
  int line = 1;
  char name[128] = "", group[32] = "";
  const char *p = text;
  while (*p) {
    if (*p == '\n') {
      line++;
      p++;
    } else if (*p == '#' || (p[0] == '/' && p[1] == '/') || *p == '@') {
      while (*p && *p != '\n') p++;
    } else if (p[0] == '/' && p[1] == '*') {
      for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
        if (*p == '\n') line++;
      if (*p) p += 2;
    } else if (*p == '"') {
      for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) p++;
        if (*p == '\n') line++;
      }
      if (*p) p++;
    } else if (isalpha((unsigned char)*p) || *p == '*') {
      size_t n = 0;
      while (isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '*') {
        if (n + 1 < sizeof name) name[n++] = *p;
        p++;
      }
      name[n] = 0;
    } else if (*p == '{') {
      snprintf(group, sizeof group, "%.31s", name);
      p++;
    } else if (*p == '}') {
      group[0] = 0;
      p++;
    } else if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
      const char *q = p;
      int hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
      if (hex)
        for (q = p + 2; isxdigit((unsigned char)*q); q++) {}
      else
        while (isdigit((unsigned char)*q)) q++;
      if (!hex && (*q == '.' || *q == 'e' || *q == 'E')) { /* a float: skip it */
        while (isalnum((unsigned char)*q) || *q == '.' || ((*q == '+' || *q == '-') &&
                                                          (q[-1] == 'e' || q[-1] == 'E')))
          q++;
        p = q;
        continue;
      }
      int is64 = *q == 'L';
      const char *b = p;
      int neg = 0;
      while (b > text && (b[-1] == ' ' || b[-1] == '\t')) b--;
      if (b > text && b[-1] == '-') neg = 1;
      /* Compare magnitudes as digit strings: no overflow in the check itself. */
      char digits[64];
      size_t nd = (size_t)(q - p);
      int bad;
      if (hex) {
        const char *h = p + 2;
        while (*h == '0' && isxdigit((unsigned char)h[1])) h++;
        size_t nh = (size_t)(q - h);
        bad = is64 ? nh > 16 : (nh > 8 || (nh == 8 && *h > '7'));
      } else {
        const char *h = p;
        while (*h == '0' && isdigit((unsigned char)h[1])) h++;
        nd = (size_t)(q - h);
        const char *lim = is64 ? (neg ? "9223372036854775808" : "9223372036854775807")
                               : (neg ? "2147483648" : "2147483647");
        size_t nl = strlen(lim);
        bad = nd > nl || (nd == nl && strncmp(h, lim, nl) > 0);
      }
      if (bad) {
        char w[512];
        if (!key) x->order = 10000000L + line;
        snprintf(digits, sizeof digits, "%s%.*s%s", neg ? "-" : "",
                 (int)((q - p) < 40 ? q - p : 40), p, is64 ? "L" : "");
        problem(x, "%s: %s%s%s = %s: integer literal out of range (%s); libconfig would "
                   "silently wrap it",
                where(label, key ? 0 : line, w, sizeof w), key ? "" : group,
                (!key && group[0]) ? "." : "", key ? key : name, digits,
                is64 ? "64-bit" : "32-bit; 64-bit literals take an L suffix");
        if (x->n_bad < MAX_BAD_LINES) x->bad_lines[x->n_bad++] = line;
      }
      p = q + is64;
    } else
      p++;
  }
}

/* Reads a value for key k written like --set: libconfig syntax, except that string-valued
 * keys take bare words ("--set model_name=ResNet-34"). */
static void apply_assignment(ctx *x, const char *assign, const char *label, int rank) {
  const char *eq = strchr(assign, '=');
  x->order = 20000000L + ++x->n_assign;
  char key[300];
  if (!eq) {
    problem(x, "%s: %s: expected key=value", label, assign);
    return;
  }
  const char *a = assign, *e = eq;
  while (a < e && isspace((unsigned char)*a)) a++;
  while (e > a && isspace((unsigned char)e[-1])) e--;
  snprintf(key, sizeof key, "%.*s", (int)(e - a), a);
  if (!key[0]) {
    problem(x, "%s: '%s': expected key=value, the key is missing", label, assign);
    return;
  }
  int k = find_key(key);
  if (k < 0) {
    if (is_group(key))
      problem(x, "%s: %s: is a group; set its keys one by one (%s.KEY=value)", label, key, key);
    else
      unknown_key(x, key, label, 0);
    return;
  }
  const char *v = eq + 1;
  while (isspace((unsigned char)*v)) v++;
  size_t vn = strlen(v);
  while (vn && (isspace((unsigned char)v[vn - 1]))) vn--;
  if (vn && v[vn - 1] == ';') vn--; /* "key=value;" as in a file */
  while (vn && (isspace((unsigned char)v[vn - 1]))) vn--;
  if (!vn) {
    problem(x, "%s: %s: the value after '=' is missing", label, key);
    return;
  }
  ktype t = KEYS[k].type;
  int bare_string =
      v[0] != '"' && (t == KT_STR || t == KT_PATH || t == KT_ENUM ||
                      ((t == KT_INT_NONE || t == KT_TRI) && isalpha((unsigned char)v[0]) &&
                       strncasecmp(v, "true", vn) && strncasecmp(v, "false", vn)));
  sbuf b = {0};
  sb_puts(&b, "v = ");
  if (bare_string) {
    char *lit = strndup(v, vn);
    if (lit) sb_quoted(&b, lit);
    else b.oom = 1;
    free(lit);
  } else {
    sb_put(&b, v, vn);
    /* A plain decimal integer beyond 32 bits: add the L libconfig needs for 64-bit literals
     * (on the command line there is no file syntax to respect); key ranges still apply. */
    size_t i = (v[0] == '-' || v[0] == '+') ? 1 : 0, nd = 0;
    while (i + nd < vn && isdigit((unsigned char)v[i + nd])) nd++;
    long long q = (nd >= 10 && nd <= 18 && i + nd == vn) ? strtoll(v, NULL, 10) : 0;
    if (q < INT_MIN || q > INT_MAX) sb_puts(&b, "L");
  }
  sb_puts(&b, ";\n");
  if (b.oom) {
    free(b.p);
    problem(x, "%s: %s: out of memory", label, key);
    return;
  }
  config_t lc;
  config_init(&lc);
  config_set_auto_convert(&lc, 1);
  int before = x->nprob;
  if (!bare_string) scan_ints(x, b.p + 4, label, key);
  if (x->nprob > before) {
    /* reported by scan_ints */
  } else if (!config_read_string(&lc, b.p)) {
    problem(x, "%s: %s = %.*s: cannot parse the value (%s)%s", label, key, (int)vn, v,
            config_error_text(&lc),
            v[0] == '\'' ? "; strings take double quotes" : "");
  } else if (config_setting_length(config_root_setting(&lc)) != 1) {
    problem(x, "%s: %s = %.*s: expected a single value", label, key, (int)vn, v);
  } else {
    apply(x, k, config_setting_get_elem(config_root_setting(&lc), 0), label, 0, rank);
  }
  config_destroy(&lc);
  free(b.p);
}

/* ================================================================ whole-config rules */

/* Index of a key named in the rules below (all are table names: checked when writing them). */
static int K(const char *name) { return find_key(name); }

static const char *origin_phrase(const ctx *x, int k, char *out, size_t len) {
  char w[512];
  if (x->rank[k] == R_BASE)
    snprintf(out, len, "%s: %s", KEYS[k].name, x->base);
  else
    snprintf(out, len, "%s set at %s", KEYS[k].name, where(x->file[k], x->line[k], w, sizeof w));
  return out;
}

/* A rule between keys ka and kb (kb may be -1). The message is placed at whichever of the
 * two was set last (--set over file over default), so it points at the line to change. */
static void xproblem(ctx *x, int ka, int kb, const char *fmt, ...) ASIM_PRINTF(4, 5);
static void xproblem(ctx *x, int ka, int kb, const char *fmt, ...) {
  int blame = ka, other = kb;
  if (kb >= 0 && x->rank[kb] > x->rank[ka]) {
    blame = kb;
    other = ka;
  }
  char reason[1024], w[512], val[256], op[600] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  x->order = key_order(x, blame);
  if (other >= 0) {
    char o[560];
    snprintf(op, sizeof op, " [%s]", origin_phrase(x, other, o, sizeof o));
  }
  problem(x, "%s: %s = %s: %s%s", key_where(x, blame, w, sizeof w), KEYS[blame].name,
          value_str(&x->c, blame, val, sizeof val), reason, op);
}

/* e <= width (unsigned operands) or e < width (signed: the sign bit gets its own cycle). */
static void enc_rule(ctx *x, const char *enc, const char *width, int is_signed, const char *why) {
  int ke = K(enc), kw = K(width);
  int e = *FIELD(&x->c, ke, int), w = *FIELD(&x->c, kw, int);
  if (e == ASIM_NONE) return;
  if (is_signed ? e >= w : e > w)
    xproblem(x, ke, kw, "%s must be None or %s %s = %d (%s)", enc, is_signed ? "below" : "at most",
             width, w, why);
}

/* Bit-parallel full scale (2^e - 1)·nrow: ASiM's float32 column sums are exact below 2^24. */
static void fullscale_rule(ctx *x, const char *enc, const char *nrow) {
  int ke = K(enc), kn = K(nrow);
  int e = *FIELD(&x->c, ke, int), n = *FIELD(&x->c, kn, int);
  if (e == ASIM_NONE) return;
  double fs = (ldexp(1.0, e) - 1.0) * n;
  if (fs > 16777216.0)
    xproblem(x, ke, kn, "bit-parallel full scale (2^%d - 1) * %s = %.0f exceeds 2^24, where ASiM's "
                        "float32 column sums stop being exact integers", e, nrow, fs);
}

static int imax(int a, int b) { return a > b ? a : b; }

static void hybrid_rule(ctx *x, const char *key, int levels, const char *which) {
  int k = K(key), h = *FIELD(&x->c, k, int);
  if (h != ASIM_NONE && h > levels)
    xproblem(x, k, -1,
             "exceeds the %d cycle levels (wbit + xbit - 1) of the widest %s layer "
             "(spec 3.2); %d already keeps every cycle noise-free",
             levels, which, levels);
}

/* ASiM's extensions (spec 11) of one layer group: one extension at a time, and each needs the
 * datapath it was written for. Only Simulation mode uses them. */
static void ext_rules(ctx *x, const char *g, const char *hyb, const char *enc, const char *sgn) {
  char n[8][64];
  const char *suf[8] = {"voting_levels", "num_samp", "non_linear_alpha", "weight_var", "weight_bp", "mode",
                        "non_linear_sigma", "adc_prec"};
  for (int i = 0; i < 8; i++) snprintf(n[i], sizeof n[i], "asim_%s_%s", g, suf[i]);
  const asim_config *c = &x->c;
  int kv = K(n[0]), kns = K(n[1]), ka = K(n[2]), kw = K(n[3]), kbp = K(n[4]), km = K(n[5]), knl = K(n[6]);
  int kadc = K(n[7]), kh = K(hyb), ke = K(enc), ks = sgn ? K(sgn) : -1;
  if (*CFIELD(c, km, asim_mode) != ASIM_SIMULATION) return;
  int v = *CFIELD(c, kv, int), ns = *CFIELD(c, kns, int), bp = *CFIELD(c, kbp, int);
  int e = *CFIELD(c, ke, int), signed_act = ks >= 0 ? *CFIELD(c, ks, int) : 1;
  double a = *CFIELD(c, ka, double), w = *CFIELD(c, kw, double), nl = *CFIELD(c, knl, double);
  int mv = v != ASIM_NONE, cdm = a > 0 || w > 0;
  if (mv + cdm + bp > 1)
    xproblem(x, mv ? kv : ka, bp ? kbp : (a > 0 ? ka : kw),
             "majority voting (%s), current domain (%s, %s) and %s are separate extensions "
             "(spec 11): enable one per layer group", n[0], n[2], n[3], n[4]);
  if (mv && *CFIELD(c, kh, int) != ASIM_NONE)
    xproblem(x, kv, kh, "majority voting replaces %s: every cycle is analog and the top %s levels are "
                        "voted on (spec 11.1); set %s = \"None\"", hyb, n[0], hyb);
  if (ns != ASIM_NONE && ns > 1 && !mv)
    xproblem(x, kns, kv, "%s = %d needs %s (the cycle levels voted on, spec 11.1)", n[1], ns, n[0]);
  if (mv && ns != ASIM_NONE && ns > 1 && e != ASIM_NONE)
    xproblem(x, kns, ke, "%s = %d with %s: majority voting repeats bit-serial conversions only (ASiM "
                         "asserts the same, spec 11.1)", n[1], ns, enc);
  if (cdm && nl > 0)
    xproblem(x, a > 0 ? ka : kw, knl, "the current-domain ADC replaces the non-linearity noise by gain "
                                      "compression (spec 11.2): set %s = 0", n[6]);
  if (bp) {
    if (e == ASIM_NONE)
      xproblem(x, kbp, ke, "%s needs %s (activation bits per cycle, spec 11.3)", n[4], enc);
    if (signed_act)
      xproblem(x, kbp, ks, "%s encodes unsigned activations only (spec 11.3)%s", n[4],
               ks >= 0 ? "" : "; this layer group's activations are signed");
    if (nl > 0)
      xproblem(x, kbp, knl, "the weight bit-parallel ADC has random noise only (spec 11.3): set %s = 0", n[6]);
    if (*CFIELD(c, kadc, int) < 2)
      xproblem(x, kbp, kadc, "%s needs %s >= 2 (a signed ADC, spec 11.3)", n[4], n[7]);
  }
}

static void cross_rules(ctx *x, int strict) {
  asim_config *c = &x->c;
  int kin = K("input_size"), klm = K("large_model");
  asim_model_family fam = asim_model_family_of(c->model_name);

  /* Derived in ASiM: large_model = input_size > 100 (spec 6). */
  int lm = c->input_size > 100;
  if (c->large_model != lm) {
    if (x->rank[klm] > R_BASE || strict)
      xproblem(x, klm, kin, "ASiM derives large_model as input_size > 100, so it must be %s for "
                            "input_size = %d", lm ? "true" : "false", c->input_size);
    else
      c->large_model = lm;
  }
  if (c->image_size != c->input_size)
    xproblem(x, K("image_size"), kin, "must equal input_size = %d (ASiM sets image_size = "
                                      "input_size; the test resize and the ViT both use it)",
             c->input_size);
  /* A class count different from the dataset's would index labels outside the classifier or
   * leave classes that can never be scored: an error, not a warning. */
  int ncls = asim_task_classes(c->task);
  if (c->cls_num != ncls)
    xproblem(x, K("cls_num"), K("task"), "task \"%s\" has %d classes, so cls_num must be %d",
             asim_task_name(c->task), ncls, ncls);
  if (fam == ASIM_FAMILY_VIT) {
    int p = asim_model_id_patch(c->model_name);
    if (c->input_size % p)
      xproblem(x, kin, K("model_name"), "%s cuts the image into %dx%d patches: input_size must "
                                        "be a multiple of %d",
               asim_model_id_name(c->model_name), p, p, p);
  }
  if (fam == ASIM_FAMILY_VGG && c->input_size < 4)
    xproblem(x, kin, K("model_name"), "VGG's small variant halves the input twice: input_size "
                                      "must be at least 4");

  /* Input channels. */
  int kch = K("data.channels"), ch = c->data.channels;
  if (ch == 2)
    xproblem(x, kch, -1, "must be 0 (the task's own), 1 or 3");
  else if (ch == 1 && asim_task_channels(c->task) == 3)
    xproblem(x, kch, K("task"), "one channel needs a grey-scale task (MNIST, Fashion-MNIST); "
                                "%s images are RGB", asim_task_name(c->task));
  int che = asim_config_channels(c);
  if (c->data.n_mean && c->data.n_mean != che)
    xproblem(x, K("data.mean"), kch, "needs one entry per input channel (%d), or none for the "
                                     "task's constants", che);
  if (c->data.n_std && c->data.n_std != che)
    xproblem(x, K("data.std"), kch, "needs one entry per input channel (%d), or none for the "
                                    "task's constants", che);

  /* Bit-parallel encodings (spec 3.3-3.5). */
  if (c->asim_act_enc != ASIM_NONE && c->asim_signed_act)
    xproblem(x, K("asim_act_enc"), K("asim_signed_act"),
             "ASiM's convolution has no signed bit-parallel mode (asim_signed_act = true with "
             "an act_enc fails its assertion, spec 3.3)");
  else
    enc_rule(x, "asim_act_enc", "asim_conv_xbit", 0, "spec 3.3");
  enc_rule(x, "asim_linear_act_enc", "asim_linear_xbit", c->asim_linear_signed_act,
           c->asim_linear_signed_act ? "signed activations keep the sign bit in a cycle of its "
                                       "own, spec 3.4"
                                     : "spec 3.4");
  enc_rule(x, "asim_vit_mlp_act_enc", "asim_vit_mlp_xbit", 1,
           "ViT MLP activations are signed; the sign bit has a cycle of its own, spec 3.4");
  enc_rule(x, "asim_vit_fc_act_enc", "asim_vit_fc_xbit", 1,
           "the ViT head's activations are signed; the sign bit has a cycle of its own, spec 3.4");
  enc_rule(x, "asim_vit_attn_proj_act_enc", "asim_vit_attn_proj_xbit", 1,
           "qkv/proj activations are signed; the sign bit has a cycle of its own, spec 3.5");
  enc_rule(x, "asim_vit_attn_qk_k_enc", "asim_vit_attn_qk_kbit", 1,
           "keys are signed; the key sign bit has a cycle of its own, spec 3.5");
  enc_rule(x, "asim_vit_attn_qk_k_enc", "asim_vit_attn_qk_qbit", 1,
           "ASiM asserts qk_k_enc < qk_qbit: it compares with the query width, spec 3.7 quirk 7");
  enc_rule(x, "asim_vit_attn_av_a_enc", "asim_vit_attn_av_abit", 0,
           "attention probabilities are unsigned, spec 3.5");
  fullscale_rule(x, "asim_act_enc", "asim_conv_nrow");
  fullscale_rule(x, "asim_linear_act_enc", "asim_linear_nrow");
  fullscale_rule(x, "asim_vit_mlp_act_enc", "asim_vit_mlp_nrow");
  fullscale_rule(x, "asim_vit_fc_act_enc", "asim_vit_fc_nrow");
  fullscale_rule(x, "asim_vit_attn_proj_act_enc", "asim_vit_attn_nrow");
  fullscale_rule(x, "asim_vit_attn_qk_k_enc", "asim_vit_attn_nrow");
  fullscale_rule(x, "asim_vit_attn_av_a_enc", "asim_vit_attn_nrow");

  /* Hybrid levels: at most the number of cycle anti-diagonals of the layers they feed. */
  hybrid_rule(
      x, "asim_cnn_hybrid_levels",
      imax(c->asim_conv_wbit + c->asim_conv_xbit, c->asim_linear_wbit + c->asim_linear_xbit) - 1,
      "ResNet/VGG");
  int vl = imax(imax(c->asim_vit_attn_qk_qbit + c->asim_vit_attn_qk_kbit,
                     c->asim_vit_attn_av_vbit + c->asim_vit_attn_av_abit),
                imax(c->asim_vit_attn_proj_wbit + c->asim_vit_attn_proj_xbit,
                     imax(c->asim_vit_mlp_wbit + c->asim_vit_mlp_xbit,
                          c->asim_vit_fc_wbit + c->asim_vit_fc_xbit)));
  hybrid_rule(x, "asim_vit_hybrid_levels", vl - 1, "ViT");
  ext_rules(x, "conv", "asim_cnn_hybrid_levels", "asim_act_enc", "asim_signed_act");
  ext_rules(x, "linear", "asim_cnn_hybrid_levels", "asim_linear_act_enc", "asim_linear_signed_act");
  ext_rules(x, "vit_mlp", "asim_vit_hybrid_levels", "asim_vit_mlp_act_enc", NULL);
  ext_rules(x, "vit_fc", "asim_vit_hybrid_levels", "asim_vit_fc_act_enc", NULL);
  if (c->asim_vit_attn_mode == ASIM_SIMULATION) { /* the voting attention: QK, AV, qkv and proj */
    int kv = K("asim_vit_attn_voting_levels"), kns = K("asim_vit_attn_num_samp");
    int v = c->asim_vit_attn_voting_levels, ns = c->asim_vit_attn_num_samp;
    if (v != ASIM_NONE && c->asim_vit_hybrid_levels != ASIM_NONE)
      xproblem(x, kv, K("asim_vit_hybrid_levels"), "majority voting replaces asim_vit_hybrid_levels: every "
                                                  "cycle is analog (spec 11.1); set it to \"None\"");
    if (ns != ASIM_NONE && ns > 1 && v == ASIM_NONE)
      xproblem(x, kns, kv, "asim_vit_attn_num_samp = %d needs asim_vit_attn_voting_levels (spec 11.1)", ns);
    const char *encs[3] = {"asim_vit_attn_qk_k_enc", "asim_vit_attn_av_a_enc", "asim_vit_attn_proj_act_enc"};
    for (int i = 0; i < 3; i++)
      if (v != ASIM_NONE && ns != ASIM_NONE && ns > 1 && *CFIELD(c, K(encs[i]), int) != ASIM_NONE)
        xproblem(x, kns, K(encs[i]), "asim_vit_attn_num_samp = %d with %s: majority voting repeats bit-serial "
                                     "conversions only (ASiM asserts the same, spec 11.1)", ns, encs[i]);
  }

  if (fam != ASIM_FAMILY_VIT) {
    /* A macro load holds whole 3x3 kernels: G = floor(nrow / 9) channels, 0 fails (spec 3.3).
     * Stems are QuantConv2d and never simulated, so 3x3 is the largest simulated kernel. */
    if (c->asim_conv_mode == ASIM_SIMULATION && c->asim_conv_nrow < 9)
      xproblem(x, K("asim_conv_nrow"), K("asim_conv_mode"),
               "simulated 3x3 convolutions need asim_conv_nrow >= 9 (a macro load holds "
               "floor(nrow/9) whole kernels; ASiM fails with 0, spec 3.3)");
    if (c->asim_linear_mode == ASIM_SIMULATION && c->asim_linear_layer == ASIM_LINEAR_PROJ)
      xproblem(x, K("asim_linear_layer"), K("model_name"),
               "the %s classifier gets 2-D (batch, features) input; ASiM's \"proj\" type expects "
               "3-D token tensors and fails in Simulation mode (spec 3.4); use \"fc\"",
               asim_model_id_name(c->model_name));
  }

  int kjob = K("run.job");
  if (c->run.job == ASIM_JOB_SIMULATE && !c->pretrain_model_path[0])
    xproblem(x, K("pretrain_model_path"), kjob,
             "a simulation needs trained weights; \"None\" (train from scratch) is only valid "
             "with run.job = \"train\"");
  if (c->run.job == ASIM_JOB_TRAIN && c->input_size > c->origin_size + 8)
    xproblem(x, K("origin_size"), kin,
             "training crops input_size = %d pixels from the origin_size image padded by 4 "
             "pixels per side (spec 7.4): origin_size must be at least %d",
             c->input_size, c->input_size - 8);
}

enum { FIN_LOAD, FIN_APPLY, FIN_VALIDATE };

/* Derived values, then the per-key rules for every key, then (if those pass) the rules
 * between keys. */
static void finish(ctx *x, int how) {
  asim_config *c = &x->c;
  if (how == FIN_LOAD) {
    /* Keys ASiM's config.py computes from others follow them unless given explicitly. */
    int k = K("image_size");
    if (x->rank[k] == R_BASE) {
      c->image_size = c->input_size;
      x->derived[k] = 1;
    }
    k = K("cls_num");
    if (x->rank[k] == R_BASE) {
      c->cls_num = asim_task_classes(c->task);
      x->derived[k] = 1;
    }
    k = K("milestones");
    if (x->rank[k] == R_BASE) { /* Python: [int(max_epoch * 0.6), int(max_epoch * 0.9)] */
      c->milestones[0] = (int)(c->max_epoch * 0.6);
      c->milestones[1] = (int)(c->max_epoch * 0.9);
      c->n_milestones = 2;
      x->derived[k] = 1;
    }
  }
  for (int k = 0; k < NKEYS; k++) { /* keys with type errors are marked derived: skipped */
    char why[512], w[512], val[256];
    if (x->derived[k] || !check_value(c, k, why, sizeof why)) continue;
    x->order = key_order(x, k);
    problem(x, "%s: %s = %s: %s", key_where(x, k, w, sizeof w), KEYS[k].name,
            value_str(c, k, val, sizeof val), why);
  }
  if (x->nprob) return;
  cross_rules(x, how == FIN_VALIDATE);
}

static asim_status ctx_new(ctx **px, const asim_config *start, const char *base) {
  ctx *x;
  ASIM_CHECK(ASIM_ALLOC(x, 1));
  if (start)
    x->c = *start;
  else
    asim_config_defaults(&x->c);
  x->base = base;
  *px = x;
  return ASIM_OK;
}

/* ================================================================ reading text */

static char *line_of(const char *text, int line) {
  for (int l = 1; l < line && text; l++) {
    text = strchr(text, '\n');
    if (text) text++;
  }
  if (!text) return NULL;
  size_t n = strcspn(text, "\n");
  return strndup(text, n > 100 ? 100 : n);
}

static char *read_file(const char *path, asim_status *st) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  *st = ASIM_OK;
  if (!f) {
    *st = ASIM_ERR(ASIM_EIO, "%s: cannot open configuration file: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 0, n = 0;
  for (;;) {
    if (n + 4096 + 1 > cap) {
      cap = cap ? 2 * cap : 8192;
      if (cap > (64u << 20)) {
        *st = ASIM_ERR(ASIM_EFORMAT, "%s: configuration file larger than 64 MiB", path);
        break;
      }
      char *q = realloc(buf, cap);
      if (!q) {
        *st = ASIM_ERR(ASIM_ENOMEM, "%s: cannot allocate %zu bytes", path, cap);
        break;
      }
      buf = q;
    }
    size_t m = fread(buf + n, 1, cap - n - 1, f);
    n += m;
    if (m == 0) {
      if (ferror(f)) *st = ASIM_ERR(ASIM_EIO, "%s: read error: %s", path, strerror(errno));
      break;
    }
  }
  fclose(f);
  if (*st != ASIM_OK) {
    free(buf);
    return NULL;
  }
  buf[n] = 0;
  if (memchr(buf, 0, n)) {
    free(buf);
    *st = ASIM_ERR(ASIM_EFORMAT, "%s: not a text file (contains NUL bytes)", path);
    return NULL;
  }
  return buf;
}

/* Parses `text` (named `label`; @include relative to incdir) into lc and applies it. */
static asim_status parse_text(ctx *x, config_t *lc, const char *text, const char *label,
                              const char *incdir) {
  config_set_auto_convert(lc, 1);
  if (incdir) config_set_include_dir(lc, incdir);
  if (strncmp(text, "\xef\xbb\xbf", 3) == 0) text += 3; /* UTF-8 byte-order mark */
  if (!config_read_string(lc, text)) {
    if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
      return ASIM_ERR(ASIM_EIO, "%s: %s", label, config_error_text(lc));
    const char *ef = config_error_file(lc);
    int line = config_error_line(lc);
    char path[ASIM_CONFIG_STR + 64];
    char *ln = NULL;
    if (!ef) {
      snprintf(path, sizeof path, "%s", label);
      ln = line_of(text, line);
    } else {
      if (ef[0] != '/' && incdir)
        snprintf(path, sizeof path, "%s/%s", incdir, ef);
      else
        snprintf(path, sizeof path, "%s", ef);
      asim_status ignore;
      char *inc = read_file(path, &ignore);
      if (inc) ln = line_of(inc, line);
      free(inc);
      asim_error_clear();
    }
    asim_status st = ASIM_ERR(ASIM_EFORMAT, "%s:%d: %s%s%s%s%s", path, line, config_error_text(lc),
                              ln ? " in \"" : "", ln ? ln : "", ln ? "\"" : "",
                              ln ? syntax_hint(ln) : "");
    free(ln);
    return st;
  }
  x->text_label = label;
  x->incdir = incdir;
  scan_ints(x, text, label, NULL);
  walk(x, config_root_setting(lc), NULL, R_FILE);
  return ASIM_OK;
}

/* ================================================================ public API */

asim_status asim_config_load(asim_config *cfg, const char *path, const char *const *overrides,
                             int n_overrides) {
  ctx *x = NULL;
  char *text = NULL, *incdir = NULL;
  asim_status st = ASIM_OK;
  config_t lc;
  config_init(&lc);
  ASIM_CHECK_GOTO(st, ctx_new(&x, NULL, "default value"), done);
  if (path) {
    text = read_file(path, &st);
    if (!text) goto done;
    const char *slash = strrchr(path, '/');
    incdir = slash ? strndup(path, (size_t)(slash - path ? slash - path : 1)) : strdup(".");
    if (!incdir) {
      st = ASIM_ERR(ASIM_ENOMEM, "out of memory");
      goto done;
    }
    ASIM_CHECK_GOTO(st, parse_text(x, &lc, text, path, incdir), done);
  }
  for (int i = 0; i < n_overrides; i++) {
    if (!overrides[i]) continue;
    apply_assignment(x, overrides[i], "--set", R_SET);
  }
  finish(x, FIN_LOAD);
  if (x->nprob) {
    st = report_problems(x);
    goto done;
  }
  *cfg = x->c;
done:
  config_destroy(&lc);
  free(text);
  free(incdir);
  free(x);
  return st;
}

asim_status asim_config_from_text(asim_config *cfg, const char *text, const char *origin) {
  ctx *x = NULL;
  asim_status st = ASIM_OK;
  config_t lc;
  config_init(&lc);
  if (!origin) origin = "(text)";
  if (!text) return ASIM_ERR(ASIM_EINVAL, "%s: no configuration text", origin);
  ASIM_CHECK_GOTO(st, ctx_new(&x, NULL, "default value"), done);
  ASIM_CHECK_GOTO(st, parse_text(x, &lc, text, origin, NULL), done);
  finish(x, FIN_LOAD);
  if (x->nprob) {
    st = report_problems(x);
    goto done;
  }
  *cfg = x->c;
done:
  config_destroy(&lc);
  free(x);
  return st;
}

asim_status asim_config_apply(asim_config *cfg, const char *const *assignments, int n,
                              const char *origin) {
  ctx *x = NULL;
  asim_status st = ASIM_OK;
  if (!origin) origin = "set";
  ASIM_CHECK(ctx_new(&x, cfg, "current value"));
  for (int i = 0; i < n; i++)
    if (assignments[i]) apply_assignment(x, assignments[i], origin, R_SET);
  finish(x, FIN_APPLY);
  if (x->nprob)
    st = report_problems(x);
  else
    *cfg = x->c;
  free(x);
  return st;
}

asim_status asim_config_set(asim_config *cfg, const char *key, const char *value_text) {
  if (!key || !value_text) return ASIM_ERR(ASIM_EINVAL, "asim_config_set: key and value needed");
  size_t n = strlen(key) + strlen(value_text) + 2;
  char *a;
  ASIM_CHECK(asim_malloc(&a, n));
  snprintf(a, n, "%s=%s", key, value_text);
  const char *list[1] = {a};
  asim_status st = asim_config_apply(cfg, list, 1, "set");
  free(a);
  return st;
}

asim_status asim_config_validate(const asim_config *cfg) {
  ctx *x = NULL;
  asim_status st = ASIM_OK;
  ASIM_CHECK(ctx_new(&x, cfg, "asim_config_validate"));
  finish(x, FIN_VALIDATE);
  if (x->nprob) st = report_problems(x);
  free(x);
  return st;
}

asim_status asim_config_get_text(const asim_config *cfg, const char *key, char *buf, size_t len) {
  int k = key ? find_key(key) : -1;
  if (k < 0) {
    const char *sg = key ? suggest_key(key) : NULL;
    return ASIM_ERR(ASIM_EINVAL, "asim_config_get_text: %s: unknown key%s%s%s",
                    key ? key : "(null)", sg ? "; did you mean " : "", sg ? sg : "", sg ? "?" : "");
  }
  sbuf b = {0};
  sb_value(&b, cfg, k);
  if (b.oom) {
    free(b.p);
    return ASIM_ERR(ASIM_ENOMEM, "asim_config_get_text: out of memory");
  }
  size_t n = b.n;
  if (!buf || n + 1 > len) {
    free(b.p);
    return ASIM_ERR(ASIM_EINVAL, "asim_config_get_text: %s: value needs %zu bytes, buffer has %zu",
                    key, n + 1, len);
  }
  memcpy(buf, b.p, n + 1);
  free(b.p);
  return ASIM_OK;
}

asim_status asim_config_to_text(const asim_config *cfg, char **text) {
  sbuf b = {0};
  char group[16] = "";
  *text = NULL;
  sb_puts(&b, "# asim-mpi configuration: every key with its effective value "
              "(asim_config_to_text).\n");
  for (int k = 0; k < NKEYS; k++) {
    const char *name = KEYS[k].name, *dot = strchr(name, '.');
    for (size_t s = 0; s < sizeof SECTIONS / sizeof SECTIONS[0]; s++)
      if (strcmp(SECTIONS[s].key, name) == 0) {
        if (group[0]) sb_puts(&b, "};\n");
        group[0] = 0;
        sb_printf(&b, "\n# ---- %s\n", SECTIONS[s].title);
      }
    if (dot) {
      size_t gl = (size_t)(dot - name);
      if (strlen(group) != gl || strncmp(group, name, gl) != 0) {
        if (group[0]) sb_puts(&b, "};\n");
        snprintf(group, sizeof group, "%.*s", (int)gl, name);
        sb_printf(&b, "%s = {\n", group);
      }
      sb_printf(&b, "  %s = ", dot + 1);
    } else {
      if (group[0]) sb_puts(&b, "};\n");
      group[0] = 0;
      sb_printf(&b, "%s = ", name);
    }
    sb_value(&b, cfg, k);
    sb_puts(&b, ";\n");
  }
  if (group[0]) sb_puts(&b, "};\n");
  if (cfg->sweep.n_keys > 0 || cfg->sweep.repeats > 1) {
    sb_puts(&b, "\n# ---- parameter sweep\nsweep = {\n");
    for (int k = 0; k < cfg->sweep.n_keys; k++) {
      sb_printf(&b, "  %s = [", cfg->sweep.key[k]);
      for (int v = 0; v < cfg->sweep.n_values[k]; v++) sb_printf(&b, "%s%s", v ? ", " : "", cfg->sweep.value[k][v]);
      sb_puts(&b, "];\n");
    }
    int linked = 0; /* link = (["k1", "k2"], ...): one array per axis of two or more keys */
    for (int a = 0; a < cfg->sweep.n_keys; a++) {
      int n = 0;
      for (int k = 0; k < cfg->sweep.n_keys; k++) n += cfg->sweep.axis[k] == a;
      if (n < 2) continue;
      sb_puts(&b, linked++ ? ", [" : "  link = ([");
      for (int k = 0, i = 0; k < cfg->sweep.n_keys; k++)
        if (cfg->sweep.axis[k] == a) sb_printf(&b, "%s\"%s\"", i++ ? ", " : "", cfg->sweep.key[k]);
      sb_puts(&b, "]");
    }
    if (linked) sb_puts(&b, ");\n");
    sb_printf(&b, "  repeats = %d;\n};\n", cfg->sweep.repeats);
  }
  if (b.oom) {
    free(b.p);
    return ASIM_ERR(ASIM_ENOMEM, "asim_config_to_text: out of memory");
  }
  *text = b.p;
  return ASIM_OK;
}

int asim_config_equal(const asim_config *a, const asim_config *b) {
  for (int k = 0; k < NKEYS; k++) {
    const keydef *d = &KEYS[k];
    switch (d->type) {
    case KT_U32:
      if (*CFIELD(a, k, uint32_t) != *CFIELD(b, k, uint32_t)) return 0;
      break;
    case KT_FLOAT:
      if (memcmp(CFIELD(a, k, double), CFIELD(b, k, double), sizeof(double))) return 0;
      break;
    case KT_STR:
    case KT_PATH:
      if (strncmp(CFIELD(a, k, char), CFIELD(b, k, char), d->cap)) return 0;
      break;
    case KT_INT_LIST:
    case KT_FLOAT_LIST: {
      int n = *CCOUNT(a, k);
      size_t es = d->type == KT_INT_LIST ? sizeof(int) : sizeof(double);
      if (n != *CCOUNT(b, k)) return 0;
      if (n > 0 && n <= (int)d->cap &&
          memcmp(CFIELD(a, k, char), CFIELD(b, k, char), (size_t)n * es))
        return 0;
      break;
    }
    default:
      if (*CFIELD(a, k, int) != *CFIELD(b, k, int)) return 0;
    }
  }
  if (a->sweep.n_keys != b->sweep.n_keys || a->sweep.repeats != b->sweep.repeats) return 0;
  for (int k = 0; k < a->sweep.n_keys; k++) {
    if (strcmp(a->sweep.key[k], b->sweep.key[k]) || a->sweep.n_values[k] != b->sweep.n_values[k] ||
        a->sweep.axis[k] != b->sweep.axis[k])
      return 0;
    for (int v = 0; v < a->sweep.n_values[k]; v++)
      if (strcmp(a->sweep.value[k][v], b->sweep.value[k][v])) return 0;
  }
  return 1;
}

asim_status asim_config_load_bcast(asim_config *cfg, const char *path,
                                   const char *const *overrides, int n_overrides, MPI_Comm comm) {
  int rank = 0;
  long long hdr[2] = {0, 0};
  char *text = NULL;
  asim_status st = ASIM_OK;
  if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
    return ASIM_ERR(ASIM_EMPI, "MPI_Comm_rank failed");
  if (rank == 0) {
    st = asim_config_load(cfg, path, overrides, n_overrides);
    if (st == ASIM_OK) st = asim_config_to_text(cfg, &text);
    hdr[0] = st;
    hdr[1] = text ? (long long)strlen(text) + 1 : 0;
    if (hdr[1] > INT_MAX) hdr[0] = st = ASIM_ERR(ASIM_EINVAL, "configuration text too large");
  }
  if (MPI_Bcast(hdr, 2, MPI_LONG_LONG, 0, comm) != MPI_SUCCESS) {
    free(text);
    return ASIM_ERR(ASIM_EMPI, "MPI_Bcast of the configuration header failed");
  }
  if (hdr[0] != ASIM_OK) {
    free(text);
    if (rank == 0) return st;
    return ASIM_ERR((asim_status)hdr[0], "configuration rejected on rank 0 (its message has the "
                                         "details)");
  }
  if (rank != 0) ASIM_CHECK(asim_malloc(&text, (size_t)hdr[1]));
  if (MPI_Bcast(text, (int)hdr[1], MPI_CHAR, 0, comm) != MPI_SUCCESS) {
    free(text);
    return ASIM_ERR(ASIM_EMPI, "MPI_Bcast of the configuration text failed");
  }
  if (rank != 0) st = asim_config_from_text(cfg, text, "configuration broadcast by rank 0");
  free(text);
  return st;
}

/* ================================================================ notes */

static void note(sbuf *b, int *n, const char *fmt, ...) ASIM_PRINTF(3, 4);
static void note(sbuf *b, int *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(b, fmt, ap);
  va_end(ap);
  sb_puts(b, "\n");
  (*n)++;
}

/* Noise sigmas act only in Simulation, trim noise only in Train/Inference (spec 3.1, 4). */
static void noise_notes(sbuf *b, int *n, const char *grp, asim_mode mode, double sig, double trim,
                        const char *trim_key) {
  if (mode != ASIM_SIMULATION && sig > 0)
    note(b, n, "%s noise sigmas have no effect: the mode is \"%s\" (ADC noise exists only in "
               "Simulation mode)", grp, asim_mode_name(mode));
  if (mode == ASIM_SIMULATION && trim > 0)
    note(b, n, "%s = %g has no effect in Simulation mode (trim noise acts in Train/Inference, "
               "spec 4)", trim_key, trim);
}

/* Extension keys of a group that cannot act: the group is not simulated, or voting has no noise
 * to vote away. */
static void ext_notes(sbuf *b, int *n, const char *grp, asim_mode mode, int voting_levels, int num_samp,
                      double alpha, double weight_var, int weight_bp, double sigma) {
  int any = voting_levels != ASIM_NONE || alpha > 0 || weight_var > 0 || weight_bp;
  if (any && mode != ASIM_SIMULATION)
    note(b, n, "%s extension keys have no effect: the mode is \"%s\" (ASiM's extensions change the "
               "simulated datapath only, spec 11)", grp, asim_mode_name(mode));
  else if (voting_levels != ASIM_NONE && num_samp != ASIM_NONE && num_samp > 1 && sigma == 0)
    note(b, n, "%s_num_samp = %d repeats noise-free conversions: without ADC noise every vote agrees "
               "(no effect, spec 11.1)", grp, num_samp);
}

int asim_config_notes(const asim_config *c, char *buf, size_t len) {
  sbuf b = {0};
  int n = 0;
  asim_model_family fam = asim_model_family_of(c->model_name);
  double s;
  if (fam != ASIM_FAMILY_VIT) {
    s = c->asim_conv_rand_noise_sigma + c->asim_conv_non_linear_sigma;
    noise_notes(&b, &n, "asim_conv", c->asim_conv_mode, s, c->asim_conv_trim_noise,
                "asim_conv_trim_noise");
    double sl = c->asim_linear_rand_noise_sigma + c->asim_linear_non_linear_sigma;
    noise_notes(&b, &n, "asim_linear", c->asim_linear_mode, sl, c->asim_linear_trim_noise,
                "asim_linear_trim_noise");
    double active = (c->asim_conv_mode == ASIM_SIMULATION ? s : 0) +
                    (c->asim_linear_mode == ASIM_SIMULATION ? sl : 0);
    ext_notes(&b, &n, "asim_conv", c->asim_conv_mode, c->asim_conv_voting_levels, c->asim_conv_num_samp,
              c->asim_conv_non_linear_alpha, c->asim_conv_weight_var, c->asim_conv_weight_bp, s);
    ext_notes(&b, &n, "asim_linear", c->asim_linear_mode, c->asim_linear_voting_levels, c->asim_linear_num_samp,
              c->asim_linear_non_linear_alpha, c->asim_linear_weight_var, c->asim_linear_weight_bp, sl);
    if (c->asim_cnn_hybrid_levels > 0 && active == 0)
      note(&b, &n, "asim_cnn_hybrid_levels = %d has no effect without ADC noise (it only selects "
                   "noise-free cycles)", c->asim_cnn_hybrid_levels);
    if (c->asim_conv_mode == ASIM_SIMULATION) {
      /* spec 3.3: ceil(C/G) pieces but only U = ceil(9C/nrow) loads processed. */
      static const int chans[] = {64, 128, 256, 512};
      int G = c->asim_conv_nrow / 9;
      char lost[200] = "";
      for (int i = 0; i < 4 && G > 0; i++) {
        long C = chans[i], U = (9 * C + c->asim_conv_nrow - 1) / c->asim_conv_nrow;
        long pieces = (C + G - 1) / G;
        if (pieces > U) {
          size_t l = strlen(lost);
          snprintf(lost + l, sizeof lost - l, "%sC=%ld uses %ld", l ? ", " : "", C, U * G);
        }
      }
      if (lost[0])
        note(&b, &n, "asim_conv_nrow = %d: ASiM leaves trailing input channels of 3x3 "
                     "convolutions unused (%s; spec 3.3); %s",
             c->asim_conv_nrow, lost,
             c->compat.conv_channel_drop ? "replicated (compat.conv_channel_drop = true)"
                                         : "asim-mpi uses all of them (compat.conv_channel_drop "
                                           "= false): results deviate from ASiM");
    }
  } else {
    s = c->asim_vit_attn_qk_rand_noise_sigma + c->asim_vit_attn_qk_non_linear_sigma +
        c->asim_vit_attn_av_rand_noise_sigma + c->asim_vit_attn_av_non_linear_sigma +
        c->asim_vit_attn_proj_rand_noise_sigma + c->asim_vit_attn_proj_non_linear_sigma;
    noise_notes(&b, &n, "asim_vit_attn", c->asim_vit_attn_mode, s,
                c->asim_vit_attn_attn_trim_noise + c->asim_vit_attn_proj_trim_noise,
                "asim_vit_attn_attn_trim_noise/asim_vit_attn_proj_trim_noise");
    double sm = c->asim_vit_mlp_rand_noise_sigma + c->asim_vit_mlp_non_linear_sigma;
    noise_notes(&b, &n, "asim_vit_mlp", c->asim_vit_mlp_mode, sm, c->asim_vit_mlp_trim_noise,
                "asim_vit_mlp_trim_noise");
    double sf = c->asim_vit_fc_rand_noise_sigma + c->asim_vit_fc_non_linear_sigma;
    noise_notes(&b, &n, "asim_vit_fc", c->asim_vit_fc_mode, sf, c->asim_vit_fc_trim_noise,
                "asim_vit_fc_trim_noise");
    double active = (c->asim_vit_attn_mode == ASIM_SIMULATION ? s : 0) +
                    (c->asim_vit_mlp_mode == ASIM_SIMULATION ? sm : 0) +
                    (c->asim_vit_fc_mode == ASIM_SIMULATION ? sf : 0);
    ext_notes(&b, &n, "asim_vit_mlp", c->asim_vit_mlp_mode, c->asim_vit_mlp_voting_levels, c->asim_vit_mlp_num_samp,
              c->asim_vit_mlp_non_linear_alpha, c->asim_vit_mlp_weight_var, c->asim_vit_mlp_weight_bp, sm);
    ext_notes(&b, &n, "asim_vit_fc", c->asim_vit_fc_mode, c->asim_vit_fc_voting_levels, c->asim_vit_fc_num_samp,
              c->asim_vit_fc_non_linear_alpha, c->asim_vit_fc_weight_var, c->asim_vit_fc_weight_bp, sf);
    ext_notes(&b, &n, "asim_vit_attn", c->asim_vit_attn_mode, c->asim_vit_attn_voting_levels,
              c->asim_vit_attn_num_samp, 0, 0, 0, s);
    if (c->asim_vit_hybrid_levels > 0 && active == 0)
      note(&b, &n, "asim_vit_hybrid_levels = %d has no effect without ADC noise (it only selects "
                   "noise-free cycles)", c->asim_vit_hybrid_levels);
  }
  if (c->run.act_scale == ASIM_ACT_SCALE_SAMPLE)
    note(&b, &n, "run.act_scale = \"sample\": activation scales per sample instead of per test_bs "
                 "batch; results deviate from ASiM (spec 13.1)");
  if (c->task == ASIM_TASK_CIFAR100)
    note(&b, &n, "CIFAR-100 samples are read in %s order; ASiM uses the unsorted directory "
                 "listing, so its batches are not reproducible (spec 7.1, 13.1)",
         c->compat.cifar100_order == ASIM_ORDER_SORTED ? "sorted file-name" : "directory-listing");
  if (buf && len) sb_take(&b, buf, len);
  else free(b.p);
  return n;
}
