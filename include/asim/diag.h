/* diag.h — per-layer diagnostics (opt-in: report.diagnostics): for every ASiM layer the ADC
 * conversions of its Simulation products and how many clip (cim.h: asim_adc_stats), and its
 * output against the same layer in Inference mode on the same input ("ideal"). This module owns
 * the sums and the figures derived from them. Sums are formed in a fixed order — elements of a
 * sample in output order, samples in dataset order, batches and repeats in index order — and
 * counts are integers, so the figures do not depend on how samples are spread over ranks. */
#ifndef ASIM_DIAG_H
#define ASIM_DIAG_H

#include <stdint.h>

#include "asim/cim.h"
#include "asim/error.h"

/* Double sums of one layer over one sample (the order-sensitive part). */
enum { ASIM_DIAG_SQ_SIGNAL = 0, ASIM_DIAG_SQ_ERR = 1, ASIM_DIAG_ABS_ERR = 2, ASIM_DIAG_NSUM = 3 };

/* The sums of one layer over a set of samples. */
typedef struct {
  int64_t conversions, clipped_high, clipped_low, n_elements;
  double sum_sq_signal; /* Σ ideal² */
  double sum_sq_err;    /* Σ (sim − ideal)² */
  double sum_abs_err;   /* Σ |sim − ideal| */
  double max_abs_err;
} asim_diag_sums;

/* What the report shows per layer. */
typedef struct {
  double clip_fraction; /* (clipped_high + clipped_low) / conversions; NaN without conversions */
  double mean_abs_err;  /* sum_abs_err / n_elements; NaN without elements */
  double max_abs_err;
  double sqnr_db;       /* 10·log10(sum_sq_signal / sum_sq_err); +inf when sum_sq_err = 0 */
} asim_diag_figures;

/* sums[ASIM_DIAG_NSUM] of one sample's n outputs y against the ideal yi (element order), and the
 * largest |y − yi|. */
void asim_diag_sample(double *sums, double *max_abs, const float *y, const float *yi, int64_t n);
/* a += b: counts added, maximum of the maxima, double sums added (the caller fixes the order). */
void asim_diag_add(asim_diag_sums *a, const asim_diag_sums *b);
asim_diag_figures asim_diag_figures_of(const asim_diag_sums *s);

/* One forward call's record (asim_exec.diag): per layer the counts and maximum, per sample and
 * layer the double sums. */
typedef struct asim_diag_batch {
  int n_layers, cap, n_samples;
  asim_diag_sums *layer; /* [n_layers]; its double sums unused (they live in per_sample) */
  double *per_sample;    /* [cap][n_layers][ASIM_DIAG_NSUM] */
} asim_diag_batch;

asim_status asim_diag_batch_init(asim_diag_batch *d, int n_layers, int max_samples);
/* Empties the record for a call of B <= max_samples samples. */
void asim_diag_batch_reset(asim_diag_batch *d, int B);
void asim_diag_batch_free(asim_diag_batch *d);
/* Layer l of a call: outputs y and ideal outputs yi of B samples of `per` values each, and the
 * ADC statistics of its Simulation products (NULL: none). */
void asim_diag_batch_layer(asim_diag_batch *d, int l, const float *y, const float *yi, int B, int64_t per,
                           const asim_adc_stats *adc);
/* The sums of all layers (out[n_layers]) from counts and maxima `layer` and per-sample sums
 * `per_sample` ([n][n_layers][ASIM_DIAG_NSUM]) added sample by sample in order. */
void asim_diag_reduce(asim_diag_sums *out, const asim_diag_sums *layer, const double *per_sample, int64_t n,
                      int n_layers);

#endif
