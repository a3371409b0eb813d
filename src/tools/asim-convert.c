/* asim-convert — converts a checkpoint (PyTorch zip .pkl/.pth, or asim-mpi HDF5) to the
 * asim-mpi HDF5 checkpoint format, optionally mapping an official torchvision state_dict to
 * ASiM's key layout first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "asim/checkpoint.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: asim-convert IN OUT.h5 [--model NAME] [--classes N] [--torchvision ARCH]\n"
          "                    [--pact | --no-pact] [--seed S] [--provenance TEXT]\n"
          "\n"
          "Converts IN (a torch.save zip checkpoint such as ASiM's .pkl or a torchvision .pth,\n"
          "or an asim-mpi HDF5 checkpoint) to the asim-mpi HDF5 checkpoint OUT.h5.\n"
          "\n"
          "  --model NAME        model name stored in the checkpoint (default: ARCH, or the input's)\n"
          "  --classes N         number of classes (default: the input's, else the head's rows;\n"
          "                      with --torchvision: 1000 keeps the official head, any other N\n"
          "                      gets a fresh Xavier-uniform head)\n"
          "  --torchvision ARCH  map an official torchvision state_dict to ASiM keys:\n"
          "                      resnet18 resnet34 resnet50 resnet101 resnet152\n"
          "                      vit_b_16 vit_b_32 vit_l_16 vit_l_32 vit_h_14\n"
          "  --pact, --no-pact   ResNet: add PACT clip levels (alpha = 6.0) or not (default --pact)\n"
          "  --seed S            seed of the random initialisations (default 0)\n"
          "  --provenance TEXT   free text appended to the generated provenance note\n");
}

static int parse_i64(const char *s, long long lo, long long hi, long long *v) {
  char *end;
  long long x = strtoll(s, &end, 10);
  if (!*s || *end || x < lo || x > hi) return 0;
  *v = x;
  return 1;
}

/* Rows of the classifier weight, when the layout is recognisable. */
static int64_t head_rows(const asim_state *s) {
  static const char *heads[] = {"fc.weight", "heads.weight", "classifier.6.weight", "heads.head.weight"};
  for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
    asim_tensor *t = asim_state_find(s, heads[i]);
    if (t && t->ndim == 2) return t->shape[0];
  }
  return -1;
}

int main(int argc, char **argv) {
  const char *in = NULL, *out = NULL, *model = NULL, *arch = NULL, *note = NULL;
  long long classes = -1, seed = 0;
  int pact = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has = i + 1 < argc;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--model") && has) model = argv[++i];
    else if (!strcmp(a, "--torchvision") && has) arch = argv[++i];
    else if (!strcmp(a, "--provenance") && has) note = argv[++i];
    else if (!strcmp(a, "--classes") && has) {
      if (!parse_i64(argv[++i], 1, 1000000000, &classes)) {
        fprintf(stderr, "asim-convert: --classes needs a positive integer, got '%s'\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(a, "--seed") && has) {
      if (!parse_i64(argv[++i], 0, (long long)9.2e18, &seed)) {
        fprintf(stderr, "asim-convert: --seed needs a non-negative integer, got '%s'\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(a, "--pact")) pact = 1;
    else if (!strcmp(a, "--no-pact")) pact = 0;
    else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "asim-convert: unknown or incomplete option '%s'\n\n", a);
      usage(stderr);
      return 2;
    } else if (!in) in = a;
    else if (!out) out = a;
    else {
      fprintf(stderr, "asim-convert: unexpected argument '%s'\n\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (!in || !out) {
    usage(stderr);
    return 2;
  }

  asim_state s = {0};
  asim_ckpt_meta meta;
  asim_status st = asim_ckpt_read(in, &s, &meta);
  if (st == ASIM_OK && arch) st = asim_ckpt_map_torchvision(&s, arch, classes > 0 ? (int)classes : 1000, (uint64_t)seed, pact);
  if (st != ASIM_OK) {
    fprintf(stderr, "asim-convert: %s\n", asim_errmsg());
    asim_state_free(&s);
    return 1;
  }
  if (model) snprintf(meta.model_name, sizeof meta.model_name, "%s", model);
  else if (arch) snprintf(meta.model_name, sizeof meta.model_name, "%s", arch);
  if (classes > 0) meta.classes = classes;
  else if (arch) meta.classes = 1000;
  else if (meta.classes < 0) meta.classes = head_rows(&s);
  if (meta.epoch < 0) meta.epoch = 0;
  if (meta.best_acc < 0) meta.best_acc = 0.0;

  char prov[ASIM_CKPT_TEXT_MAX];
  int is_resnet = arch && strncasecmp(arch, "resnet", 6) == 0;
  int n = snprintf(prov, sizeof prov, "asim-convert %s (%s) from '%s'", ASIM_VERSION, ASIM_GIT_REVISION, in);
  if (arch && n > 0 && (size_t)n < sizeof prov)
    n += snprintf(prov + n, sizeof prov - (size_t)n,
                  "; torchvision %s mapped to ASiM keys (every block/layer%s; %s; seed %lld)", arch,
                  is_resnet ? (pact ? "; 3x3 conv1 Kaiming-normal fan_out; PACT alpha 6.0" : "; 3x3 conv1 Kaiming-normal fan_out; no PACT") : "", meta.classes == 1000 ? "official 1000-class head kept" : "fresh Xavier-uniform head, zero bias",
                  seed);
  if (note && n > 0 && (size_t)n < sizeof prov) n += snprintf(prov + n, sizeof prov - (size_t)n, "; %s", note);
  if (meta.provenance[0] && n > 0 && (size_t)n < sizeof prov) snprintf(prov + n, sizeof prov - (size_t)n, "; before: %.3000s", meta.provenance);
  memcpy(meta.provenance, prov, sizeof prov);

  st = asim_ckpt_h5_write(out, &s, &meta);
  if (st != ASIM_OK) {
    fprintf(stderr, "asim-convert: %s\n", asim_errmsg());
    asim_state_free(&s);
    return 1;
  }
  printf("asim-convert: wrote %s: %d tensors, model '%s', classes %lld\n", out, s.n, meta.model_name[0] ? meta.model_name : "?", (long long)meta.classes);
  asim_state_free(&s);
  return 0;
}
