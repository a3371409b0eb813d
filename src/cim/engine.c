/* The product driver: lossless GEMM with its exactness check and cycle-path fallback, or the
 * cycle kernel; work split into (row block, weight-row range) items, optionally over OpenMP
 * threads. Every output element is computed by one item with a fixed sequence of operations,
 * so results never depend on the thread count. */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define O_CHUNK 64 /* weight rows per cycle-kernel item */

static asim_status check_operands(const asim_macro *m, const asim_opnd *W, const asim_opnd *X) {
  if (W->bits != m->d.wbit || X->bits != m->d.xbit || W->nl != m->d.n_loads || X->nl != m->d.n_loads ||
      W->lp != X->lp || X->lp < m->d.load_rows || X->lp % 32)
    return ASIM_ERR(ASIM_ESHAPE, "operands do not match the macro plan (%d/%d bits, %lld/%lld loads)", W->bits,
                    X->bits, (long long)W->nl, (long long)X->nl);
  return ASIM_OK;
}

static void run_cycles(const asim_kfns *k, const asim_kargs *a, const int64_t *blocks, int64_t nblocks, int threads) {
  const int64_t O = a->W->rows, noc = (O + O_CHUNK - 1) / O_CHUNK, items = nblocks * noc;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && items > 1)
#endif
  for (int64_t it = 0; it < items; it++) { /* a row block's planes stay in L1 across the weight rows */
    int64_t pb = blocks ? blocks[it / noc] : it / noc, oc = it % noc;
    int64_t o0 = oc * O_CHUNK, o1 = o0 + O_CHUNK < O ? o0 + O_CHUNK : O;
    k->cycles(a, pb, o0, o1);
  }
}

asim_status asim_engine_run(const asim_out *out, const asim_macro *m, const asim_opnd *W, asim_opnd *X,
                            const asim_noise_addr *na, int threads, asim_isa isa, int64_t *fallback) {
  ASIM_CHECK(check_operands(m, W, X));
  if (m->ext)
    return ASIM_ERR(ASIM_EUNSUP, "the fast kernels do not run ASiM's extensions (voted, current-domain or "
                    "weight bit-parallel plans): use asim_macro_run_reference");
  if (out->rps < 1 || out->rvalid > out->rps || (out->rps % ASIM_RB && out->rps < X->rows))
    return ASIM_ERR(ASIM_EINVAL, "output rows per sample %lld: must be a multiple of %d or cover all %lld rows",
                    (long long)out->rps, ASIM_RB, (long long)X->rows);
  if (threads < 1) threads = 1;
  if (fallback) *fallback = 0;
  const asim_kfns k = asim_kernels(isa);
  const asim_noise_addr zero = {{0, 0}, 0, 1, 0, 0, 0, NULL};
  const asim_kargs a = {m, W, X, *out, na ? na : &zero};
  const int64_t nblocks = X->rpad / ASIM_RB;
  const int g = W->gemm && X->gemm == W->gemm && X->ebound ? W->gemm : ASIM_GEMM_NONE;
  if (!g) {
    if (!W->planes || !X->planes) return ASIM_ERR(ASIM_EINVAL, "operands have no bit planes");
    run_cycles(&k, &a, NULL, nblocks, threads);
    return ASIM_OK;
  }

  /* Lossless: one integer product per load, checked; rows that fail go through the cycles. */
  asim_status st = ASIM_OK;
  uint8_t *fail = NULL, *safe = NULL, small[2 * 1024];
  int64_t *bad = NULL;
  if (X->rpad <= 1024) { /* small products (attention heads): no allocation */
    fail = small, safe = small + 1024;
    memset(fail, 0, (size_t)X->rpad);
  } else {
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(fail, (size_t)X->rpad), done);
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(safe, (size_t)X->rpad), done);
  }
  {
    /* Rows whose every running sum is bounded without the per-load sums: |R_<n| <= amax·Σ_<n |x_k|
     * (Σ|x| per load: absum, or E/wmax when the codes are unsigned), so amax·Σ_<n |x_k| + E_n <= 2^24
     * for all n suffices. */
    const int64_t wmax = ((int64_t)1 << m->d.wbit) - 1, lim = (int64_t)1 << 24;
    for (int64_t r = 0; r < X->rpad; r++) {
      const int64_t *E = X->ebound + r * X->nl, *A = X->absum ? X->absum + r * X->nl : NULL;
      int64_t cum = 0;
      int ok = 1;
      for (int64_t n = 0; n < X->nl && ok; n++) {
        ok = (int64_t)W->amax * cum + E[n] <= lim;
        cum += A ? A[n] : E[n] / wmax;
      }
      safe[r] = (uint8_t)ok;
    }
    const asim_gargs ga = {W, X, *out, fail, safe};
    const asim_gemm_fn gf = g == ASIM_GEMM_I16 ? k.gemm : k.gemm_amx;
    /* item: PB row blocks × 64 weight rows; AMX configures its tiles once per item, so its items
     * take all rows (split evenly over the threads) */
    int64_t PB = 2;
    if (g != ASIM_GEMM_I16) PB = ((nblocks + threads - 1) / threads + 1) & ~(int64_t)1;
    const int64_t nob = W->rpad / ASIM_RB, OB = 4;
    const int64_t npi = (nblocks + PB - 1) / PB, noi = (nob + OB - 1) / OB, items = npi * noi;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && items > 1)
#endif
    for (int64_t it = 0; it < items; it++) {
      int64_t pi = it % npi, oi = it / npi;
      int64_t pb = pi * PB, nb = pb + PB <= nblocks ? PB : nblocks - pb;
      int64_t ob0 = oi * OB, ob1 = ob0 + OB <= nob ? ob0 + OB : nob;
      gf(&ga, pb, nb, ob0, ob1);
    }
  }
  int64_t nbad = 0;
  for (int64_t b = 0; b < nblocks; b++) {
    int any = 0;
    for (int r = 0; r < ASIM_RB; r++) any |= fail[b * ASIM_RB + r];
    if (any) {
      if (!bad) ASIM_CHECK_GOTO(st, ASIM_ALLOC(bad, (size_t)nblocks), done);
      bad[nbad++] = b;
    }
  }
  if (nbad) {
    if (!W->planes) { /* an operand packed per call kept its codes instead */
      asim_opnd *Wm = (asim_opnd *)W;
      if (!W->codes) {
        st = ASIM_ERR(ASIM_EINVAL, "weight operand has neither bit planes nor codes for the lossless fallback");
        goto done;
      }
      ASIM_CHECK_GOTO(st, ASIM_ALLOC(Wm->planes, (size_t)(W->cap * W->nl * W->bits * W->wpl)), done);
      k.pack(Wm, 0, W->rpad / ASIM_RB);
    }
    if (!X->planes) ASIM_CHECK_GOTO(st, ASIM_ALLOC(X->planes, (size_t)(X->cap * X->nl * X->bits * X->wpl)), done);
    for (int64_t i = 0; i < nbad; i++) {
      if (X->codes_stale) ASIM_CHECK_GOTO(st, asim_opnd_codes_from_xg(X, bad[i], bad[i] + 1), done); /* xg only */
      k.pack(X, bad[i], bad[i] + 1);
    }
    run_cycles(&k, &a, bad, nbad, threads);
    if (fallback) {
      int64_t rows = 0;
      for (int64_t i = 0; i < nbad; i++) {
        int nv;
        asim_out_block(out, X->rows, bad[i], &nv);
        rows += nv;
      }
      *fallback = rows * W->rows;
    }
  }
done:
  if (fail != small) {
    free(fail);
    free(safe);
  }
  free(bad);
  return st;
}

/* ---- asim_macro_run on asim_bitmat operands ------------------------------------------------ */

static asim_status opnd_of_bitmat(asim_opnd *o, const asim_bitmat *bm, const asim_macro *m) {
  memset(o, 0, sizeof *o);
  o->rows = bm->rows;
  o->rpad = o->cap = (bm->rows + ASIM_RB - 1) / ASIM_RB * ASIM_RB;
  o->bits = bm->bits;
  o->nl = m->d.n_loads;
  o->lp = (m->d.load_rows + 31) / 32 * 32;
  o->kp = o->nl * o->lp;
  o->wpl = o->lp / 32;
  ASIM_CHECK(ASIM_ALLOC(o->planes, (size_t)(o->rpad * o->nl * o->bits * o->wpl)));
  for (int64_t r = 0; r < bm->rows; r++)
    for (int t = 0; t < bm->bits; t++)
      for (int64_t n = 0; n < o->nl; n++) {
        const uint64_t *src = bm->w + ((r * bm->bits + t) * bm->n_loads + n) * bm->wpl;
        uint32_t *dst = o->planes + (((r / ASIM_RB * o->nl + n) * o->bits + t) * o->wpl) * ASIM_RB + r % ASIM_RB;
        for (int64_t w = 0; w < o->wpl; w++) dst[w * ASIM_RB] = (uint32_t)(src[w / 2] >> (32 * (w & 1)));
      }
  return ASIM_OK;
}

asim_status asim_macro_run(float *acc, int64_t ps, int64_t os, const asim_macro *m,
                           const asim_bitmat *W, const asim_bitmat *X, const asim_noise_addr *na) {
  const asim_macro_desc *d = &m->d;
  if (W->bits != d->wbit || X->bits != d->xbit || W->n_loads != d->n_loads || X->n_loads != d->n_loads ||
      W->wpl != m->wpl || X->wpl != m->wpl)
    return ASIM_ERR(ASIM_ESHAPE, "bit matrices do not match the macro plan (%d/%d bits, %lld loads)", W->bits,
                    X->bits, (long long)W->n_loads);
  if (W->rows < 1 || X->rows < 1) return ASIM_OK;
  if (m->ext) return asim_macro_run_reference(acc, ps, os, m, W, X, na); /* extensions: plain C only */
  asim_opnd w, x;
  asim_status st = ASIM_OK;
  memset(&x, 0, sizeof x);
  ASIM_CHECK_GOTO(st, opnd_of_bitmat(&w, W, m), done);
  ASIM_CHECK_GOTO(st, opnd_of_bitmat(&x, X, m), done);
  const asim_out out = asim_out_rows(acc, ps, os, X->rows);
  ASIM_CHECK_GOTO(st, asim_engine_run(&out, m, &w, &x, na, 1, asim_isa_active(), NULL), done);
done:
  asim_opnd_free(&w);
  asim_opnd_free(&x);
  return st;
}
