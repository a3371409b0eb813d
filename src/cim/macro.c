#include "asim/macro.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

float asim_adc(float M, float R, float A, int nrow, int noisy, float sigma_r, float sigma_nl,
               float z1, float z2) {
  float v = clamp01(M / R);
  if (noisy) {
    /* the non-linearity term shrinks with the (clamped, pre-noise) signal */
    float rn = (z1 * sigma_r) / 100.0f;
    float nl = ((z2 / sqrtf(v * (float)nrow + 1.0f)) * sigma_nl) / 100.0f;
    v = clamp01((v + rn) + nl);
  }
  float q = rintf(v * A);
  return (q / A) * R;
}

float asim_adc_cd(float M, float R, float A, float alpha, int noisy, float sigma_r, float z1) {
  float v = clamp01((M / (1.0f + alpha * M)) / R); /* compression acts before the normalisation */
  if (noisy) v = clamp01(v + (z1 * sigma_r) / 100.0f);
  float q = rintf(v * A);
  return (q / A) * R;
}

static inline float clamp11(float v) { return v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v); }

float asim_adc_wbp(float acc, float F, float L, int noisy, float sigma_r, float z1) {
  float v = clamp11(acc / F);
  if (noisy) v = clamp11(v + (z1 * sigma_r) / 100.0f);
  float q = rintf(v * L);
  return (q / L) * F;
}

float asim_weight_var_draw(asim_noise_key key, int64_t o, int64_t K, int64_t k, int i, float weight_var) {
  float z[4];
  /* keyed by the weight element alone (the sample word is fixed): every sample sees the same chip;
   * one block serves four planes */
  asim_normal4(key, 0xffffffffu, (uint32_t)(o * K + k), (uint32_t)(i >> 2), ASIM_STREAM_WVAR, z);
  return (z[i & 3] * weight_var) / 100.0f;
}

float asim_vote_mode(const float *v, int n) {
  float best = v[0];
  int best_n = 0;
  for (int a = 0; a < n; a++) {
    int c = 0;
    for (int b = 0; b < n; b++) c += v[b] == v[a];
    if (c > best_n || (c == best_n && v[a] < best)) best = v[a], best_n = c;
  }
  return best;
}

/* Transfer tables only pay off (and fit) for moderate full scales. */
#define ASIM_TABLE_LIMIT (1 << 22)

static asim_status check_desc(const asim_macro_desc *d) {
  if (d->wbit < 2 || d->wbit > ASIM_MAX_BITS)
    return ASIM_ERR(ASIM_EINVAL, "wbit = %d: must be in 2..%d", d->wbit, ASIM_MAX_BITS);
  int xmin = d->x_signed ? 2 : 1;
  if (d->xbit < xmin || d->xbit > ASIM_MAX_BITS)
    return ASIM_ERR(ASIM_EINVAL, "xbit = %d: must be in %d..%d for %s activations", d->xbit, xmin,
                    ASIM_MAX_BITS, d->x_signed ? "signed" : "unsigned");
  if (d->adc_prec < 1 || d->adc_prec > 126)
    return ASIM_ERR(ASIM_EINVAL, "adc_prec = %d: must be in 1..126", d->adc_prec);
  if (d->nrow < 1) return ASIM_ERR(ASIM_EINVAL, "nrow = %d: must be >= 1", d->nrow);
  /* the layers enforce ASiM's own act_enc limits (they differ between conv, linear and
   * attention); any width works for the cycle plan itself */
  if (d->act_enc < 0 || d->act_enc > ASIM_MAX_BITS)
    return ASIM_ERR(ASIM_EINVAL, "act_enc = %d: must be None or in 1..%d", d->act_enc, ASIM_MAX_BITS);
  if (d->hybrid_levels < 0)
    return ASIM_ERR(ASIM_EINVAL, "hybrid_levels = %d: must be None or >= 0", d->hybrid_levels);
  if (!(d->rand_noise_sigma >= 0.0f) || !(d->non_linear_sigma >= 0.0f))
    return ASIM_ERR(ASIM_EINVAL, "noise sigmas (%g, %g) must be >= 0", d->rand_noise_sigma, d->non_linear_sigma);
  if (d->K < 1 || d->load_rows < 1 || d->n_loads < 1)
    return ASIM_ERR(ASIM_EINVAL, "empty reduction (K = %lld, rows per load = %lld, loads = %lld)",
                    (long long)d->K, (long long)d->load_rows, (long long)d->n_loads);
  if (d->n_loads >= (1 << 16))
    return ASIM_ERR(ASIM_EINVAL, "%lld macro loads: at most 65535 supported", (long long)d->n_loads);
  const int cd = d->non_linear_alpha != 0.0f || d->weight_var != 0.0f;
  if (!(d->non_linear_alpha >= 0.0f) || !(d->weight_var >= 0.0f))
    return ASIM_ERR(ASIM_EINVAL, "non_linear_alpha = %g, weight_var = %g: must be >= 0", d->non_linear_alpha,
                    d->weight_var);
  if (d->voting && (d->voting_levels < 0 || d->num_samp < 1))
    return ASIM_ERR(ASIM_EINVAL, "voting_levels = %d, num_samp = %d: must be >= 0 and >= 1", d->voting_levels,
                    d->num_samp);
  if (d->voting && d->num_samp > 1 && d->act_enc)
    return ASIM_ERR(ASIM_EINVAL, "num_samp = %d with act_enc = %d: majority voting repeats bit-serial "
                    "conversions only (ASiM asserts the same)", d->num_samp, d->act_enc);
  if (cd && d->non_linear_sigma != 0.0f)
    return ASIM_ERR(ASIM_EINVAL, "non_linear_sigma = %g with current-domain settings: the current-domain "
                    "ADC replaces the non-linearity noise by non_linear_alpha", d->non_linear_sigma);
  if (d->weight_bp && (!d->act_enc || d->x_signed))
    return ASIM_ERR(ASIM_EINVAL, "weight_bp needs unsigned bit-parallel activations (act_enc = %d, %s)",
                    d->act_enc, d->x_signed ? "signed" : "unsigned");
  if (d->weight_bp && d->adc_prec < 2)
    return ASIM_ERR(ASIM_EINVAL, "weight_bp needs adc_prec >= 2 (a signed ADC of 2^(adc_prec-1) - 1 levels)");
  if (d->voting && d->num_samp > 255)
    return ASIM_ERR(ASIM_EINVAL, "num_samp = %d: at most 255 conversions per vote", d->num_samp);
  if ((d->weight_bp != 0) + (cd != 0) + (d->voting != 0) > 1)
    return ASIM_ERR(ASIM_EINVAL, "majority voting, current domain and weight_bp are separate extensions: "
                    "enable one per layer");
  int e = d->act_enc ? (d->act_enc < d->xbit ? d->act_enc : d->xbit) : 1;
  double full = (ldexp(1.0, e) - 1.0) * (double)d->nrow;
  if (full >= 16777216.0)
    return ASIM_ERR(ASIM_EINVAL, "full scale (2^%d - 1)·nrow = %.0f exceeds float32's exact integers (2^24)", e, full);
  return ASIM_OK;
}

static void add_cycle(asim_macro *m, int i, int j, int first_bit, int nbits, int negate, int noisy) {
  asim_cycle *c = &m->cycles[m->n_cycles++];
  memset(c, 0, sizeof *c);
  c->i = i;
  c->j = j;
  c->nbits = nbits;
  for (int k = 0; k < nbits; k++) c->bit[k] = first_bit + k;
  c->R = (float)((ldexp(1.0, nbits) - 1.0) * (double)m->d.nrow);
  c->shift = ldexpf(1.0f, i + first_bit);
  c->negate = negate;
  c->noisy = noisy;
  c->votes = 1;
}

/* Cycle plan of one macro load, in ASiM's order (i descending, j descending). */
static void plan_cycles(asim_macro *m) {
  const asim_macro_desc *d = &m->d;
  const int wb = d->wbit, xb = d->xbit, h = d->hybrid_levels, e = d->act_enc;
  const int sigma = d->rand_noise_sigma > 0.0f || d->non_linear_sigma > 0.0f;
  for (int i = wb - 1; i >= 0; i--) {
    const int wmsb = (i == wb - 1);
    if (e == 0) { /* bit-serial: one plane per cycle */
      for (int j = xb - 1; j >= 0; j--) {
        int neg = d->x_signed ? (wmsb != (j == xb - 1)) : wmsb;
        if (d->voting) { /* no digital cycles; the top voting_levels anti-diagonals are voted on */
          add_cycle(m, i, j, j, 1, neg, sigma);
          m->cycles[m->n_cycles - 1].votes = i + j > wb + xb - d->voting_levels - 2 ? d->num_samp : 1;
        } else {
          add_cycle(m, i, j, j, 1, neg, sigma && i + j <= wb + xb - h - 2);
        }
      }
    } else if (!d->x_signed) { /* groups of e bits; the top group holds the remainder */
      int T = (xb + e - 1) / e, r = xb % e;
      for (int j = T - 1; j >= 0; j--) {
        int ej = (j == T - 1 && r != 0) ? r : e;
        if (d->weight_bp) { /* no per-cycle ADC: one conversion of the whole sum (asim_adc_wbp) */
          add_cycle(m, i, j, e * j, d->wbp_wrap ? e : ej, wmsb, 0);
          asim_cycle *c = &m->cycles[m->n_cycles - 1];
          for (int k = 0; k < c->nbits; k++) /* ASiM indexes past the top bit from the other end */
            if (c->bit[k] >= xb) c->bit[k] -= xb;
        } else {
          add_cycle(m, i, j, e * j, ej, wmsb, (d->voting ? sigma : sigma && i + j <= wb + T - h - 2));
        }
      }
    } else { /* the sign bit gets its own 1-bit cycle, magnitude bits in groups of e */
      int T = (xb - 1 + e - 1) / e + 1, r = (xb - 1) % e;
      for (int j = T - 1; j >= 0; j--) {
        int noisy = d->voting ? sigma : sigma && i + j <= wb + T - h - 2;
        if (j == T - 1) add_cycle(m, i, j, xb - 1, 1, !wmsb, noisy);
        else add_cycle(m, i, j, e * j, (j == T - 2 && r != 0) ? r : e, wmsb, noisy);
      }
    }
  }
}


/* ---- noisy ADC as per-count code distributions ---------------------------------------------- */

/* Beyond these the formula path is used (huge ADCs, or tables too large to pay off). */
#define ASIM_NTAB_MAX_ADC 15
#define ASIM_NTAB_MAX_LW 10
#define ASIM_NTAB_MAX_ENTRIES ((int64_t)1 << 23)

typedef struct {
  double v, s, A; /* clamped normalised count, total noise std, ADC steps */
} code_dist;

static code_dist dist_of(const asim_macro *m, float R, int64_t M) {
  const asim_macro_desc *d = &m->d;
  code_dist c;
  /* v and the non-linearity denominator in float32, exactly as asim_adc computes them */
  float v = clamp01((float)M / R);
  float vn = v * (float)d->nrow + 1.0f;
  double sr = (double)d->rand_noise_sigma / 100.0, snl = (double)d->non_linear_sigma / 100.0;
  c.v = v;
  c.s = sqrt(sr * sr + snl * snl / (double)vn);
  c.A = m->A;
  return c;
}

/* 2^32·P(q <= c), rounded; 0 below the codes, 2^32 from code A on. */
static uint64_t cdf32(const code_dist *c, int64_t code) {
  if (code < 0) return 0;
  if ((double)code >= c->A) return (uint64_t)1 << 32;
  double z = (((double)code + 0.5) / c->A - c->v) / c->s;
  double F = 0.5 * erfc(-z * M_SQRT1_2);
  double t = nearbyint(ldexp(F, 32));
  if (t <= 0) return 0;
  if (t >= 4294967296.0) return (uint64_t)1 << 32;
  return (uint64_t)t;
}

/* The codes with probability mass: [lo, hi]. */
static void code_window(const code_dist *c, int64_t *lo, int64_t *hi) {
  int64_t c0 = (int64_t)nearbyint(c->v * c->A);
  int64_t a = c0, b = c0;
  while (cdf32(c, a - 1) > 0) a--;
  while (cdf32(c, b) < ((uint64_t)1 << 32)) b++;
  *lo = a, *hi = b;
}

static asim_status build_noise_table(asim_noise_table *t, const asim_macro *m, float R, int64_t mmax, int *ok) {
  *ok = 0;
  memset(t, 0, sizeof *t);
  if (m->d.adc_prec > ASIM_NTAB_MAX_ADC) return ASIM_OK;
  int64_t maxcount = 1;
  for (int64_t M = 0; M <= mmax; M++) {
    code_dist c = dist_of(m, R, M);
    int64_t lo, hi;
    code_window(&c, &lo, &hi);
    if (hi - lo + 1 > maxcount) maxcount = hi - lo + 1;
    if (maxcount > ((int64_t)1 << ASIM_NTAB_MAX_LW)) return ASIM_OK;
  }
  int lw = 1;
  while (((int64_t)1 << lw) < maxcount) lw++;
  const int64_t W = (int64_t)1 << lw, n = (mmax + 1) << lw;
  if (n > ASIM_NTAB_MAX_ENTRIES) return ASIM_OK;
  asim_status st = ASIM_OK;
  uint64_t *mass = NULL;
  int64_t *small = NULL, *large = NULL, *alias = NULL;
  uint32_t *thr = NULL;
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(t->ent, (size_t)n), fail);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(t->code_val, (size_t)m->A + 1), fail);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(mass, (size_t)W), fail);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(small, (size_t)W), fail);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(large, (size_t)W), fail);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(alias, (size_t)W), fail);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(thr, (size_t)W), fail);
  t->lw = lw;
  t->mmax = mmax;
  t->ncodes = (int)m->A + 1;
  for (int q = 0; q < t->ncodes; q++) t->code_val[q] = ((float)q / m->A) * R;
  const uint64_t cap = (uint64_t)1 << (32 - lw);
  for (int64_t M = 0; M <= mmax; M++) {
    code_dist c = dist_of(m, R, M);
    int64_t lo, hi;
    code_window(&c, &lo, &hi);
    uint64_t prev = cdf32(&c, lo - 1);
    int64_t ns = 0, nl = 0;
    for (int64_t k = 0; k < W; k++) {
      if (lo + k <= hi) {
        uint64_t cur = cdf32(&c, lo + k);
        mass[k] = cur - prev;
        prev = cur;
      } else {
        mass[k] = 0;
      }
      alias[k] = k;
      thr[k] = (uint32_t)cap;
      if (mass[k] < cap) small[ns++] = k;
      else large[nl++] = k;
    }
    /* Walker's alias construction in integers: exact, every bucket holds cap units */
    while (ns > 0 && nl > 0) {
      int64_t sk = small[--ns], lk = large[nl - 1];
      thr[sk] = (uint32_t)mass[sk];
      alias[sk] = lk;
      mass[lk] -= cap - mass[sk];
      if (mass[lk] < cap) nl--, small[ns++] = lk;
    }
    for (int64_t k = 0; k < W; k++) {
      int64_t own = lo + k <= hi ? lo + k : lo + alias[k], oth = lo + alias[k];
      t->ent[(M << lw) | k] = (uint64_t)thr[k] | (uint64_t)own << 32 | (uint64_t)oth << 48;
    }
  }
  *ok = 1;
  goto done;
fail:
  free(t->ent);
  free(t->code_val);
  memset(t, 0, sizeof *t);
done:
  free(mass);
  free(small);
  free(large);
  free(alias);
  free(thr);
  return st;
}

/* The code form of a noise-free table (asim_codemap), when one exists. */
static void build_codemap(asim_codemap *cm, const asim_macro *m, const float *table, int64_t tmax, float R) {
  memset(cm, 0, sizeof *cm);
  if (m->A > 63.0f || tmax > 32767) return;
  const int A = (int)m->A;
  static _Thread_local int q[32768];
  for (int64_t M = 0; M <= tmax; M++) {
    float v = clamp01((float)M / R);
    q[M] = (int)rintf(v * m->A); /* asim_adc's code for M */
    float val = ((float)q[M] / m->A) * R;
    if (memcmp(&val, &table[M], 4)) return; /* not the table's value: no code form */
  }
  for (int c = 0; c <= A; c++) cm->val[c] = ((float)c / m->A) * R;
  /* floor((M·mul + add) / 2^16) = q[M] for all M: for each mul near A·2^16/R, the feasible adds */
  const double c0 = (double)A * 65536.0 / (double)R;
  for (int64_t d = 0; d <= 512; d++)
    for (int sgn = -1; sgn <= 1; sgn += 2) {
      int64_t mul = (int64_t)c0 + sgn * d;
      if (mul < 0 || mul >= 32768) continue;
      int64_t lo = 0, hi = INT64_MAX;
      for (int64_t M = 0; M <= tmax && lo <= hi; M++) {
        int64_t a = ((int64_t)q[M] << 16) - M * mul, b = (((int64_t)q[M] + 1) << 16) - 1 - M * mul;
        if (a > lo) lo = a;
        if (b < hi) hi = b;
      }
      if (lo <= hi && tmax * mul + lo < ((int64_t)1 << 31)) {
        cm->ok = 1, cm->mul = (int32_t)mul, cm->add = (int32_t)lo, cm->ncodes = A + 1;
        return;
      }
    }
}

asim_status asim_macro_init(asim_macro *m, const asim_macro_desc *d) {
  memset(m, 0, sizeof *m);
  ASIM_CHECK(check_desc(d));
  m->d = *d;
  m->A = (float)(ldexp(1.0, d->adc_prec) - 1.0);
  m->wpl = (d->load_rows + 63) / 64;
  ASIM_CHECK(ASIM_ALLOC(m->cycles, (size_t)d->wbit * d->xbit));
  plan_cycles(m);
  /* current domain and weight bit-parallel convert real or whole-product sums: no count tables */
  const int direct = d->non_linear_alpha != 0.0f || d->weight_var != 0.0f || d->weight_bp;
  if (direct) {
    m->ext = 1;
    m->noisy_any = d->weight_bp ? d->rand_noise_sigma > 0.0f : 0;
    for (int c = 0; c < m->n_cycles; c++) m->noisy_any |= m->cycles[c].noisy;
    m->wbp_F = (float)((ldexp(1.0, d->xbit) - 1.0) * (ldexp(1.0, d->wbit - 1) - 1.0) * (double)d->nrow);
    m->wbp_L = (float)(ldexp(1.0, d->adc_prec - 1) - 1.0);
    return ASIM_OK;
  }
  for (int c = 0; c < m->n_cycles; c++) m->ext |= m->cycles[c].noisy && m->cycles[c].votes > 1;

  /* Noise-free transfer tables, one per distinct cycle width (same R, same range). */
  int64_t total = 0;
  int64_t tmax_of[ASIM_MAX_BITS + 1] = {0};
  for (int c = 0; c < m->n_cycles; c++) {
    asim_cycle *cy = &m->cycles[c];
    int64_t tmax = (((int64_t)1 << cy->nbits) - 1) * d->load_rows;
    if (tmax <= ASIM_TABLE_LIMIT && tmax_of[cy->nbits] == 0) {
      tmax_of[cy->nbits] = tmax;
      total += tmax + 1;
    }
    m->noisy_any |= cy->noisy;
  }
  asim_status st;
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(m->table_mem, (size_t)(total ? total : 1)), fail);
  {
    const float *table_of[ASIM_MAX_BITS + 1] = {0};
    float *t = m->table_mem;
    int lossless = !m->noisy_any;
    for (int c = 0; c < m->n_cycles; c++) {
      asim_cycle *cy = &m->cycles[c];
      int64_t tmax = tmax_of[cy->nbits];
      if (tmax == 0 || (((int64_t)1 << cy->nbits) - 1) * d->load_rows > ASIM_TABLE_LIMIT) {
        lossless = 0;
        continue;
      }
      if (!table_of[cy->nbits]) {
        for (int64_t M = 0; M <= tmax; M++) {
          t[M] = asim_adc((float)M, cy->R, m->A, d->nrow, 0, 0.0f, 0.0f, 0.0f, 0.0f);
          if (t[M] != (float)M) lossless = 0;
        }
        table_of[cy->nbits] = t;
        build_codemap(&m->cmaps[cy->nbits], m, t, tmax, cy->R);
        t += tmax + 1;
      }
      cy->table = table_of[cy->nbits];
      cy->table_max = tmax;
      if (m->cmaps[cy->nbits].ok) cy->cmap = &m->cmaps[cy->nbits];
    }
    m->lossless = lossless;
  }
  /* Noisy cycles: per-width code distributions, unless the formula is asked for */
  if (m->noisy_any && !d->noise_formula) {
    const char *env = getenv("ASIM_NOISE_SAMPLER");
    int formula = env && !strcmp(env, "formula");
    int tried[ASIM_MAX_BITS + 1] = {0}, have[ASIM_MAX_BITS + 1] = {0};
    for (int c = 0; c < m->n_cycles && !formula; c++) {
      asim_cycle *cy = &m->cycles[c];
      if (!cy->noisy) continue;
      if (!tried[cy->nbits]) {
        tried[cy->nbits] = 1;
        int64_t mmax = (((int64_t)1 << cy->nbits) - 1) * d->load_rows;
        ASIM_CHECK_GOTO(st, build_noise_table(&m->ntabs[cy->nbits], m, cy->R, mmax, &have[cy->nbits]), fail);
      }
      if (have[cy->nbits]) cy->ntab = &m->ntabs[cy->nbits];
    }
  }
  return ASIM_OK;
fail:
  asim_macro_free(m);
  return st;
}

void asim_macro_free(asim_macro *m) {
  for (int b = 0; b <= ASIM_MAX_BITS; b++) {
    free(m->ntabs[b].ent);
    free(m->ntabs[b].code_val);
  }
  free(m->cycles);
  free(m->table_mem);
  memset(m, 0, sizeof *m);
}

asim_status asim_bitmat_pack(asim_bitmat *bm, const int32_t *codes, int64_t rows,
                             const asim_macro *m, int bits) {
  memset(bm, 0, sizeof *bm);
  const int64_t K = m->d.K, L = m->d.load_rows, nl = m->d.n_loads, wpl = m->wpl;
  bm->rows = rows;
  bm->bits = bits;
  bm->n_loads = nl;
  bm->wpl = wpl;
  ASIM_CHECK(ASIM_ALLOC(bm->w, (size_t)(rows * bits * nl * wpl)));
  for (int64_t r = 0; r < rows; r++) {
    const int32_t *row = codes + r * K;
    for (int64_t n = 0; n < nl; n++) {
      int64_t k0 = n * L, k1 = k0 + L < K ? k0 + L : K;
      for (int64_t k = k0; k < k1; k++) {
        uint32_t v = (uint32_t)row[k]; /* two's complement: the same bits for signed and unsigned */
        if (!v) continue;
        int64_t off = k - k0;
        uint64_t bit = (uint64_t)1 << (off & 63);
        for (int t = 0; t < bits; t++)
          if ((v >> t) & 1u) bm->w[((r * bits + t) * nl + n) * wpl + (off >> 6)] |= bit;
      }
    }
  }
  return ASIM_OK;
}

void asim_bitmat_free(asim_bitmat *bm) {
  free(bm->w);
  memset(bm, 0, sizeof *bm);
}

asim_status asim_weight_var_table(float **eps, const asim_macro *m, int64_t rows, asim_noise_key key) {
  const asim_macro_desc *d = &m->d;
  const int64_t Kp = d->n_loads * d->load_rows;
  *eps = NULL;
  ASIM_CHECK(ASIM_ALLOC(*eps, (size_t)(rows * d->wbit * Kp)));
  for (int64_t o = 0; o < rows; o++)
    for (int64_t k = 0; k < Kp && k < d->K; k++)
      for (int i0 = 0; i0 < d->wbit; i0 += 4) { /* = asim_weight_var_draw, one block per four planes */
        float z[4];
        asim_normal4(key, 0xffffffffu, (uint32_t)(o * d->K + k), (uint32_t)(i0 >> 2), ASIM_STREAM_WVAR, z);
        for (int i = i0; i < i0 + 4 && i < d->wbit; i++) (*eps)[(o * d->wbit + i) * Kp + k] = (z[i & 3] * d->weight_var) / 100.0f;
      }
  return ASIM_OK;
}

/* Σ_k x[k]·e[k] over n terms in a fixed order (16 running sums, then added in lane order): the
 * same for any row, block or thread, and vectorisable without reassociation. */
static float dot16(const float *x, const float *e, int64_t n) {
  float acc[16] = {0};
  int64_t k = 0;
  for (; k + 16 <= n; k += 16)
    for (int q = 0; q < 16; q++) acc[q] += x[k + q] * e[k + q];
  for (int q = 0; k + q < n; q++) acc[q] += x[k + q] * e[k + q];
  float s = 0.0f;
  for (int q = 0; q < 16; q++) s += acc[q];
  return s;
}

asim_status asim_macro_run_reference(float *acc, int64_t ps, int64_t os, const asim_macro *m,
                                     const asim_bitmat *W, const asim_bitmat *X, const asim_noise_addr *na) {
  const asim_macro_desc *d = &m->d;
  if (W->bits != d->wbit || X->bits != d->xbit || W->n_loads != d->n_loads ||
      X->n_loads != d->n_loads || W->wpl != m->wpl || X->wpl != m->wpl)
    return ASIM_ERR(ASIM_ESHAPE, "bit matrices do not match the macro plan (%d/%d bits, %lld loads)",
                    W->bits, X->bits, (long long)W->n_loads);
  const int wb = d->wbit, xb = d->xbit;
  const int64_t nl = d->n_loads, wpl = m->wpl, L = d->load_rows, Kp = nl * L;
  const int cd = d->non_linear_alpha != 0.0f || d->weight_var != 0.0f;
  const int wbp_noisy = d->weight_bp && d->rand_noise_sigma > 0.0f;
  float *own = NULL, *xf = NULL, *var = NULL;
  const float *eps = NULL;
  asim_status st = ASIM_OK;
  if (d->weight_var != 0.0f) {
    eps = na->wvar;
    if (!eps) {
      ASIM_CHECK_GOTO(st, asim_weight_var_table(&own, m, W->rows, na->key), done);
      eps = own;
    }
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(xf, (size_t)(xb * Kp)), done);
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(var, (size_t)(wb * xb)), done);
  }
  int32_t cnt[ASIM_MAX_BITS][ASIM_MAX_BITS];
  float votes[256];
  for (int64_t p = 0; p < X->rows; p++) {
    const uint64_t *xp = X->w + p * xb * nl * wpl;
    if (eps) /* this row's activation planes as 0/1 floats, [t][k] */
      for (int t = 0; t < xb; t++)
        for (int64_t n = 0; n < nl; n++) {
          const uint64_t *w = xp + ((int64_t)t * nl + n) * wpl;
          for (int64_t k = 0; k < L; k++) xf[(int64_t)t * Kp + n * L + k] = (float)((w[k >> 6] >> (k & 63)) & 1u);
        }
    int64_t sample = 0, elem_p = 0;
    if (m->noisy_any) {
      sample = na->sample0 + p / na->rows_per_sample;
      elem_p = na->elem0 + (p % na->rows_per_sample) * na->p_stride;
    }
    for (int64_t o = 0; o < W->rows; o++) {
      const uint64_t *wo = W->w + o * wb * nl * wpl;
      const uint32_t elem = (uint32_t)(elem_p + o * na->o_stride);
      float a = 0.0f;
      for (int64_t n = 0; n < nl; n++) {
        for (int i = 0; i < wb; i++) {
          const uint64_t *wi = wo + ((int64_t)i * nl + n) * wpl;
          for (int t = 0; t < xb; t++) {
            const uint64_t *xt = xp + ((int64_t)t * nl + n) * wpl;
            int32_t s = 0;
            for (int64_t w = 0; w < wpl; w++) s += __builtin_popcountll(wi[w] & xt[w]);
            cnt[i][t] = s;
          }
        }
        const float *vr = NULL;
        if (eps) { /* the variation of every cell this load's activation planes drive */
          for (int i = 0; i < wb; i++)
            for (int t = 0; t < xb; t++)
              var[i * xb + t] = dot16(xf + (int64_t)t * Kp + n * L, eps + (o * wb + i) * Kp + n * L, L);
          vr = var;
        }
        for (int c = 0; c < m->n_cycles; c++) {
          const asim_cycle *cy = &m->cycles[c];
          int64_t M = 0;
          float Mv = 0.0f;
          for (int k = 0; k < cy->nbits; k++) M += (int64_t)cnt[cy->i][cy->bit[k]] << k;
          if (vr) /* the cells' variation, weighted like their counts */
            for (int k = 0; k < cy->nbits; k++) Mv += vr[cy->i * xb + cy->bit[k]] * ldexpf(1.0f, k);
          const uint32_t cid = asim_cycle_id((int)n, cy->i, cy->j);
          float V;
          if (d->weight_bp) { /* exact shift-add; converted once below (or per cycle, compat) */
            float term = (float)M * cy->shift;
            a = cy->negate ? a - term : a + term;
            if (d->wbp_requantize) {
              float z1 = 0.0f, z2;
              if (wbp_noisy) asim_normal2(na->key, (uint64_t)sample, elem, cid, ASIM_STREAM_WBP, &z1, &z2);
              a = asim_adc_wbp(a, m->wbp_F, m->wbp_L, wbp_noisy, d->rand_noise_sigma, z1);
            }
            continue;
          }
          if (cd) {
            float z1 = 0.0f, z2;
            if (cy->noisy) asim_normal2(na->key, (uint64_t)sample, elem, cid, ASIM_STREAM_ADC, &z1, &z2);
            V = asim_adc_cd((float)M + Mv, cy->R, m->A, d->non_linear_alpha, cy->noisy, d->rand_noise_sigma, z1);
          } else if (cy->noisy) {
            /* repetition r draws from stream VOTE + (r << 8); the first is the ordinary draw */
            const int nv = cy->votes < 256 ? cy->votes : 256;
            for (int r = 0; r < nv; r++) {
              const uint32_t stream = r ? ASIM_STREAM_VOTE + ((uint32_t)r << 8) : ASIM_STREAM_ADC;
              if (cy->ntab) {
                votes[r] = asim_noise_sample(cy->ntab, M, asim_uniform_u32(na->key, (uint64_t)sample, elem, asim_draw_id(n, c), stream));
              } else {
                float z1, z2;
                asim_normal2(na->key, (uint64_t)sample, elem, cid, stream, &z1, &z2);
                votes[r] = asim_adc((float)M, cy->R, m->A, d->nrow, 1, d->rand_noise_sigma, d->non_linear_sigma, z1, z2);
              }
            }
            V = nv > 1 ? asim_vote_mode(votes, nv) : votes[0];
          } else if (cy->table) {
            V = cy->table[M];
          } else {
            V = asim_adc((float)M, cy->R, m->A, d->nrow, 0, 0.0f, 0.0f, 0.0f, 0.0f);
          }
          float term = V * cy->shift;
          a = cy->negate ? a - term : a + term;
        }
      }
      if (d->weight_bp && !d->wbp_requantize) {
        float z1 = 0.0f, z2;
        if (wbp_noisy) asim_normal2(na->key, (uint64_t)sample, elem, 0xffffffffu, ASIM_STREAM_WBP, &z1, &z2);
        a = asim_adc_wbp(a, m->wbp_F, m->wbp_L, wbp_noisy, d->rand_noise_sigma, z1);
      }
      acc[p * ps + o * os] = a;
    }
  }
done:
  free(own);
  free(xf);
  free(var);
  return st;
}
