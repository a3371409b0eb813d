/* Portable C kernels. They process the same 16-row blocks in the same order as the vector
 * kernels; each lane's float32 operations are exactly the vector lanes' operations. */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

void asim_cycles_scalar(const asim_kargs *a, int64_t pb, int64_t o0, int64_t o1) {
  const asim_macro *m = a->m;
  const asim_opnd *W = a->W, *X = a->X;
  const int wb = m->d.wbit, xb = m->d.xbit;
  const int64_t nl = X->nl, wpl = X->wpl;
  int nv;
  const int64_t base = asim_out_block(&a->out, X->rows, pb, &nv);
  if (!nv) return; /* padding rows only */
  asim_lanes L;
  if (m->noisy_any) asim_lanes_init(&L, a->na, pb, X->rows);
  const uint32_t *xp = X->planes + pb * nl * xb * wpl * ASIM_RB;
  int32_t cnt[ASIM_MAX_BITS][ASIM_RB];
  for (int64_t o = o0; o < o1; o++) {
    const uint32_t *wp = W->planes + (o / ASIM_RB) * nl * wb * wpl * ASIM_RB + o % ASIM_RB;
    const uint32_t eo = (uint32_t)(o * a->na->o_stride);
    float acc[ASIM_RB] = {0};
    for (int64_t n = 0; n < nl; n++) {
      const uint32_t *xn = xp + n * xb * wpl * ASIM_RB;
      int c = 0;
      for (int i = wb - 1; i >= 0; i--) {
        const uint32_t *wi = wp + (n * wb + i) * wpl * ASIM_RB;
        memset(cnt, 0, sizeof cnt);
        for (int64_t w = 0; w < wpl; w++) {
          const uint32_t bw = wi[w * ASIM_RB];
          if (!bw) continue;
          for (int t = 0; t < xb; t++) {
            const uint32_t *xw = xn + (t * wpl + w) * ASIM_RB;
            for (int l = 0; l < ASIM_RB; l++) cnt[t][l] += __builtin_popcount(bw & xw[l]);
          }
        }
        for (; c < m->n_cycles && m->cycles[c].i == i; c++) {
          const asim_cycle *cy = &m->cycles[c];
          for (int l = 0; l < ASIM_RB; l++) {
            int64_t M = 0;
            for (int k = 0; k < cy->nbits; k++) M += (int64_t)cnt[cy->bit[k]][l] << k;
            float term = asim_convert_lane(a, cy, &L, l, eo, n, M) * cy->shift;
            acc[l] = cy->negate ? acc[l] - term : acc[l] + term;
          }
        }
      }
    }
    for (int l = 0; l < nv; l++) a->out.acc[base + l * a->out.ps + o * a->out.os] = acc[l];
  }
}

/* Lossless GEMM: per element, load by load, the exact integer sum; the element fails when
 * |R_<n| + E(p, n) > 2^24 for some load n (then ASiM's float32 partial sums are not provably
 * exact integers and the cycle path decides). */
#define LIMIT ((int64_t)1 << 24)

/* int16 pairs (the non-AMX layout) */
static inline int32_t wcode(const asim_opnd *W, int64_t o, int64_t k) {
  uint16_t v = ((const uint16_t *)W->wg)[((o / ASIM_RB) * (W->kp / 2) + k / 2) * 32 + (o % ASIM_RB) * 2 + (k & 1)];
  if (W->gemm == ASIM_GEMM_BF16) {
    uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, 4);
    return (int32_t)f;
  }
  return (int16_t)v;
}

void asim_gemm_scalar(const asim_gargs *g, int64_t pb, int64_t nb, int64_t ob0, int64_t ob1) {
  const asim_opnd *W = g->W, *X = g->X;
  const int64_t nl = X->nl, lp = X->lp;
  for (int64_t p = pb * ASIM_RB; p < (pb + nb) * ASIM_RB && p < X->rows; p++) {
    int nv;
    const int64_t base = asim_out_block(&g->out, X->rows, p / ASIM_RB, &nv);
    if (p % ASIM_RB >= nv) continue;
    float *dst = g->out.acc + base + (p % ASIM_RB) * g->out.ps;
    const int16_t *x = X->codes + p * X->kp;
    const int64_t *E = X->ebound + p * nl;
    for (int64_t o = ob0 * ASIM_RB; o < ob1 * ASIM_RB && o < W->rows; o++) {
      int64_t R = 0;
      int ok = 1;
      for (int64_t n = 0; n < nl && ok; n++) {
        if ((R < 0 ? -R : R) + E[n] > LIMIT) {
          ok = 0;
          break;
        }
        int64_t s = 0;
        for (int64_t j = n * lp; j < (n + 1) * lp; j++) s += (int64_t)x[j] * wcode(W, o, j);
        R += s;
      }
      if (ok) dst[o * g->out.os] = (float)R;
      else g->fail[p] = 1;
    }
  }
}
