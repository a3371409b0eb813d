#include <stdlib.h>
#include <string.h>

#include "driver.h"

/* Largest per-rank number of samples with groups of g ranks. */
static int64_t max_share(int64_t n_pending, int64_t bs, int nranks, int g) {
  int64_t ngroups = nranks / g, rounds = (n_pending + ngroups - 1) / ngroups;
  return rounds * ((bs + g - 1) / g);
}

int asim_plan_init(asim_plan *p, int64_t n_samples, int64_t batch_size, int64_t n_runs, int nranks, int group_req,
                   const uint8_t *done) {
  memset(p, 0, sizeof *p);
  p->n_samples = n_samples, p->batch_size = batch_size, p->nranks = nranks, p->n_runs = n_runs;
  p->n_batches = (n_samples + batch_size - 1) / batch_size;
  const int64_t items = p->n_batches * n_runs;
  p->pending = malloc(sizeof(int64_t) * (size_t)(items ? items : 1));
  if (!p->pending) return -1;
  for (int64_t k = 0; k < items; k++)
    if (!done || !done[k]) p->pending[p->n_pending++] = k;
  /* every member of a group needs at least one sample of the smallest batch */
  int64_t smallest = n_samples - (p->n_batches - 1) * batch_size;
  int best = 1;
  if (group_req > 0) {
    best = group_req;
  } else {
    int64_t best_share = -1;
    for (int g = 1; g <= nranks; g++) {
      if (nranks % g || g > smallest) continue;
      int64_t s = max_share(p->n_pending, batch_size, nranks, g);
      if (best_share < 0 || s < best_share) best_share = s, best = g; /* ties keep the smaller group */
    }
  }
  p->group = best;
  p->ngroups = nranks / best;
  p->rounds = (p->n_pending + p->ngroups - 1) / p->ngroups;
  return 0;
}

void asim_plan_free(asim_plan *p) {
  free(p->pending);
  p->pending = NULL;
}

int64_t asim_plan_slice(const asim_plan *p, int rank, int64_t round, int64_t *s0, int64_t *s1) {
  const int group = rank / p->group, member = rank % p->group;
  const int64_t k = round * p->ngroups + group;
  *s0 = *s1 = 0;
  if (group >= p->ngroups || k >= p->n_pending) return -1;
  const int64_t item = p->pending[k], b = item % p->n_batches, lo = b * p->batch_size;
  const int64_t hi = lo + p->batch_size < p->n_samples ? lo + p->batch_size : p->n_samples;
  const int64_t n = hi - lo;
  /* contiguous slices, the first n mod g members one sample larger */
  const int64_t base = n / p->group, extra = n % p->group;
  *s0 = lo + member * base + (member < extra ? member : extra);
  *s1 = *s0 + base + (member < extra ? 1 : 0);
  return item;
}
