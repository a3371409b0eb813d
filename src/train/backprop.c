/* The training interpreter: the model's operation list (models/ops.h) run forward with every
 * activation kept on a tape, then backward in reverse order. Activations on the tape are
 * immutable (each op writes a new buffer), so residual PUSH/SWAP only move references; the
 * backward mirrors the two-slot stack with gradients: ADD pushes a copy of the gradient, SWAP
 * exchanges, PUSH adds the popped branch gradient back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/nn.h"
#include "asim/train.h"
#include "models/ops.h"

typedef enum { K_IMG, K_TOK, K_FLAT } tkind;

/* B samples of (c, h, w) images, (h tokens × c features) or (c) flat. */
typedef struct {
  float *x;
  tkind kind;
  int c, h, w;
} tact;

static int64_t numel(const tact *a) {
  return a->kind == K_IMG ? (int64_t)a->c * a->h * a->w : a->kind == K_TOK ? (int64_t)a->h * a->c : a->c;
}

typedef struct {
  tact in, out;
  int done;        /* executed (the unused ResNet stem is not) */
  float sx, sw;    /* ASiM layer scales */
  float *f;        /* BN: mean[C], rstd[C]; LN: mean[rows], rstd[rows] */
  float *trim;     /* ASiM layers with trim noise: the terms fl(ξσ) of the output */
  int32_t *idx;    /* max-pool winners */
  double n;        /* BN: global element count per channel */
  int bn_train;    /* BN used batch statistics */
  float drop;      /* dropout applied to the output (training) */
  asim_mha_cache mha;
} trec;

struct asim_tape {
  trec *rec;
  int n_rec;
  float **own;
  int n_own, cap_own;
  int B, first;
  asim_train_exec tx;
};

asim_status asim_tape_new(asim_tape **t) {
  ASIM_CHECK(ASIM_ALLOC(*t, 1));
  return ASIM_OK;
}

void asim_tape_clear(asim_tape *t) {
  if (!t) return;
  for (int i = 0; i < t->n_own; i++) free(t->own[i]);
  t->n_own = 0;
  for (int i = 0; i < t->n_rec; i++) {
    free(t->rec[i].f);
    free(t->rec[i].trim);
    free(t->rec[i].idx);
    asim_mha_cache_free(&t->rec[i].mha);
  }
  free(t->rec);
  t->rec = NULL;
  t->n_rec = 0;
}

void asim_tape_free(asim_tape *t) {
  if (!t) return;
  asim_tape_clear(t);
  free(t->own);
  free(t);
}

/* A new activation buffer owned by the tape. */
static asim_status talloc(asim_tape *t, float **p, int64_t n) {
  if (t->n_own == t->cap_own) {
    int cap = t->cap_own ? 2 * t->cap_own : 128;
    float **o = realloc(t->own, sizeof(float *) * (size_t)cap);
    if (!o) return ASIM_ERR(ASIM_ENOMEM, "training tape");
    t->own = o, t->cap_own = cap;
  }
  ASIM_CHECK(asim_malloc(p, sizeof(float) * (size_t)(n > 0 ? n : 1)));
  t->own[t->n_own++] = *p;
  return ASIM_OK;
}

static float *param(const asim_model *m, const char *key, const char *suffix, asim_status *st) {
  char name[160];
  snprintf(name, sizeof name, "%s%s%s", key, key[0] ? "." : "", suffix);
  asim_tensor *t = asim_state_find(&m->params, name);
  if (!t || t->dtype != ASIM_F32) {
    if (!*st)
      *st = ASIM_ERR(ASIM_EINVAL, "%s: no weights for '%s' (load a checkpoint or initialise the model first)",
                     m->name, name);
    return NULL;
  }
  return t->data;
}

static float *grad(asim_grads *g, const char *key, const char *suffix) {
  char name[160];
  snprintf(name, sizeof name, "%s%s%s", key, key[0] ? "." : "", suffix);
  return asim_grads_find(g, name);
}

/* Dropout after operation i in model.train() (spec §6.2, §6.3): VGG's two classifier dropouts
 * (p = 0.5) follow the shared ReLU/PACT; ViT drops (p = 0.1) after the position embedding,
 * after each attention block, after GELU and after mlp2. The eval operation list has no
 * dropout operations (they are identities there), so the sites are recognised here. */
static float dropout_after(const asim_model *m, int i) {
  const asim_op *o = &m->ops[i];
  if (m->arch == ASIM_ARCH_VGG) return (o->kind == OP_PACT && !strncmp(o->key, "classifier.", 11)) ? 0.5f : 0.0f;
  if (m->arch != ASIM_ARCH_VIT) return 0.0f;
  if (o->kind == OP_TOKENS || o->kind == OP_MHA || o->kind == OP_GELU) return 0.1f;
  if (o->kind == OP_LINEAR && o->group == G_MLP && i + 1 < m->n_ops && m->ops[i + 1].kind == OP_ADD) return 0.1f;
  return 0.0f;
}

static const char *group_key(op_group g) {
  switch (g) {
  case G_CONV: return "asim_conv_mode";
  case G_LINEAR: return "asim_linear_mode";
  case G_QCONV: return "quant_conv_mode";
  case G_VITQCONV: return "asim_vit_quant_conv_mode";
  case G_MLP: return "asim_vit_mlp_mode";
  case G_FC: return "asim_vit_fc_mode";
  case G_ATTN: return "asim_vit_attn_mode";
  default: return "?";
  }
}

asim_status asim_train_check_model(const asim_model *m) {
  for (int i = 0; i < m->n_ops; i++) {
    const asim_op *o = &m->ops[i];
    asim_mode mode;
    if ((o->kind == OP_QCONV || o->kind == OP_ACONV) && o->stride < 0) continue;
    if (o->kind == OP_QCONV || o->kind == OP_ACONV || o->kind == OP_LINEAR) mode = asim_op_group_params(m, o->group).mode;
    else if (o->kind == OP_MHA) mode = m->s.attn.mode;
    else continue;
    if (mode != ASIM_TRAIN)
      return ASIM_ERR(ASIM_EINVAL, "%s: layer '%s' is in %s mode (%s); training needs the ASiM layers in Train mode "
                      "(fake quantisation with straight-through gradients, spec 1.8): set %s = \"Train\"", m->name,
                      o->key, asim_mode_name(mode), group_key(o->group), group_key(o->group));
  }
  return ASIM_OK;
}

asim_status asim_train_forward(asim_model *m, asim_tape *t, float *logits, const float *x, int B,
                               const asim_train_exec *tx) {
  if (B < 1) return ASIM_ERR(ASIM_EINVAL, "empty batch");
  if (tx->fake_quant) ASIM_CHECK(asim_train_check_model(m));
  asim_tape_clear(t);
  ASIM_CHECK(ASIM_ALLOC(t->rec, (size_t)m->n_ops));
  t->n_rec = m->n_ops;
  t->B = B;
  t->tx = *tx;
  t->first = -1;
  const asim_exec *ex = &t->tx.ex;
  const uint32_t seed = ex->seed;
  asim_status st = ASIM_OK;
  tact cur = {NULL, K_IMG, m->in_ch, m->image_size, m->image_size}, stack[2];
  int sp = 0;
  ASIM_CHECK(talloc(t, &cur.x, (int64_t)B * numel(&cur)));
  memcpy(cur.x, x, sizeof(float) * (size_t)B * numel(&cur));
  for (int i = 0; i < m->n_ops && !st; i++) {
    const asim_op *o = &m->ops[i];
    trec *r = &t->rec[i];
    tact out = cur;
    const int64_t n = (int64_t)B * numel(&cur);
    float *y = NULL;
    r->in = cur;
    switch (o->kind) {
    case OP_QCONV: case OP_ACONV: case OP_FCONV: {
      if (o->stride < 0) continue; /* the unused stem */
      out.c = o->out;
      out.h = asim_conv_out_size(cur.h, o->k, o->stride, o->pad);
      out.w = asim_conv_out_size(cur.w, o->k, o->stride, o->pad);
      if (out.h < 1 || out.w < 1) {
        st = ASIM_ERR(ASIM_ESHAPE, "%s: %s gets a %dx%d input, too small for its %dx%d kernel", m->name, o->key, cur.h,
                      cur.w, o->k, o->k);
        break;
      }
      const float *w = param(m, o->key, "weight", &st), *b = o->bias ? param(m, o->key, "bias", &st) : NULL;
      if (st) break;
      if ((st = talloc(t, &y, (int64_t)B * numel(&out)))) break;
      if (o->kind == OP_FCONV) {
        st = asim_conv2d_train_forward(y, cur.x, B, cur.c, cur.h, cur.w, w, b, o->out, o->k, o->stride, o->pad);
      } else {
        asim_conv_dims d = {o->in, o->out, o->k, o->stride, o->pad, asim_op_group_params(m, o->group), o->layer_id,
                            o->kind == OP_QCONV};
        if (d.p.trim_noise != 0.0f && o->kind == OP_ACONV &&
            (st = asim_malloc(&r->trim, sizeof(float) * (size_t)(B * numel(&out)))))
          break;
        st = asim_conv2d_qat_forward(y, &r->sx, &r->sw, cur.x, B, cur.h, cur.w, w, b, &d, ex, tx->fake_quant, r->trim);
      }
      break;
    }
    case OP_BN: {
      const int C = cur.c;
      const int64_t HW = (int64_t)cur.h * cur.w;
      float *g = param(m, o->key, "weight", &st), *b = param(m, o->key, "bias", &st);
      float *rm = param(m, o->key, "running_mean", &st), *rv = param(m, o->key, "running_var", &st);
      if (st) break;
      if ((st = talloc(t, &y, n))) break;
      if ((st = asim_malloc(&r->f, sizeof(float) * (size_t)(3 * C)))) break;
      float *mean = r->f, *rstd = r->f + C, *varu = r->f + 2 * C;
      r->bn_train = tx->training;
      if (tx->training) {
        asim_batchnorm_train_forward(y, mean, rstd, varu, &r->n, cur.x, B, C, HW, g, b, 1e-5f, &tx->red);
        asim_batchnorm_update_running(rm, rv, mean, varu, C, 0.1f);
        char name[160];
        snprintf(name, sizeof name, "%s.num_batches_tracked", o->key);
        asim_tensor *nbt = asim_state_find(&m->params, name);
        if (nbt && nbt->dtype == ASIM_I64) ((int64_t *)nbt->data)[0]++;
      } else { /* running statistics: y = (x − μ)·rstd·γ + β */
        for (int c = 0; c < C; c++) {
          mean[c] = rm[c], rstd[c] = 1.0f / sqrtf(rv[c] + 1e-5f);
          const float a = rstd[c] * g[c];
          for (int bb = 0; bb < B; bb++) {
            const float *xr = cur.x + ((int64_t)bb * C + c) * HW;
            float *yr = y + ((int64_t)bb * C + c) * HW;
            for (int64_t e = 0; e < HW; e++) yr[e] = (xr[e] - mean[c]) * a + b[c];
          }
        }
      }
      break;
    }
    case OP_PACT:
      if ((st = talloc(t, &y, n))) break;
      if (m->s.pact) {
        const float *a = param(m, o->key, "alpha", &st);
        if (!st) asim_pact_forward(y, cur.x, n, a[0]);
      } else {
        asim_relu_forward(y, cur.x, n);
      }
      break;
    case OP_RELU:
      if ((st = talloc(t, &y, n))) break;
      asim_relu_forward(y, cur.x, n);
      break;
    case OP_GELU:
      if ((st = talloc(t, &y, n))) break;
      asim_gelu_forward(y, cur.x, n);
      break;
    case OP_MAXPOOL:
      out.h = (cur.h + 2 * o->pad - o->k) / o->stride + 1;
      out.w = (cur.w + 2 * o->pad - o->k) / o->stride + 1;
      if ((st = talloc(t, &y, (int64_t)B * numel(&out)))) break;
      if ((st = asim_malloc(&r->idx, sizeof(int32_t) * (size_t)(B * numel(&out))))) break;
      asim_maxpool_train_forward(y, r->idx, cur.x, B * cur.c, cur.h, cur.w, o->k, o->stride, o->pad);
      break;
    case OP_AVGPOOL:
      out.h = out.w = o->k;
      if ((st = talloc(t, &y, (int64_t)B * numel(&out)))) break;
      asim_adaptive_avgpool_forward(y, cur.x, B * cur.c, cur.h, cur.w, o->k, o->k);
      break;
    case OP_PUSH:
      if (sp == 2) {
        st = ASIM_ERR(ASIM_EINVAL, "%s: residual stack overflow", m->name);
        break;
      }
      stack[sp++] = cur;
      break;
    case OP_SWAP: {
      tact tmp = stack[sp - 1];
      stack[sp - 1] = cur;
      out = tmp;
      break;
    }
    case OP_ADD: {
      tact *s = &stack[--sp];
      if (numel(s) != numel(&cur)) {
        st = ASIM_ERR(ASIM_ESHAPE, "%s: residual branches differ in size", m->name);
        break;
      }
      if ((st = talloc(t, &y, n))) break;
      for (int64_t e = 0; e < n; e++) y[e] = cur.x[e] + s->x[e];
      break;
    }
    case OP_FLATTEN: out.kind = K_FLAT, out.c = (int)numel(&cur), out.h = out.w = 1; break;
    case OP_LINEAR: {
      const int T = cur.kind == K_TOK ? cur.h : 1, F = cur.kind == K_TOK ? cur.c : (int)numel(&cur);
      if (F != o->in) {
        st = ASIM_ERR(ASIM_ESHAPE, "%s: %s expects %d features, gets %d (input size %d?)", m->name, o->key, o->in, F,
                      m->image_size);
        break;
      }
      const float *w = param(m, o->key, "weight", &st), *b = o->bias ? param(m, o->key, "bias", &st) : NULL;
      if (st) break;
      out.c = o->out;
      if ((st = talloc(t, &y, (int64_t)B * T * o->out))) break;
      asim_linear_dims d = {o->in, o->out, asim_op_group_params(m, o->group), o->layer_id};
      if (d.p.trim_noise != 0.0f && (st = asim_malloc(&r->trim, sizeof(float) * (size_t)B * T * o->out))) break;
      st = asim_linear_qat_forward(y, &r->sx, &r->sw, cur.x, B, T, w, b, &d, ex, tx->fake_quant, r->trim);
      break;
    }
    case OP_TOKENS: {
      const float *c = param(m, "", "cls_token", &st), *pos = param(m, o->key, "pos_embedding", &st);
      if (st) break;
      const int E = cur.c, G = cur.h * cur.w;
      if (G + 1 != o->out) {
        st = ASIM_ERR(ASIM_ESHAPE, "%s: %d patches but the position embedding has %d tokens", m->name, G, o->out - 1);
        break;
      }
      out.kind = K_TOK, out.c = E, out.h = G + 1, out.w = 1;
      if ((st = talloc(t, &y, (int64_t)B * numel(&out)))) break;
      for (int b = 0; b < B; b++) {
        float *yb = y + (int64_t)b * (G + 1) * E;
        const float *xb = cur.x + (int64_t)b * E * G;
        for (int e = 0; e < E; e++) yb[e] = c[e] + pos[e];
        for (int tk = 0; tk < G; tk++)
          for (int e = 0; e < E; e++) yb[(tk + 1) * E + e] = xb[(int64_t)e * G + tk] + pos[(tk + 1) * E + e];
      }
      break;
    }
    case OP_LN: {
      const float *g = param(m, o->key, "weight", &st), *b = param(m, o->key, "bias", &st);
      if (st) break;
      const int64_t rows = (int64_t)B * cur.h;
      if ((st = talloc(t, &y, n))) break;
      if ((st = asim_malloc(&r->f, sizeof(float) * (size_t)(2 * rows)))) break;
      asim_layernorm_train_forward(y, r->f, r->f + rows, cur.x, rows, cur.c, g, b, 1e-5f);
      break;
    }
    case OP_MHA: {
      const float *qw = param(m, o->key, "qkv.weight", &st), *qb = param(m, o->key, "qkv.bias", &st);
      const float *pw = param(m, o->key, "proj.weight", &st), *pb = param(m, o->key, "proj.bias", &st);
      if (st) break;
      asim_mha_dims a = m->s.attn;
      a.embed_dim = o->in, a.num_heads = o->out, a.layer_id = o->layer_id;
      if ((st = talloc(t, &y, n))) break;
      st = asim_mha_train_forward(y, &r->mha, cur.x, B, cur.h, qw, qb, pw, pb, &a, tx->training ? 0.1f : 0.0f, ex,
                                  tx->fake_quant);
      break;
    }
    case OP_CLS:
      out.kind = K_FLAT, out.h = out.w = 1;
      if ((st = talloc(t, &y, (int64_t)B * cur.c))) break;
      for (int b = 0; b < B; b++)
        memcpy(y + (int64_t)b * cur.c, cur.x + (int64_t)b * cur.h * cur.c, sizeof(float) * (size_t)cur.c);
      break;
    }
    if (st) break;
    if (y) out.x = y;
    r->done = 1;
    if (t->first < 0) t->first = i;
    const float p = tx->training ? dropout_after(m, i) : 0.0f;
    if (p > 0.0f) {
      float *d;
      if ((st = talloc(t, &d, (int64_t)B * numel(&out)))) break;
      asim_dropout_forward(d, out.x, (int64_t)B * numel(&out), numel(&out), p,
                           asim_dropout_key(seed, ASIM_DROP_SITE_OP + (uint32_t)i), ex->sample0);
      out.x = d;
      r->drop = p;
    }
    r->out = out;
    cur = out;
  }
  if (!st && (cur.kind != K_FLAT || cur.c != m->classes))
    st = ASIM_ERR(ASIM_ESHAPE, "%s: network output is not (B, %d)", m->name, m->classes);
  if (st) {
    asim_tape_clear(t);
    return asim_error_trace(st, __FILE__, __LINE__, "training forward");
  }
  memcpy(logits, cur.x, sizeof(float) * (size_t)B * m->classes);
  return ASIM_OK;
}

asim_status asim_train_backward(asim_model *m, asim_tape *t, const float *dlogits, asim_grads *gr, float *dx_out) {
  if (!t->rec || t->n_rec != m->n_ops) return ASIM_ERR(ASIM_EINVAL, "backward without a recorded forward");
  const int B = t->B;
  const asim_train_exec *tx = &t->tx;
  const asim_exec *ex = &tx->ex;
  asim_status st = ASIM_OK;
  float *g = NULL, *gin = NULL, *gstack[2] = {NULL, NULL};
  int gsp = 0;
  ASIM_CHECK(asim_malloc(&g, sizeof(float) * (size_t)B * m->classes));
  memcpy(g, dlogits, sizeof(float) * (size_t)B * m->classes);
  for (int i = m->n_ops - 1; i >= 0 && !st; i--) {
    const asim_op *o = &m->ops[i];
    trec *r = &t->rec[i];
    if (!r->done) continue;
    const tact *in = &r->in;
    const int64_t n_in = (int64_t)B * numel(in);
    const int need_dx = i != t->first || dx_out;
    gin = NULL;
    if (r->drop > 0.0f) /* the dropout backward is the same mask and scale */
      asim_dropout_forward(g, g, (int64_t)B * numel(&r->out), numel(&r->out), r->drop,
                           asim_dropout_key(ex->seed, ASIM_DROP_SITE_OP + (uint32_t)i), ex->sample0);
    switch (o->kind) {
    case OP_QCONV: case OP_ACONV: case OP_FCONV: {
      const float *w = param(m, o->key, "weight", &st);
      if (st) break;
      float *dw = grad(gr, o->key, "weight"), *db = o->bias ? grad(gr, o->key, "bias") : NULL;
      if (need_dx && (st = asim_malloc(&gin, sizeof(float) * (size_t)n_in))) break;
      if (o->kind == OP_FCONV) {
        st = asim_conv2d_backward(gin, dw, db, g, in->x, w, B, in->c, in->h, in->w, o->out, o->k, o->stride, o->pad);
      } else {
        asim_conv_dims d = {o->in, o->out, o->k, o->stride, o->pad, asim_op_group_params(m, o->group), o->layer_id,
                            o->kind == OP_QCONV};
        st = asim_conv2d_qat_backward(gin, dw, db, g, in->x, B, in->h, in->w, w, r->sx, r->sw, &d, ex,
                                      tx->fake_quant, r->trim);
      }
      break;
    }
    case OP_BN: {
      const int C = in->c;
      const int64_t HW = (int64_t)in->h * in->w;
      const float *gam = param(m, o->key, "weight", &st);
      if (st) break;
      float *dg = grad(gr, o->key, "weight"), *db = grad(gr, o->key, "bias");
      if ((st = asim_malloc(&gin, sizeof(float) * (size_t)n_in))) break;
      const float *mean = r->f, *rstd = r->f + C;
      if (r->bn_train) {
        asim_batchnorm_backward(gin, dg, db, g, in->x, mean, rstd, gam, B, C, HW, r->n, &tx->red);
      } else {
        for (int c = 0; c < C; c++) {
          double s1 = 0.0, s2 = 0.0;
          for (int b = 0; b < B; b++) {
            const float *xr = in->x + ((int64_t)b * C + c) * HW, *gg = g + ((int64_t)b * C + c) * HW;
            float *dr = gin + ((int64_t)b * C + c) * HW;
            for (int64_t e = 0; e < HW; e++) {
              s1 += gg[e];
              s2 += (double)gg[e] * ((xr[e] - mean[c]) * rstd[c]);
              dr[e] = gg[e] * rstd[c] * gam[c];
            }
          }
          if (db) db[c] += (float)s1;
          if (dg) dg[c] += (float)s2;
        }
      }
      break;
    }
    case OP_PACT:
      if ((st = asim_malloc(&gin, sizeof(float) * (size_t)n_in))) break;
      if (m->s.pact) {
        const float *a = param(m, o->key, "alpha", &st);
        if (!st) asim_pact_backward(gin, grad(gr, o->key, "alpha"), g, in->x, n_in, a[0]);
      } else {
        asim_relu_backward(gin, g, in->x, n_in);
      }
      break;
    case OP_RELU:
      if ((st = asim_malloc(&gin, sizeof(float) * (size_t)n_in))) break;
      asim_relu_backward(gin, g, in->x, n_in);
      break;
    case OP_GELU:
      if ((st = asim_malloc(&gin, sizeof(float) * (size_t)n_in))) break;
      asim_gelu_backward(gin, g, in->x, n_in);
      break;
    case OP_MAXPOOL:
      if ((st = asim_malloc(&gin, sizeof(float) * (size_t)n_in))) break;
      asim_maxpool_backward(gin, g, r->idx, B * in->c, in->h, in->w, r->out.h, r->out.w);
      break;
    case OP_AVGPOOL:
      if ((st = asim_malloc(&gin, sizeof(float) * (size_t)n_in))) break;
      asim_adaptive_avgpool_backward(gin, g, B * in->c, in->h, in->w, o->k, o->k);
      break;
    case OP_PUSH: { /* the input fed both branches: add the saved branch's gradient */
      float *s = gstack[--gsp];
      for (int64_t e = 0; e < n_in; e++) g[e] += s[e];
      free(s);
      gstack[gsp] = NULL;
      break;
    }
    case OP_SWAP: {
      float *tmp = gstack[gsp - 1];
      gstack[gsp - 1] = g;
      g = tmp;
      break;
    }
    case OP_ADD: { /* both summands receive the output gradient */
      if ((st = asim_malloc(&gstack[gsp], sizeof(float) * (size_t)n_in))) break;
      memcpy(gstack[gsp], g, sizeof(float) * (size_t)n_in);
      gsp++;
      break;
    }
    case OP_FLATTEN: break;
    case OP_LINEAR: {
      const int T = in->kind == K_TOK ? in->h : 1;
      const float *w = param(m, o->key, "weight", &st);
      if (st) break;
      if (need_dx && (st = asim_malloc(&gin, sizeof(float) * (size_t)n_in))) break;
      asim_linear_dims d = {o->in, o->out, asim_op_group_params(m, o->group), o->layer_id};
      st = asim_linear_qat_backward(gin, grad(gr, o->key, "weight"), o->bias ? grad(gr, o->key, "bias") : NULL, g,
                                    in->x, B, T, w, r->sx, r->sw, &d, ex, tx->fake_quant, r->trim);
      break;
    }
    case OP_TOKENS: {
      const int E = in->c, G = in->h * in->w;
      float *dc = grad(gr, "", "cls_token"), *dp = grad(gr, o->key, "pos_embedding");
      if ((st = asim_malloc(&gin, sizeof(float) * (size_t)n_in))) break;
      for (int b = 0; b < B; b++) {
        const float *gb = g + (int64_t)b * (G + 1) * E;
        float *db = gin + (int64_t)b * E * G;
        for (int e = 0; e < E; e++) {
          if (dc) dc[e] += gb[e];
          if (dp) dp[e] += gb[e];
        }
        for (int tk = 0; tk < G; tk++)
          for (int e = 0; e < E; e++) {
            db[(int64_t)e * G + tk] = gb[(tk + 1) * E + e];
            if (dp) dp[(tk + 1) * E + e] += gb[(tk + 1) * E + e];
          }
      }
      break;
    }
    case OP_LN: {
      const float *gam = param(m, o->key, "weight", &st);
      if (st) break;
      const int64_t rows = (int64_t)B * in->h;
      if ((st = asim_malloc(&gin, sizeof(float) * (size_t)n_in))) break;
      asim_layernorm_backward(gin, grad(gr, o->key, "weight"), grad(gr, o->key, "bias"), g, in->x, r->f, r->f + rows,
                              gam, rows, in->c);
      break;
    }
    case OP_MHA: {
      const float *qw = param(m, o->key, "qkv.weight", &st), *pw = param(m, o->key, "proj.weight", &st);
      if (st) break;
      asim_mha_dims a = m->s.attn;
      a.embed_dim = o->in, a.num_heads = o->out, a.layer_id = o->layer_id;
      if ((st = asim_malloc(&gin, sizeof(float) * (size_t)n_in))) break;
      st = asim_mha_backward(gin, grad(gr, o->key, "qkv.weight"), grad(gr, o->key, "qkv.bias"),
                             grad(gr, o->key, "proj.weight"), grad(gr, o->key, "proj.bias"), g, in->x, B, in->h, qw, pw,
                             &r->mha, &a, tx->training ? 0.1f : 0.0f, ex, tx->fake_quant);
      break;
    }
    case OP_CLS:
      if ((st = asim_calloc(&gin, (size_t)n_in, sizeof(float)))) break;
      for (int b = 0; b < B; b++)
        memcpy(gin + (int64_t)b * in->h * in->c, g + (int64_t)b * in->c, sizeof(float) * (size_t)in->c);
      break;
    }
    if (st) break;
    if (gin) {
      free(g);
      g = gin;
      gin = NULL;
    } else if (!need_dx) {
      free(g);
      g = NULL;
    }
  }
  free(gin);
  free(gstack[0]);
  free(gstack[1]);
  if (!st && dx_out && g) memcpy(dx_out, g, sizeof(float) * (size_t)B * m->in_ch * m->image_size * m->image_size);
  free(g);
  if (st) return asim_error_trace(st, __FILE__, __LINE__, "training backward");
  return ASIM_OK;
}
