/* noise.h — counter-based Gaussian noise (Random123 Philox4x32-10).
 *
 * A draw is a pure function of (run seed, layer id) — the key — and a counter built from
 * (global sample index, element index within the sample, cycle id, stream). A sample's noise
 * therefore never depends on its batch, batch position, batch size, rank or thread, and
 * `mpirun -n 1` and `-n 64` give identical results. */
#ifndef ASIM_NOISE_H
#define ASIM_NOISE_H

#include <stdint.h>

/* Streams keep the different uses of one (sample, element, cycle) apart. */
enum {
  ASIM_STREAM_ADC = 0,   /* per-cycle random + non-linearity noise (z1, z2) */
  ASIM_STREAM_TRIM = 1,  /* trim_noise perturbation */
  ASIM_STREAM_VOTE = 2,  /* majority-voting repetitions: stream + (rep << 8) */
  ASIM_STREAM_WVAR = 3,  /* current-domain weight variation (sample word fixed: a chip, not a draw
                            per sample) */
  ASIM_STREAM_WBP = 4,   /* weight-bit-parallel conversion noise */
  ASIM_STREAM_MACRO_TRAIN = 5, /* Train mode: the Gaussian stand-in of the macro error (grad.h) */
  ASIM_STREAM_DIAG = 6   /* diagnostics: the clip draw beside each table-sampled conversion */
};

/* Stream-word bit of the uniform draws (asim_uniform_u32): their blocks never meet the Gaussian
 * draws of asim_normal2 on the same (sample, element, cycle, stream). */
#define ASIM_UNIFORM_BIT 0x80000000u

/* Counter word 3 of a uniform draw: stream, the sample index's high word, the uniform bit. */
static inline uint32_t asim_uniform_c3(uint32_t stream, uint64_t sample) {
  return stream ^ ((uint32_t)(sample >> 32) << 16) ^ ASIM_UNIFORM_BIT;
}

typedef struct {
  uint32_t seed;     /* run seed */
  uint32_t layer_id; /* unique per ASiM layer / attention sub-product */
} asim_noise_key;

/* Two independent N(0,1) draws for counter (sample, elem, cycle, stream). */
void asim_normal2(asim_noise_key key, uint64_t sample, uint32_t elem, uint32_t cycle,
                  uint32_t stream, float *z1, float *z2);

/* Four independent N(0,1) draws from one block (both Box-Muller outputs of each word pair). */
void asim_normal4(asim_noise_key key, uint64_t sample, uint32_t elem, uint32_t cycle, uint32_t stream, float z[4]);

/* One uniform 32-bit integer: the draw of a table-sampled noisy ADC conversion, `cycle` its
 * asim_draw_id. It is word (cycle & 3) of the Philox block with counter (elem, sample low word,
 * cycle & ~3, asim_uniform_c3(stream, sample)): one block serves four conversions, a quarter of
 * the generator work of one block per conversion. */
uint32_t asim_uniform_u32(asim_noise_key key, uint64_t sample, uint32_t elem, uint32_t cycle, uint32_t stream);

/* Four uniforms in [0, 1) for a counter (initialisation, training data order). */
void asim_uniform4(asim_noise_key key, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, float u[4]);

/* Draw id of a table-sampled conversion: macro load n (< 2^16) and the cycle's index c in the
 * plan (ASiM's order: weight bit descending, activation cycle descending). asim_uniform_u32 reads
 * word c mod 4 of the block of c rounded down to a multiple of 4, so the consecutive conversions
 * of a load share blocks whatever the cycles per weight bit (9-bit activations: 18 blocks for 72
 * conversions, not 24). */
static inline uint32_t asim_draw_id(int64_t n, int c) { return ((uint32_t)n << 16) | (uint32_t)(c & 0xffff); }

/* Cycle id packing (formula draws): macro load n (< 2^16), weight bit i (< 2^8), activation cycle j (< 2^8). */
static inline uint32_t asim_cycle_id(int n, int i, int j) {
  return ((uint32_t)n << 16) | ((uint32_t)(i & 0xff) << 8) | (uint32_t)(j & 0xff);
}

#endif
