/* The model machinery shared by every architecture: construction by name, the key layout,
 * checkpoint checks, initialisation, the forward interpreter and the description. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/conv.h"
#include "asim/diag.h"
#include "asim/linear.h"
#include "asim/nn.h"
#include "asim/noise.h"
#include "ops.h"

asim_model_settings asim_model_settings_default(void) {
  asim_model_settings s;
  memset(&s, 0, sizeof s);
  asim_cim_params p = asim_cim_defaults();
  p.mode = ASIM_SIMULATION;
  p.nrow = 255;
  s.conv = s.linear = p;
  s.quant_conv = asim_cim_defaults();
  s.quant_conv.mode = ASIM_TRAIN;
  s.quant_conv.signed_act = 1;
  s.vit_quant_conv = s.quant_conv;
  p.mode = ASIM_TRAIN;
  p.signed_act = 1;
  s.vit_mlp = s.vit_fc = p;
  asim_mha_dims *a = &s.attn;
  a->mode = ASIM_TRAIN;
  a->qk_qbit = a->qk_kbit = a->av_abit = a->av_vbit = a->proj_wbit = a->proj_xbit = 8;
  a->qk_adc_prec = a->av_adc_prec = a->proj_adc_prec = 8;
  a->nrow = 255;
  a->qk_k_enc = a->av_a_enc = a->proj_act_enc = -1;
  a->hybrid_levels = -1;
  s.pact = 1;
  return s;
}

asim_status asim_ops_push(asim_model *m, asim_op op) {
  if (m->n_ops == m->cap_ops) {
    int cap = m->cap_ops ? 2 * m->cap_ops : 64;
    asim_op *n = realloc(m->ops, sizeof(asim_op) * (size_t)cap);
    if (!n) return ASIM_ERR(ASIM_ENOMEM, "model operation list");
    m->ops = n;
    m->cap_ops = cap;
  }
  m->ops[m->n_ops++] = op;
  return ASIM_OK;
}

/* ---- construction ------------------------------------------------------------------------ */

typedef struct {
  const char *name;
  asim_arch arch;
  int a, b, c, d, e; /* ResNet: bottleneck, blocks; VGG: index into the lists; ViT: patch, layers, heads, hidden, mlp */
} arch_row;

static const arch_row archs[] = {
  {"ResNet-18", ASIM_ARCH_RESNET, 0, 2, 2, 2, 2},   {"ResNet-34", ASIM_ARCH_RESNET, 0, 3, 4, 6, 3},
  {"ResNet-50", ASIM_ARCH_RESNET, 1, 3, 4, 6, 3},   {"ResNet-101", ASIM_ARCH_RESNET, 1, 3, 4, 23, 3},
  {"ResNet-152", ASIM_ARCH_RESNET, 1, 3, 8, 36, 3}, {"VGG11", ASIM_ARCH_VGG, 0, 0, 0, 0, 0}, {"VGG13", ASIM_ARCH_VGG, 1, 0, 0, 0, 0},
  {"VGG16", ASIM_ARCH_VGG, 2, 0, 0, 0, 0},                   {"VGG19", ASIM_ARCH_VGG, 3, 0, 0, 0, 0},  {"VGG11-BN", ASIM_ARCH_VGG, 0, 1, 0, 0, 0},
  {"VGG13-BN", ASIM_ARCH_VGG, 1, 1, 0, 0, 0},                {"VGG16-BN", ASIM_ARCH_VGG, 2, 1, 0, 0, 0}, {"VGG19-BN", ASIM_ARCH_VGG, 3, 1, 0, 0, 0},
  {"ViT-B-16", ASIM_ARCH_VIT, 16, 12, 12, 768, 3072}, {"ViT-B-32", ASIM_ARCH_VIT, 32, 12, 12, 768, 3072},
  {"ViT-L-16", ASIM_ARCH_VIT, 16, 24, 16, 1024, 4096}, {"ViT-L-32", ASIM_ARCH_VIT, 32, 24, 16, 1024, 4096},
  {"ViT-H-14", ASIM_ARCH_VIT, 14, 32, 16, 1280, 5120},
  /* asim-mpi addition: 16-32-64 planes, one basic block per stage, 2x2 max-pool after the stem */
  {"ResNet-8", ASIM_ARCH_RESNET, 0, 1, 1, 1, 0},
};

/* VGG configuration lists, 0 = max-pool; the leading 64 is the QuantConv2d (spec §6.2) */
static const int vgg_large[4][24] = {
  {0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0, -1},
  {64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0, -1},
  {64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0, -1},
  {64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0, -1}};
static const int vgg_small[4][24] = {
  {128, 0, 256, 256, 512, 512, 512, 512, 0, -1},
  {64, 128, 128, 0, 256, 256, 512, 512, 512, 512, 0, -1},
  {64, 128, 128, 0, 256, 256, 256, 512, 512, 512, 512, 512, 512, 0, -1},
  {64, 128, 128, 0, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512, 0, -1}};

static asim_status build_ops(asim_model *m) {
  switch (m->arch) {
  case ASIM_ARCH_RESNET: ASIM_CHECK(asim_build_resnet(m)); break;
  case ASIM_ARCH_VGG: ASIM_CHECK(asim_build_vgg(m)); break;
  case ASIM_ARCH_VIT: ASIM_CHECK(asim_build_vit(m)); break;
  }
  /* noise keys: one id per ASiM layer, four per attention block (qkv, QK, AV, proj) */
  uint32_t id = 1;
  for (int i = 0; i < m->n_ops; i++) {
    asim_op *o = &m->ops[i];
    if (o->kind == OP_ACONV || o->kind == OP_QCONV || o->kind == OP_LINEAR) o->layer_id = id++;
    else if (o->kind == OP_MHA) o->layer_id = id, id += 4;
  }
  m->n_asim_layers = (int)id - 1;
  return ASIM_OK;
}

static asim_status check_common(const asim_model *m) {
  if (m->classes < 1 || m->classes > 100000)
    return ASIM_ERR(ASIM_EINVAL, "%s: %d classes: must be in 1..100000", m->name, m->classes);
  if (m->in_ch < 1 || m->in_ch > 64) return ASIM_ERR(ASIM_EINVAL, "%s: %d input channels", m->name, m->in_ch);
  if (m->image_size < 1 || m->image_size > 4096)
    return ASIM_ERR(ASIM_EINVAL, "%s: input size %d", m->name, m->image_size);
  if (m->arch == ASIM_ARCH_VIT) {
    if (m->image_size % m->patch)
      return ASIM_ERR(ASIM_EINVAL, "%s: input size %d is not a multiple of the patch size %d", m->name, m->image_size,
                      m->patch);
    if (m->hidden % m->heads)
      return ASIM_ERR(ASIM_EINVAL, "%s: hidden size %d not divisible by %d heads", m->name, m->hidden, m->heads);
  } else {
    int minsize = m->arch == ASIM_ARCH_VGG ? (m->large ? 32 : 4) : (m->large ? 32 : 8);
    if (m->image_size < minsize)
      return ASIM_ERR(ASIM_EINVAL, "%s: input size %d is too small (at least %d)", m->name, m->image_size, minsize);
  }
  return ASIM_OK;
}

asim_status asim_model_init(asim_model *m, const char *name, int classes, int in_ch, int image_size,
                            const asim_model_settings *s, int vit_layers) {
  memset(m, 0, sizeof *m);
  const arch_row *r = NULL;
  for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
    if (!strcmp(archs[i].name, name)) r = &archs[i];
  if (!r) {
    char list[512] = "";
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", archs[i].name);
    return ASIM_ERR(ASIM_EINVAL, "unknown model '%s' (one of: %s)", name, list);
  }
  snprintf(m->name, sizeof m->name, "%s", name);
  m->arch = r->arch;
  m->classes = classes, m->in_ch = in_ch, m->image_size = image_size, m->large = image_size > 100;
  m->s = s ? *s : asim_model_settings_default();
  if (r->arch == ASIM_ARCH_RESNET) {
    m->bottleneck = r->a;
    m->blocks[0] = r->b, m->blocks[1] = r->c, m->blocks[2] = r->d, m->blocks[3] = r->e;
    if (!strcmp(name, "ResNet-8")) m->width = 16, m->stem_pool = 1;
  } else if (r->arch == ASIM_ARCH_VGG) {
    const int *cfg = m->large ? vgg_large[r->a] : vgg_small[r->a];
    m->vgg_bn = r->b;
    for (m->vgg_n = 0; cfg[m->vgg_n] >= 0; m->vgg_n++) m->vgg_cfg[m->vgg_n] = cfg[m->vgg_n];
  } else {
    m->patch = r->a, m->layers = r->b, m->heads = r->c, m->hidden = r->d, m->mlp_dim = r->e;
    if (vit_layers > 0 && vit_layers < m->layers) m->layers = vit_layers;
  }
  asim_status st;
  ASIM_CHECK_GOTO(st, check_common(m), fail);
  ASIM_CHECK_GOTO(st, build_ops(m), fail);
  return ASIM_OK;
fail:
  asim_model_free(m);
  return st;
}

void asim_model_free(asim_model *m) {
  if (m->caches)
    for (int i = 0; i < 2 * m->n_ops; i++) asim_wcache_free(m->caches[i]);
  free(m->caches);
  m->caches = NULL;
  asim_state_free(&m->params);
  free(m->ops);
  m->ops = NULL;
  m->n_ops = m->cap_ops = 0;
}

/* ---- key layout ------------------------------------------------------------------------- */

typedef struct {
  char name[96];
  int ndim, order;
  int64_t shape[4];
  op_kind kind; /* the operation owning the key (decides its initialisation) */
  int fan_in;   /* of the weight the key belongs to */
} key_entry;

typedef struct {
  key_entry *e;
  int n, cap;
  asim_status st;
} key_list;

static void key_add(key_list *l, const asim_op *o, const char *prefix, const char *suffix, int order, int ndim,
                    int64_t a, int64_t b, int64_t c, int64_t d) {
  char name[96];
  snprintf(name, sizeof name, "%s%s%s", prefix, prefix[0] && suffix[0] ? "." : "", suffix);
  for (int i = 0; i < l->n; i++)
    if (!strcmp(l->e[i].name, name)) { /* shared parameters (one PACT per block): keep the last position */
      if (order > l->e[i].order) l->e[i].order = order;
      return;
    }
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 256;
    key_entry *n = realloc(l->e, sizeof(key_entry) * (size_t)cap);
    if (!n) {
      l->st = ASIM_ERR(ASIM_ENOMEM, "key list");
      return;
    }
    l->e = n, l->cap = cap;
  }
  key_entry *k = &l->e[l->n++];
  snprintf(k->name, sizeof k->name, "%s", name);
  k->ndim = ndim, k->order = order;
  k->shape[0] = a, k->shape[1] = b, k->shape[2] = c, k->shape[3] = d;
  k->kind = o->kind;
  k->fan_in = o->kind == OP_LINEAR || o->kind == OP_MHA ? o->in : o->in * o->k * o->k;
}

static int key_cmp(const void *x, const void *y) {
  const key_entry *a = x, *b = y;
  return a->order != b->order ? (a->order < b->order ? -1 : 1) : 0;
}

static asim_status collect_keys(const asim_model *m, key_list *l) {
  memset(l, 0, sizeof *l);
  for (int i = 0; i < m->n_ops; i++) {
    const asim_op *o = &m->ops[i];
    const int ko = o->korder;
    switch (o->kind) {
    case OP_QCONV: case OP_ACONV: case OP_FCONV:
      key_add(l, o, o->key, "weight", ko, 4, o->out, o->in, o->k, o->k);
      if (o->bias) key_add(l, o, o->key, "bias", ko, 1, o->out, 0, 0, 0);
      break;
    case OP_BN:
      key_add(l, o, o->key, "weight", ko, 1, o->in, 0, 0, 0);
      key_add(l, o, o->key, "bias", ko, 1, o->in, 0, 0, 0);
      key_add(l, o, o->key, "running_mean", ko, 1, o->in, 0, 0, 0);
      key_add(l, o, o->key, "running_var", ko, 1, o->in, 0, 0, 0);
      key_add(l, o, o->key, "num_batches_tracked", ko, 0, 0, 0, 0, 0);
      break;
    case OP_PACT:
      if (m->s.pact) key_add(l, o, o->key, "alpha", ko, 0, 0, 0, 0, 0);
      break;
    case OP_LINEAR:
      key_add(l, o, o->key, "weight", ko, 2, o->out, o->in, 0, 0);
      if (o->bias) key_add(l, o, o->key, "bias", ko, 1, o->out, 0, 0, 0);
      break;
    case OP_TOKENS:
      key_add(l, o, "", "cls_token", -1, 3, 1, 1, o->in, 0);
      key_add(l, o, o->key, "pos_embedding", o->k, 3, 1, o->out, o->in, 0);
      break;
    case OP_LN:
      key_add(l, o, o->key, "weight", ko, 1, o->in, 0, 0, 0);
      key_add(l, o, o->key, "bias", ko, 1, o->in, 0, 0, 0);
      break;
    case OP_MHA:
      key_add(l, o, o->key, "qkv.weight", ko, 2, 3 * o->in, o->in, 0, 0);
      key_add(l, o, o->key, "qkv.bias", ko, 1, 3 * o->in, 0, 0, 0);
      key_add(l, o, o->key, "proj.weight", ko, 2, o->in, o->in, 0, 0);
      key_add(l, o, o->key, "proj.bias", ko, 1, o->in, 0, 0, 0);
      break;
    default: break;
    }
  }
  if (l->st) return l->st;
  qsort(l->e, (size_t)l->n, sizeof(key_entry), key_cmp); /* orders are unique or ties keep no meaning */
  return ASIM_OK;
}

void asim_model_keys(const asim_model *m, asim_key_fn fn, void *arg) {
  key_list l;
  if (collect_keys(m, &l) == ASIM_OK)
    for (int i = 0; i < l.n; i++) fn(arg, l.e[i].name, l.e[i].ndim, l.e[i].shape);
  free(l.e);
}

asim_status asim_model_load_state(asim_model *m, asim_state *st, int allow_unexpected) {
  key_list l;
  ASIM_CHECK(collect_keys(m, &l));
  asim_status s = ASIM_OK;
  for (int i = 0; i < l.n && !s; i++) {
    asim_tensor *t = asim_state_find(st, l.e[i].name);
    asim_tensor want = {.ndim = l.e[i].ndim};
    for (int d = 0; d < want.ndim; d++) want.shape[d] = l.e[i].shape[d];
    char a[96], b[96];
    if (!t)
      s = ASIM_ERR(ASIM_EFORMAT, "checkpoint lacks '%s' %s needed by %s", l.e[i].name,
                   asim_tensor_shape_str(&want, b, sizeof b), m->name);
    else if (!asim_tensor_same_shape(t, &want))
      s = ASIM_ERR(ASIM_ESHAPE, "checkpoint entry '%s' has shape %s, %s (%d classes, %d input channels, input %d) "
                   "needs %s", l.e[i].name, asim_tensor_shape_str(t, a, sizeof a), m->name, m->classes, m->in_ch,
                   m->image_size, asim_tensor_shape_str(&want, b, sizeof b));
  }
  if (!s && !allow_unexpected)
    for (int i = 0; i < st->n && !s; i++) {
      int found = 0;
      for (int j = 0; j < l.n && !found; j++) found = !strcmp(st->names[i], l.e[j].name);
      if (!found)
        s = ASIM_ERR(ASIM_EFORMAT, "checkpoint has an unexpected entry '%s' that %s does not use "
                     "(allow unexpected keys to ignore it)", st->names[i], m->name);
    }
  asim_state out = {0};
  for (int i = 0; i < l.n && !s; i++) {
    asim_tensor *t = asim_state_find(st, l.e[i].name);
    if (t->dtype != ASIM_I64 || strstr(l.e[i].name, "num_batches_tracked") == NULL) s = asim_tensor_to_f32(t);
    if (!s) s = asim_state_add(&out, l.e[i].name, t);
  }
  free(l.e);
  if (s) {
    asim_state_free(&out);
    return asim_error_trace(s, __FILE__, __LINE__, "loading the checkpoint into the model");
  }
  asim_state_free(&m->params);
  m->params = out;
  asim_state_free(st);
  return ASIM_OK;
}

/* ---- initialisation -------------------------------------------------------------------- */

/* Deterministic initial values: Philox keyed by the seed, counter (key index, element). */
static void fill_normal(float *w, int64_t n, float sd, uint64_t seed, uint32_t key_index) {
  asim_noise_key k = {(uint32_t)seed ^ 0x5eed2u, (uint32_t)(seed >> 32) ^ 0x1a17u};
  for (int64_t j = 0; j < n; j += 4) {
    float u[4], z[4];
    asim_uniform4(k, key_index, (uint32_t)(j / 4), 0, 8, u);
    for (int p = 0; p < 2; p++) { /* Box-Muller: two normals from each pair of uniforms */
      float r = sqrtf(-2.0f * logf(1.0f - u[2 * p])), a = 6.2831853f * u[2 * p + 1];
      z[2 * p] = r * cosf(a), z[2 * p + 1] = r * sinf(a);
    }
    for (int i = 0; i < 4 && j + i < n; i++) w[j + i] = sd * z[i];
  }
}

static void fill_uniform(float *w, int64_t n, float bound, uint64_t seed, uint32_t key_index) {
  asim_noise_key k = {(uint32_t)seed ^ 0x5eed1u, (uint32_t)(seed >> 32) ^ 0x1a17u};
  for (int64_t j = 0; j < n; j += 4) {
    float u[4];
    asim_uniform4(k, key_index, (uint32_t)(j / 4), 0, 9, u);
    for (int i = 0; i < 4 && j + i < n; i++) w[j + i] = bound * (2.0f * u[i] - 1.0f);
  }
}

asim_status asim_model_init_random(asim_model *m, uint64_t seed) {
  key_list l;
  ASIM_CHECK(collect_keys(m, &l));
  asim_state st = {0};
  asim_status s = ASIM_OK;
  for (int i = 0; i < l.n && !s; i++) {
    const key_entry *k = &l.e[i];
    asim_tensor t;
    const char *leaf = strrchr(k->name, '.');
    leaf = leaf ? leaf + 1 : k->name;
    const int nbt = !strcmp(leaf, "num_batches_tracked"), is_w = !strcmp(leaf, "weight");
    s = asim_tensor_alloc(&t, nbt ? ASIM_I64 : ASIM_F32, k->ndim, k->shape);
    if (s) break;
    float *w = t.data;
    const int64_t n = asim_tensor_numel(&t);
    const uint32_t ki = (uint32_t)i;
    const int cnn = m->arch != ASIM_ARCH_VIT;
    if (nbt) {
      /* 0 */
    } else if (k->kind == OP_PACT) {
      w[0] = 6.0f;
    } else if (k->kind == OP_BN || k->kind == OP_LN) {
      if (is_w || !strcmp(leaf, "running_var"))
        for (int64_t j = 0; j < n; j++) w[j] = 1.0f;
    } else if (k->kind == OP_TOKENS) {
      if (!strcmp(leaf, "pos_embedding"))
        fill_normal(w, n, 0.02f, seed, ki);
    } else if (cnn && (k->kind == OP_ACONV || k->kind == OP_QCONV)) {
      if (is_w) { /* kaiming normal, fan_out, ReLU gain; biases 0 */
        fill_normal(w, n, (float)sqrt(2.0 / (double)(k->shape[0] * k->shape[2] * k->shape[3])), seed, ki);
      }
    } else if (m->arch == ASIM_ARCH_VGG && k->kind == OP_LINEAR) {
      if (is_w)
        fill_normal(w, n, 0.01f, seed, ki);
    } else {
      /* PyTorch's default Linear/Conv init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias */
      float bound = (float)(1.0 / sqrt((double)k->fan_in));
      fill_uniform(w, n, bound, seed, ki);
    }
    s = asim_state_add(&st, k->name, &t);
  }
  free(l.e);
  if (s) {
    asim_state_free(&st);
    return asim_error_trace(s, __FILE__, __LINE__, "random initialisation");
  }
  asim_state_free(&m->params);
  m->params = st;
  return ASIM_OK;
}

/* ---- forward ---------------------------------------------------------------------------- */

typedef enum { T_IMG, T_TOK, T_FLAT } tshape;

/* The current tensor: B samples of (c, h, w) images, (h tokens × c features) or (c) flat. */
typedef struct {
  float *x;
  tshape kind;
  int c, h, w;
} act;

static int64_t act_numel(const act *a) {
  return a->kind == T_IMG ? (int64_t)a->c * a->h * a->w : a->kind == T_TOK ? (int64_t)a->h * a->c : a->c;
}

static const float *param(const asim_model *m, const asim_op *o, const char *suffix, asim_status *st) {
  char name[128];
  snprintf(name, sizeof name, "%s%s%s", o->key, o->key[0] ? "." : "", suffix);
  asim_tensor *t = asim_state_find(&m->params, name);
  if (!t || t->dtype != ASIM_F32) {
    *st = ASIM_ERR(ASIM_EINVAL, "%s: no weights for '%s' (load a checkpoint or initialise the model first)",
                   m->name, name);
    return NULL;
  }
  return t->data;
}

static asim_cim_params group_params(const asim_model *m, op_group g) {
  asim_cim_params p;
  switch (g) {
  case G_CONV: p = m->s.conv; break;
  case G_LINEAR: p = m->s.linear; break;
  case G_QCONV: p = m->s.quant_conv; p.signed_act = 1; break;
  case G_VITQCONV: p = m->s.vit_quant_conv; p.signed_act = 1; break;
  case G_MLP: p = m->s.vit_mlp; p.signed_act = 1; break;
  case G_FC: p = m->s.vit_fc; p.signed_act = 1; break;
  default: p = asim_cim_defaults(); break;
  }
  return p;
}

asim_cim_params asim_op_group_params(const asim_model *m, op_group g) { return group_params(m, g); }

static void trace_act(asim_trace_fn fn, void *arg, const char *name, const act *a, int B) {
  int64_t shape[3];
  int nd;
  if (a->kind == T_IMG) nd = 3, shape[0] = a->c, shape[1] = a->h, shape[2] = a->w;
  else if (a->kind == T_TOK) nd = 2, shape[0] = a->h, shape[1] = a->c;
  else nd = 1, shape[0] = a->c;
  fn(arg, name, a->x, B, nd, shape);
}

/* The layers the diagnostics report: every ASiM layer with a Simulation mode (QuantConv2d stems
 * have none and no ADC). */
static int diag_op(const asim_op *o) {
  return (o->kind == OP_ACONV && o->stride >= 0) || o->kind == OP_LINEAR || o->kind == OP_MHA;
}

int asim_model_diag_layers(const asim_model *m, char (*names)[96]) {
  int n = 0;
  for (int i = 0; i < m->n_ops; i++)
    if (diag_op(&m->ops[i])) {
      if (names) snprintf(names[n], 96, "%s", m->ops[i].key);
      n++;
    }
  return n;
}

/* "Ideal" = the same layer in Inference mode without trim noise: ASiM's exact integer product. */
static asim_cim_params ideal_params(asim_cim_params p) {
  p.mode = ASIM_INFERENCE;
  p.trim_noise = 0.0f;
  return p;
}

asim_status asim_model_forward(asim_model *m, float *logits, const float *x, int B, const asim_exec *ex,
                               asim_trace_fn trace, void *trace_arg) {
  if (B < 1) return ASIM_ERR(ASIM_EINVAL, "empty batch");
  asim_status st = ASIM_OK;
  /* diagnostics: the layer runs with ADC counting on, then once more as its ideal (neither changes
   * its result); off, the layers get ex itself */
  asim_diag_batch *dg = ex ? ex->diag : NULL;
  asim_adc_stats adc;
  asim_exec ex_sim, ex_ideal;
  float *yi = NULL;
  int li = 0;
  if (dg) {
    if (B > dg->cap || dg->n_layers != asim_model_diag_layers(m, NULL))
      return ASIM_ERR(ASIM_EINVAL, "%s: diagnostics record for %d layers and %d samples, the call has %d and %d",
                      m->name, dg->n_layers, dg->cap, asim_model_diag_layers(m, NULL), B);
    asim_diag_batch_reset(dg, B);
    ex_sim = ex_ideal = *ex;
    ex_sim.diag = ex_ideal.diag = NULL;
    ex_sim.adc_stats = &adc;
    ex_ideal.adc_stats = NULL;
  }
  const asim_exec *exl = dg ? &ex_sim : ex;
  act cur = {NULL, T_IMG, m->in_ch, m->image_size, m->image_size}, stack[2];
  int sp = 0;
  float *y = NULL;
  if (!m->caches) { /* the engine's weight caches: weights quantised and packed once per layer */
    ASIM_CHECK(ASIM_ALLOC(m->caches, (size_t)(2 * m->n_ops)));
    for (int i = 0; i < 2 * m->n_ops; i++) ASIM_CHECK(asim_wcache_new(&m->caches[i]));
  }
  ASIM_CHECK(asim_malloc(&cur.x, sizeof(float) * (size_t)B * act_numel(&cur)));
  memcpy(cur.x, x, sizeof(float) * (size_t)B * act_numel(&cur));
  for (int i = 0; i < m->n_ops && !st; i++) {
    const asim_op *o = &m->ops[i];
    act out = cur;
    const int64_t n = (int64_t)B * act_numel(&cur);
    y = NULL;
    switch (o->kind) {
    case OP_QCONV: case OP_ACONV: case OP_FCONV: {
      if (o->stride < 0) continue; /* the unused stem (its weights only live in the checkpoint) */
      out.c = o->out;
      out.h = asim_conv_out_size(cur.h, o->k, o->stride, o->pad);
      out.w = asim_conv_out_size(cur.w, o->k, o->stride, o->pad);
      if (out.h < 1 || out.w < 1) {
        st = ASIM_ERR(ASIM_ESHAPE, "%s: %s gets a %dx%d input, too small for its %dx%d kernel", m->name, o->key,
                      cur.h, cur.w, o->k, o->k);
        break;
      }
      const float *w = param(m, o, "weight", &st), *b = o->bias ? param(m, o, "bias", &st) : NULL;
      if (st) break;
      ASIM_CHECK_GOTO(st, asim_malloc(&y, sizeof(float) * (size_t)B * act_numel(&out)), done);
      if (o->kind == OP_FCONV) {
        st = asim_conv2d_float(y, cur.x, B, cur.c, cur.h, cur.w, w, b, o->out, o->k, o->stride, o->pad,
                               ex && ex->batch_size > 0 ? ex->batch_size : B);
      } else {
        asim_conv_dims d = {o->in, o->out, o->k, o->stride, o->pad, group_params(m, o->group), o->layer_id,
                            o->kind == OP_QCONV, m->caches[2 * i]};
        const int rec = dg && diag_op(o);
        memset(&adc, 0, sizeof adc);
        st = asim_conv2d_forward(y, cur.x, B, cur.h, cur.w, w, b, &d, rec ? exl : ex);
        if (!st && rec) {
          d.p = ideal_params(d.p);
          d.cache = NULL;
          ASIM_CHECK_GOTO(st, asim_malloc(&yi, sizeof(float) * (size_t)B * act_numel(&out)), done);
          st = asim_conv2d_forward(yi, cur.x, B, cur.h, cur.w, w, b, &d, &ex_ideal);
          if (!st) asim_diag_batch_layer(dg, li++, y, yi, B, act_numel(&out), &adc);
        }
      }
      break;
    }
    case OP_BN: {
      const float *g = param(m, o, "weight", &st), *b = param(m, o, "bias", &st);
      const float *mu = param(m, o, "running_mean", &st), *var = param(m, o, "running_var", &st);
      if (st) break;
      asim_batchnorm_forward(cur.x, cur.x, B, cur.c, (int64_t)cur.h * cur.w, g, b, mu, var, 1e-5f);
      break;
    }
    case OP_PACT:
      if (m->s.pact) {
        const float *a = param(m, o, "alpha", &st);
        if (!st) asim_pact_forward(cur.x, cur.x, n, a[0]);
      } else {
        asim_relu_forward(cur.x, cur.x, n);
      }
      break;
    case OP_RELU: asim_relu_forward(cur.x, cur.x, n); break;
    case OP_GELU: asim_gelu_forward(cur.x, cur.x, n); break;
    case OP_MAXPOOL:
      out.h = (cur.h + 2 * o->pad - o->k) / o->stride + 1;
      out.w = (cur.w + 2 * o->pad - o->k) / o->stride + 1;
      ASIM_CHECK_GOTO(st, asim_malloc(&y, sizeof(float) * (size_t)B * act_numel(&out)), done);
      asim_maxpool_forward(y, cur.x, B * cur.c, cur.h, cur.w, o->k, o->stride, o->pad);
      break;
    case OP_AVGPOOL:
      out.h = out.w = o->k;
      ASIM_CHECK_GOTO(st, asim_malloc(&y, sizeof(float) * (size_t)B * act_numel(&out)), done);
      asim_adaptive_avgpool_forward(y, cur.x, B * cur.c, cur.h, cur.w, o->k, o->k);
      break;
    case OP_PUSH:
      if (sp == 2) { st = ASIM_ERR(ASIM_EINVAL, "%s: residual stack overflow", m->name); break; }
      stack[sp] = cur;
      ASIM_CHECK_GOTO(st, asim_malloc(&stack[sp].x, sizeof(float) * (size_t)n), done);
      memcpy(stack[sp].x, cur.x, sizeof(float) * (size_t)n);
      sp++;
      break;
    case OP_SWAP: {
      act t = stack[sp - 1];
      stack[sp - 1] = cur;
      cur = out = t;
      break;
    }
    case OP_ADD: {
      act *r = &stack[--sp];
      if (act_numel(r) != act_numel(&cur)) {
        st = ASIM_ERR(ASIM_ESHAPE, "%s: residual branches differ in size", m->name);
        free(r->x);
        break;
      }
      asim_add_inplace(cur.x, r->x, n);
      free(r->x);
      break;
    }
    case OP_FLATTEN: out.kind = T_FLAT, out.c = (int)act_numel(&cur), out.h = out.w = 1; break;
    case OP_LINEAR: {
      const int T = cur.kind == T_TOK ? cur.h : 1, F = cur.kind == T_TOK ? cur.c : (int)act_numel(&cur);
      if (F != o->in) {
        st = ASIM_ERR(ASIM_ESHAPE, "%s: %s expects %d features, gets %d (input size %d?)", m->name, o->key, o->in, F,
                      m->image_size);
        break;
      }
      const float *w = param(m, o, "weight", &st), *b = o->bias ? param(m, o, "bias", &st) : NULL;
      if (st) break;
      out.c = o->out;
      ASIM_CHECK_GOTO(st, asim_malloc(&y, sizeof(float) * (size_t)B * T * o->out), done);
      asim_linear_dims d = {o->in, o->out, group_params(m, o->group), o->layer_id, m->caches[2 * i]};
      memset(&adc, 0, sizeof adc);
      st = asim_linear_forward(y, cur.x, B, T, w, b, &d, exl);
      if (!st && dg) {
        d.p = ideal_params(d.p);
        d.cache = NULL;
        ASIM_CHECK_GOTO(st, asim_malloc(&yi, sizeof(float) * (size_t)B * T * o->out), done);
        st = asim_linear_forward(yi, cur.x, B, T, w, b, &d, &ex_ideal);
        if (!st) asim_diag_batch_layer(dg, li++, y, yi, B, (int64_t)T * o->out, &adc);
      }
      break;
    }
    case OP_TOKENS: {
      asim_op cls = *o;
      cls.key[0] = 0;
      const float *c = param(m, &cls, "cls_token", &st), *pos = param(m, o, "pos_embedding", &st);
      if (st) break;
      const int E = cur.c, G = cur.h * cur.w;
      if (G + 1 != o->out) {
        st = ASIM_ERR(ASIM_ESHAPE, "%s: %d patches but the position embedding has %d tokens", m->name, G, o->out - 1);
        break;
      }
      out.kind = T_TOK, out.c = E, out.h = G + 1, out.w = 1;
      ASIM_CHECK_GOTO(st, asim_malloc(&y, sizeof(float) * (size_t)B * act_numel(&out)), done);
      for (int b = 0; b < B; b++) {
        float *yb = y + (int64_t)b * (G + 1) * E;
        const float *xb = cur.x + (int64_t)b * E * G;
        for (int e = 0; e < E; e++) yb[e] = c[e] + pos[e];
        for (int t = 0; t < G; t++)
          for (int e = 0; e < E; e++) yb[(t + 1) * E + e] = xb[(int64_t)e * G + t] + pos[(t + 1) * E + e];
      }
      break;
    }
    case OP_LN: {
      const float *g = param(m, o, "weight", &st), *b = param(m, o, "bias", &st);
      if (!st) asim_layernorm_forward(cur.x, cur.x, (int64_t)B * cur.h, cur.c, g, b, 1e-5f);
      break;
    }
    case OP_MHA: {
      const float *qw = param(m, o, "qkv.weight", &st), *qb = param(m, o, "qkv.bias", &st);
      const float *pw = param(m, o, "proj.weight", &st), *pb = param(m, o, "proj.bias", &st);
      if (st) break;
      asim_mha_dims a = m->s.attn;
      a.embed_dim = o->in, a.num_heads = o->out, a.layer_id = o->layer_id;
      a.qkv_cache = m->caches[2 * i], a.proj_cache = m->caches[2 * i + 1];
      ASIM_CHECK_GOTO(st, asim_malloc(&y, sizeof(float) * (size_t)n), done);
      memset(&adc, 0, sizeof adc);
      st = asim_mha_forward(y, cur.x, B, cur.h, qw, qb, pw, pb, &a, exl, NULL);
      if (!st && dg) {
        a.mode = ASIM_INFERENCE;
        a.attn_trim_noise = a.proj_trim_noise = 0.0f;
        a.qkv_cache = a.proj_cache = NULL;
        ASIM_CHECK_GOTO(st, asim_malloc(&yi, sizeof(float) * (size_t)n), done);
        st = asim_mha_forward(yi, cur.x, B, cur.h, qw, qb, pw, pb, &a, &ex_ideal, NULL);
        if (!st) asim_diag_batch_layer(dg, li++, y, yi, B, act_numel(&cur), &adc);
      }
      break;
    }
    case OP_CLS:
      out.kind = T_FLAT, out.h = out.w = 1;
      ASIM_CHECK_GOTO(st, asim_malloc(&y, sizeof(float) * (size_t)B * cur.c), done);
      for (int b = 0; b < B; b++) memcpy(y + (int64_t)b * cur.c, cur.x + (int64_t)b * cur.h * cur.c, sizeof(float) * cur.c);
      break;
    }
    free(yi);
    yi = NULL;
    if (st) break;
    if (y) {
      free(cur.x);
      out.x = y;
      y = NULL;
    }
    cur = out;
    if (trace && o->trace[0]) trace_act(trace, trace_arg, o->trace, &cur, B);
  }
done:
  free(y);
  free(yi);
  while (sp > 0) free(stack[--sp].x);
  if (!st) {
    if (cur.kind != T_FLAT || cur.c != m->classes)
      st = ASIM_ERR(ASIM_ESHAPE, "%s: network output is not (B, %d)", m->name, m->classes);
    else
      memcpy(logits, cur.x, sizeof(float) * (size_t)B * m->classes);
  }
  free(cur.x);
  if (st) return asim_error_trace(st, __FILE__, __LINE__, "model forward");
  return ASIM_OK;
}

/* ---- description ------------------------------------------------------------------------ */

static const char *op_name(const asim_op *o) {
  switch (o->kind) {
  case OP_QCONV: return "QuantConv2d";
  case OP_ACONV: return "ASiMConv2d";
  case OP_FCONV: return "Conv2d";
  case OP_BN: return "BatchNorm2d";
  case OP_PACT: return "PACT";
  case OP_RELU: return "ReLU";
  case OP_MAXPOOL: return "MaxPool2d";
  case OP_AVGPOOL: return "AdaptiveAvgPool2d";
  case OP_ADD: return "residual add";
  case OP_LINEAR: return "ASiMLinear";
  case OP_TOKENS: return "class token + position embedding";
  case OP_LN: return "LayerNorm";
  case OP_MHA: return "ASiMMultiheadAttention";
  case OP_GELU: return "GELU";
  case OP_CLS: return "class token";
  default: return NULL;
  }
}

/* Macro loads and ADC cycles per load of one ASiM product. */
static void product_cost(const asim_cim_params *p, int wbit, int xbit, int x_signed, int act_enc, int64_t K,
                         int64_t rows_per_load, int64_t *loads, int *cycles) {
  *loads = (K + rows_per_load - 1) / rows_per_load;
  int T = xbit;
  if (act_enc > 0) T = x_signed ? (xbit - 1 + act_enc - 1) / act_enc + 1 : (xbit + act_enc - 1) / act_enc;
  *cycles = wbit * T;
  (void)p;
}

/* Bit-serial cycles per macro load that majority voting converts num_samp times (spec §11.1). */
static int voted_cycles(const asim_cim_params *p) {
  int n = 0;
  for (int i = 0; i < p->wbit; i++)
    for (int j = 0; j < p->xbit; j++) n += i + j > p->wbit + p->xbit - p->voting_levels - 2;
  return n;
}

/* ADC conversions per output element and load of a simulated product with an extension, and a note for
 * the macro column; cyc = cycles per load of the base plan. Returns conversions per output (all loads). */
static int64_t ext_conversions(const asim_cim_params *p, int cyc, int64_t loads, char *note, size_t len) {
  note[0] = 0;
  if (p->weight_bp) {
    if (p->wbp_linear_requantize) {
      snprintf(note, len, " [W4A4: sum re-quantised every cycle]");
      return (int64_t)cyc * loads;
    }
    snprintf(note, len, " [W4A4: 1 conversion/output]");
    return 1;
  }
  if (p->voting_levels >= 0 && p->num_samp > 1 && p->act_enc < 1) {
    int v = voted_cycles(p);
    snprintf(note, len, " [voting: %d cycles/load x %d votes]", v, p->num_samp);
    return ((int64_t)cyc + (int64_t)v * (p->num_samp - 1)) * loads;
  }
  if (p->non_linear_alpha > 0.0f) {
    double fs = p->nrow / (1.0 + p->non_linear_alpha * p->nrow);
    snprintf(note, len, " [current domain: %d -> %.1f]", p->nrow, fs);
  }
  return (int64_t)cyc * loads;
}

/* One line per simulated layer group with an extension: what it does at this setting. */
static void describe_ext(FILE *f, const char *group, const asim_cim_params *p) {
  if (p->mode != ASIM_SIMULATION) return;
  if (p->voting_levels >= 0) {
    int T = p->act_enc > 0 ? p->wbit * ((p->xbit + p->act_enc - 1) / p->act_enc) : p->wbit * p->xbit;
    fprintf(f, "extension %s: majority voting: every cycle analog; %d of %d cycles/load (top %d levels) converted "
               "%d times, the most frequent code kept (ties: the smallest) -> %d votes per conversion there\n",
            group, p->act_enc > 0 ? 0 : voted_cycles(p), T, p->voting_levels, p->num_samp, p->num_samp);
  }
  if (p->non_linear_alpha > 0.0f) {
    const double n = p->nrow, a = p->non_linear_alpha, fs = n / (1.0 + a * n);
    fprintf(f, "extension %s: current domain: gain compression M' = M/(1 + %g*M): a full-scale bit-serial sum %d "
               "reads as %.1f (%.1f%% of the ADC range never reached)\n",
            group, a, p->nrow, fs, 100.0 * (n - fs) / n);
  }
  if (p->weight_var > 0.0f)
    fprintf(f, "extension %s: current domain: cell variation N(0, %g%%) on every weight bit-plane cell, one fixed "
               "chip per (run.seed, layer): the same for every sample, batch and rank count\n",
            group, p->weight_var);
  if (p->weight_bp) {
    double F = (ldexp(1.0, p->xbit) - 1.0) * (ldexp(1.0, p->wbit - 1) - 1.0) * p->nrow;
    fprintf(f, "extension %s: weight bit-parallel: every weight bit, cycle and load summed, %s against F = %.0f "
               "with a signed ADC of %.0f levels (step %.1f)%s\n",
            group, p->wbp_linear_requantize ? "re-quantised after every cycle (compat)" : "one conversion", F,
            ldexp(1.0, p->adc_prec - 1) - 1.0, F / (ldexp(1.0, p->adc_prec - 1) - 1.0),
            p->wbp_act_enc_wrap ? "; remainder cycle wraps (compat)" : "");
  }
}

void asim_model_describe(const asim_model *m, FILE *f) {
  fprintf(f, "%s: %d classes, input %dx%dx%d (%s variant), %d ASiM layers\n", m->name, m->classes, m->in_ch,
          m->image_size, m->image_size, m->large ? "large-input" : "small-input", m->n_asim_layers);
  fprintf(f, "%-36s %-24s %-16s %12s %14s  %s\n", "layer", "type", "output", "params", "MACs/image",
          "macro: rows/load x loads, cycles/load, conversions/image");
  int c = m->in_ch, h = m->image_size, w = m->image_size, tokens = 0, flat = 0;
  int64_t total_params = 0, total_macs = 0, total_conv = 0;
  act stack[2];
  int sp = 0;
  for (int i = 0; i < m->n_ops; i++) {
    const asim_op *o = &m->ops[i];
    int64_t params = 0, macs = 0, conversions = 0;
    char macro[160] = "", shape[32];
    if ((o->kind == OP_QCONV || o->kind == OP_ACONV || o->kind == OP_FCONV) && o->stride < 0) continue;
    switch (o->kind) {
    case OP_QCONV: case OP_ACONV: case OP_FCONV: {
      int Ho = asim_conv_out_size(h, o->k, o->stride, o->pad), Wo = asim_conv_out_size(w, o->k, o->stride, o->pad);
      params = (int64_t)o->out * o->in * o->k * o->k + (o->bias ? o->out : 0);
      macs = (int64_t)o->out * o->in * o->k * o->k * Ho * Wo;
      if (o->kind == OP_ACONV) {
        asim_cim_params p = group_params(m, o->group);
        if (p.mode == ASIM_SIMULATION) {
          asim_conv_dims d = {o->in, o->out, o->k, o->stride, o->pad, p, 0, 0, NULL};
          asim_conv_map map;
          if (asim_conv_mapping(&d, &map) == ASIM_OK) {
            int64_t L;
            int cyc;
            char note[64];
            product_cost(&p, p.wbit, p.xbit, p.signed_act, p.act_enc, 1, 1, &L, &cyc);
            conversions = (int64_t)o->out * Ho * Wo * ext_conversions(&p, cyc, map.loads, note, sizeof note);
            snprintf(macro, sizeof macro, "%lld x %lld, %d, %lld%s%s", (long long)(map.channels_per_load * o->k * o->k),
                     (long long)map.loads, cyc, (long long)conversions,
                     map.ignored_channels ? " (ASiM drops channels)" : "", note);
          }
        } else {
          snprintf(macro, sizeof macro, "%s mode", asim_mode_name(p.mode));
        }
      }
      c = o->out, h = Ho, w = Wo;
      break;
    }
    case OP_BN: params = 4 * (int64_t)o->in; break;
    case OP_PACT: params = m->s.pact; break;
    case OP_MAXPOOL: h = (h + 2 * o->pad - o->k) / o->stride + 1, w = (w + 2 * o->pad - o->k) / o->stride + 1; break;
    case OP_AVGPOOL: h = w = o->k; break;
    case OP_PUSH: stack[sp++] = (act){NULL, tokens ? T_TOK : T_IMG, c, h, w}; continue;
    case OP_SWAP: {
      act t = stack[sp - 1];
      stack[sp - 1] = (act){NULL, T_IMG, c, h, w};
      c = t.c, h = t.h, w = t.w;
      continue;
    }
    case OP_ADD: sp--; break;
    case OP_FLATTEN: flat = c * h * w; continue;
    case OP_LINEAR: {
      int T = tokens ? tokens : 1;
      params = (int64_t)o->out * o->in + (o->bias ? o->out : 0);
      macs = (int64_t)o->out * o->in * T;
      asim_cim_params p = group_params(m, o->group);
      if (p.mode == ASIM_SIMULATION) {
        int64_t L;
        int cyc;
        char note[64];
        product_cost(&p, p.wbit, p.xbit, p.signed_act, p.act_enc, o->in, p.nrow, &L, &cyc);
        conversions = (int64_t)o->out * T * ext_conversions(&p, cyc, L, note, sizeof note);
        snprintf(macro, sizeof macro, "%d x %lld, %d, %lld%s", p.nrow, (long long)L, cyc, (long long)conversions, note);
      } else {
        snprintf(macro, sizeof macro, "%s mode", asim_mode_name(p.mode));
      }
      if (tokens) c = o->out;
      else flat = o->out;
      break;
    }
    case OP_TOKENS: tokens = h * w + 1, params = (int64_t)o->in * (tokens + 1); break;
    case OP_LN: params = 2 * (int64_t)o->in; break;
    case OP_MHA: {
      const asim_mha_dims *a = &m->s.attn;
      const int E = o->in, H = o->out, D = E / H, T = tokens;
      params = 4 * (int64_t)E * E + 4 * E;
      macs = 4 * (int64_t)E * E * T + 2 * (int64_t)H * T * T * D;
      if (a->mode == ASIM_SIMULATION) {
        asim_cim_params pp = group_params(m, G_CONV);
        int64_t Lq, Lk, La;
        int cq, ck, ca;
        product_cost(&pp, a->proj_wbit, a->proj_xbit, 1, a->proj_act_enc, E, a->nrow, &Lq, &cq);
        product_cost(&pp, a->qk_qbit, a->qk_kbit, 1, a->qk_k_enc, D, a->nrow, &Lk, &ck);
        product_cost(&pp, a->av_vbit, a->av_abit, 0, a->av_a_enc, T, a->nrow, &La, &ca);
        conversions = 4 * (int64_t)E * T * Lq * cq + (int64_t)H * T * T * Lk * ck + (int64_t)H * T * D * La * ca;
        snprintf(macro, sizeof macro, "qkv/proj %lldx%d, QK %lldx%d, AV %lldx%d; %lld", (long long)Lq, cq,
                 (long long)Lk, ck, (long long)La, ca, (long long)conversions);
      } else {
        snprintf(macro, sizeof macro, "%s mode", asim_mode_name(a->mode));
      }
      break;
    }
    case OP_CLS: flat = c, tokens = 0; break;
    default: break;
    }
    const char *name = op_name(o);
    if (!name) continue;
    if (tokens) snprintf(shape, sizeof shape, "%dx%d", tokens, c);
    else if (flat) snprintf(shape, sizeof shape, "%d", flat);
    else snprintf(shape, sizeof shape, "%dx%dx%d", c, h, w);
    fprintf(f, "%-36s %-24s %-16s %12lld %14lld  %s\n", o->key[0] ? o->key : "-", name, shape, (long long)params,
            (long long)macs, macro);
    total_params += params, total_macs += macs, total_conv += conversions;
  }
  fprintf(f, "total: %lld parameters, %.3f GMAC/image, %lld ADC conversions/image\n", (long long)total_params,
          (double)total_macs * 1e-9, (long long)total_conv);
  if (m->arch == ASIM_ARCH_VIT) {
    const asim_mha_dims *a = &m->s.attn;
    if (a->voting && a->mode == ASIM_SIMULATION) {
      asim_cim_params q = asim_cim_defaults();
      q.wbit = a->qk_qbit, q.xbit = a->qk_kbit, q.voting_levels = a->voting_levels;
      asim_cim_params v = q;
      v.wbit = a->av_vbit, v.xbit = a->av_abit;
      fprintf(f, "extension asim_vit_attn: majority voting: every cycle analog; QK %d, AV %d cycles/load (top %d "
                 "levels, bit-serial only) converted %d times, the most frequent code kept (ties: the smallest)\n",
              a->qk_k_enc > 0 ? 0 : voted_cycles(&q), a->av_a_enc > 0 ? 0 : voted_cycles(&v), a->voting_levels,
              a->num_samp > 1 ? a->num_samp : 1);
    }
    describe_ext(f, "asim_vit_mlp", &m->s.vit_mlp);
    describe_ext(f, "asim_vit_fc", &m->s.vit_fc);
  } else {
    describe_ext(f, "asim_conv", &m->s.conv);
    describe_ext(f, "asim_linear", &m->s.linear);
  }
}

/* ---- inference of the architecture from a state dict ------------------------------------ */

static const asim_tensor *find(const asim_state *st, const char *fmt, int a, int b) {
  char name[128];
  snprintf(name, sizeof name, fmt, a, b);
  return asim_state_find(st, name);
}

asim_status asim_model_infer(asim_model *m, const asim_state *st, const char *name_hint, int large_hint,
                             const asim_model_settings *s) {
  memset(m, 0, sizeof *m);
  m->s = s ? *s : asim_model_settings_default();
  m->s.pact = asim_state_find(st, "relu.alpha") != NULL || find(st, "features.%d.alpha", 3, 0) != NULL ||
              find(st, "features.%d.alpha", 4, 0) != NULL || find(st, "features.%d.alpha", 5, 0) != NULL;
  const asim_tensor *t;
  if ((t = asim_state_find(st, "conv1.weight")) && t->ndim == 4 && find(st, "layer1.0.conv1.weight", 0, 0)) {
    m->arch = ASIM_ARCH_RESNET;
    m->in_ch = (int)t->shape[1];
    m->width = t->shape[0] == 64 ? 0 : (int)t->shape[0];
    m->bottleneck = find(st, "layer1.0.conv3.weight", 0, 0) != NULL;
    for (int L = 0; L < 4; L++)
      while (find(st, "layer%d.%d.conv1.weight", L + 1, m->blocks[L])) m->blocks[L]++;
    const asim_tensor *fc = asim_state_find(st, "fc.weight");
    if (!fc || fc->ndim != 2) return ASIM_ERR(ASIM_EFORMAT, "ResNet checkpoint without fc.weight");
    m->classes = (int)fc->shape[0];
    m->large = large_hint;
    m->image_size = m->large ? 224 : 32;
    static const int std_blocks[5][5] = {{0, 2, 2, 2, 2}, {0, 3, 4, 6, 3}, {1, 3, 4, 6, 3}, {1, 3, 4, 23, 3},
                                         {1, 3, 8, 36, 3}};
    static const char *std_names[5] = {"ResNet-18", "ResNet-34", "ResNet-50", "ResNet-101", "ResNet-152"};
    snprintf(m->name, sizeof m->name, "ResNet-custom(%d,%d,%d,%d%s)", m->blocks[0], m->blocks[1], m->blocks[2],
             m->blocks[3], m->bottleneck ? ",bottleneck" : "");
    for (int i = 0; i < 5; i++)
      if (std_blocks[i][0] == m->bottleneck && !memcmp(&std_blocks[i][1], m->blocks, sizeof m->blocks) && !m->width)
        snprintf(m->name, sizeof m->name, "%s", std_names[i]);
    if (!m->bottleneck && m->width == 16 && m->blocks[0] == 1 && m->blocks[1] == 1 && m->blocks[2] == 1 &&
        !m->blocks[3]) { /* the pooled stem leaves no key behind: the shape settles it */
      snprintf(m->name, sizeof m->name, "ResNet-8");
      m->stem_pool = 1;
    }
  } else if ((t = asim_state_find(st, "features.0.weight")) && t->ndim == 4) {
    m->arch = ASIM_ARCH_VGG;
    m->in_ch = (int)t->shape[1];
    m->vgg_bn = find(st, "features.%d.running_mean", 1, 0) != NULL;
    int idx = m->vgg_bn ? 3 : 2, pools = 0, last = -1;
    for (const asim_tensor *c; idx < 200 && m->vgg_n < 24;) {
      if ((c = find(st, "features.%d.weight", idx, 0)) && c->ndim == 4) {
        m->vgg_cfg[m->vgg_n++] = (int)c->shape[0];
        idx += m->vgg_bn ? 3 : 2;
        last = idx;
      } else {
        if (idx > last + 4) break; /* past the last max-pool */
        m->vgg_cfg[m->vgg_n++] = 0;
        pools++;
        idx++;
      }
    }
    while (m->vgg_n > 0 && m->vgg_cfg[m->vgg_n - 1] == 0 && pools > (large_hint ? 5 : 2)) m->vgg_n--, pools--;
    const asim_tensor *cl = asim_state_find(st, "classifier.6.weight");
    if (!cl || cl->ndim != 2) return ASIM_ERR(ASIM_EFORMAT, "VGG checkpoint without classifier.6.weight");
    m->classes = (int)cl->shape[0];
    m->large = large_hint;
    m->image_size = m->large ? 224 : 32;
    snprintf(m->name, sizeof m->name, "VGG-custom%s", m->vgg_bn ? "-BN" : "");
    static const char *vgg_names[4] = {"VGG11", "VGG13", "VGG16", "VGG19"};
    for (int v = 0; v < 4; v++) {
      const int *cfg = m->large ? vgg_large[v] : vgg_small[v];
      int n = 0;
      while (cfg[n] >= 0) n++;
      if (n == m->vgg_n && !memcmp(cfg, m->vgg_cfg, sizeof(int) * (size_t)n))
        snprintf(m->name, sizeof m->name, "%s%s", vgg_names[v], m->vgg_bn ? "-BN" : "");
    }
  } else if ((t = asim_state_find(st, "cls_token")) && t->ndim == 3) {
    m->arch = ASIM_ARCH_VIT;
    m->hidden = (int)t->shape[2];
    const asim_tensor *pe = asim_state_find(st, "patch_embedding.conv_proj.weight");
    const asim_tensor *pos = asim_state_find(st, "encoder.pos_embedding");
    const asim_tensor *mlp = asim_state_find(st, "encoder.layers.0.mlp.mlp1.weight");
    const asim_tensor *hd = asim_state_find(st, "heads.weight");
    if (!pe || pe->ndim != 4 || !pos || pos->ndim != 3 || !mlp || !hd)
      return ASIM_ERR(ASIM_EFORMAT, "ViT checkpoint lacks patch embedding, position embedding, MLP or head");
    m->in_ch = (int)pe->shape[1];
    m->patch = (int)pe->shape[2];
    int g = (int)lround(sqrt((double)(pos->shape[1] - 1)));
    m->image_size = g * m->patch;
    m->mlp_dim = (int)mlp->shape[0];
    m->classes = (int)hd->shape[0];
    while (find(st, "encoder.layers.%d.ln_1.weight", m->layers, 0)) m->layers++;
    m->heads = m->hidden == 1280 ? 16 : (m->hidden % 64 == 0 ? m->hidden / 64 : 1);
    if (name_hint) { /* the name fixes the head count */
      for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (archs[i].arch == ASIM_ARCH_VIT && strstr(name_hint, archs[i].name + 4)) m->heads = archs[i].c;
    }
    m->large = m->image_size > 100;
    snprintf(m->name, sizeof m->name, "ViT-custom(E%d,L%d,H%d,P%d)", m->hidden, m->layers, m->heads, m->patch);
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
      if (archs[i].arch == ASIM_ARCH_VIT && archs[i].a == m->patch && archs[i].b == m->layers &&
          archs[i].d == m->hidden && archs[i].e == m->mlp_dim)
        snprintf(m->name, sizeof m->name, "%s", archs[i].name);
  } else {
    return ASIM_ERR(ASIM_EFORMAT, "cannot tell the architecture from the checkpoint keys (no ResNet conv1/layer1, "
                    "VGG features.0 or ViT cls_token entry)");
  }
  asim_status stt;
  ASIM_CHECK_GOTO(stt, check_common(m), fail);
  ASIM_CHECK_GOTO(stt, build_ops(m), fail);
  return ASIM_OK;
fail:
  asim_model_free(m);
  return stt;
}
