/* AVX-512 kernels (F, BW, VL, DQ, VPOPCNTDQ, VNNI): plane packing with vptestmw, the cycle
 * kernel (16 activation rows in the 16 dword lanes: broadcast weight word, AND, VPOPCNTD,
 * accumulate; table ADC by gather; vector Philox + alias-table noise) and the int16 VNNI GEMM of
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

/* ---- vector Philox4x32-10: word 0 of 16 blocks ---------------------------------------------- */

typedef struct {
  __m512i c1[2], c3[2]; /* per-lane counter words 1 and 3 as two sets of 8 qword lanes */
  __m512i elem;         /* per-lane element index (o term excluded) */
} noise_lanes;

/* Rounds 1-9 in full, round 10 only for output word 0 (the one the sampler uses); rk0/rk1 are
 * the round keys k + r·W broadcast to qword lanes. */
static inline __m512i philox16(__m512i c0, const noise_lanes *nl, uint32_t c2, const __m512i *rk0,
                               const __m512i *rk1) {
  const __m512i M0 = _mm512_set1_epi64(ASIM_PHILOX_M0), M1 = _mm512_set1_epi64(ASIM_PHILOX_M1);
  /* 8 blocks per register in qword lanes; only the low dwords matter (vpmuludq reads those) */
  __m512i a0 = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(c0));
  __m512i b0 = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(c0, 1));
  __m512i a1 = nl->c1[0], b1 = nl->c1[1], a3 = nl->c3[0], b3 = nl->c3[1];
  __m512i a2 = _mm512_set1_epi64(c2), b2 = a2;
  /* the high halves move down by a shift (port 0, like the multiplies) or a dword shuffle
   * (port 5), one of each per product pair to keep the two vector ports equally busy */
#define HI_SHIFT(v) _mm512_srli_epi64((v), 32)
#define HI_SHUF(v) _mm512_shuffle_epi32((v), (_MM_PERM_ENUM)0xF5)
  for (int r = 0; r < 9; r++) {
    __m512i pa0 = _mm512_mul_epu32(a0, M0), pa1 = _mm512_mul_epu32(a2, M1);
    __m512i pb0 = _mm512_mul_epu32(b0, M0), pb1 = _mm512_mul_epu32(b2, M1);
    a0 = _mm512_ternarylogic_epi64(HI_SHUF(pa1), a1, rk0[r], 0x96);
    a2 = _mm512_ternarylogic_epi64(HI_SHIFT(pa0), a3, rk1[r], 0x96);
    a1 = pa1, a3 = pa0;
    b0 = _mm512_ternarylogic_epi64(HI_SHUF(pb1), b1, rk0[r], 0x96);
    b2 = _mm512_ternarylogic_epi64(HI_SHIFT(pb0), b3, rk1[r], 0x96);
    b1 = pb1, b3 = pb0;
  }
#undef HI_SHIFT
#undef HI_SHUF
  a0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(_mm512_mul_epu32(a2, M1), 32), a1, rk0[9], 0x96);
  b0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(_mm512_mul_epu32(b2, M1), 32), b1, rk0[9], 0x96);
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(a0)), _mm512_cvtepi64_epi32(b0), 1);
}

/* Word 0 for 16 lanes of up to 4 cycles at once (8 independent chains: the rounds' latency is
 * hidden); the same operations as philox16. */
static inline void philox16x4(__m512i c0, const noise_lanes *nl, const uint32_t *cid, int n, const __m512i *rk0,
                              const __m512i *rk1, __m512i *out) {
  const __m512i M0 = _mm512_set1_epi64(ASIM_PHILOX_M0), M1 = _mm512_set1_epi64(ASIM_PHILOX_M1);
  const __m512i lo0 = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(c0));
  const __m512i hi0 = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(c0, 1));
  __m512i x0[8], x1[8], x2[8], x3[8];
  for (int q = 0; q < 8; q++) {
    const int h = q & 1, c = q >> 1 < n ? q >> 1 : n - 1;
    x0[q] = h ? hi0 : lo0;
    x1[q] = nl->c1[h];
    x2[q] = _mm512_set1_epi64(cid[c]);
    x3[q] = nl->c3[h];
  }
  for (int r = 0; r < 9; r++)
    for (int q = 0; q < 8; q++) {
      __m512i p0 = _mm512_mul_epu32(x0[q], M0), p1 = _mm512_mul_epu32(x2[q], M1);
      x0[q] = _mm512_ternarylogic_epi64(_mm512_shuffle_epi32(p1, (_MM_PERM_ENUM)0xF5), x1[q], rk0[r], 0x96);
      x2[q] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), x3[q], rk1[r], 0x96);
      x1[q] = p1, x3[q] = p0;
    }
  for (int c = 0; c < n; c++) {
    __m512i a = _mm512_ternarylogic_epi64(_mm512_srli_epi64(_mm512_mul_epu32(x2[2 * c], M1), 32), x1[2 * c], rk0[9], 0x96);
    __m512i b = _mm512_ternarylogic_epi64(_mm512_srli_epi64(_mm512_mul_epu32(x2[2 * c + 1], M1), 32), x1[2 * c + 1],
                                          rk0[9], 0x96);
    out[c] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(a)), _mm512_cvtepi64_epi32(b), 1);
  }
}

/* ---- cycle kernel ----------------------------------------------------------------------- */

/* Counts of weight bit i against all XB activation planes for the 16 rows: cnt[t][16]. */
static inline __attribute__((always_inline)) void count_bit(const int XB, const uint32_t *wi, const uint32_t *xn,
                                                            int64_t wpl, int32_t *cnt) {
  __m512i c[ASIM_MAX_BITS];
  for (int t = 0; t < XB; t++) c[t] = _mm512_setzero_si512();
  for (int64_t w = 0; w < wpl; w++) {
    const __m512i bw = _mm512_set1_epi32((int)wi[w * ASIM_RB]);
    for (int t = 0; t < XB; t++) {
      __m512i x = _mm512_loadu_si512(xn + (t * wpl + w) * ASIM_RB);
      c[t] = _mm512_add_epi32(c[t], _mm512_popcnt_epi32(_mm512_and_si512(bw, x)));
    }
  }
  for (int t = 0; t < XB; t++) _mm512_store_si512(cnt + t * ASIM_RB, c[t]);
}

static void count_any(int xb, const uint32_t *wi, const uint32_t *xn, int64_t wpl, int32_t *cnt) {
  switch (xb) {
#define CASE(n) case n: count_bit(n, wi, xn, wpl, cnt); break;
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
                                                         const uint32_t *xn, int64_t wpl, const adc_lut *L,
                                                         const float *sh, int neg_top, int neg_rest, __m512 *acc) {
  __m512i c[ASIM_MAX_BITS];
  for (int t = 0; t < XB; t++) c[t] = _mm512_setzero_si512();
  for (int64_t w = 0; w < wpl; w++) {
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
        bs_bit(XB, form, wp + (n * wb + i) * wpl * ASIM_RB, xp + n * XB * wpl * ASIM_RB, wpl, &L, sh[i], neg_top[i],
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
 * register-resident counts; the draws of a weight bit's XB cycles 4 at a time. */
static inline __attribute__((always_inline)) void bsn_bit(const int XB, const uint32_t *wi, const uint32_t *xn,
                                                          int64_t wpl, const asim_noise_table *t, const float *sh,
                                                          int neg_top, int neg_rest, const uint32_t *cid,
                                                          __m512i e, const noise_lanes *NL, const __m512i *rk0,
                                                          const __m512i *rk1, __m512 *acc) {
  __m512i c[ASIM_MAX_BITS], u[ASIM_MAX_BITS];
  for (int k = 0; k < XB; k++) c[k] = _mm512_setzero_si512();
  for (int64_t w = 0; w < wpl; w++) {
    const __m512i bw = _mm512_set1_epi32((int)wi[w * ASIM_RB]);
    for (int k = 0; k < XB; k++)
      c[k] = _mm512_add_epi32(c[k], _mm512_popcnt_epi32(_mm512_and_si512(bw, _mm512_loadu_si512(xn + (k * wpl + w) * ASIM_RB))));
  }
  for (int q = 0; q < XB; q += 4) philox16x4(e, NL, cid + q, XB - q < 4 ? XB - q : 4, rk0, rk1, u + q);
  const __m512i rmask = _mm512_set1_epi32((int)((1u << (32 - t->lw)) - 1u)), one = _mm512_set1_epi32(1);
  for (int j = XB - 1; j >= 0; j--) { /* cid[] holds the cycles in plan order: j descending */
    const __m512i uj = u[XB - 1 - j];
    const __m512i idx = _mm512_or_si512(_mm512_slli_epi32(c[j], (unsigned)t->lw), _mm512_srli_epi32(uj, (unsigned)(32 - t->lw)));
    const __mmask16 alias = _mm512_cmpge_epu32_mask(_mm512_and_si512(uj, rmask), _mm512_i32gather_epi32(idx, t->thr, 4));
    __m512i idx2 = _mm512_slli_epi32(idx, 1);
    idx2 = _mm512_mask_add_epi32(idx2, alias, idx2, one);
    const __m512 term = _mm512_mul_ps(_mm512_i32gather_ps(idx2, t->val, 4), _mm512_set1_ps(sh[j]));
    *acc = (j == XB - 1 ? neg_top : neg_rest) ? _mm512_sub_ps(*acc, term) : _mm512_add_ps(*acc, term);
  }
}

static inline __attribute__((always_inline)) void bsn_rows(const int XB, const asim_kargs *a, int64_t pb, int64_t o0,
                                                           int64_t o1, int64_t base, int nv) {
  const asim_macro *m = a->m;
  const asim_opnd *W = a->W, *X = a->X;
  const int wb = m->d.wbit;
  const int64_t nl = X->nl, wpl = X->wpl;
  const asim_noise_table *t = m->cycles[0].ntab;
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
  const __m512i c1 = _mm512_loadu_si512(Ln.c1), c3 = _mm512_loadu_si512(Ln.c3), elem = _mm512_loadu_si512(Ln.elem);
  NL.c1[0] = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(c1));
  NL.c1[1] = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(c1, 1));
  NL.c3[0] = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(c3));
  NL.c3[1] = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(c3, 1));
  NL.elem = elem;
  __m512i rk0[10], rk1[10];
  for (int r = 0; r < 10; r++) {
    rk0[r] = _mm512_set1_epi64((uint32_t)(a->na->key.seed + (uint32_t)r * ASIM_PHILOX_W0));
    rk1[r] = _mm512_set1_epi64((uint32_t)(a->na->key.layer_id + (uint32_t)r * ASIM_PHILOX_W1));
  }
  const uint32_t *xp = X->planes + pb * nl * XB * wpl * ASIM_RB;
  const __mmask16 vmask = (__mmask16)((1u << nv) - 1u);
  _Alignas(64) float Vs[ASIM_RB];
  for (int64_t o = o0; o < o1; o++) {
    const uint32_t *wp = W->planes + (o / ASIM_RB) * nl * wb * wpl * ASIM_RB + o % ASIM_RB;
    const __m512i e = _mm512_add_epi32(elem, _mm512_set1_epi32((int)(uint32_t)(o * a->na->o_stride)));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t n = 0; n < nl; n++)
      for (int i = wb - 1; i >= 0; i--) {
        uint32_t cid[ASIM_MAX_BITS];
        for (int j = XB - 1; j >= 0; j--) cid[XB - 1 - j] = asim_cycle_id((int)n, i, j);
        bsn_bit(XB, wp + (n * wb + i) * wpl * ASIM_RB, xp + n * XB * wpl * ASIM_RB, wpl, t, sh[i], neg_top[i],
                neg_rest[i], cid, e, &NL, rk0, rk1, &acc);
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

void asim_cycles_avx512(const asim_kargs *a, int64_t pb, int64_t o0, int64_t o1) {
  const asim_macro *m = a->m;
  if (bit_serial_noisy_plan(m)) {
    int nv;
    const int64_t base = asim_out_block(&a->out, a->X->rows, pb, &nv);
    if (!nv) return;
    switch (m->d.xbit) {
#define CASE(n) case n: bsn_rows(n, a, pb, o0, o1, base, nv); return;
      CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
      CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16)
#undef CASE
    }
  }
  if (bit_serial_table_plan(m)) {
    int nv;
    const int64_t base = asim_out_block(&a->out, a->X->rows, pb, &nv);
    if (!nv) return;
    const asim_codemap *cm = m->cycles[0].cmap;
    const int form = !cm ? 0 : cm->ncodes <= 16 ? 1 : cm->ncodes <= 32 ? 2 : 3;
    switch (m->d.xbit * 4 + form) {
#define CASE(n)                                                                                                      \
  case 4 * n: bs_rows(n, 0, a, pb, o0, o1, base, nv); return;                                                        \
  case 4 * n + 1: bs_rows(n, 1, a, pb, o0, o1, base, nv); return;                                                    \
  case 4 * n + 2: bs_rows(n, 2, a, pb, o0, o1, base, nv); return;                                                    \
  case 4 * n + 3: bs_rows(n, 3, a, pb, o0, o1, base, nv); return;
      CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
      CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16)
#undef CASE
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
  if (m->noisy_any) {
    asim_lanes_init(&L, a->na, pb, X->rows);
    __m512i c1 = _mm512_loadu_si512(L.c1), c3 = _mm512_loadu_si512(L.c3);
    NL.c1[0] = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(c1));
    NL.c1[1] = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(c1, 1));
    NL.c3[0] = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(c3));
    NL.c3[1] = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(c3, 1));
    NL.elem = _mm512_loadu_si512(L.elem);
  }
  const uint32_t k0 = a->na->key.seed, k1 = a->na->key.layer_id;
  __m512i rk0[10], rk1[10];
  for (int r = 0; r < 10; r++) {
    rk0[r] = _mm512_set1_epi64((uint32_t)(k0 + (uint32_t)r * ASIM_PHILOX_W0));
    rk1[r] = _mm512_set1_epi64((uint32_t)(k1 + (uint32_t)r * ASIM_PHILOX_W1));
  }
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
      int c = 0;
      for (int i = wb - 1; i >= 0; i--) {
        count_any(xb, wp + (n * wb + i) * wpl * ASIM_RB, xn, wpl, cnt);
        /* the draws of this weight bit's table-sampled noisy cycles, 4 cycles at a time */
        __m512i us[ASIM_MAX_BITS];
        if (m->noisy_any) {
          uint32_t cids[ASIM_MAX_BITS];
          int nu = 0;
          for (int c2 = c; c2 < nc && m->cycles[c2].i == i; c2++)
            if (m->cycles[c2].noisy && m->cycles[c2].ntab)
              cids[nu++] = asim_cycle_id((int)n, m->cycles[c2].i, m->cycles[c2].j);
          const __m512i e = _mm512_add_epi32(NL.elem, _mm512_set1_epi32((int)eo));
          for (int q = 0; q < nu; q += 4) philox16x4(e, &NL, cids + q, nu - q < 4 ? nu - q : 4, rk0, rk1, us + q);
        }
        int iu = 0;
        for (; c < nc && m->cycles[c].i == i; c++) {
          const asim_cycle *cy = &m->cycles[c];
          __m512i M = _mm512_loadu_si512(cnt + cy->bit[0] * ASIM_RB);
          for (int k = 1; k < cy->nbits; k++)
            M = _mm512_add_epi32(M, _mm512_slli_epi32(_mm512_loadu_si512(cnt + cy->bit[k] * ASIM_RB), (unsigned)k));
          __m512 V;
          if (cy->noisy && cy->ntab) {
            const asim_noise_table *t = cy->ntab;
            const __m512i u = us[iu++];
            __m512i idx = _mm512_or_si512(_mm512_slli_epi32(M, (unsigned)t->lw), _mm512_srli_epi32(u, (unsigned)(32 - t->lw)));
            __m512i r = _mm512_and_si512(u, _mm512_set1_epi32((int)((1u << (32 - t->lw)) - 1u)));
            __m512i thr = _mm512_i32gather_epi32(idx, t->thr, 4);
            __mmask16 alias = _mm512_cmpge_epu32_mask(r, thr);
            __m512i idx2 = _mm512_slli_epi32(idx, 1);
            idx2 = _mm512_mask_add_epi32(idx2, alias, idx2, _mm512_set1_epi32(1));
            V = _mm512_i32gather_ps(idx2, t->val, 4);
          } else if (!cy->noisy && cy->table) {
            V = _mm512_i32gather_ps(M, cy->table, 4);
          } else { /* formula path: one lane at a time */
            const uint32_t cid = asim_cycle_id((int)n, cy->i, cy->j);
            _mm512_store_si512(Ms, M);
            for (int l = 0; l < ASIM_RB; l++) Vs[l] = asim_convert_lane(a, cy, &L, l, eo, cid, Ms[l]);
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
