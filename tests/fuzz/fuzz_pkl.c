/* libFuzzer harness for the PyTorch checkpoint reader: any byte string must either load or be
 * refused with an error, without crashes, leaks or undefined behaviour. See README.md. */
#include <stddef.h>
#include <stdint.h>

#include "asim/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  asim_state s = {0};
  asim_ckpt_meta m;
  if (asim_pkl_read_mem(data, size, &s, &m) == ASIM_OK) {
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
  return 0;
}
