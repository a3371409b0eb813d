/* train.h — training an ASiM network (spec §8): a forward pass that keeps what the backward
 * needs (a tape), the backward over the same operation list, gradients, optimisers
 * (SGD + momentum + weight decay for CNNs, Adam for ViTs), MultiStepLR, and the data-parallel
 * training loop behind `asim-train` (docs/training.md).
 *
 * Data parallelism: the global batch (train_bs) is split over the ranks of a communicator.
 * Everything a rank count could change is reduced so that one rank computes what many do:
 * every activation scale of a fake quantiser is an all-reduce MAX (exact), BatchNorm batch
 * statistics and their backward sums are all-reduce SUMs (synchronised BatchNorm: running
 * statistics are therefore identical on every rank), and gradients are summed with one
 * MPI_Allreduce per step. Data order, augmentation, dropout masks and trim noise are
 * counter-based (seed, epoch, global sample position), so -n 1 and -n 2 differ only by float
 * reduction order. */
#ifndef ASIM_TRAIN_H
#define ASIM_TRAIN_H

#include <mpi.h>
#include <signal.h>
#include <stdio.h>

#include "asim/config.h"
#include "asim/grad.h"
#include "asim/model.h"

/* ---- gradients ----------------------------------------------------------------------------- */

/* One float32 gradient per trainable parameter (same names and shapes as in m->params).
 * BatchNorm running statistics and num_batches_tracked are buffers, and the unused ResNet stem
 * has no gradient (PyTorch leaves it None, so SGD does not touch it). VGG's single shared PACT
 * α (stored under every position it is used at, spec §6.2) is one tied parameter: its copies
 * receive the summed gradient (asim_grads_tie) and therefore identical updates. */
typedef struct {
  asim_state g;    /* g.names[i] = parameter name */
  int *pidx;       /* index of g.names[i] in m->params */
  int *tie;        /* tie group of each entry (-1: none) */
  int n_tie_groups;
} asim_grads;

asim_status asim_grads_init(asim_grads *g, const asim_model *m);
void asim_grads_zero(asim_grads *g);
void asim_grads_free(asim_grads *g);
/* The gradient of parameter `name`, NULL if it has none. */
float *asim_grads_find(const asim_grads *g, const char *name);
/* Tied copies get the sum of their gradients. */
void asim_grads_tie(asim_grads *g);
/* All gradients as one contiguous vector (for the all-reduce) and back. */
int64_t asim_grads_numel(const asim_grads *g);
void asim_grads_pack(const asim_grads *g, float *flat);
void asim_grads_unpack(asim_grads *g, const float *flat);

/* ---- forward with a tape, backward ----------------------------------------------------------- */

typedef struct {
  int training;   /* model.train(): BatchNorm batch statistics and running update, dropout on */
  int fake_quant; /* 1: ASiM layers fake-quantise (Train mode); 0 only for gradient tests */
  asim_exec ex;   /* seed / sample0 address trim noise and dropout; max_reduce: cross-rank MAX */
  asim_reduce red; /* cross-rank sums (synchronised BatchNorm) */
} asim_train_exec;

typedef struct asim_tape asim_tape;

asim_status asim_tape_new(asim_tape **t);
/* Frees the recorded activations (the tape can be reused by the next forward). */
void asim_tape_clear(asim_tape *t);
void asim_tape_free(asim_tape *t);

/* Checks that the model can be trained: every ASiM layer it uses in Train mode (Inference and
 * Simulation are not differentiable here), no per-sample activation scales. */
asim_status asim_train_check_model(const asim_model *m);

/* logits (B, classes) = model(x), recording on the tape. With training = 1 the BatchNorm
 * running statistics are updated (momentum 0.1, unbiased variance) and num_batches_tracked
 * incremented, as PyTorch's model.train() forward does. */
asim_status asim_train_forward(asim_model *m, asim_tape *t, float *logits, const float *x, int B,
                               const asim_train_exec *tx);
/* Accumulates d(loss)/d(parameters) into g given dlogits = d(loss)/d(logits) of the last
 * asim_train_forward on this tape. dx (may be NULL) receives d(loss)/d(input). */
asim_status asim_train_backward(asim_model *m, asim_tape *t, const float *dlogits, asim_grads *g, float *dx);

/* ---- optimisers and schedule -------------------------------------------------------------- */

typedef enum { ASIM_OPT_SGD = 0, ASIM_OPT_ADAM = 1 } asim_opt_kind;

/* PyTorch semantics. SGD: d = g + wd·p; buf = momentum·buf + d (buf = d at the first step);
 * p -= lr·buf. Adam: m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p -= lr/(1−β1^t) ·
 * m / (sqrt(v)/sqrt(1−β2^t) + eps) (no weight decay, as ASiM). */
typedef struct {
  asim_opt_kind kind;
  double lr, momentum, weight_decay, beta1, beta2, eps;
  int64_t step;
  asim_state m, v; /* SGD: momentum buffers in m; Adam: exp_avg (m), exp_avg_sq (v); names = parameters */
} asim_optim;

asim_status asim_optim_init(asim_optim *o, asim_opt_kind kind, const asim_grads *g, double lr, double momentum,
                            double weight_decay);
void asim_optim_free(asim_optim *o);
asim_status asim_optim_step(asim_optim *o, asim_model *m, const asim_grads *g);

/* Clamps every ASiM conv/linear weight tensor to ±k·std(tensor) (k <= 0: nothing), after each
 * optimiser step when run.weight_clip = k (docs/training.md). */
asim_status asim_weight_clip(asim_model *m, double k);

/* MultiStepLR: lr_init · factor^(number of milestones <= epoch), epoch 0-based. */
double asim_multistep_lr(double lr_init, const int *milestones, int n, double factor, int epoch);

/* ---- the training loop (asim-train) ---------------------------------------------------------- */

typedef struct {
  const char *resume;  /* checkpoint to resume from (NULL: start as configured) */
  int quiet;           /* no per-iteration lines */
  int max_steps;       /* > 0: stop after this many optimiser steps (tests, benchmarks) */
  int no_valid;        /* skip validation (benchmarks) */
  FILE *log;           /* extra copy of rank 0's log lines (NULL: none) */
  /* set by a signal handler (SIGTERM/SIGINT: a SLURM time limit): the ranks agree after every
   * step, write checkpoint_last.h5 with the position inside the epoch and return ASIM_EINTR;
   * --resume continues at the next step as if never stopped. NULL: not watched. */
  volatile sig_atomic_t *stop;
} asim_train_opts;

/* Checks the training-specific keys (milestones, batch vs ranks, ...) before any work. */
asim_status asim_train_check_config(const asim_config *cfg, int nranks);

/* Runs ASiM's training recipe (spec §8) with cfg on comm. Collective; every rank returns the
 * same status (the message is printed by rank 0). */
asim_status asim_train_run(const asim_config *cfg, const asim_train_opts *opts, MPI_Comm comm);

#endif
