/* ops.h (internal) — a network is built once as a flat list of operations over one current
 * tensor plus a two-slot stack for residual branches. The same list drives the state_dict key
 * layout, checkpoint checks, initialisation, the forward pass and the description, so each
 * architecture is written down exactly once (resnet.c, vgg.c, vit.c). */
#ifndef ASIM_MODELS_OPS_H
#define ASIM_MODELS_OPS_H

#include <stdio.h>
#include <string.h>

#include "asim/model.h"

typedef enum {
  OP_QCONV,   /* QuantConv2d (first layers) */
  OP_ACONV,   /* ASiMConv2d */
  OP_FCONV,   /* float conv (ViT patch embedding) */
  OP_BN,      /* BatchNorm2d, eval */
  OP_PACT,    /* PACT (alpha) or plain ReLU when the model has no PACT */
  OP_RELU,    /* always a plain ReLU */
  OP_MAXPOOL,
  OP_AVGPOOL, /* adaptive average pool to (a, a) */
  OP_PUSH,    /* save the current tensor (residual input) */
  OP_SWAP,    /* exchange current and saved (run the shortcut branch on the saved input) */
  OP_ADD,     /* current += saved; pop */
  OP_FLATTEN,
  OP_LINEAR,  /* ASiMLinear on (B, a) or tokens */
  OP_TOKENS,  /* (E, g, g) -> (g²+1, E): class token first, + position embedding */
  OP_LN,      /* LayerNorm over E, eps 1e-5 */
  OP_MHA,     /* ASiMMultiheadAttention */
  OP_GELU,
  OP_CLS      /* keep token 0 */
} op_kind;

typedef enum { G_CONV, G_LINEAR, G_QCONV, G_ATTN, G_MLP, G_FC, G_VITQCONV, G_FLOAT } op_group;

typedef struct asim_op {
  op_kind kind;
  op_group group;
  char key[96];   /* state_dict prefix ("layer1.0.conv1") */
  char trace[64]; /* stage recorded after this op ("" none) */
  int in, out, k, stride, pad, bias; /* geometry: channels/features, kernel, stride, padding */
  int korder;     /* position of this op's keys in the state_dict */
  uint32_t layer_id; /* ASiM layers: noise key */
} asim_op;

/* The ASiM layer settings of a layer group (model.c; used by the training interpreter). */
asim_cim_params asim_op_group_params(const asim_model *m, op_group g);

/* An operation with its kind, settings group, key prefix and key order; geometry zeroed. */
static inline asim_op asim_op_make(op_kind kind, op_group g, const char *key, int korder) {
  asim_op o;
  memset(&o, 0, sizeof o);
  o.kind = kind;
  o.group = g;
  snprintf(o.key, sizeof o.key, "%s", key);
  o.korder = korder;
  return o;
}

/* Builders append to the model's list (model.c owns the list). */
asim_status asim_ops_push(asim_model *m, asim_op op);
asim_status asim_build_resnet(asim_model *m);
asim_status asim_build_vgg(asim_model *m);
asim_status asim_build_vit(asim_model *m);

#endif
