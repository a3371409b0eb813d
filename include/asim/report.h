/* report.h — the run report: one parallel HDF5 file written collectively by all ranks as
 * batches finish (so a killed run keeps what it finished), resumable, readable by h5py and
 * h5dump. Schema (README "Report"):
 *   /                attrs asim_version, git_revision, nranks, seed, start_time, end_time,
 *                    model_name, task, compiler, mpi_version, hdf5_version, openblas, complete
 *   /config          the effective configuration text (libconfig)
 *   /samples/index   int64 (N)        global sample index
 *   /samples/label   int32 (N)        true label
 *   /samples/pred    int32 (N)        predicted class (-1 until computed)
 *   /samples/top5    int32 (N, 5)     five best classes, best first
 *   /samples/logits  float32 (N, C)   optional
 *   /progress/batch_done uint8 (nbatches)  1 when the batch's results are in the file
 *   /summary/confusion int64 (C, C)   rows = true class, columns = predicted
 *            attrs top1, top5 (fractions), n_samples
 *   /ranks/busy_s float64 (nranks), /ranks/samples int64 (nranks); attr imbalance (max/mean)
 * A sweep (several runs = points × repeats) keeps /samples/index and /samples/label, and puts
 * the per-run results under /sweep: pred (runs, N), top5 (runs, N, 5), logits (runs, N, C),
 * keys (nkeys strings), points float64 (npoints, nkeys) with attrs labels_<key> for text values,
 * top1/top5 (npoints, repeats), top1_mean/_std, top5_mean/_std (npoints), confusion
 * (npoints, repeats, C, C); attr repeats. /progress/batch_done then has runs × batches flags. */
#ifndef ASIM_REPORT_H
#define ASIM_REPORT_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "asim/error.h"

typedef struct {
  const char *config_text, *model_name, *task;
  uint32_t seed;
  int classes, logits; /* logits: write /samples/logits */
  int64_t n_samples, n_batches;
  /* sweeps (n_points · repeats runs; 1 · 1 without a sweep) */
  int64_t n_points;
  int repeats, n_keys;
  const char (*keys)[64];
  const double *points;       /* (n_points, n_keys) */
  const char *const *labels;  /* per key: comma-joined names of text values, or NULL */
} asim_report_info;

typedef struct {
  MPI_Comm comm;
  int rank, nranks, classes, logits, repeats;
  int64_t n_samples, n_batches, n_points, n_runs;
  hid_t file, dxpl;
  hid_t d_index, d_label, d_pred, d_top5, d_logits, d_done;
  double *run_top1, *run_top5; /* per run, after finish */
} asim_report;

/* Creates (truncates) the report. Collective. */
asim_status asim_report_create(asim_report *r, const char *path, MPI_Comm comm, const asim_report_info *info);
/* Reopens an incomplete report for --resume: the stored configuration must equal
 * info->config_text and the sizes must agree; done[] (n_batches) receives the finished
 * batches on every rank. Collective. */
asim_status asim_report_resume(asim_report *r, const char *path, MPI_Comm comm, const asim_report_info *info,
                               uint8_t *done);
/* Each rank writes its contiguous slice [s0, s0 + n) of samples of run `run` (n may be 0).
 * Collective. */
asim_status asim_report_write_samples(asim_report *r, int64_t run, int64_t s0, int64_t n, const int64_t *index,
                                      const int32_t *label, const int32_t *pred, const int32_t *top5,
                                      const float *logits);
/* Marks work items (run · n_batches + batch) finished — each rank passes the ones it leads,
 * possibly none — after their sample data is flushed. Collective. */
asim_status asim_report_mark_done(asim_report *r, const int64_t *items, int n);
/* Summary from the whole file (also samples of earlier, resumed runs), per-rank figures,
 * end time, complete = 1. Returns top-1/top-5 on every rank. With pred_out (rank 0), prints
 * ASiM's per-sample lines "Label: l, Predict: p." in dataset order. Collective. */
asim_status asim_report_finish(asim_report *r, double busy_s, int64_t samples, double *top1, double *top5,
                               FILE *pred_out);
/* After finish of a sweep: top-1/top-5 of run `run` (every rank). */
void asim_report_run_acc(const asim_report *r, int64_t run, double *top1, double *top5);
/* Closes (also after errors; collective when the file is open). */
void asim_report_close(asim_report *r);

#endif
