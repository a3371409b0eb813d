/* The per-layer time profile (engine.h): a small table keyed by layer id. Layers record from
 * the calling thread only (outside the kernels' parallel regions). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"

static int on;
static asim_prof_entry *tab;
static int n_tab, cap_tab;

void asim_prof_enable(int v) { on = v; }
int asim_prof_on(void) { return on; }

void asim_prof_reset(void) {
  free(tab);
  tab = NULL;
  n_tab = cap_tab = 0;
}

double asim_prof_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void asim_prof_record(uint32_t layer_id, const char *kind, const double *t4, double macs, double conversions,
                      double fallback) {
  int i = 0;
  while (i < n_tab && (tab[i].layer_id != layer_id || strcmp(tab[i].kind, kind))) i++;
  if (i == n_tab) {
    if (n_tab == cap_tab) {
      int cap = cap_tab ? 2 * cap_tab : 64;
      asim_prof_entry *t = realloc(tab, sizeof *t * (size_t)cap);
      if (!t) return; /* profiling is best effort */
      tab = t, cap_tab = cap;
    }
    memset(&tab[n_tab], 0, sizeof tab[n_tab]);
    tab[n_tab].layer_id = layer_id;
    strncpy(tab[n_tab].kind, kind, sizeof tab[n_tab].kind - 1);
    n_tab++;
  }
  asim_prof_entry *e = &tab[i];
  e->calls++;
  for (int p = 0; p < ASIM_PROF_PARTS; p++) e->seconds[p] += t4[p + 1] - t4[p];
  e->macs += macs;
  e->conversions += conversions;
  e->fallback += fallback;
}

static int by_id(const void *a, const void *b) {
  const asim_prof_entry *x = a, *y = b;
  if (x->layer_id != y->layer_id) return x->layer_id < y->layer_id ? -1 : 1;
  return strcmp(x->kind, y->kind);
}

const asim_prof_entry *asim_prof_entries(int *n) {
  if (n_tab > 1) qsort(tab, (size_t)n_tab, sizeof *tab, by_id);
  *n = n_tab;
  return tab;
}
