/* ResNet-18/34/50/101/152 as ASiM builds them (spec §6.1). */
#include <stdio.h>
#include <string.h>

#include "ops.h"


static asim_op conv(op_kind kind, op_group g, const char *key, int korder, int in, int out, int k, int s, int p) {
  asim_op o = asim_op_make(kind, g, key, korder);
  o.in = in, o.out = out, o.k = k, o.stride = s, o.pad = p;
  return o;
}

asim_status asim_build_resnet(asim_model *m) {
  const int bottleneck = m->bottleneck, exp = bottleneck ? 4 : 1, width = m->width ? m->width : 64;
  int ko = 0;
  const int last = 1 << 30; /* the stem's PACT alpha is stored last */
  char key[64];
  /* both stems exist as parameters; the unused one stays in the checkpoint */
  asim_op c1 = conv(OP_QCONV, G_QCONV, "conv1", ko++, m->in_ch, width, 3, 1, 1);
  asim_op c2 = conv(OP_QCONV, G_QCONV, "conv2", ko++, m->in_ch, width, 7, 2, 3);
  if (!m->large) {
    snprintf(c1.trace, sizeof c1.trace, "conv1");
    ASIM_CHECK(asim_ops_push(m, c1));
    c2.kind = OP_QCONV, c2.stride = -1; /* keys only: marked unused by a negative stride */
    ASIM_CHECK(asim_ops_push(m, c2));
  } else {
    c1.stride = -1;
    ASIM_CHECK(asim_ops_push(m, c1));
    snprintf(c2.trace, sizeof c2.trace, "conv1");
    ASIM_CHECK(asim_ops_push(m, c2));
  }
  asim_op bn = asim_op_make(OP_BN, G_FLOAT, "bn1", ko++);
  bn.in = width;
  snprintf(bn.trace, sizeof bn.trace, "bn1");
  ASIM_CHECK(asim_ops_push(m, bn));
  asim_op act = asim_op_make(OP_PACT, G_FLOAT, "relu", last);
  snprintf(act.trace, sizeof act.trace, "relu");
  ASIM_CHECK(asim_ops_push(m, act));
  if (m->large) {
    asim_op mp = asim_op_make(OP_MAXPOOL, G_FLOAT, "maxpool", 0);
    mp.k = 3, mp.stride = 2, mp.pad = 1;
    ASIM_CHECK(asim_ops_push(m, mp));
  } else if (m->stem_pool) {
    asim_op mp = asim_op_make(OP_MAXPOOL, G_FLOAT, "maxpool", 0);
    mp.k = 2, mp.stride = 2, mp.pad = 0;
    ASIM_CHECK(asim_ops_push(m, mp));
  }
  int inplanes = width;
  for (int L = 0; L < 4; L++) {
    const int planes = width << L;
    for (int j = 0; j < m->blocks[L]; j++) {
      const int stride = (j == 0 && L > 0) ? 2 : 1;
      const int ds = stride != 1 || inplanes != planes * exp;
      char pre[48];
      snprintf(pre, sizeof pre, "layer%d.%d", L + 1, j);
      ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_PUSH, G_FLOAT, "", 0)));
      int nconv = bottleneck ? 3 : 2;
      for (int c = 1; c <= nconv; c++) {
        int in = c == 1 ? inplanes : planes, out = (c == nconv) ? planes * exp : planes;
        int k = bottleneck && c != 2 ? 1 : 3, s = (bottleneck ? c == 2 : c == 1) ? stride : 1;
        snprintf(key, sizeof key, "%s.conv%d", pre, c);
        ASIM_CHECK(asim_ops_push(m, conv(OP_ACONV, G_CONV, key, ko++, in, out, k, s, k == 3 ? 1 : 0)));
        snprintf(key, sizeof key, "%s.bn%d", pre, c);
        asim_op b = asim_op_make(OP_BN, G_FLOAT, key, ko++);
        b.in = out;
        ASIM_CHECK(asim_ops_push(m, b));
        if (c != nconv) { /* one PACT module per block, shared by all its activations */
          snprintf(key, sizeof key, "%s.relu", pre);
          ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_PACT, G_FLOAT, key, 0)));
        }
      }
      int relu_order = 0;
      if (ds) {
        ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_SWAP, G_FLOAT, "", 0)));
        snprintf(key, sizeof key, "%s.downsample.0", pre);
        ASIM_CHECK(asim_ops_push(m, conv(OP_ACONV, G_CONV, key, ko++, inplanes, planes * exp, 1, stride, 0)));
        snprintf(key, sizeof key, "%s.downsample.1", pre);
        asim_op b = asim_op_make(OP_BN, G_FLOAT, key, ko++);
        b.in = planes * exp;
        ASIM_CHECK(asim_ops_push(m, b));
      }
      relu_order = ko++;
      ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_ADD, G_FLOAT, "", 0)));
      snprintf(key, sizeof key, "%s.relu", pre);
      asim_op a = asim_op_make(OP_PACT, G_FLOAT, key, relu_order);
      snprintf(a.trace, sizeof a.trace, "%s", pre);
      ASIM_CHECK(asim_ops_push(m, a));
      inplanes = planes * exp;
    }
  }
  asim_op ap = asim_op_make(OP_AVGPOOL, G_FLOAT, "avgpool", 0);
  ap.k = 1;
  snprintf(ap.trace, sizeof ap.trace, "avgpool");
  ASIM_CHECK(asim_ops_push(m, ap));
  ASIM_CHECK(asim_ops_push(m, asim_op_make(OP_FLATTEN, G_FLOAT, "", 0)));
  asim_op fc = asim_op_make(OP_LINEAR, G_LINEAR, "fc", ko++);
  fc.in = inplanes, fc.out = m->classes, fc.bias = 1;
  snprintf(fc.trace, sizeof fc.trace, "fc");
  ASIM_CHECK(asim_ops_push(m, fc));
  return ASIM_OK;
}
