/* AVX-512 kernels (F, BW, VL, DQ, VPOPCNTDQ, VNNI): plane packing with vptestmw, the cycle
 * kernel (16 activation rows in the 16 dword lanes: broadcast weight word, AND, VPOPCNTD,
 * accumulate; table ADC by gather; vector Philox + alias-table noise by one 64-bit gather) and the int16 VNNI GEMM of
 * the lossless path. Lane l performs exactly the float32 operations of the portable kernel. */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

void asim_pack_avx512(asim_opnd *o, int64_t rb0, int64_t rb1) {
  const int64_t nl = o->nl, wpl = o->wpl, B = o->bits;
  __m512i bit[ASIM_MAX_BITS];
  for (int t = 0; t < B; t++) bit[t] = _mm512_set1_epi16((short)(1u << t));
  for (int64_t rb = rb0; rb < rb1; rb++)
    for (int64_t n = 0; n < nl; n++)
      for (int64_t w = 0; w < wpl; w++) {
        uint32_t *dst = o->planes + ((rb * nl + n) * B * wpl + w) * ASIM_RB;
        for (int r = 0; r < ASIM_RB; r++) {
          __m512i v = _mm512_loadu_si512(o->codes + (rb * ASIM_RB + r) * o->kp + n * o->lp + w * 32);
          for (int t = 0; t < B; t++) dst[t * wpl * ASIM_RB + r] = (uint32_t)_mm512_test_epi16_mask(v, bit[t]);
        }
      }
}

/* ---- vector Philox4x32-10: the uniform draws of 16 lanes ----------------------------------- */

typedef struct {
  __m512i c1[2], c3[2]; /* per-lane counter words 1 and 3 as two sets of 8 qword lanes */
  __m512i elem;         /* per-lane element index (o term excluded) */
} noise_lanes;

static inline void noise_lanes_init(noise_lanes *NL, const asim_lanes *L) {
  const __m512i c1 = _mm512_loadu_si512(L->c1), c3 = _mm512_loadu_si512(L->c3);
  NL->c1[0] = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(c1));
  NL->c1[1] = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(c1, 1));
  NL->c3[0] = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(c3));
  NL->c3[1] = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(c3, 1));
  NL->elem = _mm512_loadu_si512(L->elem);
}

/* Round keys k + r·W broadcast to qword lanes. */
static inline void round_keys(asim_noise_key key, __m512i rk0[10], __m512i rk1[10]) {
  for (int r = 0; r < 10; r++) {
    rk0[r] = _mm512_set1_epi64((uint32_t)(key.seed + (uint32_t)r * ASIM_PHILOX_W0));
    rk1[r] = _mm512_set1_epi64((uint32_t)(key.layer_id + (uint32_t)r * ASIM_PHILOX_W1));
  }
}

/* The blocks of NG (1 or 2) draw groups of 16 lanes at once (2·NG independent chains hide the
 * rounds' latency): counter (elem, sample low word, cidg[g], uniform stream word), as
 * asim_uniform_u32; out[4g + w] = word w of group g, i.e. the draw of plan cycle 4g + w when
 * cidg[g] = asim_draw_id(n, 4g). */
static inline __attribute__((always_inline)) void philox16_blocks(const int NG, __m512i c0, const noise_lanes *nl,
                                                                  const uint32_t *cidg, const __m512i *rk0,
                                                                  const __m512i *rk1, __m512i *out) {
  const __m512i M0 = _mm512_set1_epi64(ASIM_PHILOX_M0), M1 = _mm512_set1_epi64(ASIM_PHILOX_M1);
  const __m512i lo0 = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(c0));
  const __m512i hi0 = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(c0, 1));
  __m512i x0[4], x1[4], x2[4], x3[4];
  for (int q = 0; q < 2 * NG; q++) {
    const int h = q & 1;
    x0[q] = h ? hi0 : lo0;
    x1[q] = nl->c1[h];
    x2[q] = _mm512_set1_epi64(cidg[q >> 1]);
    x3[q] = nl->c3[h];
  }
  /* only the low dword of each qword lane matters (vpmuludq reads those); the high halves move
   * down by a dword shuffle (port 5) or a shift (port 0, like the multiplies), one of each */
#pragma GCC unroll 10
  for (int r = 0; r < 10; r++)
#pragma GCC unroll 4
    for (int q = 0; q < 2 * NG; q++) {
      __m512i p0 = _mm512_mul_epu32(x0[q], M0), p1 = _mm512_mul_epu32(x2[q], M1);
      x0[q] = _mm512_ternarylogic_epi64(_mm512_shuffle_epi32(p1, (_MM_PERM_ENUM)0xF5), x1[q], rk0[r], 0x96);
      x2[q] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), x3[q], rk1[r], 0x96);
      x1[q] = p1, x3[q] = p0;
    }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int g = 0; g < NG; g++) { /* low dwords of the lo and hi chains -> 16 dword lanes */
    out[4 * g + 0] = _mm512_permutex2var_epi32(x0[2 * g], even, x0[2 * g + 1]);
    out[4 * g + 1] = _mm512_permutex2var_epi32(x1[2 * g], even, x1[2 * g + 1]);
    out[4 * g + 2] = _mm512_permutex2var_epi32(x2[2 * g], even, x2[2 * g + 1]);
    out[4 * g + 3] = _mm512_permutex2var_epi32(x3[2 * g], even, x3[2 * g + 1]);
  }
}

#define MAX_GROUPS ((ASIM_MAX_BITS * ASIM_MAX_BITS + 3) / 4) /* draw blocks of one load */

/* The draws of the groups whose flag is set in need[] (groups g < ng), two at a time. */
static inline void philox16_groups(__m512i c0, const noise_lanes *nl, const uint32_t *cidg, const int *need, int ng,
                                   const __m512i *rk0, const __m512i *rk1, __m512i *out) {
  int list[MAX_GROUPS], k = 0;
  for (int g = 0; g < ng; g++)
    if (need[g]) list[k++] = g;
  int q = 0;
  for (; q + 1 < k; q += 2) {
    __m512i o[8];
    const uint32_t c2[2] = {cidg[list[q]], cidg[list[q + 1]]};
    philox16_blocks(2, c0, nl, c2, rk0, rk1, o);
    for (int w = 0; w < 4; w++) out[4 * list[q] + w] = o[w], out[4 * list[q + 1] + w] = o[4 + w];
  }
  if (q < k) philox16_blocks(1, c0, nl, cidg + list[q], rk0, rk1, out + 4 * list[q]);
}

/* ---- noisy ADC by alias table: one 64-bit gather per 16 lanes' worth of conversions ---------- */

/* How a vector of ADC codes becomes their values: register permutes over 1, 2 or 4 zmm of values
 * for up to 16, 32 or 64 codes (forms 1-3), else a gather (form 0). */
static inline int code_form(int ncodes) { return ncodes <= 16 ? 1 : ncodes <= 32 ? 2 : ncodes <= 64 ? 3 : 0; }

typedef struct {
  const asim_noise_table *t;
  int form;             /* code -> value: 0 gather from code_val; permutes with 1: <= 16, 2: <= 32, 3: <= 64 codes */
  __m128i lw, rw;       /* shift counts lw and 32 - lw */
  __m512i rmask;
  __m512 v0, v1, v2, v3; /* code values (form > 0) */
} ntab_lut;

static inline void ntab_lut_init(ntab_lut *T, const asim_noise_table *t) {
  T->t = t;
  T->form = code_form(t->ncodes);
  T->lw = _mm_cvtsi32_si128(t->lw);
  T->rw = _mm_cvtsi32_si128(32 - t->lw);
  T->rmask = _mm512_set1_epi32((int)((1u << (32 - t->lw)) - 1u));
  const int n = t->ncodes;
  T->v0 = _mm512_maskz_loadu_ps((__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1u), t->code_val);
  T->v1 = n > 16 ? _mm512_maskz_loadu_ps((__mmask16)(n >= 32 ? 0xffff : (1u << (n - 16)) - 1u), t->code_val + 16) : T->v0;
  T->v2 = n > 32 ? _mm512_maskz_loadu_ps((__mmask16)(n >= 48 ? 0xffff : (1u << (n - 32)) - 1u), t->code_val + 32) : T->v0;
  T->v3 = n > 48 ? _mm512_maskz_loadu_ps((__mmask16)(n >= 64 ? 0xffff : (1u << (n - 48)) - 1u), t->code_val + 48) : T->v0;
}

/* asim_noise_sample for 16 lanes (counts M, draws u). */
static inline __attribute__((always_inline)) __m512 ntab_sample(const int form, const ntab_lut *T, __m512i M,
                                                                __m512i u) {
  const __m512i idx = _mm512_or_si512(_mm512_sll_epi32(M, T->lw), _mm512_srl_epi32(u, T->rw));
  const __m512i g0 = _mm512_i32gather_epi64(_mm512_castsi512_si256(idx), T->t->ent, 8);
  const __m512i g1 = _mm512_i32gather_epi64(_mm512_extracti64x4_epi64(idx, 1), T->t->ent, 8);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i thr = _mm512_permutex2var_epi32(g0, even, g1), codes = _mm512_permutex2var_epi32(g0, odd, g1);
  const __mmask16 alias = _mm512_cmpge_epu32_mask(_mm512_and_si512(u, T->rmask), thr);
  const __m512i q = _mm512_mask_srli_epi32(_mm512_and_si512(codes, _mm512_set1_epi32(0xffff)), alias, codes, 16);
  if (form == 0) return _mm512_i32gather_ps(q, T->t->code_val, 4);
  if (form == 1) return _mm512_permutexvar_ps(q, T->v0);
  if (form == 2) return _mm512_permutex2var_ps(T->v0, q, T->v1);
  const __m512 lo = _mm512_permutex2var_ps(T->v0, q, T->v1), hi = _mm512_permutex2var_ps(T->v2, q, T->v3);
  return _mm512_mask_blend_ps(_mm512_test_epi32_mask(q, _mm512_set1_epi32(32)), lo, hi);
}

static inline __m512 ntab_sample_any(const ntab_lut *T, __m512i M, __m512i u) {
  switch (T->form) {
    case 1: return ntab_sample(1, T, M, u);
    case 2: return ntab_sample(2, T, M, u);
    case 3: return ntab_sample(3, T, M, u);
    default: return ntab_sample(0, T, M, u);
  }
}

/* ---- cycle kernel ----------------------------------------------------------------------- */

/* Counts of weight bit i against all XB activation planes for the 16 rows: cnt[t][16]. */
static inline __attribute__((always_inline)) void count_bit(const int XB, const uint32_t *wi, const uint32_t *xn,
                                                            int64_t wpl, int64_t wn, int32_t *cnt) {
  __m512i c[ASIM_MAX_BITS];
  for (int t = 0; t < XB; t++) c[t] = _mm512_setzero_si512();
  for (int64_t w = 0; w < wn; w++) {
    const __m512i bw = _mm512_set1_epi32((int)wi[w * ASIM_RB]);
    for (int t = 0; t < XB; t++) {
      __m512i x = _mm512_loadu_si512(xn + (t * wpl + w) * ASIM_RB);
      c[t] = _mm512_add_epi32(c[t], _mm512_popcnt_epi32(_mm512_and_si512(bw, x)));
    }
  }
  for (int t = 0; t < XB; t++) _mm512_store_si512(cnt + t * ASIM_RB, c[t]);
}

static void count_any(int xb, const uint32_t *wi, const uint32_t *xn, int64_t wpl, int64_t wn, int32_t *cnt) {
  switch (xb) {
#define CASE(n) case n: count_bit(n, wi, xn, wpl, wn, cnt); break;
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
    CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16)
#undef CASE
  }
}

/* Noise-free bit-serial plans with one transfer table (the common lossy case): the counts of a
 * weight bit stay in registers and feed the cycles directly — activation plane j descending,
 * ADC by table gather, ±V·2^(i+j) — the generic loop's operations in the generic loop's order. */
typedef struct {
  const float *table;
  int form;            /* 0: gather from table; code map with 1: <= 16, 2: <= 32, 3: <= 64 codes */
  __m512i mul, add;
  __m512 v0, v1, v2, v3; /* the codes' values */
} adc_lut;

static inline __attribute__((always_inline)) __m512 adc_lookup(const int form, const adc_lut *L, __m512i M) {
  if (form == 0) return _mm512_i32gather_ps(M, L->table, 4);
  const __m512i q = _mm512_srli_epi32(_mm512_add_epi32(_mm512_madd_epi16(M, L->mul), L->add), 16);
  if (form == 1) return _mm512_permutexvar_ps(q, L->v0);
  if (form == 2) return _mm512_permutex2var_ps(L->v0, q, L->v1);
  const __m512 lo = _mm512_permutex2var_ps(L->v0, q, L->v1), hi = _mm512_permutex2var_ps(L->v2, q, L->v3);
  return _mm512_mask_blend_ps(_mm512_test_epi32_mask(q, _mm512_set1_epi32(32)), lo, hi);
}

static inline __attribute__((always_inline)) void bs_bit(const int XB, const int form, const uint32_t *wi,
                                                         const uint32_t *xn, int64_t wpl, int64_t wn, const adc_lut *L,
                                                         const float *sh, int neg_top, int neg_rest, __m512 *acc) {
  __m512i c[ASIM_MAX_BITS];
  for (int t = 0; t < XB; t++) c[t] = _mm512_setzero_si512();
  for (int64_t w = 0; w < wn; w++) {
    const __m512i bw = _mm512_set1_epi32((int)wi[w * ASIM_RB]);
    for (int t = 0; t < XB; t++)
      c[t] = _mm512_add_epi32(c[t], _mm512_popcnt_epi32(_mm512_and_si512(bw, _mm512_loadu_si512(xn + (t * wpl + w) * ASIM_RB))));
  }
  for (int j = XB - 1; j >= 0; j--) {
    const __m512 term = _mm512_mul_ps(adc_lookup(form, L, c[j]), _mm512_set1_ps(sh[j]));
    *acc = (j == XB - 1 ? neg_top : neg_rest) ? _mm512_sub_ps(*acc, term) : _mm512_add_ps(*acc, term);
  }
}

static inline __attribute__((always_inline)) void bs_rows(const int XB, const int form, const asim_kargs *a,
                                                          int64_t pb, int64_t o0, int64_t o1, int64_t base, int nv) {
  const asim_macro *m = a->m;
  const asim_opnd *W = a->W, *X = a->X;
  const int wb = m->d.wbit;
  const int64_t nl = X->nl, wpl = X->wpl;
  adc_lut L;
  L.table = m->cycles[0].table;
  L.form = form;
  if (form) {
    const asim_codemap *cm = m->cycles[0].cmap;
    L.mul = _mm512_set1_epi32(cm->mul), L.add = _mm512_set1_epi32(cm->add);
    L.v0 = _mm512_loadu_ps(cm->val), L.v1 = _mm512_loadu_ps(cm->val + 16);
    L.v2 = _mm512_loadu_ps(cm->val + 32), L.v3 = _mm512_loadu_ps(cm->val + 48);
  }
  float sh[ASIM_MAX_BITS][ASIM_MAX_BITS];
  int neg_top[ASIM_MAX_BITS], neg_rest[ASIM_MAX_BITS];
  for (int c = 0; c < m->n_cycles; c++) { /* bit-serial: cycle (i, j) reads plane j */
    const asim_cycle *cy = &m->cycles[c];
    sh[cy->i][cy->j] = cy->shift;
    if (cy->j == XB - 1) neg_top[cy->i] = cy->negate;
    else neg_rest[cy->i] = cy->negate;
  }
  if (XB == 1)
    for (int i = 0; i < wb; i++) neg_rest[i] = neg_top[i];
  const uint32_t *xp = X->planes + pb * nl * XB * wpl * ASIM_RB;
  const __mmask16 vmask = (__mmask16)((1u << nv) - 1u);
  _Alignas(64) float Vs[ASIM_RB];
  for (int64_t o = o0; o < o1; o++) {
    const uint32_t *wp = W->planes + (o / ASIM_RB) * nl * wb * wpl * ASIM_RB + o % ASIM_RB;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t n = 0; n < nl; n++)
      for (int i = wb - 1; i >= 0; i--)
        bs_bit(XB, form, wp + (n * wb + i) * wpl * ASIM_RB, xp + n * XB * wpl * ASIM_RB, wpl, asim_load_words(m, n, wpl), &L, sh[i], neg_top[i],
               neg_rest[i], &acc);
    float *dst = a->out.acc + base + o * a->out.os;
    if (a->out.ps == 1) {
      _mm512_mask_storeu_ps(dst, vmask, acc);
    } else {
      _mm512_store_ps(Vs, acc);
      for (int l = 0; l < nv; l++) dst[l * a->out.ps] = Vs[l];
    }
  }
}

/* Bit-serial plans where every cycle is noisy and table-sampled (one alias table): the same
 * register-resident counts; u[XB - 1 - j] is the draw of activation cycle j (plan order). */
static inline __attribute__((always_inline)) void bsn_bit(const int XB, const int form, const uint32_t *wi,
                                                          const uint32_t *xn, int64_t wpl, int64_t wn, const ntab_lut *T,
                                                          const float *sh, int neg_top, int neg_rest,
                                                          const __m512i *u, __m512 *acc) {
  __m512i c[ASIM_MAX_BITS];
  for (int k = 0; k < XB; k++) c[k] = _mm512_setzero_si512();
  for (int64_t w = 0; w < wn; w++) {
    const __m512i bw = _mm512_set1_epi32((int)wi[w * ASIM_RB]);
    for (int k = 0; k < XB; k++)
      c[k] = _mm512_add_epi32(c[k], _mm512_popcnt_epi32(_mm512_and_si512(bw, _mm512_loadu_si512(xn + (k * wpl + w) * ASIM_RB))));
  }
  for (int j = XB - 1; j >= 0; j--) {
    const __m512 term = _mm512_mul_ps(ntab_sample(form, T, c[j], u[XB - 1 - j]), _mm512_set1_ps(sh[j]));
    *acc = (j == XB - 1 ? neg_top : neg_rest) ? _mm512_sub_ps(*acc, term) : _mm512_add_ps(*acc, term);
  }
}

static inline __attribute__((always_inline)) void bsn_rows(const int XB, const int form, const asim_kargs *a,
                                                           int64_t pb, int64_t o0, int64_t o1, int64_t base, int nv) {
  const asim_macro *m = a->m;
  const asim_opnd *W = a->W, *X = a->X;
  const int wb = m->d.wbit;
  const int64_t nl = X->nl, wpl = X->wpl;
  ntab_lut T;
  ntab_lut_init(&T, m->cycles[0].ntab);
  float sh[ASIM_MAX_BITS][ASIM_MAX_BITS];
  int neg_top[ASIM_MAX_BITS], neg_rest[ASIM_MAX_BITS];
  for (int c = 0; c < m->n_cycles; c++) {
    const asim_cycle *cy = &m->cycles[c];
    sh[cy->i][cy->j] = cy->shift;
    if (cy->j == XB - 1) neg_top[cy->i] = cy->negate;
    else neg_rest[cy->i] = cy->negate;
  }
  if (XB == 1)
    for (int i = 0; i < wb; i++) neg_rest[i] = neg_top[i];
  asim_lanes Ln;
  noise_lanes NL;
  asim_lanes_init(&Ln, a->na, pb, X->rows);
  noise_lanes_init(&NL, &Ln);
  __m512i rk0[10], rk1[10];
  round_keys(a->na->key, rk0, rk1);
  const uint32_t *xp = X->planes + pb * nl * XB * wpl * ASIM_RB;
  const __mmask16 vmask = (__mmask16)((1u << nv) - 1u);
  _Alignas(64) float Vs[ASIM_RB];
  __m512i U[4 * MAX_GROUPS];
  for (int64_t o = o0; o < o1; o++) {
    const uint32_t *wp = W->planes + (o / ASIM_RB) * nl * wb * wpl * ASIM_RB + o % ASIM_RB;
    const __m512i e = _mm512_add_epi32(NL.elem, _mm512_set1_epi32((int)(uint32_t)(o * a->na->o_stride)));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t n = 0; n < nl; n++) {
      /* the load's wb·XB draws, U[c] for plan cycle c = (wb-1-i)·XB + (XB-1-j), two blocks at a time */
      const int ng = (wb * XB + 3) / 4;
      int g = 0;
      for (; g + 1 < ng; g += 2) {
        const uint32_t cidg[2] = {asim_draw_id(n, 4 * g), asim_draw_id(n, 4 * g + 4)};
        philox16_blocks(2, e, &NL, cidg, rk0, rk1, U + 4 * g);
      }
      if (g < ng) {
        const uint32_t cidg = asim_draw_id(n, 4 * g);
        philox16_blocks(1, e, &NL, &cidg, rk0, rk1, U + 4 * g);
      }
      for (int i = wb - 1; i >= 0; i--)
        bsn_bit(XB, form, wp + (n * wb + i) * wpl * ASIM_RB, xp + n * XB * wpl * ASIM_RB, wpl,
                asim_load_words(m, n, wpl), &T, sh[i], neg_top[i], neg_rest[i], U + (wb - 1 - i) * XB, &acc);
    }
    float *dst = a->out.acc + base + o * a->out.os;
    if (a->out.ps == 1) {
      _mm512_mask_storeu_ps(dst, vmask, acc);
    } else {
      _mm512_store_ps(Vs, acc);
      for (int l = 0; l < nv; l++) dst[l * a->out.ps] = Vs[l];
    }
  }
}

static int bit_serial_noisy_plan(const asim_macro *m) {
  if (m->d.act_enc) return 0;
  for (int c = 0; c < m->n_cycles; c++)
    if (m->cycles[c].nbits != 1 || !m->cycles[c].noisy || !m->cycles[c].ntab || m->cycles[c].ntab != m->cycles[0].ntab)
      return 0;
  return 1;
}

static int bit_serial_table_plan(const asim_macro *m) {
  if (m->noisy_any || m->d.act_enc) return 0;
  for (int c = 0; c < m->n_cycles; c++)
    if (m->cycles[c].nbits != 1 || !m->cycles[c].table || m->cycles[c].table != m->cycles[0].table) return 0;
  return 1;
}

/* The row function fn specialised for activation bits n and code-value form 0..3 (code_form). */
#define FORM_CASES(fn, n)                                                                                            \
  case 4 * n: fn(n, 0, a, pb, o0, o1, base, nv); return;                                                             \
  case 4 * n + 1: fn(n, 1, a, pb, o0, o1, base, nv); return;                                                         \
  case 4 * n + 2: fn(n, 2, a, pb, o0, o1, base, nv); return;                                                         \
  case 4 * n + 3: fn(n, 3, a, pb, o0, o1, base, nv); return;
#define XB_FORM_SWITCH(fn, key)                                                                                      \
  switch (key) {                                                                                                     \
    FORM_CASES(fn, 1) FORM_CASES(fn, 2) FORM_CASES(fn, 3) FORM_CASES(fn, 4) FORM_CASES(fn, 5) FORM_CASES(fn, 6)     \
    FORM_CASES(fn, 7) FORM_CASES(fn, 8) FORM_CASES(fn, 9) FORM_CASES(fn, 10) FORM_CASES(fn, 11)                      \
    FORM_CASES(fn, 12) FORM_CASES(fn, 13) FORM_CASES(fn, 14) FORM_CASES(fn, 15) FORM_CASES(fn, 16)                   \
  }

void asim_cycles_avx512(const asim_kargs *a, int64_t pb, int64_t o0, int64_t o1) {
  const asim_macro *m = a->m;
  const int noisy_bs = bit_serial_noisy_plan(m), table_bs = !noisy_bs && bit_serial_table_plan(m);
  if (noisy_bs || table_bs) {
    int nv;
    const int64_t base = asim_out_block(&a->out, a->X->rows, pb, &nv);
    if (!nv) return;
    if (noisy_bs) {
      XB_FORM_SWITCH(bsn_rows, m->d.xbit * 4 + code_form(m->cycles[0].ntab->ncodes))
    } else {
      const asim_codemap *cm = m->cycles[0].cmap;
      XB_FORM_SWITCH(bs_rows, m->d.xbit * 4 + (cm ? code_form(cm->ncodes) : 0))
    }
  }
  const asim_opnd *W = a->W, *X = a->X;
  const int wb = m->d.wbit, xb = m->d.xbit, nc = m->n_cycles;
  const int64_t nl = X->nl, wpl = X->wpl;
  int nv;
  const int64_t base = asim_out_block(&a->out, X->rows, pb, &nv);
  if (!nv) return; /* padding rows only */
  asim_lanes L;
  noise_lanes NL;
  memset(&NL, 0, sizeof NL);
  ntab_lut T[ASIM_MAX_BITS + 1];
  int need[MAX_GROUPS] = {0}, ngrp = 0, any_tab = 0; /* draw blocks the table-sampled cycles read */
  __m512i U[4 * MAX_GROUPS];
  if (m->noisy_any) {
    asim_lanes_init(&L, a->na, pb, X->rows);
    noise_lanes_init(&NL, &L);
    for (int c = 0; c < nc; c++)
      if (m->cycles[c].noisy && m->cycles[c].ntab) {
        ntab_lut_init(&T[m->cycles[c].nbits], m->cycles[c].ntab);
        need[c >> 2] = 1, any_tab = 1;
        if ((c >> 2) + 1 > ngrp) ngrp = (c >> 2) + 1;
      }
  }
  __m512i rk0[10], rk1[10];
  round_keys(a->na->key, rk0, rk1);
  const uint32_t *xp = X->planes + pb * nl * xb * wpl * ASIM_RB;
  const __mmask16 vmask = (__mmask16)((1u << nv) - 1u);
  _Alignas(64) int32_t cnt[ASIM_MAX_BITS * ASIM_RB];
  _Alignas(64) int32_t Ms[ASIM_RB];
  _Alignas(64) float Vs[ASIM_RB];
  for (int64_t o = o0; o < o1; o++) {
    const uint32_t *wp = W->planes + (o / ASIM_RB) * nl * wb * wpl * ASIM_RB + o % ASIM_RB;
    const uint32_t eo = (uint32_t)(o * a->na->o_stride);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t n = 0; n < nl; n++) {
      const uint32_t *xn = xp + n * xb * wpl * ASIM_RB;
      if (m->noisy_any && any_tab) { /* the load's draws: U[c] for plan cycle c */
        const __m512i e = _mm512_add_epi32(NL.elem, _mm512_set1_epi32((int)eo));
        uint32_t cidg[MAX_GROUPS];
        for (int g = 0; g < ngrp; g++) cidg[g] = asim_draw_id(n, 4 * g);
        philox16_groups(e, &NL, cidg, need, ngrp, rk0, rk1, U);
      }
      int c = 0;
      for (int i = wb - 1; i >= 0; i--) {
        count_any(xb, wp + (n * wb + i) * wpl * ASIM_RB, xn, wpl, asim_load_words(m, n, wpl), cnt);
        for (; c < nc && m->cycles[c].i == i; c++) {
          const asim_cycle *cy = &m->cycles[c];
          __m512i M = _mm512_loadu_si512(cnt + cy->bit[0] * ASIM_RB);
          for (int k = 1; k < cy->nbits; k++)
            M = _mm512_add_epi32(M, _mm512_slli_epi32(_mm512_loadu_si512(cnt + cy->bit[k] * ASIM_RB), (unsigned)k));
          __m512 V;
          if (cy->noisy && cy->ntab) {
            V = ntab_sample_any(&T[cy->nbits], M, U[c]);
          } else if (!cy->noisy && cy->table) {
            V = _mm512_i32gather_ps(M, cy->table, 4);
          } else { /* formula path: one lane at a time */
            _mm512_store_si512(Ms, M);
            for (int l = 0; l < ASIM_RB; l++) Vs[l] = asim_convert_lane(a, cy, &L, l, eo, n, Ms[l]);
            V = _mm512_load_ps(Vs);
          }
          __m512 term = _mm512_mul_ps(V, _mm512_set1_ps(cy->shift));
          acc = cy->negate ? _mm512_sub_ps(acc, term) : _mm512_add_ps(acc, term);
        }
      }
    }
    float *dst = a->out.acc + base + o * a->out.os;
    if (a->out.ps == 1) {
      _mm512_mask_storeu_ps(dst, vmask, acc);
    } else {
      _mm512_store_ps(Vs, acc);
      for (int l = 0; l < nv; l++) dst[l * a->out.ps] = Vs[l];
    }
  }
}

/* ---- lossless GEMM (int16 pairs, vpdpwssd) --------------------------------------------------- */

#define LIMIT (1 << 24)

/* Rows [p0, p0 + 4) × weight row blocks ob, ob + 1 (when two). */
static void gemm_tile(const asim_gargs *g, int64_t p0, int64_t ob, int two) {
  const asim_opnd *W = g->W, *X = g->X;
  const int64_t nl = X->nl, lp = X->lp, kp = X->kp, kp2 = kp / 2;
  const __m512i lim = _mm512_set1_epi32(LIMIT);
  __m512i R[4][2];
  __mmask16 bad[4][2] = {{0}};
  for (int r = 0; r < 4; r++) R[r][0] = R[r][1] = _mm512_setzero_si512();
  const uint16_t *wg = W->wg, *w0 = wg + ob * kp2 * 32, *w1 = two ? wg + (ob + 1) * kp2 * 32 : w0;
  for (int64_t n = 0; n < nl; n++) {
    for (int r = 0; r < 4; r++) {
      int64_t E = X->ebound[(p0 + r) * nl + n];
      __m512i Ev = _mm512_set1_epi32(E > 2 * LIMIT ? 2 * LIMIT : (int)E);
      for (int h = 0; h < 2; h++)
        bad[r][h] |= _mm512_cmpgt_epi32_mask(_mm512_add_epi32(_mm512_abs_epi32(R[r][h]), Ev), lim);
    }
    __m512i d[4][2];
    for (int r = 0; r < 4; r++) d[r][0] = d[r][1] = _mm512_setzero_si512();
    const int32_t *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const int32_t *)(X->codes + (p0 + r) * kp + n * lp);
    for (int64_t q = n * lp / 2; q < (n + 1) * lp / 2; q++) {
      const __m512i wa = _mm512_loadu_si512(w0 + q * 32), wb = _mm512_loadu_si512(w1 + q * 32);
      const int64_t j = q - n * lp / 2;
      for (int r = 0; r < 4; r++) {
        const __m512i xv = _mm512_set1_epi32(x[r][j]);
        d[r][0] = _mm512_dpwssd_epi32(d[r][0], xv, wa);
        d[r][1] = _mm512_dpwssd_epi32(d[r][1], xv, wb);
      }
    }
    for (int r = 0; r < 4; r++) R[r][0] = _mm512_add_epi32(R[r][0], d[r][0]), R[r][1] = _mm512_add_epi32(R[r][1], d[r][1]);
  }
  _Alignas(64) float out[ASIM_RB];
  for (int r = 0; r < 4; r++) {
    const int64_t p = p0 + r;
    if (p >= X->rows) continue;
    int nvr;
    const int64_t base = asim_out_block(&g->out, X->rows, p / ASIM_RB, &nvr);
    if (p % ASIM_RB >= nvr) continue;
    for (int h = 0; h < 1 + two; h++) {
      const int64_t o0 = (ob + h) * ASIM_RB;
      const int64_t nv = W->rows - o0 < ASIM_RB ? W->rows - o0 : ASIM_RB;
      const __mmask16 valid = (__mmask16)((1u << nv) - 1u);
      if (bad[r][h] & valid) g->fail[p] = 1;
      const __m512 v = _mm512_cvtepi32_ps(R[r][h]);
      float *dst = g->out.acc + base + (p % ASIM_RB) * g->out.ps + o0 * g->out.os;
      if (g->out.os == 1) {
        _mm512_mask_storeu_ps(dst, valid & (__mmask16)~bad[r][h], v);
      } else {
        _mm512_store_ps(out, v);
        for (int l = 0; l < nv; l++)
          if (!((bad[r][h] >> l) & 1)) dst[l * g->out.os] = out[l];
      }
    }
  }
}

void asim_gemm_avx512(const asim_gargs *g, int64_t pb, int64_t nb, int64_t ob0, int64_t ob1) {
  for (int64_t p0 = pb * ASIM_RB; p0 < (pb + nb) * ASIM_RB; p0 += 4) {
    if (p0 >= g->X->rows) break;
    for (int64_t ob = ob0; ob < ob1; ob += 2) gemm_tile(g, p0, ob, ob + 1 < ob1);
  }
}
