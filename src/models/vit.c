/* Vision Transformers ViT-B/16, B/32, L/16, L/32, H/14 as ASiM builds them (spec §6.3):
 * pre-norm encoder blocks, LayerNorm eps 1e-5, attention scaled by embed_dim^-1/2. */
#include <stdio.h>
#include <string.h>

#include "ops.h"


asim_status asim_build_vit(asim_model *m) {
  const int E = m->hidden, g = m->image_size / m->patch;
  int ko = 1; /* cls_token is key 0 (owned by OP_TOKENS below, with the position embedding) */
  char key[96];
  asim_op pe = asim_op_make(m->s.vit_quant_conv_proj ? OP_QCONV : OP_FCONV, m->s.vit_quant_conv_proj ? G_VITQCONV : G_FLOAT,
                  "patch_embedding.conv_proj", ko++);
  pe.in = m->in_ch, pe.out = E, pe.k = m->patch, pe.stride = m->patch, pe.bias = 1;
  ASIM_CHECK(asim_ops_push(m, pe));
  asim_op tk = asim_op_make(OP_TOKENS, G_FLOAT, "encoder", 0); /* cls_token (order 0), encoder.pos_embedding (order ko) */
  tk.in = E, tk.out = g * g + 1, tk.k = ko++;
  ASIM_CHECK(asim_ops_push(m, tk));
  for (int i = 0; i < m->layers; i++) {
    char pre[48];
    snprintf(pre, sizeof pre, "encoder.layers.%d", i);
    ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_PUSH, G_FLOAT, "", 0)));
    snprintf(key, sizeof key, "%s.ln_1", pre);
    asim_op ln = asim_op_make(OP_LN, G_FLOAT, key, ko++);
    ln.in = E;
    ASIM_CHECK(asim_ops_push(m, ln));
    snprintf(key, sizeof key, "%s.self_attention", pre);
    asim_op a = asim_op_make(OP_MHA, G_ATTN, key, ko++);
    a.in = E, a.out = m->heads;
    ASIM_CHECK(asim_ops_push(m, a));
    ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_ADD, G_FLOAT, "", 0)));
    ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_PUSH, G_FLOAT, "", 0)));
    snprintf(key, sizeof key, "%s.ln_2", pre);
    ln = asim_op_make(OP_LN, G_FLOAT, key, ko++);
    ln.in = E;
    ASIM_CHECK(asim_ops_push(m, ln));
    snprintf(key, sizeof key, "%s.mlp.mlp1", pre);
    asim_op l1 = asim_op_make(OP_LINEAR, G_MLP, key, ko++);
    l1.in = E, l1.out = m->mlp_dim, l1.bias = 1;
    ASIM_CHECK(asim_ops_push(m, l1));
    ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_GELU, G_FLOAT, "", 0)));
    snprintf(key, sizeof key, "%s.mlp.mlp2", pre);
    asim_op l2 = asim_op_make(OP_LINEAR, G_MLP, key, ko++);
    l2.in = m->mlp_dim, l2.out = E, l2.bias = 1;
    ASIM_CHECK(asim_ops_push(m, l2));
    asim_op add = asim_op_make(OP_ADD, G_FLOAT, "", 0);
    snprintf(add.trace, sizeof add.trace, "encoder.layers.%d", i);
    ASIM_CHECK(asim_ops_push(m, add));
  }
  asim_op ln = asim_op_make(OP_LN, G_FLOAT, "encoder.ln", ko++);
  ln.in = E;
  ASIM_CHECK(asim_ops_push(m, ln));
  ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_CLS, G_FLOAT, "", 0)));
  asim_op h = asim_op_make(OP_LINEAR, G_FC, "heads", ko++);
  h.in = E, h.out = m->classes, h.bias = 1;
  snprintf(h.trace, sizeof h.trace, "heads");
  ASIM_CHECK(asim_ops_push(m, h));
  return ASIM_OK;
}
