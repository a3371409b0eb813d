#include "asim/noise.h"

#include <Random123/philox.h>
#include <math.h>

/* The one counter layout of every ADC draw (the vector kernels build the same counters). */
static philox4x32_ctr_t draw(asim_noise_key key, uint64_t sample, uint32_t elem, uint32_t cycle, uint32_t stream) {
  philox4x32_key_t k = {{key.seed, key.layer_id}};
  /* the sample index takes 32 bits of its own and shares the stream word's high half,
   * so datasets beyond 2^32 samples still get distinct counters */
  philox4x32_ctr_t c = {{elem, (uint32_t)sample, cycle, stream ^ ((uint32_t)(sample >> 32) << 16)}};
  return philox4x32(c, k);
}

uint32_t asim_uniform_u32(asim_noise_key key, uint64_t sample, uint32_t elem, uint32_t cycle, uint32_t stream) {
  philox4x32_key_t k = {{key.seed, key.layer_id}};
  philox4x32_ctr_t c = {{elem, (uint32_t)sample, cycle & ~3u, asim_uniform_c3(stream, sample)}};
  return philox4x32(c, k).v[cycle & 3u];
}

void asim_normal2(asim_noise_key key, uint64_t sample, uint32_t elem, uint32_t cycle,
                  uint32_t stream, float *z1, float *z2) {
  philox4x32_ctr_t r = draw(key, sample, elem, cycle, stream);
  /* Box-Muller in double: u in (0,1], so log(u) is finite. */
  const double inv = 1.0 / 4294967296.0;
  double u0 = ((double)r.v[0] + 0.5) * inv, u1 = ((double)r.v[1] + 0.5) * inv;
  double u2 = ((double)r.v[2] + 0.5) * inv, u3 = ((double)r.v[3] + 0.5) * inv;
  const double two_pi = 6.283185307179586476925286766559;
  *z1 = (float)(sqrt(-2.0 * log(u0)) * cos(two_pi * u1));
  *z2 = (float)(sqrt(-2.0 * log(u2)) * cos(two_pi * u3));
}

void asim_uniform4(asim_noise_key key, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, float u[4]) {
  philox4x32_key_t k = {{key.seed, key.layer_id}};
  philox4x32_ctr_t c = {{c0, c1, c2, c3}};
  philox4x32_ctr_t r = philox4x32(c, k);
  for (int i = 0; i < 4; i++) u[i] = (float)(r.v[i] >> 8) * (1.0f / 16777216.0f); /* 24 bits: exact in float */
}

void asim_normal4(asim_noise_key key, uint64_t sample, uint32_t elem, uint32_t cycle, uint32_t stream, float z[4]) {
  philox4x32_ctr_t r = draw(key, sample, elem, cycle, stream);
  const double inv = 1.0 / 4294967296.0, two_pi = 6.283185307179586476925286766559;
  for (int h = 0; h < 2; h++) { /* both Box-Muller outputs of each pair of words */
    double u0 = ((double)r.v[2 * h] + 0.5) * inv, u1 = ((double)r.v[2 * h + 1] + 0.5) * inv;
    double rad = sqrt(-2.0 * log(u0));
    z[2 * h] = (float)(rad * cos(two_pi * u1));
    z[2 * h + 1] = (float)(rad * sin(two_pi * u1));
  }
}
