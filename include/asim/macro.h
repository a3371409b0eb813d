/* macro.h — the CiM macro model: bit-plane operands, the cycle plan of one macro load
 * (bit-serial or bit-parallel, signed or unsigned activations), the ADC with its noise, and
 * the one kernel that conv, linear and attention products all run through (spec §2–3).
 *
 * Roles: the "weight-like" operand W (rows o, two's-complement planes, MSB negative) is
 * stored in the columns of the macro; the "activation-like" operand X (rows p) drives the
 * word lines. Both are K-long integer code vectors; the reduction dimension K is cut into
 * macro loads of `load_rows` rows. The result is ASiM's float32 accumulator Acc[p][o]
 * (integer units, before dequantisation), accumulated in ASiM's order: load ascending,
 * weight bit descending, activation cycle descending. */
#ifndef ASIM_MACRO_H
#define ASIM_MACRO_H

#include <stdint.h>

#include "asim/error.h"
#include "asim/noise.h"

#define ASIM_MAX_BITS 16

/* What the macro model needs to know; filled by the layer code. */
typedef struct {
  int wbit, xbit;    /* widths of the weight-like and activation-like codes */
  int x_signed;      /* activation-like operand is signed (two's complement) */
  int adc_prec;      /* ADC bits: A = 2^adc_prec - 1 steps */
  int nrow;          /* rows per macro column: the full scale of a bit-serial cycle */
  int act_enc;       /* 0: bit-serial; e > 0: e activation bits per cycle (bit-parallel) */
  int hybrid_levels; /* the h most significant cycle anti-diagonals are noise-free */
  float rand_noise_sigma, non_linear_sigma; /* % of full scale */
  int64_t K;         /* reduction length */
  int64_t load_rows; /* rows of K per macro load */
  int64_t n_loads;   /* loads simulated (ASiM's conv may drop trailing rows: n_loads·load_rows < K) */
  int noise_formula; /* 1: every noisy conversion draws two normals and applies the ADC formula
                        (slow); 0: the code is sampled from per-count tables (default, below) */
  /* ASiM's extensions (spec §11; all off when zero). They run on asim_macro_run_reference. */
  int voting;        /* majority voting: every cycle noisy (hybrid_levels unused), the bit-serial
                        cycles of the voting_levels most significant anti-diagonals converted
                        num_samp times and the most frequent code kept (ties: the smallest) */
  int voting_levels, num_samp;
  float non_linear_alpha; /* current domain: M' = M/(1 + α·M) before the ADC; the capacitive
                             non-linearity noise is not used */
  float weight_var;       /* current domain: σ_w (%) added to every weight bit-plane cell */
  int weight_bp;          /* weight bit-parallel: the signed sum over all weight bits, cycles and
                             loads converted once by a signed ADC against F */
  int wbp_requantize;     /* compat: ASiM's linear re-quantises the running sum after every cycle */
  int wbp_wrap;           /* compat: ASiM's top cycle runs over act_enc bits, bit b >= xbit reads
                             plane b - xbit */
} asim_macro_desc;

/* The noisy ADC as a discrete distribution (spec §3.1): for a count M the output code q of a
 * noisy conversion follows P(q ≤ c) = Φ(((c + ½)/A − v)/s) with v = fl(M/R) and
 * s² = (σ_r/100)² + (σ_nl/100)²/(fl(v·nrow) + 1), the sum of the two Gaussian noises. Each count's
 * distribution (probabilities rounded to multiples of 2^-32) is a Walker alias table of 2^lw
 * buckets: one 32-bit uniform u picks bucket u >> (32 − lw) and compares the remaining bits with
 * the bucket's threshold — a quarter of a Philox block and one 64-bit table read per conversion,
 * exact in distribution. */
/* A noise-free transfer table in code form, for ADCs with at most 64 codes: table[M] ==
 * val[(M·mul + add) >> 16] for every count M of the table (found and verified when the plan is
 * built), so vector kernels can replace a gather by a multiply-add and a register permute. */
typedef struct {
  int ok;
  int32_t mul, add;  /* 0 <= mul < 2^15 (a 16-bit multiply) */
  int ncodes;        /* A + 1 <= 64 */
  float val[64];
} asim_codemap;

typedef struct {
  int lw;          /* log2 buckets per count (>= 1) */
  int64_t mmax;    /* largest count */
  int ncodes;      /* A + 1 */
  uint64_t *ent;   /* [(mmax + 1) << lw] buckets: threshold (bits 0-31), own code (32-47), alias
                      code (48-63) — one 64-bit read per conversion */
  float *code_val; /* [ncodes]: ADC value of code c, fl(fl(c/A)·R) */
} asim_noise_table;

/* One ADC conversion step of a macro load. */
typedef struct {
  int i, j;                  /* weight bit, activation cycle */
  int nbits;                 /* activation planes summed in this cycle */
  int bit[ASIM_MAX_BITS];    /* plane index of in-cycle weight 2^k, k = 0..nbits-1 */
  float R;                   /* full scale: nrow or (2^e_j - 1)·nrow */
  float shift;               /* 2^(i + first activation bit) */
  int negate;                /* cycle enters the sum with a minus sign */
  int noisy;                 /* analog cycle (not protected by hybrid_levels) */
  int votes;                 /* conversions whose most frequent code is kept (majority voting) */
  const float *table;        /* noise-free transfer ADC(M) for M = 0..table_max, or NULL */
  int64_t table_max;
  const asim_noise_table *ntab; /* noisy cycles: the code distributions, or NULL (formula) */
  const asim_codemap *cmap;     /* the table in code form, or NULL */
} asim_cycle;

typedef struct {
  asim_macro_desc d;
  float A;                   /* 2^adc_prec - 1 in float32 */
  int n_cycles;
  asim_cycle *cycles;
  float *table_mem;          /* owns the transfer tables */
  int64_t wpl;               /* 64-bit words per load */
  int noisy_any;             /* some cycle draws noise (sigma > 0 and not hybrid) */
  int lossless;              /* every cycle maps M to exactly M and there is no noise */
  int ext;                   /* an extension changes the arithmetic (voted noisy cycles, current
                                domain, weight bit-parallel): only asim_macro_run_reference runs it */
  float wbp_F, wbp_L;        /* weight bit-parallel: full scale F = (2^xbit-1)(2^(wbit-1)-1)·nrow,
                                signed ADC levels 2^(adc_prec-1) - 1 */
  asim_noise_table ntabs[ASIM_MAX_BITS + 1]; /* owned; per cycle width */
  asim_codemap cmaps[ASIM_MAX_BITS + 1];
} asim_macro;

/* Builds the cycle plan; validates the parameters with clear errors. */
asim_status asim_macro_init(asim_macro *m, const asim_macro_desc *d);
void asim_macro_free(asim_macro *m);

/* The ADC operator of spec §3.1 in float32: normalise by R, clamp, optional noise (z1, z2),
 * clamp, round to A steps (ties to even), rescale by R. */
float asim_adc(float M, float R, float A, int nrow, int noisy, float sigma_r, float sigma_nl,
               float z1, float z2);

/* Current-domain ADC (spec §11.2): gain compression M' = fl(M / fl(1 + fl(α·M))) of the raw
 * (possibly non-integer) sum, normalise by R and clamp, optional random noise z1·σ_r/100 and
 * clamp, round to A steps, rescale. α = 0 and no noise is asim_adc without noise. */
float asim_adc_cd(float M, float R, float A, float alpha, int noisy, float sigma_r, float z1);

/* Weight-bit-parallel conversion (spec §11.3): v = clamp(acc/F, −1, 1), optional random noise
 * and clamp, q = rne(v·L) with L = 2^(adc_prec−1) − 1 levels, back to fl(q/L)·F. */
float asim_adc_wbp(float acc, float F, float L, int noisy, float sigma_r, float z1);

/* Current-domain cell variation of weight bit-plane cell (row o, plane i, element k): the same
 * for every sample, batch, rank and thread — a fixed chip per (seed, layer) — N(0,1)·σ_w/100. */
float asim_weight_var_draw(asim_noise_key key, int64_t o, int64_t K, int64_t k, int i, float weight_var);

/* The variation of every cell of W's planes for a plan with weight_var: eps[(o·wbit + i)·Kp + k],
 * Kp = n_loads·load_rows, rows o < rows (owned by the caller; a layer caches it). */
asim_status asim_weight_var_table(float **eps, const asim_macro *m, int64_t rows, asim_noise_key key);

/* The most frequent of n values (ties: the smallest), as torch.mode on CPU. */
float asim_vote_mode(const float *v, int n);

/* Bit planes of K-long code rows, packed per macro load: word
 * ((row·bits + t)·n_loads + n)·wpl + w holds plane t of rows n·load_rows + 64w ... */
typedef struct {
  int64_t rows;
  int bits;
  int64_t n_loads, wpl;
  uint64_t *w;
} asim_bitmat;

asim_status asim_bitmat_pack(asim_bitmat *bm, const int32_t *codes, int64_t rows,
                             const asim_macro *m, int bits);
void asim_bitmat_free(asim_bitmat *bm);

/* Where each output element's noise comes from: X row p belongs to global sample
 * sample0 + p / rows_per_sample; its element index within the sample is
 * elem0 + (p % rows_per_sample)·p_stride + o·o_stride. */
typedef struct {
  asim_noise_key key;
  int64_t sample0, rows_per_sample;
  int64_t elem0, p_stride, o_stride;
  const float *wvar; /* current domain: the cell variation of W (asim_weight_var_table), or NULL:
                        drawn per call */
} asim_noise_addr;

/* acc[p·ps + o·os] = simulated Σ_k X[p][k]·W[o][k] for all p < X->rows, o < W->rows, through
 * the fast kernels (engine.h; the operands are repacked into their layout). */
asim_status asim_macro_run(float *acc, int64_t ps, int64_t os, const asim_macro *m,
                           const asim_bitmat *W, const asim_bitmat *X, const asim_noise_addr *na);
/* The same product computed one output and one conversion at a time in plain C: the
 * specification the fast kernels are tested against. */
asim_status asim_macro_run_reference(float *acc, int64_t ps, int64_t os, const asim_macro *m,
                                     const asim_bitmat *W, const asim_bitmat *X, const asim_noise_addr *na);

/* One noisy conversion of count M with uniform u (the table path of asim_noise_table). */
static inline float asim_noise_sample(const asim_noise_table *t, int64_t M, uint32_t u) {
  const uint64_t e = t->ent[((uint64_t)M << t->lw) | (u >> (32 - t->lw))];
  const uint32_t r = u & ((1u << (32 - t->lw)) - 1u);
  return t->code_val[r < (uint32_t)e ? (e >> 32) & 0xffffu : e >> 48];
}

#endif
