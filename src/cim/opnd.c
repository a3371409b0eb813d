/* Operands in the kernels' layouts (kernels.h): allocation, filling, planes, GEMM layouts and
 * the exactness bounds of the lossless path. */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

int asim_gemm_kind(const asim_macro *m, asim_isa isa) {
  const asim_macro_desc *d = &m->d;
  if (!m->lossless) return ASIM_GEMM_NONE;
  if (!d->x_signed && d->xbit >= 16) return ASIM_GEMM_NONE; /* 16-bit unsigned codes do not fit int16 */
  if (isa == ASIM_ISA_AMX) {
    /* int8 tiles: signed weights, unsigned (u8) or signed (s8) activations */
    if (d->wbit <= 8 && d->xbit <= 8) return ASIM_GEMM_I8;
    /* bf16 holds every integer of magnitude <= 256 exactly */
    if (d->wbit <= 9 && (d->x_signed ? d->xbit <= 9 : d->xbit <= 8)) return ASIM_GEMM_BF16;
  }
  return ASIM_GEMM_I16;
}

int64_t asim_load_pad(const asim_macro *m, asim_isa isa) {
  const int64_t a = asim_gemm_kind(m, isa) == ASIM_GEMM_I8 ? 64 : 32;
  return (m->d.load_rows + a - 1) / a * a;
}

asim_status asim_opnd_alloc(asim_opnd *o, int64_t rows, int bits, int is_signed, const asim_macro *m, asim_isa isa) {
  memset(o, 0, sizeof *o);
  if (rows < 1) return ASIM_ERR(ASIM_ESHAPE, "operand with %lld rows", (long long)rows);
  o->rows = rows;
  o->rpad = o->cap = (rows + ASIM_RB - 1) / ASIM_RB * ASIM_RB;
  o->bits = bits;
  o->is_signed = is_signed;
  o->nl = m->d.n_loads;
  o->lp = asim_load_pad(m, isa);
  o->kp = o->nl * o->lp;
  o->wpl = o->lp / 32;
  ASIM_CHECK(ASIM_ALLOC(o->codes, (size_t)(o->rpad * o->kp)));
  return ASIM_OK;
}

void asim_opnd_free(asim_opnd *o) {
  free(o->codes);
  free(o->planes);
  free(o->wg);
  free(o->xg);
  free(o->ebound);
  free(o->absum);
  memset(o, 0, sizeof *o);
}

size_t asim_opnd_bytes(const asim_opnd *o) {
  size_t n = 0, r = (size_t)o->rpad, k = (size_t)o->kp;
  r = (size_t)o->cap;
  if (o->codes) n += r * k * 2;
  if (o->planes) n += r * (size_t)(o->nl * o->bits * o->wpl) * 4;
  if (o->wg) n += r * k * (o->gemm == ASIM_GEMM_I8 ? 1 : 2);
  if (o->xg) n += r * k * (o->gemm == ASIM_GEMM_I8 ? 1 : 2);
  if (o->ebound) n += r * (size_t)o->nl * 8;
  return n;
}

void asim_opnd_set_nrows(asim_opnd *o, int64_t rows) {
  o->rows = rows < o->cap ? rows : o->cap;
  o->rpad = (o->rows + ASIM_RB - 1) / ASIM_RB * ASIM_RB;
}

void asim_opnd_set_rows_map(asim_opnd *o, const int32_t *codes, int64_t ld, int64_t K, const int32_t *kmap) {
  for (int64_t r = 0; r < o->rows; r++) {
    const int32_t *src = codes + r * ld;
    int16_t *dst = o->codes + r * o->kp;
    for (int64_t k = 0; k < K; k++)
      if (kmap[k] >= 0) dst[kmap[k]] = (int16_t)src[k];
  }
}

void asim_opnd_set_rows(asim_opnd *o, const int32_t *codes, int64_t ld, int64_t K, int64_t load_rows) {
  /* padding rows of the last block: zero (a reused operand may hold older rows there) */
  memset(o->codes + o->rows * o->kp, 0, sizeof(int16_t) * (size_t)((o->rpad - o->rows) * o->kp));
  for (int64_t r = 0; r < o->rows; r++) {
    const int32_t *src = codes + r * ld;
    int16_t *dst = o->codes + r * o->kp;
    for (int64_t n = 0; n < o->nl; n++) {
      int64_t k0 = n * load_rows, k1 = k0 + load_rows < K ? k0 + load_rows : K;
      for (int64_t k = k0; k < k1; k++) dst[n * o->lp + (k - k0)] = (int16_t)src[k];
    }
  }
}

static asim_status ensure_planes(asim_opnd *o) {
  if (!o->planes) ASIM_CHECK(ASIM_ALLOC(o->planes, (size_t)(o->cap * o->nl * o->bits * o->wpl)));
  return ASIM_OK;
}

asim_status asim_opnd_prepare_w(asim_opnd *o, const asim_macro *m, asim_isa isa, int keep_codes) {
  asim_kfns k = asim_kernels(isa);
  o->amax = 0;
  for (int64_t i = 0; i < o->rpad * o->kp; i++) {
    int32_t v = o->codes[i] < 0 ? -o->codes[i] : o->codes[i];
    if (v > o->amax) o->amax = v;
  }
  int g = asim_gemm_kind(m, isa);
  if (!g || !keep_codes) { /* with codes kept, the lossless path builds planes only on a fallback */
    ASIM_CHECK(ensure_planes(o));
    k.pack(o, 0, o->rpad / ASIM_RB);
  } else {
    free(o->planes);
    o->planes = NULL;
  }
  if (g == ASIM_GEMM_I8) { /* quadruples of K: [ob][kp/4][16][4] */
    if (!o->wg) ASIM_CHECK(asim_calloc(&o->wg, (size_t)(o->rpad * o->kp), 1));
    int8_t *wg = o->wg;
    const int64_t kp4 = o->kp / 4;
    for (int64_t ob = 0; ob < o->rpad / ASIM_RB; ob++)
      for (int64_t r = 0; r < ASIM_RB; r++) {
        const int16_t *src = o->codes + (ob * ASIM_RB + r) * o->kp;
        int8_t *dst = wg + ob * kp4 * 64 + r * 4;
        for (int64_t q = 0; q < kp4; q++)
          for (int e = 0; e < 4; e++) dst[q * 64 + e] = (int8_t)src[4 * q + e];
      }
    o->gemm = g;
  } else if (g) { /* pairs of K: [ob][kp/2][16][2] */
    const int64_t kp2 = o->kp / 2;
    if (!o->wg) ASIM_CHECK(asim_calloc(&o->wg, (size_t)(o->rpad * o->kp), 2));
    uint16_t *wg = o->wg;
    for (int64_t ob = 0; ob < o->rpad / ASIM_RB; ob++)
      for (int64_t r = 0; r < ASIM_RB; r++) {
        const int16_t *src = o->codes + (ob * ASIM_RB + r) * o->kp;
        uint16_t *dst = wg + ob * kp2 * 32 + r * 2;
        for (int64_t q = 0; q < kp2; q++) {
          dst[q * 32] = g == ASIM_GEMM_BF16 ? asim_bf16_of(src[2 * q]) : (uint16_t)src[2 * q];
          dst[q * 32 + 1] = g == ASIM_GEMM_BF16 ? asim_bf16_of(src[2 * q + 1]) : (uint16_t)src[2 * q + 1];
        }
      }
    o->gemm = g;
  }
  if (!keep_codes) {
    free(o->codes);
    o->codes = NULL;
  }
  return ASIM_OK;
}

asim_status asim_opnd_reserve_x(asim_opnd *o, const asim_macro *m, asim_isa isa, int *gemm) {
  int g = asim_gemm_kind(m, isa);
  o->gemm = g;
  *gemm = g;
  if (!g) return ensure_planes(o);
  if (!o->ebound) ASIM_CHECK(ASIM_ALLOC(o->ebound, (size_t)(o->cap * o->nl)));
  if (g == ASIM_GEMM_BF16 || g == ASIM_GEMM_I8) {
    if (!o->xg) ASIM_CHECK(asim_calloc(&o->xg, (size_t)(o->cap * o->kp), g == ASIM_GEMM_I8 ? 1 : 2));
    o->codes_stale = 1;
    free(o->codes); /* only the fallback needs codes: rebuilt from xg then */
    o->codes = NULL;
  }
  return ASIM_OK;
}

void asim_opnd_pack_x(asim_opnd *o, asim_isa isa) { asim_kernels(isa).pack(o, 0, o->rpad / ASIM_RB); }

asim_status asim_opnd_fill_x(asim_opnd *o, const asim_macro *m, asim_isa isa, const int32_t *codes, int64_t ld,
                             int64_t K) {
  const int g = asim_gemm_kind(m, isa);
  if (g == ASIM_GEMM_NONE || g == ASIM_GEMM_I16) {
    if (!o->codes) ASIM_CHECK(ASIM_ALLOC(o->codes, (size_t)(o->cap * o->kp)));
    asim_opnd_set_rows(o, codes, ld, K, m->d.load_rows);
    return asim_opnd_prepare_x(o, m, isa);
  }
  /* int8 / bf16 GEMM data and the bounds straight from the int32 codes */
  o->gemm = g;
  o->codes_stale = 1;
  if (!o->ebound) ASIM_CHECK(ASIM_ALLOC(o->ebound, (size_t)(o->cap * o->nl)));
  if (o->is_signed && !o->absum) ASIM_CHECK(ASIM_ALLOC(o->absum, (size_t)(o->cap * o->nl)));
  if (!o->xg) ASIM_CHECK(asim_calloc(&o->xg, (size_t)(o->cap * o->kp), g == ASIM_GEMM_I8 ? 1 : 2));
  const int64_t L = m->d.load_rows, wmax = ((int64_t)1 << m->d.wbit) - 1, neg = (int64_t)1 << (o->bits - 1);
  const size_t esz = g == ASIM_GEMM_I8 ? 1 : 2;
  memset((char *)o->xg + o->rows * o->kp * esz, 0, esz * (size_t)((o->rpad - o->rows) * o->kp));
  memset(o->ebound + o->rows * o->nl, 0, sizeof(int64_t) * (size_t)((o->rpad - o->rows) * o->nl));
  if (o->absum) memset(o->absum + o->rows * o->nl, 0, sizeof(int64_t) * (size_t)((o->rpad - o->rows) * o->nl));
  for (int64_t r = 0; r < o->rows; r++) {
    const int32_t *src = codes + r * ld;
    for (int64_t n = 0; n < o->nl; n++) {
      const int64_t k0 = n * L, k1 = k0 + L < K ? k0 + L : K;
      int64_t sum = 0;
      if (g == ASIM_GEMM_I8) {
        int8_t *dst = (int8_t *)o->xg + r * o->kp + n * o->lp - k0;
        for (int64_t k = k0; k < k1; k++) dst[k] = (int8_t)src[k];
      } else {
        uint16_t *dst = (uint16_t *)o->xg + r * o->kp + n * o->lp - k0;
        for (int64_t k = k0; k < k1; k++) dst[k] = asim_bf16_of(src[k]);
      }
      if (o->is_signed) {
        int64_t abs = 0;
        for (int64_t k = k0; k < k1; k++) sum += src[k] >= 0 ? src[k] : neg;
        for (int64_t k = k0; k < k1; k++) abs += src[k] >= 0 ? src[k] : -src[k];
        o->absum[r * o->nl + n] = abs;
      } else {
        for (int64_t k = k0; k < k1; k++) sum += src[k];
      }
      o->ebound[r * o->nl + n] = wmax * sum;
    }
  }
  return ASIM_OK;
}

asim_status asim_opnd_prepare_x(asim_opnd *o, const asim_macro *m, asim_isa isa) {
  int g = asim_gemm_kind(m, isa);
  o->gemm = g;
  o->codes_stale = 0;
  if (!g) {
    ASIM_CHECK(ensure_planes(o));
    asim_kernels(isa).pack(o, 0, o->rpad / ASIM_RB);
    return ASIM_OK;
  }
  if (!o->ebound) ASIM_CHECK(ASIM_ALLOC(o->ebound, (size_t)(o->cap * o->nl)));
  if (o->is_signed && !o->absum) ASIM_CHECK(ASIM_ALLOC(o->absum, (size_t)(o->cap * o->nl)));
  const int64_t wmax = ((int64_t)1 << m->d.wbit) - 1, neg = (int64_t)1 << (o->bits - 1);
  for (int64_t r = 0; r < o->rpad; r++)
    for (int64_t n = 0; n < o->nl; n++) {
      const int16_t *x = o->codes + r * o->kp + n * o->lp;
      int64_t s = 0, abs = 0;
      if (o->is_signed) {
        for (int64_t j = 0; j < o->lp; j++) s += x[j] >= 0 ? x[j] : neg;
        for (int64_t j = 0; j < o->lp; j++) abs += x[j] >= 0 ? x[j] : -x[j];
        o->absum[r * o->nl + n] = abs;
      } else {
        for (int64_t j = 0; j < o->lp; j++) s += (uint16_t)x[j];
      }
      o->ebound[r * o->nl + n] = wmax * s;
    }
  if (g == ASIM_GEMM_BF16) {
    if (!o->xg) ASIM_CHECK(asim_calloc(&o->xg, (size_t)(o->cap * o->kp), 2));
    uint16_t *xg = o->xg;
    for (int64_t i = 0; i < o->rpad * o->kp; i++) xg[i] = asim_bf16_of(o->codes[i]);
  } else if (g == ASIM_GEMM_I8) {
    if (!o->xg) ASIM_CHECK(asim_calloc(&o->xg, (size_t)(o->cap * o->kp), 1));
    int8_t *xg = o->xg;
    for (int64_t i = 0; i < o->rpad * o->kp; i++) xg[i] = (int8_t)o->codes[i];
  }
  return ASIM_OK;
}

/* Codes of row blocks [rb0, rb1) back from the GEMM copy the layer wrote (both exact). */
asim_status asim_opnd_codes_from_xg(asim_opnd *o, int64_t rb0, int64_t rb1) {
  if (!o->codes) ASIM_CHECK(ASIM_ALLOC(o->codes, (size_t)(o->cap * o->kp)));
  for (int64_t j = rb0 * ASIM_RB * o->kp; j < rb1 * ASIM_RB * o->kp; j++) {
    if (o->gemm == ASIM_GEMM_I8) {
      const int8_t v = ((const int8_t *)o->xg)[j];
      o->codes[j] = o->is_signed ? v : (int16_t)(uint8_t)v;
    } else {
      uint32_t u = (uint32_t)((const uint16_t *)o->xg)[j] << 16;
      float f;
      memcpy(&f, &u, 4);
      o->codes[j] = (int16_t)f;
    }
  }
  return ASIM_OK;
}

/* ---- portable packing --------------------------------------------------------------------- */

void asim_pack_scalar(asim_opnd *o, int64_t rb0, int64_t rb1) {
  const int64_t nl = o->nl, wpl = o->wpl, B = o->bits;
  for (int64_t rb = rb0; rb < rb1; rb++)
    for (int64_t n = 0; n < nl; n++)
      for (int64_t w = 0; w < wpl; w++) {
        uint32_t *dst = o->planes + ((rb * nl + n) * B * wpl + w) * ASIM_RB;
        for (int r = 0; r < ASIM_RB; r++) {
          const int16_t *x = o->codes + (rb * ASIM_RB + r) * o->kp + n * o->lp + w * 32;
          for (int64_t t = 0; t < B; t++) {
            uint32_t word = 0;
            for (int j = 0; j < 32; j++) word |= (uint32_t)(((uint16_t)x[j] >> t) & 1u) << j;
            dst[t * wpl * ASIM_RB + r] = word;
          }
        }
      }
}
