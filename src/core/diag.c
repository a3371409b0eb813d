#include "asim/diag.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void asim_diag_sample(double *sums, double *max_abs, const float *y, const float *yi, int64_t n) {
  double sig = 0, sq = 0, ab = 0, mx = 0;
  for (int64_t i = 0; i < n; i++) {
    const double t = (double)yi[i], e = (double)y[i] - t, a = fabs(e);
    sig += t * t;
    sq += e * e;
    ab += a;
    if (a > mx || a != a) mx = a; /* a NaN output shows as a NaN maximum */
  }
  sums[ASIM_DIAG_SQ_SIGNAL] = sig;
  sums[ASIM_DIAG_SQ_ERR] = sq;
  sums[ASIM_DIAG_ABS_ERR] = ab;
  *max_abs = mx;
}

void asim_diag_add(asim_diag_sums *a, const asim_diag_sums *b) {
  a->conversions += b->conversions;
  a->clipped_high += b->clipped_high;
  a->clipped_low += b->clipped_low;
  a->n_elements += b->n_elements;
  a->sum_sq_signal += b->sum_sq_signal;
  a->sum_sq_err += b->sum_sq_err;
  a->sum_abs_err += b->sum_abs_err;
  if (b->max_abs_err > a->max_abs_err || b->max_abs_err != b->max_abs_err) a->max_abs_err = b->max_abs_err;
}

asim_diag_figures asim_diag_figures_of(const asim_diag_sums *s) {
  asim_diag_figures f;
  f.clip_fraction = s->conversions > 0 ? (double)(s->clipped_high + s->clipped_low) / (double)s->conversions : NAN;
  f.mean_abs_err = s->n_elements > 0 ? s->sum_abs_err / (double)s->n_elements : NAN;
  f.max_abs_err = s->max_abs_err;
  f.sqnr_db = s->sum_sq_err == 0.0 ? INFINITY : 10.0 * log10(s->sum_sq_signal / s->sum_sq_err);
  return f;
}

asim_status asim_diag_batch_init(asim_diag_batch *d, int n_layers, int max_samples) {
  memset(d, 0, sizeof *d);
  d->n_layers = n_layers;
  d->cap = max_samples;
  ASIM_CHECK(ASIM_ALLOC(d->layer, (size_t)(n_layers > 0 ? n_layers : 1)));
  ASIM_CHECK(ASIM_ALLOC(d->per_sample, (size_t)max_samples * (size_t)(n_layers > 0 ? n_layers : 1) * ASIM_DIAG_NSUM));
  return ASIM_OK;
}

void asim_diag_batch_reset(asim_diag_batch *d, int B) {
  d->n_samples = B;
  memset(d->layer, 0, sizeof(asim_diag_sums) * (size_t)d->n_layers);
  memset(d->per_sample, 0, sizeof(double) * (size_t)d->cap * (size_t)d->n_layers * ASIM_DIAG_NSUM);
}

void asim_diag_batch_free(asim_diag_batch *d) {
  free(d->layer);
  free(d->per_sample);
  memset(d, 0, sizeof *d);
}

void asim_diag_batch_layer(asim_diag_batch *d, int l, const float *y, const float *yi, int B, int64_t per,
                           const asim_adc_stats *adc) {
  asim_diag_sums *s = &d->layer[l];
  for (int b = 0; b < B; b++) {
    double mx;
    asim_diag_sample(d->per_sample + ((int64_t)b * d->n_layers + l) * ASIM_DIAG_NSUM, &mx, y + b * per, yi + b * per,
                     per);
    if (mx > s->max_abs_err || mx != mx) s->max_abs_err = mx;
  }
  s->n_elements += (int64_t)B * per;
  if (adc) {
    s->conversions += adc->conversions;
    s->clipped_high += adc->clipped_high;
    s->clipped_low += adc->clipped_low;
  }
}

void asim_diag_reduce(asim_diag_sums *out, const asim_diag_sums *layer, const double *per_sample, int64_t n,
                      int n_layers) {
  for (int l = 0; l < n_layers; l++) {
    out[l] = layer[l];
    out[l].sum_sq_signal = out[l].sum_sq_err = out[l].sum_abs_err = 0.0;
    for (int64_t b = 0; b < n; b++) {
      const double *p = per_sample + (b * n_layers + l) * ASIM_DIAG_NSUM;
      out[l].sum_sq_signal += p[ASIM_DIAG_SQ_SIGNAL];
      out[l].sum_sq_err += p[ASIM_DIAG_SQ_ERR];
      out[l].sum_abs_err += p[ASIM_DIAG_ABS_ERR];
    }
  }
}
