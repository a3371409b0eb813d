/* AMX kernel of the lossless path. int8 tiles (TDPBUSD / TDPBSSD: signed weights, unsigned or
 * signed activations; int32 accumulation, exact) when both codes fit in 8 bits, else bf16 tiles
 * (every code of magnitude <= 256 is exact in bf16; the fp32 tile sums are exact because every
 * partial sum is an integer below the per-load bound E <= 2^24 that the check demands). Per
 * macro load the tiles are added to int32 running sums with the check of asim_gemm_scalar.
 * Blocks of 32 rows × 32 weight rows: four C tiles, two A and two B tiles. Results go out as
 * rows of weight rows (linear layout) or, transposed in registers, as rows of activation rows
 * (the conv layout: 16 consecutive positions of one output channel). */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

typedef struct {
  uint8_t palette, start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tilecfg;

#define LIMIT (1 << 24)

/* Writes one 16×16 block (rows: activation rows p0.., columns: weight rows o0..) of results. */
/* One K tile of the up-to-2x2 block product: activation rows xa (and xb when tp == 2) against
 * weight columns wa (and wb when to == 2) into accumulators 0..3, as int8 (signed or unsigned
 * activations) or bf16 dot products. */
static inline void tile_step(const char *xa, const char *xb, const char *wa, const char *wb, int64_t xstride, int i8,
                             int xs, int tp, int to) {
  _tile_loadd(4, xa, xstride);
  _tile_loadd(6, wa, 64);
  if (to == 2) _tile_loadd(7, wb, 64);
  if (tp == 2) _tile_loadd(5, xb, xstride);
  if (i8 && xs) {
    _tile_dpbssd(0, 4, 6);
    if (to == 2) _tile_dpbssd(1, 4, 7);
    if (tp == 2) _tile_dpbssd(2, 5, 6);
    if (tp == 2 && to == 2) _tile_dpbssd(3, 5, 7);
  } else if (i8) {
    _tile_dpbusd(0, 4, 6);
    if (to == 2) _tile_dpbusd(1, 4, 7);
    if (tp == 2) _tile_dpbusd(2, 5, 6);
    if (tp == 2 && to == 2) _tile_dpbusd(3, 5, 7);
  } else {
    _tile_dpbf16ps(0, 4, 6);
    if (to == 2) _tile_dpbf16ps(1, 4, 7);
    if (tp == 2) _tile_dpbf16ps(2, 5, 6);
    if (tp == 2 && to == 2) _tile_dpbf16ps(3, 5, 7);
  }
}

static void store_block(const asim_gargs *g, int64_t pblock, int64_t o0, int32_t R[16][16], const __mmask16 *bad) {
  const asim_opnd *W = g->W;
  int nvp;
  const int64_t base = asim_out_block(&g->out, g->X->rows, pblock, &nvp);
  const int64_t nvo = W->rows - o0 < ASIM_RB ? W->rows - o0 : ASIM_RB;
  const __mmask16 ovalid = (__mmask16)((1u << nvo) - 1u);
  __mmask16 anybad = 0;
  for (int r = 0; r < nvp; r++)
    if (bad[r] & ovalid) g->fail[pblock * ASIM_RB + r] = 1, anybad = 1;
  float *dst = g->out.acc + base + o0 * g->out.os;
  if (g->out.os == 1) { /* rows of weight rows */
    for (int r = 0; r < nvp; r++)
      _mm512_mask_storeu_ps(dst + r * g->out.ps, ovalid & (__mmask16)~bad[r], _mm512_cvtepi32_ps(_mm512_load_si512(R[r])));
  } else if (g->out.ps == 1 && !anybad) { /* rows of activation rows: transpose */
    __m512 v[16];
    for (int r = 0; r < 16; r++) v[r] = _mm512_cvtepi32_ps(_mm512_load_si512(R[r]));
    asim_transpose16(v);
    const __mmask16 pvalid = (__mmask16)((1u << nvp) - 1u);
    for (int o = 0; o < nvo; o++) _mm512_mask_storeu_ps(dst + o * g->out.os, pvalid, v[o]);
  } else {
    for (int r = 0; r < nvp; r++)
      for (int o = 0; o < nvo; o++)
        if (!((bad[r] >> o) & 1)) dst[r * g->out.ps + o * g->out.os] = (float)R[r][o];
  }
}

void asim_gemm_amx(const asim_gargs *g, int64_t pb, int64_t nb, int64_t ob0, int64_t ob1) {
  const asim_opnd *W = g->W, *X = g->X;
  const int i8 = W->gemm == ASIM_GEMM_I8, xs = X->is_signed;
  const int64_t esz = i8 ? 1 : 2, ktile = i8 ? 64 : 32;
  const int64_t nl = X->nl, lp = X->lp, kp = X->kp, kt = lp / ktile;
  const char *xg = X->xg, *wg = W->wg;
  tilecfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  _tile_loadconfig(&cfg);
  _Alignas(64) int32_t R[4][ASIM_RB][ASIM_RB];
  _Alignas(64) int32_t C[4][ASIM_RB][ASIM_RB];
  const __m512i lim = _mm512_set1_epi32(LIMIT);
  for (int64_t p = pb; p < pb + nb; p += 2) {
    int tp = p + 1 < pb + nb ? 2 : 1;
    int nv0, nv1 = 0;
    asim_out_block(&g->out, X->rows, p, &nv0);
    if (tp == 2) asim_out_block(&g->out, X->rows, p + 1, &nv1);
    if (!nv0 && !nv1) continue; /* padding rows only */
    int fast = 1; /* every row bounded up front: accumulate all loads in the tiles */
    for (int r = 0; r < tp * ASIM_RB; r++) fast &= g->safe[p * ASIM_RB + r];
    for (int64_t ob = ob0; ob < ob1; ob += 2) {
      const int to = ob + 1 < ob1 ? 2 : 1;
      __mmask16 bad[4][ASIM_RB];
      memset(bad, 0, sizeof bad);
      if (fast) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        const char *xa = xg + p * ASIM_RB * kp * esz, *xb = xa + ASIM_RB * kp * esz;
        const char *wa = wg + ob * kp * 16 * esz, *wb = wa + kp * 16 * esz;
        for (int64_t n = 0; n < nl; n++)
          for (int64_t k = 0; k < kt; k++) {
            const int64_t ko = (n * lp + k * ktile) * esz;
            tile_step(xa + ko, xb + ko, wa + ko * 16, wb + ko * 16, kp * esz, i8, xs, tp, to);
          }
        _tile_stored(0, R[0], 64);
        _tile_stored(1, R[1], 64);
        _tile_stored(2, R[2], 64);
        _tile_stored(3, R[3], 64);
        if (!i8)
          for (int a = 0; a < 4; a++)
            for (int r = 0; r < ASIM_RB; r++)
              _mm512_store_si512(R[a][r], _mm512_cvtps_epi32(_mm512_load_ps((const float *)R[a][r])));
        for (int a = 0; a < tp; a++)
          for (int b = 0; b < to; b++) store_block(g, p + a, (ob + b) * ASIM_RB, R[2 * a + b], bad[2 * a + b]);
        continue;
      }
      memset(R, 0, sizeof R);
      for (int64_t n = 0; n < nl; n++) {
        for (int a = 0; a < tp; a++)
          for (int r = 0; r < ASIM_RB; r++) {
            int64_t E = X->ebound[((p + a) * ASIM_RB + r) * nl + n];
            __m512i Ev = _mm512_set1_epi32(E > 2 * LIMIT ? 2 * LIMIT : (int)E);
            for (int b = 0; b < to; b++) {
              __m512i Rv = _mm512_load_si512(R[2 * a + b][r]);
              bad[2 * a + b][r] |= _mm512_cmpgt_epi32_mask(_mm512_add_epi32(_mm512_abs_epi32(Rv), Ev), lim);
            }
          }
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        const char *xa = xg + (p * ASIM_RB * kp + n * lp) * esz, *xb = xa + ASIM_RB * kp * esz;
        const char *wa = wg + (ob * kp + n * lp) * 16 * esz, *wb = wa + kp * 16 * esz;
        for (int64_t k = 0; k < kt; k++) {
          const int64_t ko = k * ktile * esz;
          tile_step(xa + ko, xb + ko, wa + ko * 16, wb + ko * 16, kp * esz, i8, xs, tp, to);
        }
        _tile_stored(0, C[0], 64);
        _tile_stored(1, C[1], 64);
        _tile_stored(2, C[2], 64);
        _tile_stored(3, C[3], 64);
        for (int a = 0; a < tp; a++)
          for (int b = 0; b < to; b++)
            for (int r = 0; r < ASIM_RB; r++) {
              __m512i c = _mm512_load_si512(C[2 * a + b][r]);
              if (!i8) c = _mm512_cvtps_epi32(_mm512_castsi512_ps(c)); /* exact integers */
              _mm512_store_si512(R[2 * a + b][r], _mm512_add_epi32(_mm512_load_si512(R[2 * a + b][r]), c));
            }
      }
      for (int a = 0; a < tp; a++)
        for (int b = 0; b < to; b++) store_block(g, p + a, (ob + b) * ASIM_RB, R[2 * a + b], bad[2 * a + b]);
    }
  }
  _tile_release();
}
