/* dataset_internal.h — the dataset handle shared by the per-format readers in src/io. */
#ifndef ASIM_DATASET_INTERNAL_H
#define ASIM_DATASET_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>

#include "asim/dataset.h"

#define ASIM_DS_FORMAT_VERSION 1 /* of the packed HDF5 layout */
#define ASIM_BIN_MAXFILES 6

struct asim_dataset {
  asim_dataset_format fmt;
  asim_task task;
  char *path;
  char name[160];
  const char *split; /* "test"/"train" (static string) for cifar-bin/idx, else NULL */
  int64_t n;
  int classes;
  int src_c;  /* channels of the stored / decoded source pixels: 1 or 3 */
  int out_c;  /* channels delivered */
  int side;   /* side delivered */
  int32_t *labels;
  float mean[3], std[3];

  /* folders, csv: sample i is the file path/arena[rel[i]] (a relative path) */
  char *arena;
  size_t *rel;

  /* cifar-bin: sample i is record i - first[f] of file f; fixed 32×32×3 planes */
  int nfiles;
  int fds[ASIM_BIN_MAXFILES];
  char *fnames[ASIM_BIN_MAXFILES];
  int64_t first[ASIM_BIN_MAXFILES + 1];
  int rec, pix_off;

  /* idx: all pixels in memory, n × rows × cols */
  uint8_t *pix;
  int rows, cols;
  char *idx_name;

  /* hdf5: stored n × h5side × h5side × src_c, read under a process-wide lock */
  hid_t h5file, h5images, h5names;
  int h5side, h5resized;
  size_t h5name_len;
};

/* Per-format openers: fill n, labels, src_c and the format's own fields (ds->task, path,
 * split and label options are set before). */
asim_status asim_ds_open_folders(asim_dataset *ds, const asim_dataset_opts *o);
asim_status asim_ds_open_csv(asim_dataset *ds, const asim_dataset_opts *o);
asim_status asim_ds_open_cifar_bin(asim_dataset *ds, const asim_dataset_opts *o);
asim_status asim_ds_open_idx(asim_dataset *ds, const asim_dataset_opts *o);
asim_status asim_ds_open_hdf5(asim_dataset *ds, const asim_dataset_opts *o);
void asim_ds_close_hdf5(asim_dataset *ds);

/* Source pixels of sample i, before resizing: malloc'ed h × w × src_c. */
asim_status asim_ds_read_source(const asim_dataset *ds, int64_t i, uint8_t **pix, int *w, int *h);
asim_status asim_ds_read_hdf5(const asim_dataset *ds, int64_t i, uint8_t *pix);
asim_status asim_ds_hdf5_name(const asim_dataset *ds, int64_t i, char *buf, size_t len);
/* Like asim_dataset_get_u8, also telling whether the source image had another size. */
asim_status asim_ds_get_u8_ex(const asim_dataset *ds, int64_t i, uint8_t *hwc, int *label,
                              int *resized);

/* Sorted (strcmp, i.e. code-point) listing of a directory without "." and "..". */
asim_status asim_ds_list_dir(const char *path, char ***names, size_t *n);
void asim_ds_free_list(char **names, size_t n);
/* Appends a string to the arena, returning its offset. */
asim_status asim_ds_arena_add(asim_dataset *ds, size_t *cap, size_t *used, const char *a,
                              const char *b, size_t *off);
char *asim_ds_join(const char *a, const char *b); /* "a/b", malloc'ed; NULL if out of memory */

#endif
