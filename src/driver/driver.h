/* driver.h (internal) — the pieces of the asim-mpi program: the work plan and the
 * checkpoint broadcast. main.c reads top to bottom: configuration → model + data shard →
 * simulation → report. */
#ifndef ASIM_DRIVER_H
#define ASIM_DRIVER_H

#include <mpi.h>
#include <stdint.h>

#include "asim/tensor.h"

/* How the work is spread over the ranks. A work item is one ASiM batch of one run (a run is a
 * sweep point and repeat; 1 run without a sweep): item = run · n_batches + batch. Ranks form
 * groups of `group` ranks; a group runs one item at a time, each member a contiguous slice of
 * the batch, with activation scales combined by an all-reduce MAX inside the group (exact), so
 * every result is the one a single process computes. Item k of the remaining list goes to
 * group k mod ngroups, in round k / ngroups. */
typedef struct {
  int64_t n_samples, batch_size, n_batches, n_runs;
  int nranks, group, ngroups;
  int64_t *pending; /* remaining items, runs in order, batches in dataset order */
  int64_t n_pending, rounds;
} asim_plan;

/* Picks the group size (a divisor of nranks no larger than the smallest batch) that
 * minimises the largest per-rank share; group_req > 0 forces one. */
int asim_plan_init(asim_plan *p, int64_t n_samples, int64_t batch_size, int64_t n_runs, int nranks, int group_req,
                   const uint8_t *done);
void asim_plan_free(asim_plan *p);
/* Rank's work in a round: item (or -1) and the global sample range [s0, s1) of its batch. */
int64_t asim_plan_slice(const asim_plan *p, int rank, int64_t round, int64_t *s0, int64_t *s1);

/* Rank `root` sends its state dict to every rank (names, dtypes, shapes, data). */
asim_status asim_state_bcast(asim_state *st, int root, MPI_Comm comm);

#endif
