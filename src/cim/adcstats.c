/* The ADC conversions of one simulated product and how many of them clip (per-layer diagnostics).
 *
 * A separate pass after the product, run only when the caller asks (asim_exec.adc_stats): it
 * recomputes each conversion's count M from the same bit planes and, for a noisy conversion,
 * reads the same Philox block the kernels drew from. It writes nothing the product reads, so
 * results are identical with and without it, and the kernels carry no counting code.
 *
 * A conversion clips when ASiM's clamp of the normalised value to [0, 1] changes its ADC code
 * (spec §3.1): the unclamped value would round to a code above A (high) or below 0 (low).
 *   noise-free: v = fl(M/R) > 1 with rne(fl(v·A)) > A — never in ASiM's base modules (M <= R);
 *   formula path: the post-noise value fl(fl(v + rn) + nl) of the drawn z1, z2, rounded;
 *   table path (asim_noise_table): the code q comes from the conversion's uniform draw
 *     (asim_uniform_u32) through the alias table, which holds the clamped code distribution only.
 *     Given q = A, the unclamped value lay beyond the top code with probability
 *     P(v' > (A+½)/A) / P(v' > (A−½)/A) (v' = v + noise, Gaussian with the table's own v and s);
 *     the same draw on stream DIAG, which no ADC draw uses, decides that event (likewise for
 *     q = 0 below the bottom code). The pair (q, clipped) then
 *     has exactly the joint distribution of the formula path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

static inline float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

/* Thresholds on the DIAG draw (units of 2^-32) per count of one noise table: P(clip | q = A), P(clip | q = 0). */
typedef struct {
  const asim_noise_table *t;
  uint64_t *hi, *lo;
} clip_thr;

static uint64_t ratio32(double num, double den) {
  if (!(den > 0.0) || !(num > 0.0)) return 0;
  double r = num / den;
  if (r >= 1.0) return (uint64_t)1 << 32;
  return (uint64_t)nearbyint(ldexp(r, 32));
}

static asim_status thr_build(clip_thr *c, const asim_macro *m, const asim_cycle *cy) {
  const asim_noise_table *t = cy->ntab;
  c->t = t;
  ASIM_CHECK(ASIM_ALLOC(c->hi, (size_t)(t->mmax + 1)));
  ASIM_CHECK(ASIM_ALLOC(c->lo, (size_t)(t->mmax + 1)));
  const double A = m->A, sr = (double)m->d.rand_noise_sigma / 100.0, snl = (double)m->d.non_linear_sigma / 100.0;
  for (int64_t M = 0; M <= t->mmax; M++) {
    /* v and s as the table's code distribution (macro.c, dist_of) */
    const float v = clamp01((float)M / cy->R), vn = v * (float)m->d.nrow + 1.0f;
    const double s = sqrt(sr * sr + snl * snl / (double)vn);
    if (!(s > 0.0)) {
      c->hi[M] = c->lo[M] = 0;
      continue;
    }
    const double top = 0.5 * erfc(((A - 0.5) / A - v) / s * M_SQRT1_2), over = 0.5 * erfc(((A + 0.5) / A - v) / s * M_SQRT1_2);
    const double bot = 0.5 * erfc(-((0.5 / A - v) / s) * M_SQRT1_2), under = 0.5 * erfc(-((-0.5 / A - v) / s) * M_SQRT1_2);
    c->hi[M] = ratio32(over, top);
    c->lo[M] = ratio32(under, bot);
  }
  return ASIM_OK;
}

/* Smallest count of a noise-free cycle whose pre-noise clamp changes the code (INT64_MAX: none up
 * to the largest count the load can form). */
static int64_t nf_clip_min(const asim_macro *m, const asim_cycle *cy) {
  const int64_t mmax = m->d.load_rows * (((int64_t)1 << cy->nbits) - 1);
  for (int64_t M = (int64_t)cy->R + 1; M <= mmax; M++)
    if (rintf(((float)M / cy->R) * m->A) > m->A) return M;
  return INT64_MAX;
}


/* asim_uniform_u32 for 16 lanes with noise.c's counter layout (elem, sample low word, did & ~3,
 * stream word c3; key (seed, layer id)), word did & 3 (did: asim_draw_id): the draws of the noisy kernels,
 * recomputed. Plain C, and an AVX-512 version for CPUs that have it (same bits). */
static void philox16_c(uint32_t *w, const uint32_t *elem, const uint32_t *c1, uint32_t cid, const uint32_t *c3,
                       asim_noise_key key) {
  for (int l = 0; l < ASIM_RB; l++) {
    uint32_t x[4] = {elem[l], c1[l], cid & ~3u, c3[l]};
    for (int r = 0; r < 10; r++) {
      const uint32_t k0 = key.seed + (uint32_t)r * ASIM_PHILOX_W0, k1 = key.layer_id + (uint32_t)r * ASIM_PHILOX_W1;
      const uint64_t p0 = (uint64_t)ASIM_PHILOX_M0 * x[0], p1 = (uint64_t)ASIM_PHILOX_M1 * x[2];
      x[0] = (uint32_t)(p1 >> 32) ^ x[1] ^ k0, x[2] = (uint32_t)(p0 >> 32) ^ x[3] ^ k1;
      x[1] = (uint32_t)p1, x[3] = (uint32_t)p0;
    }
    w[l] = x[cid & 3u];
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static void philox16_avx512(uint32_t *w, const uint32_t *elem, const uint32_t *c1,
                                                               uint32_t cid, const uint32_t *c3, asim_noise_key key) {
  const __m512i M0 = _mm512_set1_epi64(ASIM_PHILOX_M0), M1 = _mm512_set1_epi64(ASIM_PHILOX_M1);
  const __m512i lo32 = _mm512_set1_epi64(0xffffffffLL);
  for (int h = 0; h < 2; h++) { /* 8 lanes per half, one 32-bit word in each 64-bit element */
    __m512i x[4];
    x[0] = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(elem + 8 * h)));
    x[1] = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(c1 + 8 * h)));
    x[2] = _mm512_set1_epi64(cid & ~3u);
    x[3] = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(c3 + 8 * h)));
    for (int r = 0; r < 10; r++) {
      const __m512i k0 = _mm512_set1_epi64((uint32_t)(key.seed + (uint32_t)r * ASIM_PHILOX_W0));
      const __m512i k1 = _mm512_set1_epi64((uint32_t)(key.layer_id + (uint32_t)r * ASIM_PHILOX_W1));
      const __m512i p0 = _mm512_mul_epu32(x[0], M0), p1 = _mm512_mul_epu32(x[2], M1);
      x[0] = _mm512_xor_si512(_mm512_xor_si512(_mm512_srli_epi64(p1, 32), x[1]), k0);
      x[2] = _mm512_xor_si512(_mm512_xor_si512(_mm512_srli_epi64(p0, 32), x[3]), k1);
      x[1] = _mm512_and_si512(p1, lo32), x[3] = _mm512_and_si512(p0, lo32);
    }
    _mm256_storeu_si256((__m256i *)(w + 8 * h), _mm512_cvtepi64_epi32(x[cid & 3u]));
  }
}
static int have_avx512(void) { return __builtin_cpu_supports("avx512f"); }
#else
#define philox16_avx512 philox16_c
static int have_avx512(void) { return 0; }
#endif

typedef void (*philox16_fn)(uint32_t *, const uint32_t *, const uint32_t *, uint32_t, const uint32_t *, asim_noise_key);

typedef struct {
  const asim_out *out;
  const asim_macro *m;
  const asim_opnd *W, *X;
  const asim_noise_addr *na;
  const int64_t *nfmin;
  const int *ti;
  const clip_thr *thr;
  const int *bit_any;
  philox16_fn philox16;
} count_args;

/* The clipped conversions of row block pb (all weight rows), lane-parallel over its 16 rows.
 * Cloned for vector and popcount instructions beyond the library's baseline, picked at load
 * time (results do not depend on the clone). */
__attribute__((target_clones("avx512f", "avx2", "popcnt", "default"))) static void
count_block(const count_args *a, int64_t pb, int64_t *hi_out, int64_t *lo_out) {
  const asim_out *out = a->out;
  const asim_macro *m = a->m;
  const asim_opnd *W = a->W, *X = a->X;
  const asim_noise_addr *na = a->na;
  const int64_t *nfmin = a->nfmin, O = W->rows, nl = X->nl, wpl = X->wpl;
  const int *ti = a->ti, *bit_any = a->bit_any, nc = m->n_cycles, xb = m->d.xbit, wb = m->d.wbit;
  const clip_thr *thr = a->thr;
  int64_t hi = 0, lo = 0;
  int nv;
  asim_out_block(out, X->rows, pb, &nv);
  if (!nv) return;
  asim_lanes L;
  asim_lanes_init(&L, na, pb, X->rows);
  uint32_t c3d[ASIM_RB]; /* the clip draws' stream word */
  for (int l = 0; l < ASIM_RB; l++) c3d[l] = L.c3[l] ^ (uint32_t)ASIM_STREAM_ADC ^ (uint32_t)ASIM_STREAM_DIAG;
  const uint32_t *xp = X->planes + pb * nl * xb * wpl * ASIM_RB;
  uint32_t cnt[ASIM_MAX_BITS][ASIM_RB], e[ASIM_RB], u0[ASIM_RB], u1[ASIM_RB], M[ASIM_RB];
  for (int64_t o = 0; o < O; o++) {
    const uint32_t *wp = W->planes + (o / ASIM_RB) * nl * wb * wpl * ASIM_RB + o % ASIM_RB;
    const uint32_t eo = (uint32_t)(o * na->o_stride);
    for (int l = 0; l < ASIM_RB; l++) e[l] = L.elem[l] + eo;
    for (int64_t n = 0; n < nl; n++)
      for (int i = wb - 1; i >= 0; i--) {
        if (!bit_any[i]) continue;
        const uint32_t *wi = wp + (n * wb + i) * wpl * ASIM_RB, *xn = xp + n * xb * wpl * ASIM_RB;
        for (int t = 0; t < xb; t++) {
          for (int l = 0; l < ASIM_RB; l++) cnt[t][l] = 0;
          for (int64_t w = 0; w < wpl; w++) {
            const uint32_t bw = wi[w * ASIM_RB], *xw = xn + (t * wpl + w) * ASIM_RB;
            for (int l = 0; l < ASIM_RB; l++) cnt[t][l] += (uint32_t)__builtin_popcount(bw & xw[l]);
          }
        }
        for (int c = 0; c < nc; c++) {
          const asim_cycle *cy = &m->cycles[c];
          if (cy->i != i || (!cy->noisy && nfmin[c] == INT64_MAX)) continue;
          for (int l = 0; l < ASIM_RB; l++) M[l] = 0;
          for (int k = 0; k < cy->nbits; k++)
            for (int l = 0; l < ASIM_RB; l++) M[l] += cnt[cy->bit[k]][l] << k;
          if (!cy->noisy) {
            for (int l = 0; l < nv; l++) hi += (int64_t)M[l] >= nfmin[c];
            continue;
          }
          const uint32_t cid = asim_cycle_id((int)n, cy->i, cy->j);
          if (cy->ntab) {
            const clip_thr *ct = &thr[ti[c]];
            int need = 0; /* counts where no clip is possible need no draw */
            for (int l = 0; l < nv; l++) need |= ct->hi[M[l]] || ct->lo[M[l]];
            if (!need) continue;
            a->philox16(u0, e, L.c1, asim_draw_id(n, c), L.c3, na->key); /* the conversion's draw */
            a->philox16(u1, e, L.c1, asim_draw_id(n, c), c3d, na->key);  /* the clip draw: stream DIAG */
            for (int l = 0; l < nv; l++) {
              const float V = asim_noise_sample(cy->ntab, M[l], u0[l]); /* branch-free: codes are random */
              hi += (V == cy->R) & ((uint64_t)u1[l] < ct->hi[M[l]]);
              lo += (V == 0.0f) & ((uint64_t)u1[l] < ct->lo[M[l]]);
            }
          } else { /* the formula of asim_adc, stopped before its second clamp */
            for (int l = 0; l < nv; l++) {
              float z1, z2;
              asim_normal2(na->key, L.sample[l], e[l], cid, ASIM_STREAM_ADC, &z1, &z2);
              const float v = clamp01((float)M[l] / cy->R);
              const float rn = (z1 * m->d.rand_noise_sigma) / 100.0f;
              const float nlz = ((z2 / sqrtf(v * (float)m->d.nrow + 1.0f)) * m->d.non_linear_sigma) / 100.0f;
              const float q = rintf(((v + rn) + nlz) * m->A);
              hi += q > m->A;
              lo += q < 0.0f;
            }
          }
        }
      }
  }
  *hi_out += hi;
  *lo_out += lo;
}

asim_status asim_engine_adc_stats(asim_adc_stats *s, const asim_out *out, const asim_macro *m, const asim_opnd *W,
                                  const asim_opnd *X, const asim_noise_addr *na, int threads) {
  const int64_t nblocks = X->rpad / ASIM_RB, O = W->rows, nl = X->nl;
  const int nc = m->n_cycles;
  int64_t rows = 0;
  for (int64_t pb = 0; pb < nblocks; pb++) {
    int nv;
    asim_out_block(out, X->rows, pb, &nv);
    rows += nv;
  }
  s->conversions += rows * O * nl * nc;

  /* which cycles can clip at all */
  int64_t nfmin[ASIM_MAX_BITS * ASIM_MAX_BITS];
  int ti[ASIM_MAX_BITS * ASIM_MAX_BITS], nthr = 0, any = 0, bit_any[ASIM_MAX_BITS] = {0};
  clip_thr thr[ASIM_MAX_BITS + 1];
  memset(thr, 0, sizeof thr);
  asim_status st = ASIM_OK;
  for (int c = 0; c < nc && !st; c++) {
    const asim_cycle *cy = &m->cycles[c];
    nfmin[c] = cy->noisy ? 0 : nf_clip_min(m, cy);
    ti[c] = -1;
    if (cy->noisy && cy->ntab) {
      for (int k = 0; k < nthr; k++)
        if (thr[k].t == cy->ntab) ti[c] = k;
      if (ti[c] < 0) st = thr_build(&thr[ti[c] = nthr++], m, cy);
    }
    if (cy->noisy || nfmin[c] != INT64_MAX) any = 1, bit_any[cy->i] = 1;
  }
  if (st || !any) goto done;
  if (!W->planes || !X->planes) {
    st = ASIM_ERR(ASIM_EINVAL, "ADC statistics: a product that can clip has no bit planes");
    goto done;
  }
  int64_t hi = 0, lo = 0;
  const count_args ca = {out, m, W, X, na, nfmin, ti, thr, bit_any, have_avx512() ? philox16_avx512 : philox16_c};
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && nblocks > 1) reduction(+ : hi, lo)
#endif
  for (int64_t pb = 0; pb < nblocks; pb++) count_block(&ca, pb, &hi, &lo);
  s->clipped_high += hi;
  s->clipped_low += lo;
done:
  for (int k = 0; k < nthr; k++) free(thr[k].hi), free(thr[k].lo);
  return st;
}
