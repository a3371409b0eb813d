/* Gradients of the trainable parameters, SGD / Adam with PyTorch's update rules, MultiStepLR. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/train.h"
#include "models/ops.h"

/* ---- which parameters train -------------------------------------------------------------- */

typedef struct {
  char (*names)[160];
  int n, cap;
} name_set;

static asim_status set_add(name_set *s, const char *key, const char *suffix) {
  char name[160];
  snprintf(name, sizeof name, "%s%s%s", key, key[0] ? "." : "", suffix);
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->names[i], name)) return ASIM_OK;
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 256;
    void *p = realloc(s->names, sizeof(*s->names) * (size_t)cap);
    if (!p) return ASIM_ERR(ASIM_ENOMEM, "parameter list");
    s->names = p, s->cap = cap;
  }
  snprintf(s->names[s->n++], 160, "%s", name);
  return ASIM_OK;
}

/* The parameters the forward actually uses (PyTorch gives unused ones no gradient). */
static asim_status trainable(const asim_model *m, name_set *s) {
  for (int i = 0; i < m->n_ops; i++) {
    const asim_op *o = &m->ops[i];
    switch (o->kind) {
    case OP_QCONV: case OP_ACONV: case OP_FCONV: case OP_LINEAR:
      if (o->stride < 0 && o->kind != OP_LINEAR) break;
      ASIM_CHECK(set_add(s, o->key, "weight"));
      if (o->bias) ASIM_CHECK(set_add(s, o->key, "bias"));
      break;
    case OP_BN: case OP_LN:
      ASIM_CHECK(set_add(s, o->key, "weight"));
      ASIM_CHECK(set_add(s, o->key, "bias"));
      break;
    case OP_PACT:
      if (m->s.pact) ASIM_CHECK(set_add(s, o->key, "alpha"));
      break;
    case OP_TOKENS:
      ASIM_CHECK(set_add(s, "", "cls_token"));
      ASIM_CHECK(set_add(s, o->key, "pos_embedding"));
      break;
    case OP_MHA:
      ASIM_CHECK(set_add(s, o->key, "qkv.weight"));
      ASIM_CHECK(set_add(s, o->key, "qkv.bias"));
      ASIM_CHECK(set_add(s, o->key, "proj.weight"));
      ASIM_CHECK(set_add(s, o->key, "proj.bias"));
      break;
    default: break;
    }
  }
  return ASIM_OK;
}

asim_status asim_grads_init(asim_grads *g, const asim_model *m) {
  memset(g, 0, sizeof *g);
  name_set s = {0};
  asim_status st = trainable(m, &s);
  if (!st) st = ASIM_ALLOC(g->pidx, (size_t)(m->params.n + 1));
  if (!st) st = ASIM_ALLOC(g->tie, (size_t)(m->params.n + 1));
  for (int i = 0; i < m->params.n && !st; i++) {
    int found = 0;
    for (int j = 0; j < s.n && !found; j++) found = !strcmp(s.names[j], m->params.names[i]);
    if (!found) continue;
    const asim_tensor *p = &m->params.tensors[i];
    if (p->dtype != ASIM_F32) {
      st = ASIM_ERR(ASIM_EINVAL, "%s: parameter '%s' is not float32", m->name, m->params.names[i]);
      break;
    }
    asim_tensor t;
    if ((st = asim_tensor_alloc(&t, ASIM_F32, p->ndim, p->shape))) break;
    g->pidx[g->g.n] = i;
    const char *leaf = strrchr(m->params.names[i], '.');
    /* VGG: one α shared by every ReLU position (spec §6.2) is a single tied parameter */
    g->tie[g->g.n] = (m->arch == ASIM_ARCH_VGG && leaf && !strcmp(leaf, ".alpha")) ? 0 : -1;
    if (g->tie[g->g.n] == 0) g->n_tie_groups = 1;
    if ((st = asim_state_add(&g->g, m->params.names[i], &t))) {
      asim_tensor_free(&t);
      break;
    }
  }
  free(s.names);
  if (st) {
    asim_grads_free(g);
    return asim_error_trace(st, __FILE__, __LINE__, "gradients");
  }
  return ASIM_OK;
}

void asim_grads_free(asim_grads *g) {
  asim_state_free(&g->g);
  free(g->pidx);
  free(g->tie);
  memset(g, 0, sizeof *g);
}

void asim_grads_zero(asim_grads *g) {
  for (int i = 0; i < g->g.n; i++)
    memset(g->g.tensors[i].data, 0, sizeof(float) * (size_t)asim_tensor_numel(&g->g.tensors[i]));
}

float *asim_grads_find(const asim_grads *g, const char *name) {
  asim_tensor *t = asim_state_find(&g->g, name);
  return t ? t->data : NULL;
}

void asim_grads_tie(asim_grads *g) {
  for (int grp = 0; grp < g->n_tie_groups; grp++) {
    double sum = 0.0;
    for (int i = 0; i < g->g.n; i++)
      if (g->tie[i] == grp) sum += ((float *)g->g.tensors[i].data)[0];
    for (int i = 0; i < g->g.n; i++)
      if (g->tie[i] == grp) ((float *)g->g.tensors[i].data)[0] = (float)sum;
  }
}

int64_t asim_grads_numel(const asim_grads *g) {
  int64_t n = 0;
  for (int i = 0; i < g->g.n; i++) n += asim_tensor_numel(&g->g.tensors[i]);
  return n;
}

void asim_grads_pack(const asim_grads *g, float *flat) {
  for (int i = 0; i < g->g.n; i++) {
    const int64_t n = asim_tensor_numel(&g->g.tensors[i]);
    memcpy(flat, g->g.tensors[i].data, sizeof(float) * (size_t)n);
    flat += n;
  }
}

void asim_grads_unpack(asim_grads *g, const float *flat) {
  for (int i = 0; i < g->g.n; i++) {
    const int64_t n = asim_tensor_numel(&g->g.tensors[i]);
    memcpy(g->g.tensors[i].data, flat, sizeof(float) * (size_t)n);
    flat += n;
  }
}

/* ---- optimisers -------------------------------------------------------------------------- */

static asim_status zeros_like(asim_state *dst, const asim_grads *g) {
  for (int i = 0; i < g->g.n; i++) {
    asim_tensor t;
    ASIM_CHECK(asim_tensor_alloc(&t, ASIM_F32, g->g.tensors[i].ndim, g->g.tensors[i].shape));
    asim_status st = asim_state_add(dst, g->g.names[i], &t);
    if (st) {
      asim_tensor_free(&t);
      return st;
    }
  }
  return ASIM_OK;
}

asim_status asim_optim_init(asim_optim *o, asim_opt_kind kind, const asim_grads *g, double lr, double momentum,
                            double weight_decay) {
  memset(o, 0, sizeof *o);
  o->kind = kind, o->lr = lr, o->momentum = momentum, o->weight_decay = weight_decay;
  o->beta1 = 0.9, o->beta2 = 0.999, o->eps = 1e-8;
  asim_status st = zeros_like(&o->m, g);
  if (!st && kind == ASIM_OPT_ADAM) st = zeros_like(&o->v, g);
  if (st) {
    asim_optim_free(o);
    return asim_error_trace(st, __FILE__, __LINE__, "optimiser state");
  }
  return ASIM_OK;
}

void asim_optim_free(asim_optim *o) {
  asim_state_free(&o->m);
  asim_state_free(&o->v);
}

asim_status asim_optim_step(asim_optim *o, asim_model *m, const asim_grads *g) {
  if (o->m.n != g->g.n || (o->kind == ASIM_OPT_ADAM && o->v.n != g->g.n))
    return ASIM_ERR(ASIM_EINVAL, "optimiser state has %d entries, the model %d trainable parameters", o->m.n, g->g.n);
  o->step++;
  /* scalars as PyTorch's float kernels see them */
  const float lr = (float)o->lr, mom = (float)o->momentum, wd = (float)o->weight_decay;
  /* 1 − β in double, then float: PyTorch passes alpha = 1 − beta1 (a Python float) to the
   * float kernel; (1.0f − 0.999f) would differ by 1.3e-5 relative */
  const float b1 = (float)o->beta1, b2 = (float)o->beta2, omb1 = (float)(1.0 - o->beta1), omb2 = (float)(1.0 - o->beta2);
  const double bc1 = 1.0 - pow(o->beta1, (double)o->step), bc2 = 1.0 - pow(o->beta2, (double)o->step);
  const float step_size = (float)(o->lr / bc1), bc2_sqrt = (float)sqrt(bc2), eps = (float)o->eps;
  for (int i = 0; i < g->g.n; i++) {
    asim_tensor *pt = &m->params.tensors[g->pidx[i]];
    if (strcmp(m->params.names[g->pidx[i]], g->g.names[i]))
      return ASIM_ERR(ASIM_EINVAL, "gradient '%s' does not match parameter '%s'", g->g.names[i],
                      m->params.names[g->pidx[i]]);
    float *p = pt->data;
    const float *gr = g->g.tensors[i].data;
    float *buf = o->m.tensors[i].data;
    const int64_t n = asim_tensor_numel(pt);
    if (o->kind == ASIM_OPT_SGD) {
      for (int64_t e = 0; e < n; e++) {
        const float d = wd != 0.0f ? gr[e] + wd * p[e] : gr[e];
        buf[e] = (o->step == 1 || mom == 0.0f) ? d : mom * buf[e] + d;
        p[e] = p[e] + -lr * buf[e];
      }
    } else {
      float *v = o->v.tensors[i].data;
      for (int64_t e = 0; e < n; e++) {
        buf[e] = b1 * buf[e] + omb1 * gr[e];
        v[e] = b2 * v[e] + omb2 * (gr[e] * gr[e]);
        const float denom = sqrtf(v[e]) / bc2_sqrt + eps;
        p[e] = p[e] + -step_size * (buf[e] / denom);
      }
    }
  }
  return ASIM_OK;
}

/* Layer-Gaussian clipping as IBM's AIHWKit does in hardware-aware training: a macro adds an error
 * of fixed size in integer units, and ASiM scales each weight tensor by its largest |w|, so one
 * outlier shrinks every other weight's codes. Clamping to ±k·std keeps the codes spread. */
asim_status asim_weight_clip(asim_model *m, double k) {
  if (!(k > 0.0)) return ASIM_OK;
  for (int i = 0; i < m->n_ops; i++) {
    const asim_op *op = &m->ops[i];
    if (op->kind != OP_ACONV && op->kind != OP_LINEAR) continue;
    char name[160];
    snprintf(name, sizeof name, "%s.weight", op->key);
    asim_tensor *t = asim_state_find(&m->params, name);
    if (!t) return ASIM_ERR(ASIM_EINVAL, "weight clipping: the model has no parameter '%s'", name);
    float *w = t->data;
    const int64_t n = asim_tensor_numel(t);
    double s1 = 0.0, s2 = 0.0;
    for (int64_t e = 0; e < n; e++) s1 += w[e], s2 += (double)w[e] * w[e];
    const double mean = n ? s1 / (double)n : 0.0, var = n ? s2 / (double)n - mean * mean : 0.0;
    const float c = (float)(k * sqrt(var > 0.0 ? var : 0.0));
    if (!(c > 0.0f)) continue;
    for (int64_t e = 0; e < n; e++) w[e] = w[e] > c ? c : (w[e] < -c ? -c : w[e]);
  }
  return ASIM_OK;
}

double asim_multistep_lr(double lr_init, const int *milestones, int n, double factor, int epoch) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (milestones[i] <= epoch) k++;
  return lr_init * pow(factor, k);
}
