/* kernels.h (internal) — the engine's operand layouts and the per-ISA kernels behind them.
 *
 * An operand is a code matrix (rows × K) cut into macro loads; each load is padded with zero
 * rows to a multiple of 32 (lp) so that a load is a whole number of 32-bit plane words and of
 * GEMM K-tiles. Rows are grouped in blocks of 16 (the lanes of the cycle kernel).
 *
 *   codes  [rpad][kp]                       int16 two's complement codes, kp = nl·lp
 *   planes [rpad/16][nl][bits][lp/32][16]   bit t of 32 consecutive codes of one row, the 16
 *                                           rows of a block side by side (one zmm)
 *   wg     [rpad/16][kp/g][16][g]           weight-like operand for the GEMM: groups of g K of 16
 *                                           rows (vpdpwssd / AMX B-tile layout): int16 or bf16
 *                                           pairs (g = 2), or int8 quadruples (g = 4)
 *   xg     [rpad][kp]                       activation-like operand for AMX A-tiles: bf16 or int8
 *   ebound [rpad][nl]                       (2^wbit − 1)·Σ_load a_k, a_k = x_k ≥ 0 ? x_k : 2^(xbit−1):
 *                                           bounds every partial sum ASiM forms inside a load */
#ifndef ASIM_CIM_KERNELS_H
#define ASIM_CIM_KERNELS_H

#include <stdint.h>

#include "asim/cim.h"
#include "asim/engine.h"
#include "asim/macro.h"

#define ASIM_RB 16

typedef struct {
  int64_t rows, rpad, cap; /* rows in use, rounded up to 16; rows allocated */
  int bits, is_signed;
  int64_t nl, lp, kp, wpl; /* loads, padded rows per load, nl·lp, 32-bit words per load */
  int16_t *codes;
  uint32_t *planes;
  void *wg;
  void *xg;
  int64_t *ebound;
  int64_t *absum;  /* activation-like, signed, optional: [rpad][nl] Σ_load |x_k| (unsigned: ebound/wmax) */
  int gemm;        /* GEMM data built: ASIM_GEMM_* */
  int32_t amax;    /* weight-like: largest |code| */
  int codes_stale; /* activation-like: the layer wrote xg only (codes rebuilt from it on demand) */
} asim_opnd;

static inline uint16_t asim_bf16_of(int32_t v) {
  /* exact for |v| <= 256: the float's low 16 bits are zero */
  float f = (float)v;
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  return (uint16_t)(u >> 16);
}

enum { ASIM_GEMM_NONE = 0, ASIM_GEMM_I16 = 1, ASIM_GEMM_BF16 = 2, ASIM_GEMM_I8 = 3 };

/* Which GEMM a plan gets on a kernel set (NONE: the cycle path). */
int asim_gemm_kind(const asim_macro *m, asim_isa isa);
/* Rows per load after padding (a multiple of 32; of 64 for int8 AMX tiles). */
int64_t asim_load_pad(const asim_macro *m, asim_isa isa);

/* Where results go: acc[base(p) + o·os], base(p) = (p / rps)·ss + (p % rps)·ps, for the rows
 * p % rps < rvalid. Samples padded to whole 16-row blocks (rps a multiple of 16) never share a
 * block; a single sample has rps = rvalid = rows. */
typedef struct {
  float *acc;
  int64_t ps, os, rps, rvalid, ss;
} asim_out;

static inline asim_out asim_out_rows(float *acc, int64_t ps, int64_t os, int64_t rows) {
  asim_out o = {acc, ps, os, rows, rows, 0};
  return o;
}

/* Offset of the first row of block pb and how many of its 16 rows are stored. */
static inline int64_t asim_out_block(const asim_out *o, int64_t rows, int64_t pb, int *nvalid) {
  const int64_t p0 = pb * 16, s = p0 / o->rps, r0 = p0 - s * o->rps;
  int64_t nv = o->rvalid - r0;
  if (nv > 16) nv = 16;
  if (p0 + nv > rows) nv = rows - p0;
  *nvalid = nv > 0 ? (int)nv : 0;
  return s * o->ss + r0 * o->ps;
}

asim_status asim_opnd_alloc(asim_opnd *o, int64_t rows, int bits, int is_signed, const asim_macro *m, asim_isa isa);
void asim_opnd_free(asim_opnd *o);
/* Uses the first `rows` (<= allocated) rows. */
void asim_opnd_set_nrows(asim_opnd *o, int64_t rows);
/* Rows of K-long int32 codes (row stride ld) into the padded layout; rows beyond the simulated
 * loads (the conv channel-drop quirk) are left out. */
void asim_opnd_set_rows(asim_opnd *o, const int32_t *codes, int64_t ld, int64_t K, int64_t load_rows);
/* The same with an explicit position for every k (kmap[k] in [0, kp), or -1: not simulated).
 * Any order of the rows inside a macro load gives the same counts and sums. */
void asim_opnd_set_rows_map(asim_opnd *o, const int32_t *codes, int64_t ld, int64_t K, const int32_t *kmap);
/* Builds what the product needs from the codes: planes, GEMM layouts, bounds. The weight-like
 * operand keeps its codes only if keep_codes. */
asim_status asim_opnd_prepare_w(asim_opnd *o, const asim_macro *m, asim_isa isa, int keep_codes);
asim_status asim_opnd_prepare_x(asim_opnd *o, const asim_macro *m, asim_isa isa);
/* Rows of K-long int32 codes straight into what the product needs (set_rows + prepare_x, but
 * on the int8/bf16 GEMM paths without the int16 codes). */
asim_status asim_opnd_fill_x(asim_opnd *o, const asim_macro *m, asim_isa isa, const int32_t *codes, int64_t ld,
                             int64_t K);
/* For layers that write the activation-like data themselves: allocates what the plan's path
 * needs (GEMM: ebound, and xbf instead of codes for bf16; cycles: planes) and returns the kind. */
asim_status asim_opnd_reserve_x(asim_opnd *o, const asim_macro *m, asim_isa isa, int *gemm);
/* Then, on the cycle path, the planes from the codes. */
void asim_opnd_pack_x(asim_opnd *o, asim_isa isa);
asim_status asim_opnd_codes_from_xg(asim_opnd *o, int64_t rb0, int64_t rb1);
size_t asim_opnd_bytes(const asim_opnd *o);

/* The simulated product of W (rows o) and X (rows p) into out. Planes missing on the lossless
 * path are built on demand from the codes when the exactness check fails (W's too, when it kept
 * its codes). */
asim_status asim_engine_run(const asim_out *out, const asim_macro *m, const asim_opnd *W, asim_opnd *X,
                            const asim_noise_addr *na, int threads, asim_isa isa, int64_t *fallback);

/* Adds the conversions of the product just run on (out, m, W, X, na) to s, and those that clip
 * (cim.h: asim_adc_stats); a separate pass that changes no result (adcstats.c). */
asim_status asim_engine_adc_stats(asim_adc_stats *s, const asim_out *out, const asim_macro *m, const asim_opnd *W,
                                  const asim_opnd *X, const asim_noise_addr *na, int threads);

/* Conv weights (O, C, k, k) in the conv layout of the loads: load n holds channels
 * [n·G, n·G + Gn), Gn = min(G, C − n·G), row (u·k + v)·Gn + g for channel n·G + g (tap-major;
 * the order of rows inside a load changes no count or sum). */
typedef struct {
  int64_t C, kk, G;
} asim_conv_layout;
static inline int64_t asim_conv_load_channels(const asim_conv_layout *l, int64_t n) {
  return l->C - n * l->G < l->G ? l->C - n * l->G : l->G;
}
/* ---- weight caches (engine.h) ---------------------------------------------------------- */

struct asim_wcache {
  const float *src;   /* key: weights pointer, count, checksum, plan, kernel set */
  int64_t n, O, K;
  uint64_t sum;
  asim_macro_desc d;
  int isa, valid;
  asim_conv_layout cl; /* conv layout (cl.kk = 0: plain rows) */
  float sw;           /* weight scale */
  asim_macro m;
  asim_opnd W;
  int64_t builds;
  int nocheck;        /* values not checksummed (the owner invalidates) */
  /* the layer's activation-side workspace, reused while its geometry key is unchanged: rows never
   * written by a call keep the zeros of the first allocation */
  asim_opnd X;
  int64_t xkey[6];
  void *img;
  int64_t *S;
  int64_t *tmp;
  /* current-domain cell variation of the layer (asim_weight_var_table): a function of the key and
   * the plan's geometry only, not of the weight values */
  float *wvar;
  int64_t wvar_geom[6];
};

/* The cached cell-variation table for plan m with `rows` weight rows under `key`. */
asim_status asim_wcache_wvar(asim_wcache *c, const asim_macro *m, int64_t rows, asim_noise_key key, const float **eps);

/* The workspace operand of a cache for this geometry key (allocated on a key change). */
asim_status asim_wcache_xspace(asim_wcache *c, const int64_t key[6], int64_t rows, int bits, int is_signed,
                               asim_isa isa, asim_opnd **X);

/* The prepared weight-like operand of a layer (O × K float weights, quantised signed to
 * d->wbit bits): from the cache when still valid, else (re)built into it. */
asim_status asim_wcache_get(asim_wcache *c, const float *w, int64_t O, int64_t K, const asim_macro_desc *d,
                            asim_isa isa, const asim_macro **m, const asim_opnd **W, float *sw);
asim_status asim_wcache_get_conv(asim_wcache *c, const float *w, int64_t O, const asim_conv_layout *cl,
                                 const asim_macro_desc *d, asim_isa isa, const asim_macro **m, const asim_opnd **W,
                                 float *sw);
void asim_wcache_clear(asim_wcache *c); /* frees the contents of a (stack) cache */

/* Profile records (engine.h); asim_prof_on() is cheap. */
int asim_prof_on(void);
double asim_prof_now(void);
void asim_prof_record(uint32_t layer_id, const char *kind, const double *t4, double macs, double conversions,
                      double fallback);

/* ---- per-ISA kernels -------------------------------------------------------------------- */

typedef struct {
  const asim_macro *m;
  const asim_opnd *W, *X;
  asim_out out;
  const asim_noise_addr *na;
} asim_kargs;

typedef struct {
  const asim_opnd *W, *X;
  asim_out out;
  uint8_t *fail; /* [X->rpad] rows with an element that failed the check */
  const uint8_t *safe; /* [X->rpad] rows whose every partial sum is bounded below 2^24 without
                          looking at the weights beyond their largest |code|: no per-load check */
} asim_gargs;

/* Planes of row blocks [rb0, rb1) from the codes. */
typedef void (*asim_pack_fn)(asim_opnd *o, int64_t rb0, int64_t rb1);
/* Outputs of row block pb (16 activation rows) and weight rows [o0, o1) on the cycle path. */
typedef void (*asim_cycles_fn)(const asim_kargs *a, int64_t pb, int64_t o0, int64_t o1);
/* Lossless GEMM of rows [16·pb, 16·pb + 16·nb) and weight row blocks [ob0, ob1) with the check. */
typedef void (*asim_gemm_fn)(const asim_gargs *g, int64_t pb, int64_t nb, int64_t ob0, int64_t ob1);

typedef struct {
  asim_pack_fn pack;
  asim_cycles_fn cycles;
  asim_gemm_fn gemm;     /* int16 operands */
  asim_gemm_fn gemm_amx; /* bf16 or int8 operands (AMX) */
} asim_kfns;

void asim_pack_scalar(asim_opnd *o, int64_t rb0, int64_t rb1);
void asim_cycles_scalar(const asim_kargs *a, int64_t pb, int64_t o0, int64_t o1);
void asim_gemm_scalar(const asim_gargs *g, int64_t pb, int64_t nb, int64_t ob0, int64_t ob1);
void asim_cycles_avx2(const asim_kargs *a, int64_t pb, int64_t o0, int64_t o1);
void asim_gemm_avx2(const asim_gargs *g, int64_t pb, int64_t nb, int64_t ob0, int64_t ob1);
void asim_pack_avx512(asim_opnd *o, int64_t rb0, int64_t rb1);
void asim_cycles_avx512(const asim_kargs *a, int64_t pb, int64_t o0, int64_t o1);
void asim_gemm_avx512(const asim_gargs *g, int64_t pb, int64_t nb, int64_t ob0, int64_t ob1);
void asim_gemm_amx(const asim_gargs *g, int64_t pb, int64_t nb, int64_t ob0, int64_t ob1);
int asim_amx_enable(void); /* asks the OS for the tile state; 1 when granted */

asim_kfns asim_kernels(asim_isa isa);

/* The 32-bit words of load n that hold rows of K (the rest are zero padding, e.g. the 3 rows of a
 * 768-long product's fourth 255-row load): the popcount loops stop there. */
static inline int64_t asim_load_words(const asim_macro *m, int64_t n, int64_t wpl) {
  int64_t rows = m->d.K - n * m->d.load_rows;
  if (rows > m->d.load_rows) rows = m->d.load_rows;
  const int64_t w = (rows + 31) / 32;
  return w < 1 ? 1 : (w < wpl ? w : wpl);
}

/* Shared helpers of the cycle kernels: the noise counters of the 16 rows of a block. */
typedef struct {
  uint32_t elem[ASIM_RB]; /* element index within the sample, without the o term */
  uint32_t c1[ASIM_RB];   /* low word of the global sample index */
  uint32_t c3[ASIM_RB];   /* asim_uniform_c3(ASIM_STREAM_ADC, sample) */
  uint64_t sample[ASIM_RB];
} asim_lanes;

static inline void asim_lanes_init(asim_lanes *l, const asim_noise_addr *na, int64_t pb, int64_t rows) {
  for (int r = 0; r < ASIM_RB; r++) {
    int64_t p = pb * ASIM_RB + r;
    if (p >= rows) p = rows - 1; /* padding rows: any valid counter (their outputs are dropped) */
    int64_t s = na->sample0 + p / na->rows_per_sample;
    int64_t e = na->elem0 + (p % na->rows_per_sample) * na->p_stride;
    l->sample[r] = (uint64_t)s;
    l->elem[r] = (uint32_t)e;
    l->c1[r] = (uint32_t)(uint64_t)s;
    l->c3[r] = asim_uniform_c3(ASIM_STREAM_ADC, (uint64_t)s);
  }
}

/* One conversion of count M in cycle cy for lane l (all paths of the ADC). */
static inline float asim_convert_lane(const asim_kargs *a, const asim_cycle *cy, const asim_lanes *L, int l, uint32_t eo,
                                     int64_t n, int64_t M) {
  const asim_macro *m = a->m;
  if (cy->noisy) {
    const uint32_t elem = L->elem[l] + eo;
    if (cy->ntab)
      return asim_noise_sample(cy->ntab, M, asim_uniform_u32(a->na->key, L->sample[l], elem,
                                                             asim_draw_id(n, (int)(cy - m->cycles)), ASIM_STREAM_ADC));
    float z1, z2;
    asim_normal2(a->na->key, L->sample[l], elem, asim_cycle_id((int)n, cy->i, cy->j), ASIM_STREAM_ADC, &z1, &z2);
    return asim_adc((float)M, cy->R, m->A, m->d.nrow, 1, m->d.rand_noise_sigma, m->d.non_linear_sigma, z1, z2);
  }
  if (cy->table) return cy->table[M];
  return asim_adc((float)M, cy->R, m->A, m->d.nrow, 0, 0.0f, 0.0f, 0.0f, 0.0f);
}

#if defined(__AVX512F__)
#include <immintrin.h>
/* 16x16 transpose of 32-bit lanes */
static inline void asim_transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 2; j++) { /* columns 2j, 2j+1 of rows 4i..4i+3 in each 128-bit lane */
      __m512d a = _mm512_castps_pd(t[4 * i + j]), b = _mm512_castps_pd(t[4 * i + j + 2]);
      r[4 * i + 2 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
      r[4 * i + 2 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    }
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++) {
      t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0x88);
      t[8 * i + j + 4] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0xdd);
    }
  for (int j = 0; j < 8; j++) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
  }
}

#endif

#define ASIM_PHILOX_M0 0xD2511F53u
#define ASIM_PHILOX_M1 0xCD9E8D57u
#define ASIM_PHILOX_W0 0x9E3779B9u
#define ASIM_PHILOX_W1 0xBB67AE85u

#endif
