/* VGG11/13/16/19, with and without BatchNorm, as ASiM builds them (spec §6.2). */
#include <stdio.h>
#include <string.h>

#include "ops.h"


asim_status asim_build_vgg(asim_model *m) {
  int idx = 0, ko = 0, ch = 64;
  char key[64];
  /* features.0: QuantConv2d 3->64 with bias, [BN], plain ReLU (never PACT) */
  asim_op q = asim_op_make(OP_QCONV, G_QCONV, "features.0", ko++);
  q.in = m->in_ch, q.out = 64, q.k = 3, q.stride = 1, q.pad = 1, q.bias = 1;
  ASIM_CHECK(asim_ops_push(m, q));
  idx++;
  if (m->vgg_bn) {
    snprintf(key, sizeof key, "features.%d", idx++);
    asim_op b = asim_op_make(OP_BN, G_FLOAT, key, ko++);
    b.in = 64;
    ASIM_CHECK(asim_ops_push(m, b));
  }
  ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_RELU, G_FLOAT, "", 0)));
  idx++;
  for (int i = 0; i < m->vgg_n; i++) {
    int v = m->vgg_cfg[i];
    if (v == 0) {
      asim_op mp = asim_op_make(OP_MAXPOOL, G_FLOAT, "", 0);
      mp.k = 2, mp.stride = 2;
      ASIM_CHECK(asim_ops_push(m, mp));
      idx++;
      continue;
    }
    snprintf(key, sizeof key, "features.%d", idx++);
    asim_op c = asim_op_make(OP_ACONV, G_CONV, key, ko++);
    c.in = ch, c.out = v, c.k = 3, c.stride = 1, c.pad = 1, c.bias = 1;
    ASIM_CHECK(asim_ops_push(m, c));
    if (m->vgg_bn) {
      snprintf(key, sizeof key, "features.%d", idx++);
      asim_op b = asim_op_make(OP_BN, G_FLOAT, key, ko++);
      b.in = v;
      ASIM_CHECK(asim_ops_push(m, b));
    }
    /* ASiM's single shared relu module appears under every position it is placed at */
    snprintf(key, sizeof key, "features.%d", idx++);
    ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_PACT, G_FLOAT, key, ko++)));
    ch = v;
  }
  asim_op ap = asim_op_make(OP_AVGPOOL, G_FLOAT, "avgpool", 0);
  ap.k = 7;
  ASIM_CHECK(asim_ops_push(m, ap));
  ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_FLATTEN, G_FLOAT, "", 0)));
  const int fin[3] = {ch * 49, 4096, 4096}, fout[3] = {4096, 4096, m->classes};
  for (int i = 0; i < 3; i++) {
    snprintf(key, sizeof key, "classifier.%d", 3 * i);
    asim_op l = asim_op_make(OP_LINEAR, G_LINEAR, key, ko++);
    l.in = fin[i], l.out = fout[i], l.bias = 1;
    ASIM_CHECK(asim_ops_push(m, l));
    if (i < 2) { /* relu (shared) then Dropout(0.5), identity in evaluation */
      snprintf(key, sizeof key, "classifier.%d", 3 * i + 1);
      ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_PACT, G_FLOAT, key, ko++)));
    }
  }
  return ASIM_OK;
}
