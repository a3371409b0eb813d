/* AMX kernel of the lossless path: bf16 tiles (every code of magnitude <= 256 is exact in bf16),
 * fp32 tile accumulation per macro load (exact: every partial sum is an integer below the
 * per-load bound E <= 2^24 the check demands), then the int32 running sum and check of
 * asim_gemm_scalar. Blocks of 32 rows × 32 weight rows: four C tiles, two A and two B tiles. */
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

void asim_gemm_amx(const asim_gargs *g, int64_t pb, int64_t nb, int64_t ob0, int64_t ob1) {
  const asim_opnd *W = g->W, *X = g->X;
  const int64_t nl = X->nl, lp = X->lp, kp = X->kp, kp2 = kp / 2, kt = lp / 32;
  tilecfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  _tile_loadconfig(&cfg);
  _Alignas(64) int32_t R[4][ASIM_RB][ASIM_RB];
  _Alignas(64) float C[4][ASIM_RB][ASIM_RB];
  const __m512i lim = _mm512_set1_epi32(LIMIT);
  for (int64_t p = pb; p < pb + nb; p += 2) {
    const int tp = p + 1 < pb + nb ? 2 : 1;
    if (p * ASIM_RB >= X->rows) break;
    for (int64_t ob = ob0; ob < ob1; ob += 2) {
      const int to = ob + 1 < ob1 ? 2 : 1;
      __mmask16 bad[4][ASIM_RB];
      memset(bad, 0, sizeof bad);
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
        const uint16_t *xa = X->xbf + p * ASIM_RB * kp + n * lp, *xb = xa + ASIM_RB * kp;
        const uint16_t *wa = W->wg + (ob * kp2 + n * lp / 2) * 32, *wb = wa + kp2 * 32;
        for (int64_t k = 0; k < kt; k++) {
          _tile_loadd(4, xa + k * 32, kp * 2);
          _tile_loadd(6, wa + k * 16 * 32, 64);
          _tile_dpbf16ps(0, 4, 6);
          if (to == 2) {
            _tile_loadd(7, wb + k * 16 * 32, 64);
            _tile_dpbf16ps(1, 4, 7);
          }
          if (tp == 2) {
            _tile_loadd(5, xb + k * 32, kp * 2);
            _tile_dpbf16ps(2, 5, 6);
            if (to == 2) _tile_dpbf16ps(3, 5, 7);
          }
        }
        _tile_stored(0, C[0], 64);
        _tile_stored(1, C[1], 64);
        _tile_stored(2, C[2], 64);
        _tile_stored(3, C[3], 64);
        for (int a = 0; a < tp; a++)
          for (int b = 0; b < to; b++)
            for (int r = 0; r < ASIM_RB; r++) {
              __m512i Rv = _mm512_load_si512(R[2 * a + b][r]);
              Rv = _mm512_add_epi32(Rv, _mm512_cvtps_epi32(_mm512_load_ps(C[2 * a + b][r])));
              _mm512_store_si512(R[2 * a + b][r], Rv);
            }
      }
      for (int a = 0; a < tp; a++)
        for (int b = 0; b < to; b++) {
          const int64_t o0 = (ob + b) * ASIM_RB;
          const int64_t nv = W->rows - o0 < ASIM_RB ? W->rows - o0 : ASIM_RB;
          const __mmask16 valid = (__mmask16)((1u << nv) - 1u);
          for (int r = 0; r < ASIM_RB; r++) {
            const int64_t row = (p + a) * ASIM_RB + r;
            if (row >= X->rows) break;
            const __mmask16 bd = bad[2 * a + b][r];
            if (bd & valid) g->fail[row] = 1;
            float *dst = g->acc + row * g->ps + o0 * g->os;
            const __m512 v = _mm512_cvtepi32_ps(_mm512_load_si512(R[2 * a + b][r]));
            if (g->os == 1) {
              _mm512_mask_storeu_ps(dst, valid & (__mmask16)~bd, v);
            } else {
              _Alignas(64) float out[ASIM_RB];
              _mm512_store_ps(out, v);
              for (int l = 0; l < nv; l++)
                if (!((bd >> l) & 1)) dst[l * g->os] = out[l];
            }
          }
        }
    }
  }
  _tile_release();
}
