/* cim.h — the settings of one ASiM layer (ASiM's constructor arguments under ASiM's names),
 * the per-call execution context, and the integer-domain product every ASiM layer shares:
 * exact in Inference mode, cycle-accurate through the macro model in Simulation mode. */
#ifndef ASIM_CIM_H
#define ASIM_CIM_H

#include <stdint.h>

#include "asim/error.h"
#include "asim/macro.h"

typedef enum { ASIM_TRAIN = 0, ASIM_INFERENCE = 1, ASIM_SIMULATION = 2 } asim_mode;

const char *asim_mode_name(asim_mode m);
asim_status asim_mode_parse(const char *s, asim_mode *m);

/* ASiMConv2d / ASiMLinear settings. None is -1 for act_enc and hybrid_levels. */
typedef struct {
  asim_mode mode;
  int wbit, xbit, adc_prec, nrow;
  float rand_noise_sigma, non_linear_sigma; /* % of full scale */
  int act_enc;                              /* -1 = None (bit-serial) */
  int signed_act;
  int hybrid_levels;                        /* -1 = None */
  float trim_noise;                         /* % (Train and Inference modes) */
  int fix_channel_drop; /* 0: ASiM's conv drops trailing channels (§3.7 quirk 1); 1: corrected */
  int fix_double_bias;  /* 0: ASiM's QuantConv2d Inference adds the bias twice (§3.6); 1: once */
  /* ASiM's extensions (spec §11), Simulation mode only; see asim_macro_desc */
  int voting_levels;      /* -1 = None: no majority voting; >= 0: voting on, replaces hybrid_levels */
  int num_samp;           /* conversions per voted cycle (ASiM's None = 1) */
  float non_linear_alpha; /* current domain: gain compression α (0 = off) */
  float weight_var;       /* current domain: cell variation σ_w in % (0 = off) */
  int weight_bp;          /* 1: weight bit-parallel (W4A4 extension), needs act_enc */
  int wbp_linear_requantize; /* compat: ASiM's linear re-quantises its running sum every cycle */
  int wbp_act_enc_wrap;      /* compat: ASiM's remainder cycle wraps to the low planes */
  int train_macro_noise;     /* asim-mpi NAT option (run.train_macro_noise): Train mode adds the
                                Gaussian equivalent of this group's Simulation-mode macro error */
  float train_macro_noise_mix; /* fraction of clean samples; the others get a random strength */
} asim_cim_params;

/* 1 when an extension changes this layer's arithmetic (it then runs on the reference kernel); votes
 * without noise do not. */
int asim_cim_ext_active(const asim_cim_params *p);

/* ASiM's defaults (module defaults: W8A8, adc 8, nrow 256, Inference). */
asim_cim_params asim_cim_defaults(void);

/* How activation scales are found: a max over the tensor of this call (ASiM: the whole
 * batch), optionally combined across ranks cooperating on one batch (exact: max is
 * order-independent). */
typedef float (*asim_max_reduce_fn)(float local_max, void *arg);

/* ADC conversions of the products of one call, for the per-layer diagnostics (diag.h). A
 * conversion clips when ASiM's clamp of the normalised value to [0, 1] changes its ADC code:
 * the unclamped value would round to a code above A (high) or below 0 (low). */
typedef struct {
  int64_t conversions, clipped_high, clipped_low;
} asim_adc_stats;

struct asim_diag_batch;

/* Per-forward-call context: where the batch sits in the dataset (noise addressing) and the
 * run seed. */
typedef struct {
  uint32_t seed;
  int64_t sample0;               /* global index of sample 0 of this call */
  asim_max_reduce_fn max_reduce; /* NULL: local max only */
  void *max_reduce_arg;
  int per_sample_scale;          /* 1: each sample quantised with its own scale (deviation) */
  int64_t batch_size;            /* samples in the whole ASiM batch when ranks share it (0: this
                                    call's); float kernels that PyTorch picks by batch size use it */
  int threads;                   /* OpenMP threads of the engine's kernels (0 or 1: one); results
                                    do not depend on it */
  asim_adc_stats *adc_stats;     /* NULL: not counted (no work); else the Simulation products of
                                    this call add their conversions (results do not change) */
  struct asim_diag_batch *diag;  /* model forward: NULL, or record every ASiM layer (diag.h) */
} asim_exec;

static inline int asim_exec_threads(const asim_exec *ex) { return ex && ex->threads > 1 ? ex->threads : 1; }

static inline float asim_exec_reduce_max(const asim_exec *ex, float m) {
  return (ex && ex->max_reduce) ? ex->max_reduce(m, ex->max_reduce_arg) : m;
}

/* Integer-domain product acc[p·ps + o·os] = Σ_k X[p][k]·W[o][k] of code matrices
 * (W: O×K, X: P×K). Inference: exact (float of the integer sum). Simulation: through
 * the macro model m with noise addressing na. */
asim_status asim_int_product(float *acc, int64_t ps, int64_t os, const int32_t *wq, int64_t O,
                             const int32_t *xq, int64_t P, int64_t K);

/* Trim noise (spec §4): y ← y + fl(fl(ξ·σ_t)·y) with σ_t = trim/100, one ξ per element;
 * element e of row r belongs to sample sample0 + r / per_sample (row = per_sample elements). */
void asim_trim_noise(float *y, int64_t n, int64_t per_sample, float trim_noise_pct,
                     asim_noise_key key, int64_t sample0);


/* Activation scale of one quantiser call: fl(max(|x| or x) + eps) over the n values,
 * the max combined through ex->max_reduce when ranks cooperate on a batch. */
float asim_act_scale(const float *x, int64_t n, int is_signed, const asim_exec *ex);

/* Checks the parameters every ASiM layer shares (bit widths, adc, nrow, sigmas, modes). */
asim_status asim_cim_params_check(const asim_cim_params *p, const char *what);

/* Variance, in integer product units (Σ q_x·q_w), of the error the Simulation-mode macro of
 * these settings adds to one output of a K-long product, in the Gaussian approximation that
 * noise-aware training with run.train_macro_noise injects: for each of the ceil(K/nrow) macro
 * loads, every cycle's ADC rounding (uniform, step R/A) plus, on noisy cycles, the ADC noise at
 * count 0, where it is largest ((σ_r² + σ_nl²)/100²·R²), each scaled by the cycle's shift². */
asim_status asim_cim_macro_noise_var(double *var, const asim_cim_params *p, int x_signed, int64_t K);

/* Macro description for an ASiM product with these settings. */
asim_macro_desc asim_cim_macro_desc(const asim_cim_params *p, int wbit, int xbit, int x_signed,
                                    int act_enc, int64_t K, int64_t load_rows, int64_t n_loads);
#endif
