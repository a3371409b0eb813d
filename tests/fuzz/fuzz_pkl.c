/* libFuzzer harness for the PyTorch checkpoint reader: any byte string must either load or be
 * refused with an error, without crashes, leaks or undefined behaviour. See README.md.
 *
 * An input starting with "PK" is read as a whole checkpoint file. Anything else is taken as a
 * bare data.pkl and wrapped in a minimal stored zip with storages "0".."3" (256 bytes each), so
 * that mutations exercise the pickle VM directly instead of breaking the container. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asim/checkpoint.h"

static uint8_t *put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); return p + 2; }
static uint8_t *put32(uint8_t *p, uint32_t v) { p = put16(p, v & 0xffff); return put16(p, v >> 16); }

/* A stored zip of `n` entries (CRCs left 0: the fuzzing build does not check them). */
static uint8_t *make_zip(const char **names, const uint8_t **data, const size_t *len, int n, size_t *out_len) {
  size_t total = 22;
  for (int i = 0; i < n; i++) total += 30 + 46 + 2 * strlen(names[i]) + len[i];
  uint8_t *z = malloc(total), *p = z, *cd;
  uint32_t off[8];
  if (!z) return NULL;
  for (int i = 0; i < n; i++) {
    size_t nl = strlen(names[i]);
    off[i] = (uint32_t)(p - z);
    p = put32(p, 0x04034b50u), p = put16(p, 20), p = put16(p, 0), p = put16(p, 0), p = put32(p, 0), p = put32(p, 0);
    p = put32(p, (uint32_t)len[i]), p = put32(p, (uint32_t)len[i]), p = put16(p, (unsigned)nl), p = put16(p, 0);
    memcpy(p, names[i], nl), p += nl;
    memcpy(p, data[i], len[i]), p += len[i];
  }
  cd = p;
  for (int i = 0; i < n; i++) {
    size_t nl = strlen(names[i]);
    p = put32(p, 0x02014b50u), p = put16(p, 20), p = put16(p, 20), p = put16(p, 0), p = put16(p, 0), p = put32(p, 0);
    p = put32(p, 0), p = put32(p, (uint32_t)len[i]), p = put32(p, (uint32_t)len[i]), p = put16(p, (unsigned)nl);
    p = put16(p, 0), p = put16(p, 0), p = put16(p, 0), p = put16(p, 0), p = put32(p, 0), p = put32(p, off[i]);
    memcpy(p, names[i], nl), p += nl;
  }
  p = put32(p, 0x06054b50u), p = put16(p, 0), p = put16(p, 0), p = put16(p, (unsigned)n), p = put16(p, (unsigned)n);
  p = put32(p, (uint32_t)(p - cd - 12)), p = put32(p, (uint32_t)(cd - z)), p = put16(p, 0);
  *out_len = (size_t)(p - z);
  return z;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  asim_state s = {0};
  asim_ckpt_meta m;
  uint8_t *wrapped = NULL;
  size_t wlen = size;
  const uint8_t *in = data;
  if (size < 2 || data[0] != 'P' || data[1] != 'K') {
    static uint8_t stor[256];
    for (int i = 0; i < 256; i++) stor[i] = (uint8_t)(i * 37 + 11);
    const char *names[] = {"a/data.pkl", "a/data/0", "a/data/1", "a/data/2", "a/data/3"};
    const uint8_t *bufs[] = {data, stor, stor, stor, stor};
    size_t lens[] = {size, 256, 64, 16, 0};
    wrapped = make_zip(names, bufs, lens, 5, &wlen);
    if (!wrapped) return 0;
    in = wrapped;
  }
  if (asim_pkl_read_mem(in, wlen, &s, &m) == ASIM_OK) {
    /* touch every element so ASan sees any out-of-bounds tensor buffer */
    volatile uint8_t sink = 0;
    for (int i = 0; i < s.n; i++) {
      size_t bytes = (size_t)asim_tensor_numel(&s.tensors[i]) * asim_dtype_size(s.tensors[i].dtype);
      for (size_t b = 0; b < bytes; b++) sink ^= ((const uint8_t *)s.tensors[i].data)[b];
    }
    (void)sink;
  }
  asim_state_free(&s);
  asim_error_clear();
  free(wrapped);
  return 0;
}
