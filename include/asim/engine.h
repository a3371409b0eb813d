/* engine.h — the fast path of the CiM engine: which CPU kernels run, per-layer weight caches,
 * and a per-layer time profile. The kernels (AMX tiles, AVX-512 VPOPCNTDQ, AVX2 nibble tables,
 * portable C; chosen at run time, ASIM_KERNEL=amx|avx512|avx2|scalar overrides) and any thread
 * count compute bit-identical results: they only change how fast the macro model of macro.h is
 * evaluated.
 *
 * How a product runs (asim_engine_* in src/cim/kernels.h, called by the layers):
 *  - lossless plans (noise off, every ADC transfer the identity, spec §3.8) are one integer
 *    matrix product per macro load, accumulated in int32 and checked per element: while every
 *    running partial sum of ASiM's float32 shift-add provably stays an integer below 2^24, the
 *    float32 result equals the integer one; elements where that cannot be shown are recomputed
 *    on the cycle path;
 *  - every other plan runs the cycle kernel: all (weight bit, activation plane) counts of a
 *    macro load by AND + popcount over 16 activation rows at once, then the cycle plan in ASiM's
 *    order with table ADCs and float32 accumulation per row (the same order as ASiM);
 *  - noisy conversions draw one Philox block each (same counter as before: sample, element,
 *    cycle, stream) and sample the code from the per-count tables of asim_noise_table. */
#ifndef ASIM_ENGINE_H
#define ASIM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "asim/error.h"

typedef enum { ASIM_ISA_SCALAR = 0, ASIM_ISA_AVX2 = 1, ASIM_ISA_AVX512 = 2, ASIM_ISA_AMX = 3 } asim_isa;

const char *asim_isa_name(asim_isa isa);
asim_status asim_isa_parse(const char *s, asim_isa *isa);
/* 1 when this CPU (and operating system, for AMX tiles) runs the kernel set. */
int asim_isa_available(asim_isa isa);
/* The kernel set in use: ASIM_KERNEL when set and available (an unavailable one is reported on
 * stderr once and the best available is used), else the best available. */
asim_isa asim_isa_active(void);
/* Forces a kernel set (tests, benchmarks); ASIM_EUNSUP if this CPU lacks it. */
asim_status asim_isa_select(asim_isa isa);

/* A layer's weights prepared for the engine once: scale, codes, macro plan (ADC and noise tables)
 * and packed planes, plus the layer's activation workspace. The owner (the model: one per ASiM
 * layer) passes it in the layer's dims; it is rebuilt when the weights pointer, a checksum of
 * their values (all of them up to 2^18 weights, an even sample of larger tensors), the layer
 * settings or the kernel set change. asim_wcache_invalidate forces a rebuild (weights of a large
 * layer edited in place). */
typedef struct asim_wcache asim_wcache;
asim_status asim_wcache_new(asim_wcache **c);
void asim_wcache_free(asim_wcache *c);
void asim_wcache_invalidate(asim_wcache *c);
/* on = 0: the weight values are no longer checksummed on every call (saves one pass over the
 * float weights per call); the owner must then call asim_wcache_invalidate after changing them. */
void asim_wcache_check_values(asim_wcache *c, int on);
size_t asim_wcache_bytes(const asim_wcache *c); /* memory held */
int64_t asim_wcache_builds(const asim_wcache *c); /* times (re)built, for tests */

/* Per-layer profile (off by default): seconds and calls per layer id, split into the parts of a
 * simulated layer. */
typedef enum { ASIM_PROF_PREP = 0, ASIM_PROF_KERNEL = 1, ASIM_PROF_POST = 2, ASIM_PROF_PARTS = 3 } asim_prof_part;
typedef struct {
  uint32_t layer_id;
  char kind[16];       /* "conv", "linear", "qk", "av" */
  int64_t calls;
  double seconds[ASIM_PROF_PARTS];
  double macs;         /* multiply-accumulates of the integer product */
  double conversions;  /* ADC conversions simulated (0 on the lossless path) */
  double fallback;     /* elements recomputed on the cycle path by the lossless check */
} asim_prof_entry;
void asim_prof_enable(int on);
void asim_prof_reset(void);
/* Entries sorted by layer id; valid until the next reset. */
const asim_prof_entry *asim_prof_entries(int *n);

#endif
