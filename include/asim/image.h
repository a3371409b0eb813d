/* image.h — 8-bit image decoding (PNG, JPEG) to RGB exactly as PIL's Image.open(...).convert('RGB')
 * does, and Pillow's fixed-point BILINEAR resize (spec §7.5), on flat interleaved HWC buffers. */
#ifndef ASIM_IMAGE_H
#define ASIM_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "asim/error.h"

/* Largest accepted side (guards allocations against hostile headers). */
#define ASIM_IMAGE_MAX_SIDE 32768

/* Resizes an interleaved 8-bit image (h rows × w columns × c channels, 1 ≤ c ≤ 4) to
 * out_h × out_w with Pillow's Image.resize((out_w, out_h), BILINEAR): separable, horizontal pass
 * first, 22-bit fixed-point coefficients, support widened when downsampling. An axis whose
 * length does not change is copied untouched. `out` must not overlap `in`. */
asim_status asim_resize_bilinear_u8(const uint8_t *in, int w, int h, int c, uint8_t *out,
                                    int out_w, int out_h);

/* Decodes a PNG or JPEG held in memory (format found from the signature, not the name) to
 * RGB, h × w × 3, malloc'ed into *rgb. `what` names the source in error messages. */
asim_status asim_image_decode(const uint8_t *buf, size_t len, const char *what, uint8_t **rgb,
                              int *w, int *h);
/* Reads and decodes the file at `path` (see asim_image_decode). */
asim_status asim_image_load(const char *path, uint8_t **rgb, int *w, int *h);
/* Reads a whole file into a malloc'ed buffer. */
asim_status asim_read_file(const char *path, uint8_t **buf, size_t *len);

#endif
