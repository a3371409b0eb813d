/* Per-layer weight caches: quantise and pack a layer's weights once, rebuild on change. */
#include <stdlib.h>
#include <string.h>

#include "asim/quant.h"
#include "kernels.h"

asim_status asim_wcache_new(asim_wcache **c) {
  ASIM_CHECK(ASIM_ALLOC(*c, 1));
  return ASIM_OK;
}

static void clear_weights(asim_wcache *c) {
  asim_macro_free(&c->m);
  asim_opnd_free(&c->W);
  c->valid = 0;
}

static void clear_xspace(asim_wcache *c) {
  asim_opnd_free(&c->X);
  free(c->img);
  free(c->S);
  free(c->tmp);
  c->img = NULL, c->S = NULL, c->tmp = NULL;
  memset(c->xkey, 0, sizeof c->xkey);
}

void asim_wcache_clear(asim_wcache *c) {
  clear_weights(c);
  clear_xspace(c);
  free(c->wvar);
  int64_t builds = c->builds;
  int nocheck = c->nocheck;
  memset(c, 0, sizeof *c);
  c->builds = builds, c->nocheck = nocheck;
}

asim_status asim_wcache_wvar(asim_wcache *c, const asim_macro *m, int64_t rows, asim_noise_key key, const float **eps) {
  float wv = m->d.weight_var;
  uint32_t wbits;
  memcpy(&wbits, &wv, sizeof wbits);
  const int64_t geom[6] = {((int64_t)key.seed << 32) | key.layer_id, rows, m->d.K, m->d.load_rows,
                           m->d.n_loads, ((int64_t)m->d.wbit << 32) | wbits};
  if (!c->wvar || memcmp(geom, c->wvar_geom, sizeof geom)) {
    free(c->wvar);
    c->wvar = NULL;
    ASIM_CHECK(asim_weight_var_table(&c->wvar, m, rows, key));
    memcpy(c->wvar_geom, geom, sizeof geom);
  }
  *eps = c->wvar;
  return ASIM_OK;
}

void asim_wcache_check_values(asim_wcache *c, int on) {
  if (c) c->nocheck = !on;
}

asim_status asim_wcache_xspace(asim_wcache *c, const int64_t key[6], int64_t rows, int bits, int is_signed,
                               asim_isa isa, asim_opnd **X) {
  if (!c->valid) return ASIM_ERR(ASIM_EINVAL, "workspace of an unbuilt weight cache");
  if (memcmp(c->xkey, key, sizeof c->xkey) || !c->X.nl || c->X.cap < rows || c->X.bits != bits ||
      c->X.is_signed != is_signed) {
    clear_xspace(c);
    ASIM_CHECK(asim_opnd_alloc(&c->X, rows, bits, is_signed, &c->m, isa));
    memcpy(c->xkey, key, sizeof c->xkey);
  }
  asim_opnd_set_nrows(&c->X, rows);
  *X = &c->X;
  return ASIM_OK;
}

void asim_wcache_free(asim_wcache *c) {
  if (!c) return;
  asim_wcache_clear(c);
  free(c);
}

void asim_wcache_invalidate(asim_wcache *c) {
  if (c) c->valid = 0;
}

size_t asim_wcache_bytes(const asim_wcache *c) {
  if (!c || !c->valid) return 0;
  size_t n = asim_opnd_bytes(&c->W) + asim_opnd_bytes(&c->X);
  for (int b = 0; b <= ASIM_MAX_BITS; b++)
    if (c->m.ntabs[b].ent)
      n += (size_t)((c->m.ntabs[b].mmax + 1) << c->m.ntabs[b].lw) * 8 + (size_t)c->m.ntabs[b].ncodes * 4;
  return n;
}

int64_t asim_wcache_builds(const asim_wcache *c) { return c ? c->builds : 0; }

/* Fletcher-style sums over the 32-bit words in 16 lanes (vectorises): every word of layers up
 * to 2^18 weights; of larger ones 4096 runs of 16 words spread evenly over the tensor (a full
 * pass would cost one read of all float weights per call). Any re-initialisation, loading or
 * training step changes it; an in-place edit of single weights of a large layer may not —
 * asim_wcache_invalidate covers that. */
static uint64_t checksum(const float *w, int64_t n) {
  const uint32_t *u = (const uint32_t *)w;
  uint32_t a[16] = {0}, b[16] = {0};
  int64_t i = 0;
  if (n > ((int64_t)1 << 18)) {
    const int64_t step = (n - 16) / 4095;
    for (int64_t r = 0; r < 4096; r++, i = r * step)
      for (int l = 0; l < 16; l++) a[l] += u[i + l], b[l] += a[l];
    i = n; /* no tail */
  }
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) a[l] += u[i + l], b[l] += a[l];
  for (; i < n; i++) a[0] += u[i], b[0] += a[0];
  uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ull;
  for (int l = 0; l < 16; l++) {
    h = (h ^ a[l]) * 0xff51afd7ed558ccdull;
    h = (h ^ b[l] ^ (h >> 29)) * 0xc4ceb9fe1a85ec53ull;
  }
  return h;
}

static int same_desc(const asim_macro_desc *a, const asim_macro_desc *b) {
  return a->wbit == b->wbit && a->xbit == b->xbit && a->x_signed == b->x_signed && a->adc_prec == b->adc_prec &&
         a->nrow == b->nrow && a->act_enc == b->act_enc && a->hybrid_levels == b->hybrid_levels &&
         a->rand_noise_sigma == b->rand_noise_sigma && a->non_linear_sigma == b->non_linear_sigma && a->K == b->K &&
         a->load_rows == b->load_rows && a->n_loads == b->n_loads && a->noise_formula == b->noise_formula &&
         a->voting == b->voting && a->voting_levels == b->voting_levels && a->num_samp == b->num_samp &&
         a->non_linear_alpha == b->non_linear_alpha && a->weight_var == b->weight_var &&
         a->weight_bp == b->weight_bp && a->wbp_requantize == b->wbp_requantize && a->wbp_wrap == b->wbp_wrap;
}

static asim_status get(asim_wcache *c, const float *w, int64_t O, int64_t K, const asim_conv_layout *cl,
                       const asim_macro_desc *d, asim_isa isa, const asim_macro **m, const asim_opnd **W, float *sw) {
  const uint64_t sum = c->nocheck && c->valid ? c->sum : checksum(w, O * K);
  const asim_conv_layout none = {0, 0, 0}, *L = cl ? cl : &none;
  if (!(c->valid && c->src == w && c->O == O && c->K == K && c->sum == sum && c->isa == (int)isa &&
        c->cl.C == L->C && c->cl.kk == L->kk && c->cl.G == L->G && same_desc(&c->d, d))) {
    asim_status st = ASIM_OK;
    int32_t *wq = NULL, *kmap = NULL;
    clear_weights(c);
    clear_xspace(c);
    c->builds++;
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(wq, (size_t)(O * K)), fail);
    c->sw = asim_scale_from_max(asim_absmax(w, O * K));
    asim_quantize(wq, w, O * K, c->sw, d->wbit, 1);
    ASIM_CHECK_GOTO(st, asim_macro_init(&c->m, d), fail);
    ASIM_CHECK_GOTO(st, asim_opnd_alloc(&c->W, O, d->wbit, 1, &c->m, isa), fail);
    if (cl) { /* tap-major rows inside each load (kernels.h) */
      ASIM_CHECK_GOTO(st, ASIM_ALLOC(kmap, (size_t)K), fail);
      for (int64_t ch = 0; ch < cl->C; ch++)
        for (int64_t t = 0; t < cl->kk; t++) {
          const int64_t n = ch / cl->G, g = ch % cl->G;
          kmap[ch * cl->kk + t] =
              n < c->W.nl ? (int32_t)(n * c->W.lp + t * asim_conv_load_channels(cl, n) + g) : -1;
        }
      asim_opnd_set_rows_map(&c->W, wq, K, K, kmap);
    } else {
      asim_opnd_set_rows(&c->W, wq, K, K, d->load_rows);
    }
    ASIM_CHECK_GOTO(st, asim_opnd_prepare_w(&c->W, &c->m, isa, 0), fail);
    free(wq);
    free(kmap);
    c->src = w, c->n = O * K, c->O = O, c->K = K, c->sum = sum, c->d = *d, c->isa = (int)isa, c->cl = *L;
    c->valid = 1;
    goto ok;
  fail:
    free(wq);
    free(kmap);
    clear_weights(c);
    return st;
  }
ok:
  *m = &c->m;
  *W = &c->W;
  *sw = c->sw;
  return ASIM_OK;
}

asim_status asim_wcache_get(asim_wcache *c, const float *w, int64_t O, int64_t K, const asim_macro_desc *d,
                            asim_isa isa, const asim_macro **m, const asim_opnd **W, float *sw) {
  return get(c, w, O, K, NULL, d, isa, m, W, sw);
}

asim_status asim_wcache_get_conv(asim_wcache *c, const float *w, int64_t O, const asim_conv_layout *cl,
                                 const asim_macro_desc *d, asim_isa isa, const asim_macro **m, const asim_opnd **W,
                                 float *sw) {
  if (cl->G < 1 || cl->kk < 1 || cl->C * cl->kk != d->K)
    return ASIM_ERR(ASIM_EINVAL, "conv layout (%lld channels x %lld taps) does not match K = %lld", (long long)cl->C,
                    (long long)cl->kk, (long long)d->K);
  return get(c, w, O, d->K, cl, d, isa, m, W, sw);
}
