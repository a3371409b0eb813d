/* AVX2 kernels: the 16 rows of a block in two ymm halves; popcount by nibble lookup (vpshufb)
 * accumulated in bytes and widened once per weight bit; table ADC by gather; Philox in 4 qword
 * lanes; the lossless GEMM with vpmaddwd. Same per-lane float32 operations as the portable C. */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

static inline __m256i popcnt8(__m256i v) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                       2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  __m256i lo = _mm256_and_si256(v, low), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

/* byte counts -> dword counts (sum of the 4 bytes of each dword) */
static inline __m256i widen(__m256i c8) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(c8, _mm256_set1_epi8(1)), _mm256_set1_epi16(1));
}

static void count_bit(int xb, const uint32_t *wi, const uint32_t *xn, int64_t wpl, int32_t *cnt) {
  for (int t = 0; t < xb; t++) {
    __m256i c[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    __m256i c8[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    int pending = 0;
    for (int64_t w = 0; w < wpl; w++) {
      const __m256i bw = _mm256_set1_epi32((int)wi[w * ASIM_RB]);
      const uint32_t *x = xn + (t * wpl + w) * ASIM_RB;
      for (int h = 0; h < 2; h++)
        c8[h] = _mm256_add_epi8(c8[h], popcnt8(_mm256_and_si256(bw, _mm256_loadu_si256((const __m256i *)(x + 8 * h)))));
      if (++pending == 31) { /* bytes hold at most 31 words of 8 bits */
        for (int h = 0; h < 2; h++) c[h] = _mm256_add_epi32(c[h], widen(c8[h])), c8[h] = _mm256_setzero_si256();
        pending = 0;
      }
    }
    for (int h = 0; h < 2; h++) {
      c[h] = _mm256_add_epi32(c[h], widen(c8[h]));
      _mm256_storeu_si256((__m256i *)(cnt + t * ASIM_RB + 8 * h), c[h]);
    }
  }
}

/* Word w of Philox4x32-10 for 4 blocks (qword lanes). */
static inline __m256i philox4(__m256i a0, __m256i a1, __m256i a2, __m256i a3, uint32_t k0, uint32_t k1, int w) {
  const __m256i M0 = _mm256_set1_epi64x(ASIM_PHILOX_M0), M1 = _mm256_set1_epi64x(ASIM_PHILOX_M1);
  const __m256i lo = _mm256_set1_epi64x(0xffffffffLL);
  for (int r = 0; r < 10; r++) {
    const __m256i K0 = _mm256_set1_epi64x((uint32_t)(k0 + (uint32_t)r * ASIM_PHILOX_W0));
    const __m256i K1 = _mm256_set1_epi64x((uint32_t)(k1 + (uint32_t)r * ASIM_PHILOX_W1));
    __m256i p0 = _mm256_mul_epu32(a0, M0), p1 = _mm256_mul_epu32(a2, M1);
    a0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), a1), K0);
    a2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), a3), K1);
    a1 = p1, a3 = p0;
  }
  const __m256i r = w == 0 ? a0 : w == 1 ? a1 : w == 2 ? a2 : a3;
  return _mm256_and_si256(r, lo);
}

/* asim_noise_sample for 8 lanes: one 64-bit bucket read per lane, then the code's value. */
static inline __m256 ntab_sample8(const asim_noise_table *t, __m256i M, __m256i u) {
  const __m256i idx = _mm256_or_si256(_mm256_slli_epi32(M, t->lw), _mm256_srli_epi32(u, 32 - t->lw));
  const __m256i r = _mm256_and_si256(u, _mm256_set1_epi32((int)((1u << (32 - t->lw)) - 1u)));
  const long long *ent = (const long long *)t->ent;
  const __m256i g0 = _mm256_i32gather_epi64(ent, _mm256_castsi256_si128(idx), 8);
  const __m256i g1 = _mm256_i32gather_epi64(ent, _mm256_extracti128_si256(idx, 1), 8);
  const __m256i ev = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const __m256i p0 = _mm256_permutevar8x32_epi32(g0, ev), p1 = _mm256_permutevar8x32_epi32(g1, ev);
  const __m256i thr = _mm256_permute2x128_si256(p0, p1, 0x20), codes = _mm256_permute2x128_si256(p0, p1, 0x31);
  /* r >= thr (unsigned): max(r, thr) == r */
  const __m256i alias = _mm256_cmpeq_epi32(_mm256_max_epu32(r, thr), r);
  const __m256i q = _mm256_blendv_epi8(_mm256_and_si256(codes, _mm256_set1_epi32(0xffff)), _mm256_srli_epi32(codes, 16),
                                       alias);
  return _mm256_i32gather_ps(t->code_val, q, 4);
}

void asim_cycles_avx2(const asim_kargs *a, int64_t pb, int64_t o0, int64_t o1) {
  const asim_macro *m = a->m;
  const asim_opnd *W = a->W, *X = a->X;
  const int wb = m->d.wbit, xb = m->d.xbit, nc = m->n_cycles;
  const int64_t nl = X->nl, wpl = X->wpl;
  int nv;
  const int64_t base = asim_out_block(&a->out, X->rows, pb, &nv);
  if (!nv) return;
  asim_lanes L;
  __m256i c1[4], c3[4];
  if (m->noisy_any) {
    asim_lanes_init(&L, a->na, pb, X->rows);
    for (int q = 0; q < 4; q++) {
      c1[q] = _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(L.c1 + 4 * q)));
      c3[q] = _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(L.c3 + 4 * q)));
    }
  }
  const uint32_t k0 = a->na->key.seed, k1 = a->na->key.layer_id;
  const uint32_t *xp = X->planes + pb * nl * xb * wpl * ASIM_RB;
  int32_t cnt[ASIM_MAX_BITS * ASIM_RB];
  int32_t Ms[ASIM_RB];
  float Vs[ASIM_RB];
  for (int64_t o = o0; o < o1; o++) {
    const uint32_t *wp = W->planes + (o / ASIM_RB) * nl * wb * wpl * ASIM_RB + o % ASIM_RB;
    const uint32_t eo = (uint32_t)(o * a->na->o_stride);
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t n = 0; n < nl; n++) {
      const uint32_t *xn = xp + n * xb * wpl * ASIM_RB;
      int c = 0;
      for (int i = wb - 1; i >= 0; i--) {
        count_bit(xb, wp + (n * wb + i) * wpl * ASIM_RB, xn, wpl, cnt);
        for (; c < nc && m->cycles[c].i == i; c++) {
          const asim_cycle *cy = &m->cycles[c];
          const uint32_t did = asim_draw_id(n, c);
          __m256i u[2];
          if (cy->noisy && cy->ntab) { /* word did & 3 of block did & ~3 (asim_uniform_u32) */
            for (int q = 0; q < 4; q++) {
              __m256i e = _mm256_cvtepu32_epi64(_mm_add_epi32(_mm_loadu_si128((const __m128i *)(L.elem + 4 * q)),
                                                              _mm_set1_epi32((int)eo)));
              __m256i r = philox4(e, c1[q], _mm256_set1_epi64x(did & ~3u), c3[q], k0, k1, (int)(did & 3u));
              /* qword lanes -> dwords: pick the low dword of each qword */
              __m256i packed = _mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
              if (q & 1) u[q / 2] = _mm256_inserti128_si256(u[q / 2], _mm256_castsi256_si128(packed), 1);
              else u[q / 2] = _mm256_castsi128_si256(_mm256_castsi256_si128(packed));
            }
          }
          for (int h = 0; h < 2; h++) {
            __m256i M = _mm256_loadu_si256((const __m256i *)(cnt + cy->bit[0] * ASIM_RB + 8 * h));
            for (int k = 1; k < cy->nbits; k++)
              M = _mm256_add_epi32(M, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(cnt + cy->bit[k] * ASIM_RB + 8 * h)), k));
            __m256 V;
            if (cy->noisy && cy->ntab) {
              V = ntab_sample8(cy->ntab, M, u[h]);
            } else if (!cy->noisy && cy->table) {
              V = _mm256_i32gather_ps(cy->table, M, 4);
            } else {
              _mm256_storeu_si256((__m256i *)Ms, M);
              for (int l = 0; l < 8; l++) Vs[l] = asim_convert_lane(a, cy, &L, 8 * h + l, eo, n, Ms[l]);
              V = _mm256_loadu_ps(Vs);
            }
            __m256 term = _mm256_mul_ps(V, _mm256_set1_ps(cy->shift));
            acc[h] = cy->negate ? _mm256_sub_ps(acc[h], term) : _mm256_add_ps(acc[h], term);
          }
        }
      }
    }
    float *dst = a->out.acc + base + o * a->out.os;
    _mm256_storeu_ps(Vs, acc[0]);
    _mm256_storeu_ps(Vs + 8, acc[1]);
    for (int l = 0; l < nv; l++) dst[l * a->out.ps] = Vs[l];
  }
}

/* ---- lossless GEMM (int16 pairs, vpmaddwd) ---------------------------------------------------- */

#define LIMIT (1 << 24)

void asim_gemm_avx2(const asim_gargs *g, int64_t pb, int64_t nb, int64_t ob0, int64_t ob1) {
  const asim_opnd *W = g->W, *X = g->X;
  const int64_t nl = X->nl, lp = X->lp, kp = X->kp, kp2 = kp / 2;
  const __m256i lim = _mm256_set1_epi32(LIMIT);
  for (int64_t p0 = pb * ASIM_RB; p0 < (pb + nb) * ASIM_RB && p0 < X->rows; p0 += 4)
    for (int64_t ob = ob0; ob < ob1; ob++) {
      const uint16_t *wo = (const uint16_t *)W->wg + ob * kp2 * 32;
      __m256i R[4][2], bad[4][2];
      for (int r = 0; r < 4; r++)
        for (int h = 0; h < 2; h++) R[r][h] = bad[r][h] = _mm256_setzero_si256();
      for (int64_t n = 0; n < nl; n++) {
        __m256i d[4][2];
        for (int r = 0; r < 4; r++) {
          int64_t E = X->ebound[(p0 + r) * nl + n];
          __m256i Ev = _mm256_set1_epi32(E > 2 * LIMIT ? 2 * LIMIT : (int)E);
          for (int h = 0; h < 2; h++) {
            bad[r][h] = _mm256_or_si256(bad[r][h], _mm256_cmpgt_epi32(_mm256_add_epi32(_mm256_abs_epi32(R[r][h]), Ev), lim));
            d[r][h] = _mm256_setzero_si256();
          }
        }
        for (int64_t q = n * lp / 2; q < (n + 1) * lp / 2; q++) {
          const __m256i w0 = _mm256_loadu_si256((const __m256i *)(wo + q * 32));
          const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wo + q * 32 + 16));
          for (int r = 0; r < 4; r++) {
            int32_t xv;
            memcpy(&xv, X->codes + (p0 + r) * kp + 2 * q, 4);
            const __m256i xb = _mm256_set1_epi32(xv);
            d[r][0] = _mm256_add_epi32(d[r][0], _mm256_madd_epi16(xb, w0));
            d[r][1] = _mm256_add_epi32(d[r][1], _mm256_madd_epi16(xb, w1));
          }
        }
        for (int r = 0; r < 4; r++)
          for (int h = 0; h < 2; h++) R[r][h] = _mm256_add_epi32(R[r][h], d[r][h]);
      }
      for (int r = 0; r < 4; r++) {
        const int64_t p = p0 + r;
        if (p >= X->rows) break;
        int nv;
        const int64_t base = asim_out_block(&g->out, X->rows, p / ASIM_RB, &nv);
        if (p % ASIM_RB >= nv) continue;
        float *dst = g->out.acc + base + (p % ASIM_RB) * g->out.ps;
        int32_t out[ASIM_RB], bd[ASIM_RB];
        for (int h = 0; h < 2; h++) {
          _mm256_storeu_si256((__m256i *)(out + 8 * h), R[r][h]);
          _mm256_storeu_si256((__m256i *)(bd + 8 * h), bad[r][h]);
        }
        for (int l = 0; l < ASIM_RB; l++) {
          const int64_t o = ob * ASIM_RB + l;
          if (o >= W->rows) break;
          if (bd[l]) g->fail[p] = 1;
          else dst[o * g->out.os] = (float)out[l];
        }
      }
    }
}
