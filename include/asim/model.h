/* model.h — ASiM's 18 networks (ResNet-18/34/50/101/152, VGG11/13/16/19 with and without BN,
 * ViT-B/16, B/32, L/16, L/32, H/14) on the engine (spec §5–6), plus asim-mpi's small
 * ResNet-8 (docs/training.md): construction, the exact
 * state_dict key layout, checkpoint checking, random initialisation, forward pass and the
 * model description. Weights live in one asim_state under PyTorch's key names. */
#ifndef ASIM_MODEL_H
#define ASIM_MODEL_H

#include <stdio.h>

#include "asim/attention.h"
#include "asim/cim.h"
#include "asim/tensor.h"

typedef enum { ASIM_ARCH_RESNET, ASIM_ARCH_VGG, ASIM_ARCH_VIT } asim_arch;

/* What the configuration says about each layer group (spec §5.3, §10). */
typedef struct {
  asim_cim_params conv;       /* ResNet/VGG ASiMConv2d: asim_conv_*, asim_act_enc, asim_signed_act, asim_cnn_hybrid_levels */
  asim_cim_params linear;     /* ResNet/VGG ASiMLinear: asim_linear_* (+ asim_cnn_hybrid_levels) */
  int linear_proj;            /* asim_linear_layer = 'proj' (same arithmetic per row; kept for the description) */
  asim_cim_params quant_conv; /* QuantConv2d stems: quant_conv_mode / _wbit / _xbit */
  asim_mha_dims attn;         /* ViT attention: asim_vit_attn_* (+ asim_vit_hybrid_levels) */
  asim_cim_params vit_mlp;    /* asim_vit_mlp_* (signed, proj) */
  asim_cim_params vit_fc;     /* asim_vit_fc_* (signed, fc) */
  asim_cim_params vit_quant_conv;
  int vit_quant_conv_proj;    /* patch embedding as QuantConv2d instead of a float conv */
  int pact;                   /* PACT instead of ReLU in ResNet/VGG */
} asim_model_settings;

struct asim_config_s;
/* The settings of every layer group from a validated run configuration (config.h). */
void asim_model_settings_from_config(const struct asim_config_s *cfg, asim_model_settings *s);

/* ASiM's config.py defaults for every group (S1 example values: W8A8, adc 8, nrow 255,
 * Simulation for CNN layers, Train for ViT parts, QuantConv2d in Train mode, PACT on). */
asim_model_settings asim_model_settings_default(void);

typedef struct {
  char name[64];
  asim_arch arch;
  int classes, in_ch, image_size, large; /* large = image_size > 100 (ASiM's large_model) */
  asim_model_settings s;
  asim_state params; /* owned; state_dict names */
  /* ResNet */
  int bottleneck, blocks[4];
  int width;     /* planes of the first stage (0 = 64, ASiM's); stages double it */
  int stem_pool; /* small-input stem followed by a 2x2/2 max-pool (ResNet-8, an asim-mpi addition) */
  /* VGG: entries are output channels, 0 = max-pool */
  int vgg_bn, vgg_n, vgg_cfg[24];
  /* ViT */
  int patch, layers, heads, hidden, mlp_dim;
  /* the network as a list of operations (built by asim_model_init) */
  struct asim_op *ops;
  int n_ops, cap_ops, n_asim_layers;
  /* engine weight caches, two per operation (attention: qkv, proj), created by the forward pass */
  struct asim_wcache **caches;
} asim_model;

/* Architecture by ASiM model name ("ResNet-18", "VGG16-BN", "ViT-B-32", ...). vit_layers > 0
 * keeps only that many encoder blocks (reduced-depth ViTs for tests); 0 = the standard depth. */
asim_status asim_model_init(asim_model *m, const char *name, int classes, int in_ch, int image_size,
                            const asim_model_settings *s, int vit_layers);
void asim_model_free(asim_model *m);

/* Calls fn for every expected state_dict entry in ASiM's order. */
typedef void (*asim_key_fn)(void *arg, const char *name, int ndim, const int64_t *shape);
void asim_model_keys(const asim_model *m, asim_key_fn fn, void *arg);

/* Adopts a checkpoint's state dict (moved into the model): every expected key must be present
 * with its exact shape (the first mismatch is named); unexpected keys are errors unless
 * allow_unexpected. float16/bfloat16/float64 tensors are converted to float32. */
asim_status asim_model_load_state(asim_model *m, asim_state *st, int allow_unexpected);
/* Fresh weights as ASiM initialises them (kaiming-normal fan_out convs, BN 1/0, PyTorch
 * default linears, ViT pos-embedding N(0, 0.02²)), deterministic in seed. */
asim_status asim_model_init_random(asim_model *m, uint64_t seed);

/* Optional per-stage recording: called with each named stage output (whole batch). */
typedef void (*asim_trace_fn)(void *arg, const char *name, const float *x, int B, int ndim,
                              const int64_t *shape_per_sample);

/* The layers of the per-layer diagnostics (diag.h) in network order: every ASiMConv2d,
 * ASiMLinear and ASiMMultiheadAttention (not the QuantConv2d stems: no Simulation mode). Returns
 * their number; names (may be NULL) receive their state_dict prefixes. */
int asim_model_diag_layers(const asim_model *m, char (*names)[96]);

/* logits (B, classes) = model(x (B, in_ch, S, S)); with ex->diag every diagnostics layer is also
 * recorded there (its output against its ideal output; the logits are the same). */
asim_status asim_model_forward(asim_model *m, float *logits, const float *x, int B, const asim_exec *ex,
                               asim_trace_fn trace, void *trace_arg);

/* Infers architecture, depth, widths, classes and image size from a state dict (for cases
 * and checkpoints of unknown origin); name_hint (may be NULL) settles what tensors cannot
 * (ViT heads, ViT vs torchvision names). */
asim_status asim_model_infer(asim_model *m, const asim_state *st, const char *name_hint, int large_hint,
                             const asim_model_settings *s);

/* Layer list, parameters, MACs, and per ASiM layer the macro loads and ADC cycles per image. */
void asim_model_describe(const asim_model *m, FILE *out);

#endif
