/* asim-init — writes a randomly initialised checkpoint of any zoo model (ASiM's
 * initialisation, deterministic in the seed) in asim-mpi's HDF5 format: a starting point for
 * training, and test fixtures.
 *
 *   asim-init MODEL OUT.h5 [--classes N] [--channels C] [--size S] [--seed S] [--no-pact] [--describe] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asim/checkpoint.h"
#include "asim/model.h"

static void usage(FILE *f) {
  fprintf(f, "usage: asim-init MODEL OUT.h5 [--classes N] [--channels C] [--size S] [--seed S] [--no-pact] "
             "[--describe]\n  MODEL: ResNet-18/34/50/101/152, VGG11/13/16/19[-BN], ViT-B-16/B-32/L-16/L-32/H-14\n");
}

int main(int argc, char **argv) {
  const char *name = NULL, *out = NULL;
  int classes = 10, channels = 3, size = 32, pact = 1, describe = 0;
  unsigned long long seed = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--classes") && i + 1 < argc) classes = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--channels") && i + 1 < argc) channels = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--no-pact")) pact = 0;
    else if (!strcmp(argv[i], "--describe")) describe = 1;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
    else if (argv[i][0] == '-') { usage(stderr); return 2; }
    else if (!name) name = argv[i];
    else if (!out) out = argv[i];
    else { usage(stderr); return 2; }
  }
  if (!name || !out) { usage(stderr); return 2; }
  asim_model m;
  asim_model_settings s = asim_model_settings_default();
  s.pact = pact;
  asim_status st = asim_model_init(&m, name, classes, channels, size, &s, 0);
  if (!st) st = asim_model_init_random(&m, seed);
  if (!st) {
    asim_ckpt_meta meta;
    asim_ckpt_meta_init(&meta);
    snprintf(meta.model_name, sizeof meta.model_name, "%s", name);
    meta.classes = classes;
    snprintf(meta.provenance, sizeof meta.provenance,
             "asim-init: random initialisation as ASiM's (seed %llu, %d input channels, input %d, %s)", seed, channels,
             size, pact ? "PACT" : "ReLU");
    st = asim_ckpt_h5_write(out, &m.params, &meta);
  }
  if (st) {
    fprintf(stderr, "asim-init: %s\n", asim_errmsg());
    return 1;
  }
  if (describe) asim_model_describe(&m, stdout);
  asim_model_free(&m);
  return 0;
}
