/* ckpt.c — checkpoint format dispatch (zip or HDF5 by magic bytes). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "asim/checkpoint.h"

asim_status asim_ckpt_read(const char *path, asim_state *state, asim_ckpt_meta *meta) {
  unsigned char head[8] = {0};
  FILE *f = fopen(path, "rb");
  if (!f) return ASIM_ERR(ASIM_EIO, "cannot open checkpoint '%s': %s", path, strerror(errno));
  size_t n = fread(head, 1, sizeof head, f);
  fclose(f);
  if (meta) asim_ckpt_meta_init(meta);
  if (n >= 4 && memcmp(head, "PK", 2) == 0) {
    ASIM_CHECK(asim_pkl_read(path, state, meta));
    return ASIM_OK;
  }
  /* HDF5 signature at 0 (files with a user block put it at 512, 1024, ...: let HDF5 decide) */
  if (n == 8 && memcmp(head, "\x89HDF\r\n\x1a\n", 8) == 0) {
    ASIM_CHECK(asim_ckpt_h5_read(path, state, meta));
    return ASIM_OK;
  }
  if (n >= 2 && head[0] == 0x80) { /* a bare pickle: legacy torch.save, refused with a reason */
    ASIM_CHECK(asim_pkl_read(path, state, meta));
    return ASIM_OK;
  }
  return ASIM_ERR(ASIM_EFORMAT, "'%s' is neither a PyTorch zip checkpoint nor an HDF5 file", path);
}
