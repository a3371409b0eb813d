#include "asim/linear.h"

#include <cblas.h>
#include <stdlib.h>

#include "asim/quant.h"
#include "cim/kernels.h"
#include <string.h>

asim_status asim_linear_check(const asim_linear_dims *l) {
  if (l->in_features < 1 || l->out_features < 1)
    return ASIM_ERR(ASIM_EINVAL, "ASiMLinear: bad size %d -> %d", l->in_features, l->out_features);
  const asim_cim_params *p = &l->p;
  ASIM_CHECK(asim_cim_params_check(p, "ASiMLinear"));
  if (p->mode == ASIM_SIMULATION && p->act_enc > 0) {
    if (p->signed_act && p->act_enc >= p->xbit)
      return ASIM_ERR(ASIM_EINVAL, "ASiMLinear: act_enc = %d with signed activations: must be < xbit (= %d), "
                      "the sign bit has its own cycle", p->act_enc, p->xbit);
    if (!p->signed_act && p->act_enc > p->xbit)
      return ASIM_ERR(ASIM_EINVAL, "ASiMLinear: act_enc = %d: must be <= xbit (= %d)", p->act_enc, p->xbit);
  }
  return ASIM_OK;
}

/* out (R, O) = x (R, K) · wᵀ */
static void linear_gemm(float *out, const float *x, const float *w, int64_t R, int64_t O, int64_t K) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)O, (int)K, 1.0f, x, (int)K, w, (int)K,
              0.0f, out, (int)O);
}

/* Simulation with one of ASiM's extensions (spec §11) on the plain reference macro kernel; a
 * weight cell's index is o·K + k, the key of its current-domain variation. */
static asim_status linear_sim_ext(float *out, float *sw, const float *weight, const int32_t *xq, int64_t rows,
                                  int64_t K, int64_t O, const asim_cim_params *p, asim_noise_addr na,
                                  asim_wcache *wc) {
  asim_macro m;
  asim_bitmat Wb, Xb;
  memset(&m, 0, sizeof m), memset(&Wb, 0, sizeof Wb), memset(&Xb, 0, sizeof Xb);
  int32_t *wq = NULL;
  asim_status st = ASIM_OK;
  const asim_macro_desc d = asim_cim_macro_desc(p, p->wbit, p->xbit, p->signed_act, p->act_enc, K, p->nrow,
                                                (K + p->nrow - 1) / p->nrow);
  *sw = asim_scale_from_max(asim_absmax(weight, O * K));
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(wq, (size_t)(O * K)), done);
  asim_quantize(wq, weight, O * K, *sw, p->wbit, 1);
  ASIM_CHECK_GOTO(st, asim_macro_init(&m, &d), done);
  ASIM_CHECK_GOTO(st, asim_bitmat_pack(&Wb, wq, O, &m, p->wbit), done);
  ASIM_CHECK_GOTO(st, asim_bitmat_pack(&Xb, xq, rows, &m, p->xbit), done);
  if (p->weight_var != 0.0f) ASIM_CHECK_GOTO(st, asim_wcache_wvar(wc, &m, O, na.key, &na.wvar), done);
  ASIM_CHECK_GOTO(st, asim_macro_run_reference(out, O, 1, &m, &Wb, &Xb, &na), done);
done:
  asim_bitmat_free(&Xb);
  asim_bitmat_free(&Wb);
  asim_macro_free(&m);
  free(wq);
  return st;
}

asim_status asim_linear_forward(float *out, const float *in, int B, int T, const float *weight,
                                const float *bias, const asim_linear_dims *l, const asim_exec *ex) {
  ASIM_CHECK(asim_linear_check(l));
  if (B < 1 || T < 1) return ASIM_ERR(ASIM_ESHAPE, "ASiMLinear: empty input (%d x %d rows)", B, T);
  const asim_cim_params *p = &l->p;
  const int sa = p->signed_act;
  const int64_t K = l->in_features, O = l->out_features, in_n = (int64_t)T * K, out_n = (int64_t)T * O;
  const asim_noise_key key = {ex ? ex->seed : 0, l->layer_id};
  const int64_t sample0 = ex ? ex->sample0 : 0;
  const int per_sample = ex && ex->per_sample_scale;

  asim_status st = ASIM_OK;
  float *sx = NULL, *wf = NULL, *xf = NULL;
  int32_t *wq = NULL, *xq = NULL;
  asim_wcache wlocal, *wc = l->cache ? l->cache : &wlocal;
  memset(&wlocal, 0, sizeof wlocal);

  ASIM_CHECK_GOTO(st, ASIM_ALLOC(sx, (size_t)B), done);
  if (per_sample)
    for (int b = 0; b < B; b++) sx[b] = asim_act_scale(in + b * in_n, in_n, sa, NULL);
  else {
    float s = asim_act_scale(in, B * in_n, sa, ex);
    for (int b = 0; b < B; b++) sx[b] = s;
  }
  float sw = p->mode == ASIM_SIMULATION ? 0.0f : asim_scale_from_max(asim_absmax(weight, O * K));
  if (p->mode != ASIM_SIMULATION) {
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(wf, (size_t)(O * K)), done);
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(xf, (size_t)(B * in_n)), done);
  }

  if (p->mode == ASIM_TRAIN) {
    asim_fake_quantize(wf, weight, O * K, sw, p->wbit, 1);
    for (int b = 0; b < B; b++) asim_fake_quantize(xf + b * in_n, in + b * in_n, in_n, sx[b], p->xbit, sa);
    linear_gemm(out, xf, wf, (int64_t)B * T, O, K);
    for (int b = 0; b < B; b++) {
      float *y = out + b * out_n;
      if (bias)
        for (int64_t r = 0; r < T; r++)
          for (int64_t o = 0; o < O; o++) y[r * O + o] += bias[o];
      asim_trim_noise(y, out_n, out_n, p->trim_noise, key, sample0 + b);
    }
    goto done;
  }

  ASIM_CHECK_GOTO(st, asim_malloc(&xq, sizeof(int32_t) * (size_t)(B * in_n)), done); /* fully written */
  for (int b = 0; b < B; b++) asim_quantize(xq + b * in_n, in + b * in_n, in_n, sx[b], p->xbit, sa);
  const float D = asim_dequant_divisor(p->wbit, p->xbit, sa);

  if (p->mode == ASIM_INFERENCE) {
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(wq, (size_t)(O * K)), done);
    asim_quantize(wq, weight, O * K, sw, p->wbit, 1);
    for (int64_t i = 0; i < O * K; i++) wf[i] = (float)wq[i];
    for (int64_t i = 0; i < B * in_n; i++) xf[i] = (float)xq[i];
    linear_gemm(out, xf, wf, (int64_t)B * T, O, K);
    for (int b = 0; b < B; b++) asim_trim_noise(out + b * out_n, out_n, out_n, p->trim_noise, key, sample0 + b);
  } else if (asim_cim_ext_active(p)) {
    asim_noise_addr na = {key, sample0, T, 0, O, 1, NULL};
    ASIM_CHECK_GOTO(st, linear_sim_ext(out, &sw, weight, xq, (int64_t)B * T, K, O, p, na, wc), done);
  } else {
    const int prof = asim_prof_on();
    double t[4] = {prof ? asim_prof_now() : 0, 0, 0, 0};
    asim_macro_desc d = asim_cim_macro_desc(p, p->wbit, p->xbit, sa, p->act_enc, K, p->nrow,
                                            (K + p->nrow - 1) / p->nrow);
    const asim_isa isa = asim_isa_active();
    const asim_macro *mp;
    const asim_opnd *Wp;
    ASIM_CHECK_GOTO(st, asim_wcache_get(wc, weight, O, K, &d, isa, &mp, &Wp, &sw), done);
    const int64_t xkey[6] = {K, 0, 0, 0, 0, 0};
    asim_opnd *X;
    ASIM_CHECK_GOTO(st, asim_wcache_xspace(wc, xkey, (int64_t)B * T, p->xbit, sa, isa, &X), done);
    ASIM_CHECK_GOTO(st, asim_opnd_fill_x(X, mp, isa, xq, K, K), done);
    if (prof) t[1] = asim_prof_now();
    asim_noise_addr na = {key, sample0, T, 0, O, 1, NULL};
    int64_t fb = 0;
    const asim_out ao = asim_out_rows(out, O, 1, (int64_t)B * T);
    ASIM_CHECK_GOTO(st, asim_engine_run(&ao, mp, Wp, X, &na, asim_exec_threads(ex), isa, &fb), done);
    if (prof) {
      t[2] = t[3] = asim_prof_now();
      asim_prof_record(l->layer_id, "linear", t, (double)B * T * O * K,
                       X->gemm ? 0.0 : (double)B * T * O * mp->d.n_loads * mp->n_cycles, (double)fb);
    }
  }
  for (int b = 0; b < B; b++) {
    float *y = out + b * out_n;
    asim_dequantize(y, out_n, sw, sx[b], D);
    if (bias)
      for (int64_t r = 0; r < T; r++)
        for (int64_t o = 0; o < O; o++) y[r * O + o] += bias[o];
  }
done:
  if (wc == &wlocal) asim_wcache_clear(&wlocal);
  free(sx);
  free(wf);
  free(xf);
  free(wq);
  free(xq);
  return st;
}
