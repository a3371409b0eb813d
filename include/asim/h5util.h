/* h5util.h — small checked helpers over the HDF5 C API for reading attributes and whole
 * datasets into asim_tensor, with errors that name the file and the item. */
#ifndef ASIM_H5UTIL_H
#define ASIM_H5UTIL_H

#include <hdf5.h>
#include <stdint.h>

#include "asim/tensor.h"

/* Opens read-only (serial); silences HDF5's own error printing. */
asim_status asim_h5_open_read(const char *path, hid_t *file);
int asim_h5_exists(hid_t loc, const char *path);      /* dataset or group (nested path ok) */
int asim_h5_has_attr(hid_t loc, const char *name);
asim_status asim_h5_attr_i64(hid_t loc, const char *name, int64_t *v);
asim_status asim_h5_attr_f64(hid_t loc, const char *name, double *v);
asim_status asim_h5_attr_str(hid_t loc, const char *name, char *buf, size_t len);
/* Reads a whole dataset; float32/float64/int32/int64/uint8 keep their type. */
asim_status asim_h5_read_tensor(hid_t loc, const char *name, asim_tensor *t);
/* The file name of an open object, for messages. */
const char *asim_h5_filename(hid_t loc, char *buf, size_t len);

#endif
