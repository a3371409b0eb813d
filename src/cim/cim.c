#include "asim/cim.h"

#include <string.h>

const char *asim_mode_name(asim_mode m) {
  switch (m) {
  case ASIM_TRAIN: return "Train";
  case ASIM_INFERENCE: return "Inference";
  case ASIM_SIMULATION: return "Simulation";
  }
  return "?";
}

asim_status asim_mode_parse(const char *s, asim_mode *m) {
  if (!strcmp(s, "Train")) *m = ASIM_TRAIN;
  else if (!strcmp(s, "Inference")) *m = ASIM_INFERENCE;
  else if (!strcmp(s, "Simulation")) *m = ASIM_SIMULATION;
  else return ASIM_ERR(ASIM_EINVAL, "mode '%s': must be Train, Inference or Simulation", s);
  return ASIM_OK;
}

asim_cim_params asim_cim_defaults(void) {
  asim_cim_params p;
  memset(&p, 0, sizeof p);
  p.mode = ASIM_INFERENCE;
  p.wbit = 8;
  p.xbit = 8;
  p.adc_prec = 8;
  p.nrow = 256;
  p.act_enc = -1;
  p.hybrid_levels = -1;
  p.voting_levels = -1;
  p.num_samp = 1;
  return p;
}

int asim_cim_ext_active(const asim_cim_params *p) {
  /* votes only differ from one conversion when there is noise to vote on */
  const int noisy = p->rand_noise_sigma > 0.0f || p->non_linear_sigma > 0.0f;
  return p->non_linear_alpha != 0.0f || p->weight_var != 0.0f || p->weight_bp ||
         (p->voting_levels >= 0 && p->num_samp > 1 && noisy);
}

asim_status asim_int_product(float *acc, int64_t ps, int64_t os, const int32_t *wq, int64_t O,
                             const int32_t *xq, int64_t P, int64_t K) {
  for (int64_t p = 0; p < P; p++) {
    const int32_t *x = xq + p * K;
    for (int64_t o = 0; o < O; o++) {
      const int32_t *w = wq + o * K;
      int64_t s = 0;
      for (int64_t k = 0; k < K; k++) s += (int64_t)x[k] * w[k];
      acc[p * ps + o * os] = (float)s;
    }
  }
  return ASIM_OK;
}

void asim_trim_noise(float *y, int64_t n, int64_t per_sample, float trim_noise_pct,
                     asim_noise_key key, int64_t sample0) {
  const float sigma = trim_noise_pct / 100.0f;
  if (trim_noise_pct == 0.0f) return; /* ASiM adds ±0: no numerical effect */
  for (int64_t e = 0; e < n; e++) {
    float z, unused;
    int64_t s = e / per_sample;
    asim_normal2(key, (uint64_t)(sample0 + s), (uint32_t)(e - s * per_sample), 0xffffffffu,
                 ASIM_STREAM_TRIM, &z, &unused);
    y[e] = y[e] + (z * sigma) * y[e];
  }
}

#include "asim/quant.h"

float asim_act_scale(const float *x, int64_t n, int is_signed, const asim_exec *ex) {
  float m = is_signed ? asim_absmax(x, n) : asim_max(x, n);
  return asim_scale_from_max(asim_exec_reduce_max(ex, m));
}

asim_status asim_cim_params_check(const asim_cim_params *p, const char *what) {
  if (p->mode != ASIM_TRAIN && p->mode != ASIM_INFERENCE && p->mode != ASIM_SIMULATION)
    return ASIM_ERR(ASIM_EINVAL, "%s: unknown mode %d", what, (int)p->mode);
  if (p->wbit < 2 || p->wbit > ASIM_MAX_BITS)
    return ASIM_ERR(ASIM_EINVAL, "%s: wbit = %d: must be in 2..%d", what, p->wbit, ASIM_MAX_BITS);
  int xmin = p->signed_act ? 2 : 1;
  if (p->xbit < xmin || p->xbit > ASIM_MAX_BITS)
    return ASIM_ERR(ASIM_EINVAL, "%s: xbit = %d: must be in %d..%d", what, p->xbit, xmin, ASIM_MAX_BITS);
  if (p->adc_prec < 1 || p->adc_prec > 126)
    return ASIM_ERR(ASIM_EINVAL, "%s: adc_prec = %d: must be in 1..126", what, p->adc_prec);
  if (p->nrow < 1) return ASIM_ERR(ASIM_EINVAL, "%s: nrow = %d: must be >= 1", what, p->nrow);
  if (p->act_enc < -1 || p->act_enc == 0)
    return ASIM_ERR(ASIM_EINVAL, "%s: act_enc = %d: must be None or >= 1", what, p->act_enc);
  if (p->hybrid_levels < -1)
    return ASIM_ERR(ASIM_EINVAL, "%s: hybrid_levels = %d: must be None or >= 0", what, p->hybrid_levels);
  if (!(p->rand_noise_sigma >= 0.0f) || !(p->non_linear_sigma >= 0.0f) || !(p->trim_noise >= 0.0f))
    return ASIM_ERR(ASIM_EINVAL, "%s: noise levels must be >= 0 (rand %g, non-linear %g, trim %g)", what,
                    p->rand_noise_sigma, p->non_linear_sigma, p->trim_noise);
  if (p->voting_levels < -1)
    return ASIM_ERR(ASIM_EINVAL, "%s: voting_levels = %d: must be None or >= 0", what, p->voting_levels);
  if (p->num_samp < 1 || p->num_samp > 255)
    return ASIM_ERR(ASIM_EINVAL, "%s: num_samp = %d: must be in 1..255", what, p->num_samp);
  if (!(p->non_linear_alpha >= 0.0f) || !(p->weight_var >= 0.0f))
    return ASIM_ERR(ASIM_EINVAL, "%s: non_linear_alpha = %g, weight_var = %g: must be >= 0", what,
                    p->non_linear_alpha, p->weight_var);
  if (p->weight_bp != 0 && p->weight_bp != 1)
    return ASIM_ERR(ASIM_EINVAL, "%s: weight_bp = %d: must be 0 or 1", what, p->weight_bp);
  if (p->mode != ASIM_SIMULATION) return ASIM_OK; /* the extensions act on the simulated datapath only */
  const int mv = p->voting_levels >= 0, cdm = p->non_linear_alpha != 0.0f || p->weight_var != 0.0f;
  if (mv + cdm + (p->weight_bp != 0) > 1)
    return ASIM_ERR(ASIM_EINVAL, "%s: majority voting (voting_levels), current domain (non_linear_alpha, "
                    "weight_var) and weight_bp are separate extensions: enable one", what);
  if (mv && p->hybrid_levels >= 0)
    return ASIM_ERR(ASIM_EINVAL, "%s: voting_levels = %d with hybrid_levels = %d: majority voting replaces "
                    "hybrid_levels (every cycle is analog)", what, p->voting_levels, p->hybrid_levels);
  if (!mv && p->num_samp > 1)
    return ASIM_ERR(ASIM_EINVAL, "%s: num_samp = %d needs voting_levels (the cycles voted on)", what, p->num_samp);
  if (mv && p->num_samp > 1 && p->act_enc > 0)
    return ASIM_ERR(ASIM_EINVAL, "%s: num_samp = %d with act_enc = %d: majority voting repeats bit-serial "
                    "conversions only (ASiM asserts the same)", what, p->num_samp, p->act_enc);
  if (cdm && p->non_linear_sigma != 0.0f)
    return ASIM_ERR(ASIM_EINVAL, "%s: non_linear_sigma = %g with current-domain settings: gain compression "
                    "(non_linear_alpha) replaces the non-linearity noise; set it to 0", what, p->non_linear_sigma);
  if (p->weight_bp) {
    if (p->act_enc < 1)
      return ASIM_ERR(ASIM_EINVAL, "%s: weight_bp needs act_enc (activation bits per cycle)", what);
    if (p->signed_act)
      return ASIM_ERR(ASIM_EINVAL, "%s: weight_bp with signed activations: the weight bit-parallel datapath "
                      "encodes unsigned activations only", what);
    if (p->adc_prec < 2)
      return ASIM_ERR(ASIM_EINVAL, "%s: weight_bp needs adc_prec >= 2 (signed ADC)", what);
    if (p->non_linear_sigma != 0.0f)
      return ASIM_ERR(ASIM_EINVAL, "%s: non_linear_sigma = %g with weight_bp: the weight bit-parallel ADC "
                      "has random noise only; set it to 0", what, p->non_linear_sigma);
  }
  return ASIM_OK;
}

asim_macro_desc asim_cim_macro_desc(const asim_cim_params *p, int wbit, int xbit, int x_signed,
                                    int act_enc, int64_t K, int64_t load_rows, int64_t n_loads) {
  asim_macro_desc d;
  memset(&d, 0, sizeof d);
  d.wbit = wbit;
  d.xbit = xbit;
  d.x_signed = x_signed;
  d.adc_prec = p->adc_prec;
  d.nrow = p->nrow;
  d.act_enc = act_enc > 0 ? act_enc : 0;
  d.hybrid_levels = p->hybrid_levels > 0 ? p->hybrid_levels : 0;
  d.rand_noise_sigma = p->rand_noise_sigma;
  d.non_linear_sigma = p->non_linear_sigma;
  d.K = K;
  d.load_rows = load_rows;
  d.n_loads = n_loads;
  if (p->voting_levels >= 0) {
    d.voting = 1;
    d.voting_levels = p->voting_levels;
    d.num_samp = p->num_samp;
    d.hybrid_levels = 0;
  }
  d.non_linear_alpha = p->non_linear_alpha;
  d.weight_var = p->weight_var;
  d.weight_bp = p->weight_bp;
  d.wbp_requantize = p->weight_bp && p->wbp_linear_requantize;
  d.wbp_wrap = p->weight_bp && p->wbp_act_enc_wrap;
  return d;
}

asim_status asim_cim_macro_noise_var(double *var, const asim_cim_params *p, int x_signed, int64_t K) {
  *var = 0.0;
  ASIM_CHECK(asim_cim_params_check(p, "train_macro_noise"));
  const int64_t loads = (K + p->nrow - 1) / p->nrow;
  asim_macro_desc d = asim_cim_macro_desc(p, p->wbit, p->xbit, x_signed, p->act_enc, K, p->nrow, loads);
  d.noise_formula = 1; /* the plan only: no noise tables */
  asim_macro m;
  ASIM_CHECK(asim_macro_init(&m, &d));
  const double s2 = ((double)p->rand_noise_sigma * p->rand_noise_sigma +
                     (double)p->non_linear_sigma * p->non_linear_sigma) / 1e4;
  double per_load = 0.0;
  for (int c = 0; c < m.n_cycles; c++) {
    const asim_cycle *cy = &m.cycles[c];
    const double R = cy->R, step = R / (double)m.A, sh = cy->shift;
    per_load += sh * sh * (step * step / 12.0 + (cy->noisy ? s2 * R * R : 0.0));
  }
  asim_macro_free(&m);
  *var = per_load * (double)loads;
  return ASIM_OK;
}
