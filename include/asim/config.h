/* config.h — the run configuration: every key of ASiM's config.py (same names, same
 * defaults) plus asim-mpi's own groups (run, report, data, compat), loaded from a libconfig
 * file with --set overrides, validated as a whole, and written back as libconfig text.
 *
 * The struct is plain data (no pointers): copy it by assignment. Key names in files, in
 * --set and in asim_config_set are the field names; own-group keys are "group.key"
 * ("run.seed"). Python None is written "None" (a string); omitting a key means ASiM's default
 * (main/config.py). docs/config.md lists every key with its meaning, default and range. */
#ifndef ASIM_CONFIG_H
#define ASIM_CONFIG_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "asim/cim.h"
#include "asim/dataset.h"
#include "asim/error.h"

#define ASIM_CONFIG_STR 4096       /* capacity of path and string fields, NUL included */
#define ASIM_CONFIG_MAX_MILESTONES 32
#define ASIM_CONFIG_MAX_CHANNELS 3 /* data.mean / data.std entries */
#define ASIM_NONE (-1)             /* Python None of act_enc / hybrid_levels keys */
#define ASIM_SWEEP_MAX_KEYS 8
#define ASIM_SWEEP_MAX_VALUES 32
#define ASIM_AUTO (-1)             /* "auto" of tri-state keys (report.logits) */

/* asim_mode (Train / Inference / Simulation) comes from cim.h, asim_task from dataset.h. */

typedef enum {
  ASIM_MODEL_RESNET18 = 0,
  ASIM_MODEL_RESNET34,
  ASIM_MODEL_RESNET50,
  ASIM_MODEL_RESNET101,
  ASIM_MODEL_RESNET152,
  ASIM_MODEL_VGG11,
  ASIM_MODEL_VGG13,
  ASIM_MODEL_VGG16,
  ASIM_MODEL_VGG19,
  ASIM_MODEL_VGG11_BN,
  ASIM_MODEL_VGG13_BN,
  ASIM_MODEL_VGG16_BN,
  ASIM_MODEL_VGG19_BN,
  ASIM_MODEL_VIT_B16,
  ASIM_MODEL_VIT_B32,
  ASIM_MODEL_VIT_L16,
  ASIM_MODEL_VIT_L32,
  ASIM_MODEL_VIT_H14,
  ASIM_MODEL_RESNET8, /* asim-mpi addition (docs/training.md) */
  ASIM_MODEL_COUNT
} asim_model_id;

typedef enum { ASIM_FAMILY_RESNET = 0, ASIM_FAMILY_VGG, ASIM_FAMILY_VIT } asim_model_family;

typedef enum { ASIM_LINEAR_FC = 0, ASIM_LINEAR_PROJ = 1 } asim_linear_type;

/* Own groups. */
typedef enum { ASIM_JOB_SIMULATE = 0, ASIM_JOB_TRAIN = 1 } asim_job;
typedef enum { ASIM_ACT_SCALE_BATCH = 0, ASIM_ACT_SCALE_SAMPLE = 1 } asim_act_scale_mode;
/* data.format: the dataset module's format names (dataset.h, docs/datasets.md) */
typedef enum {
  ASIM_DATA_AUTO = 0, ASIM_DATA_FOLDERS, ASIM_DATA_CSV, ASIM_DATA_CIFAR_BIN, ASIM_DATA_IDX, ASIM_DATA_HDF5
} asim_data_format;
const char *asim_config_data_format_name(asim_data_format f);
typedef enum { ASIM_ORDER_SORTED = 0, ASIM_ORDER_LISTING = 1 } asim_file_order;
/* data.augment: the training transform (asim-train, docs/training.md) */
typedef enum { ASIM_AUGMENT_ASIM = 0, ASIM_AUGMENT_CROP_FLIP = 1, ASIM_AUGMENT_NONE = 2 } asim_augment_mode;

typedef struct asim_config_s {
  /* ---- spec §10.1: task, model, sizes, device ---- */
  asim_task task;
  asim_model_id model_name;
  int input_size;  /* network input (test resize, training crop) */
  int origin_size; /* training-transform resize */
  int image_size;  /* ViT image size; always equals input_size */
  int large_model; /* derived: input_size > 100 */
  char device[64]; /* accepted and ignored (asim-mpi runs on CPUs) */
  int cls_num;
  int PACT;
  /* ---- spec §10.2: CNN (ResNet/VGG) ASiM layers ---- */
  int asim_cnn_hybrid_levels; /* ASIM_NONE or >= 0; feeds the convs and the linears */
  asim_mode asim_conv_mode;
  int asim_conv_wbit, asim_conv_xbit, asim_conv_adc_prec, asim_conv_nrow;
  double asim_conv_rand_noise_sigma, asim_conv_non_linear_sigma; /* % of full scale */
  int asim_act_enc; /* conv bit-parallel width, ASIM_NONE = bit-serial */
  int asim_signed_act;
  double asim_conv_trim_noise; /* % */
  int asim_conv_voting_levels, asim_conv_num_samp; /* majority voting (spec 11.1): ASIM_NONE = off / 1 */
  double asim_conv_non_linear_alpha, asim_conv_weight_var; /* current domain (spec 11.2); 0 = off */
  int asim_conv_weight_bp; /* weight bit-parallel (spec 11.3) */
  asim_mode asim_linear_mode;
  int asim_linear_wbit, asim_linear_xbit, asim_linear_adc_prec, asim_linear_nrow;
  double asim_linear_rand_noise_sigma, asim_linear_non_linear_sigma;
  int asim_linear_act_enc;
  int asim_linear_signed_act;
  asim_linear_type asim_linear_layer;
  double asim_linear_trim_noise;
  int asim_linear_voting_levels, asim_linear_num_samp; /* majority voting (spec 11.1): ASIM_NONE = off / 1 */
  double asim_linear_non_linear_alpha, asim_linear_weight_var; /* current domain (spec 11.2); 0 = off */
  int asim_linear_weight_bp; /* weight bit-parallel (spec 11.3) */
  asim_mode quant_conv_mode; /* Train or Inference only */
  int quant_conv_wbit, quant_conv_xbit;
  /* ---- spec §10.3: ViT ASiM layers ---- */
  int vit_quant_conv_proj;
  int asim_vit_hybrid_levels;
  int asim_vit_attn_qk_qbit, asim_vit_attn_qk_kbit, asim_vit_attn_av_abit, asim_vit_attn_av_vbit;
  int asim_vit_attn_proj_wbit, asim_vit_attn_proj_xbit;
  int asim_vit_attn_qk_adc_prec, asim_vit_attn_av_adc_prec, asim_vit_attn_proj_adc_prec;
  int asim_vit_attn_nrow;
  double asim_vit_attn_qk_rand_noise_sigma, asim_vit_attn_av_rand_noise_sigma,
      asim_vit_attn_proj_rand_noise_sigma;
  double asim_vit_attn_qk_non_linear_sigma, asim_vit_attn_av_non_linear_sigma,
      asim_vit_attn_proj_non_linear_sigma;
  int asim_vit_attn_qk_k_enc, asim_vit_attn_av_a_enc, asim_vit_attn_proj_act_enc;
  asim_mode asim_vit_attn_mode;
  double asim_vit_attn_attn_trim_noise, asim_vit_attn_proj_trim_noise;
  int asim_vit_attn_voting_levels, asim_vit_attn_num_samp; /* majority voting (spec 11.1), all parts */
  int asim_vit_mlp_wbit, asim_vit_mlp_xbit, asim_vit_mlp_adc_prec, asim_vit_mlp_nrow;
  double asim_vit_mlp_rand_noise_sigma, asim_vit_mlp_non_linear_sigma;
  int asim_vit_mlp_act_enc;
  asim_mode asim_vit_mlp_mode;
  double asim_vit_mlp_trim_noise;
  int asim_vit_mlp_voting_levels, asim_vit_mlp_num_samp; /* majority voting (spec 11.1): ASIM_NONE = off / 1 */
  double asim_vit_mlp_non_linear_alpha, asim_vit_mlp_weight_var; /* current domain (spec 11.2); 0 = off */
  int asim_vit_mlp_weight_bp; /* weight bit-parallel (spec 11.3) */
  int asim_vit_fc_wbit, asim_vit_fc_xbit, asim_vit_fc_adc_prec, asim_vit_fc_nrow;
  double asim_vit_fc_rand_noise_sigma, asim_vit_fc_non_linear_sigma;
  int asim_vit_fc_act_enc;
  asim_mode asim_vit_fc_mode;
  double asim_vit_fc_trim_noise;
  int asim_vit_fc_voting_levels, asim_vit_fc_num_samp; /* majority voting (spec 11.1): ASIM_NONE = off / 1 */
  double asim_vit_fc_non_linear_alpha, asim_vit_fc_weight_var; /* current domain (spec 11.2); 0 = off */
  int asim_vit_fc_weight_bp; /* weight bit-parallel (spec 11.3) */
  int asim_vit_quant_conv_wbit, asim_vit_quant_conv_xbit;
  asim_mode asim_vit_quant_conv_mode; /* Train or Inference only */
  /* ---- spec §10.4: paths, batches, training ---- */
  char train_dir[ASIM_CONFIG_STR], valid_dir[ASIM_CONFIG_STR], test_dir[ASIM_CONFIG_STR];
  char pretrain_model_path[ASIM_CONFIG_STR]; /* "" = None */
  int train_bs, valid_bs, test_bs;
  int train_workers, test_workers; /* accepted; asim-mpi has no loader processes */
  int max_epoch;
  double lr_init;
  int milestones[ASIM_CONFIG_MAX_MILESTONES];
  int n_milestones;
  int mixup, label_smooth;
  double momentum, weight_decay, factor;
  int log_interval;
  double mixup_alpha, label_smooth_eps;
  /* ---- asim-mpi's own groups ---- */
  struct {
    asim_job job;
    uint32_t seed;            /* noise key (spec §13.2) */
    asim_act_scale_mode act_scale; /* batch = ASiM semantics; sample = per-sample scales */
    int threads;              /* compute threads per rank */
    double pact_alpha;        /* asim-train: PACT α above this start at it (0: keep) */
    double weight_clip;       /* asim-train: ASiM layer weights clamped to ±k·std after every step (0: off) */
    int train_macro_noise;    /* asim-train: Train-mode ASiM layers add their macro's error (grad.h) */
    double train_macro_noise_mix; /* its fraction of clean samples (the rest: random strength) */
  } run;
  struct {
    char path[ASIM_CONFIG_STR];           /* HDF5 result file */
    int logits;                           /* ASIM_AUTO, 0 or 1 */
    int predictions;                      /* per-sample label/prediction datasets */
    int print_predictions;                /* ASiM's "Label: l, Predict: p." lines */
    int diagnostics;                      /* per-layer ADC clipping and error against Inference */
    char checkpoint_dir[ASIM_CONFIG_STR]; /* training checkpoints */
  } report;
  struct {
    asim_data_format format;
    int channels;    /* 0 = the task's own (3; 1 for MNIST tasks) */
    int max_samples;   /* 0 = all */
    int n_mean, n_std; /* 0 = the task's normalisation constants */
    double mean[ASIM_CONFIG_MAX_CHANNELS], std[ASIM_CONFIG_MAX_CHANNELS];
    asim_augment_mode augment; /* training transform: ASiM's (spec 7.4), crop + flip, or none */
  } data;
  /* sweep = { key = [v1, v2, ...]; ...; link = (["k1", "k2"], ...); repeats = N; }: one
   * asim-mpi run evaluates the Cartesian product of the listed values (first key slowest),
   * each point `repeats` times with seeds run.seed + r. Linked keys share one axis: they take
   * their i-th values together (conv and linear ADC bits, four noise sigmas). Values are kept
   * as libconfig text and applied per point. */
  struct {
    int n_keys;
    char key[ASIM_SWEEP_MAX_KEYS][64];
    int n_values[ASIM_SWEEP_MAX_KEYS];
    int axis[ASIM_SWEEP_MAX_KEYS]; /* keys with equal axis move together; axes in key order */
    char value[ASIM_SWEEP_MAX_KEYS][ASIM_SWEEP_MAX_VALUES][48];
    int repeats; /* 1 = no repeats */
  } sweep;
  struct {
    int conv_channel_drop;        /* spec §3.3 quirk: drop trailing conv input channels */
    int quant_conv_double_bias;   /* spec §3.6: QuantConv2d Inference adds the bias twice */
    int label_index_counts_files; /* spec §7.1: stray files in a root shift class labels */
    asim_file_order cifar100_order;
    int wbp_linear_requantize;    /* spec 11.3: ASiM's weight-bit-parallel linear re-quantises its
                                     running sum after every cycle */
    int wbp_act_enc_wrap;         /* spec 11.3: ASiM's remainder cycle reads planes b - xbit */
  } compat;
} asim_config;

/* ASiM's defaults (main/config.py, spec §10 column M) and the own groups' defaults. */
void asim_config_defaults(asim_config *cfg);

/* Defaults, then the file at `path` (NULL: none), then each "key=value" override in order;
 * then the whole configuration is validated. Every problem found is reported in one error
 * message, one line per problem, each naming file:line (or --set) and the key. On error
 * *cfg is left unchanged. */
asim_status asim_config_load(asim_config *cfg, const char *path, const char *const *overrides,
                             int n_overrides);

/* Same, from libconfig text; `origin` names the text in messages. */
asim_status asim_config_from_text(asim_config *cfg, const char *text, const char *origin);

/* The full effective configuration (every key) as libconfig text; *text is malloc'd, the
 * caller frees it. asim_config_from_text(asim_config_to_text(c)) reproduces c exactly. */
asim_status asim_config_to_text(const asim_config *cfg, char **text);

/* Rank 0 loads and validates, then broadcasts the effective text; the other ranks parse it.
 * Every rank returns the same status (the full message is on rank 0). Collective. */
asim_status asim_config_load_bcast(asim_config *cfg, const char *path,
                                   const char *const *overrides, int n_overrides, MPI_Comm comm);

/* Sets one key at run time ("asim_conv_adc_prec", "6"); the value is parsed like --set and
 * the whole configuration re-validated. On error *cfg is unchanged. */
asim_status asim_config_set(asim_config *cfg, const char *key, const char *value_text);
/* Several "key=value" assignments applied together, then validated once (for changes that
 * must go together, e.g. task and cls_num). `origin` labels messages ("sweep point 3"). */
asim_status asim_config_apply(asim_config *cfg, const char *const *assignments, int n,
                              const char *origin);
/* The value of `key` in libconfig syntax, as asim_config_to_text writes it (strings quoted,
 * None as "None"). ASIM_EINVAL for an unknown key or a too-small buffer. */
asim_status asim_config_get_text(const asim_config *cfg, const char *key, char *buf, size_t len);

/* Applies a flat JSON object of ASiM keys (the reference cases' config snapshots; null = None),
 * skipping the listed keys, validated once like asim_config_apply. */
asim_status asim_config_apply_json(asim_config *cfg, const char *json, const char *origin,
                                   const char *const *skip, int n_skip);

/* Sweep points: npoints = product of the axes' value counts (1 without a sweep); the
 * assignments "key=value" of point p go into assign[0..n) (buffers of 128 chars each);
 * asim_config_sweep_index gives the value index of key k at point p. */
int64_t asim_config_sweep_points(const asim_config *cfg);
int asim_config_sweep_index(const asim_config *cfg, int64_t p, int k);
int asim_config_sweep_point(const asim_config *cfg, int64_t p, char assign[][128]);

/* Validates a struct filled or changed in code (ranges and cross-key rules). */
asim_status asim_config_validate(const asim_config *cfg);

/* Non-fatal remarks about a valid configuration (settings without effect, deviations from
 * ASiM, quirks that will bite), one per line into buf (may be NULL). Returns their number. */
int asim_config_notes(const asim_config *cfg, char *buf, size_t len);

/* 1 when every key has the same value (floats compared bit for bit). */
int asim_config_equal(const asim_config *a, const asim_config *b);

/* The key names in file order: i = 0 .. asim_config_nkeys()-1. */
int asim_config_nkeys(void);
const char *asim_config_key(int i);

/* Names exactly as written in config files. */
const char *asim_model_id_name(asim_model_id m);
asim_model_family asim_model_family_of(asim_model_id m);
int asim_model_id_patch(asim_model_id m); /* ViT patch size, 0 for CNNs */
int asim_task_channels(asim_task t);
/* data.channels resolved: the task's own when 0. */
int asim_config_channels(const asim_config *cfg);

#endif
