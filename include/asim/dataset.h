/* dataset.h — an open image-classification dataset (any supported on-disk format) that hands
 * out samples by global index, already passed through ASiM's test transform (spec §7). */
#ifndef ASIM_DATASET_H
#define ASIM_DATASET_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "asim/error.h"

typedef enum {
  ASIM_TASK_CIFAR10 = 0,
  ASIM_TASK_CIFAR100,
  ASIM_TASK_IMAGENET,
  ASIM_TASK_MNIST,
  ASIM_TASK_FASHION_MNIST,
  ASIM_TASK_COUNT
} asim_task;

typedef enum {
  ASIM_FMT_AUTO = 0,
  ASIM_FMT_FOLDERS,   /* "folders":   root/<class>/<file><ext> (ASiM's CIFAR-10 PNGs, ImageNet) */
  ASIM_FMT_CSV,       /* "csv":       CIFAR-100 image folder + ../train.csv, ../test.csv */
  ASIM_FMT_CIFAR_BIN, /* "cifar-bin": official CIFAR-10/100 binary batches */
  ASIM_FMT_IDX,       /* "idx":       MNIST / Fashion-MNIST IDX files, gzipped or not */
  ASIM_FMT_HDF5       /* "hdf5":      asim-mpi's packed file (docs/datasets.md) */
} asim_dataset_format;

/* How class folders are numbered when the root also holds non-directories (spec §7.1). */
typedef enum {
  ASIM_LABELS_STRICT = 0, /* error if a non-directory would shift a class label (default) */
  ASIM_LABELS_ASIM,       /* replicate ASiM: every sorted root entry consumes a label index */
  ASIM_LABELS_DIRS        /* number the class directories 0, 1, 2, … ignoring other entries */
} asim_label_mode;

typedef struct {
  const char *format; /* NULL/"auto", "folders", "csv", "cifar-bin", "idx", "hdf5" */
  const char *path;   /* folder or file; see docs/datasets.md per format */
  const char *task;   /* "CIFAR-10", "CIFAR-100", "ImageNet", "MNIST", "Fashion-MNIST";
                         NULL only for HDF5 files (taken from the file) */
  const char *split;  /* NULL/"test" or "train": selects the files of cifar-bin and idx sets */
  int input_size;     /* output side; 0 = task default (32, 32, 224, 28, 28) or an HDF5 file's */
  int channels;       /* 0 = native (1 for MNIST-like, else 3); 3 replicates gray; 1 */
  asim_label_mode label_mode;
  const char *ext;    /* folders: file-name suffix (case-sensitive); NULL = ".png" for
                         CIFAR-10 and ".JPEG" for ImageNet, as ASiM */
} asim_dataset_opts;

typedef struct asim_dataset asim_dataset;

/* Opens and validates (listing, headers, sizes, labels; no image is decoded). */
asim_status asim_dataset_open(asim_dataset **ds, const asim_dataset_opts *o);
void asim_dataset_close(asim_dataset *ds);

int64_t asim_dataset_size(const asim_dataset *ds);
int asim_dataset_classes(const asim_dataset *ds);
int asim_dataset_channels(const asim_dataset *ds);   /* C of the delivered samples */
int asim_dataset_input_size(const asim_dataset *ds); /* H = W of the delivered samples */
asim_task asim_dataset_task(const asim_dataset *ds);
asim_dataset_format asim_dataset_format_of(const asim_dataset *ds);
/* Label of sample i without decoding it; -1 when i is out of range. */
int asim_dataset_label(const asim_dataset *ds, int64_t i);
/* "CIFAR-10 test set (cifar-bin)" and the path given at open, for messages. */
const char *asim_dataset_name(const asim_dataset *ds);
const char *asim_dataset_path(const asim_dataset *ds);
/* Where sample i comes from: "cat/0001.png", "test_batch.bin#17", ... (for reports). */
asim_status asim_dataset_sample_name(const asim_dataset *ds, int64_t i, char *buf, size_t len);
/* Per-channel Normalize constants used by asim_dataset_get (spec §7.2, docs/datasets.md). */
void asim_dataset_norm(const asim_dataset *ds, float mean[3], float std[3]);

/* ASiM's test transform of sample i: resize to input_size² (Pillow bilinear, skipped when the
 * size already matches), ToTensor (v/255, float32), Normalize ((x−mean_c)/std_c, float32).
 * chw_out holds channels × input_size × input_size floats. label may be NULL.
 * Thread-safe: concurrent calls on one handle are allowed. */
asim_status asim_dataset_get(const asim_dataset *ds, int64_t i, float *chw_out, int *label);
/* The resized uint8 image before ToTensor: input_size × input_size × channels (HWC). */
asim_status asim_dataset_get_u8(const asim_dataset *ds, int64_t i, uint8_t *hwc_out, int *label);

/* ToTensor + Normalize of an HWC uint8 image into CHW float32 (exposed for tests/tools). */
void asim_dataset_to_tensor(const asim_dataset *ds, const uint8_t *hwc, float *chw_out);

/* Packs the whole dataset (decoded, resized uint8) into an HDF5 file with parallel HDF5:
 * collective over `comm`, each rank decoding and writing a contiguous share of the samples.
 * Any rank's failure is agreed on before each collective step, so every rank returns the
 * same status (the message names the failing rank) and the partial file is removed.
 * progress (may be NULL) is called on every rank after each round with the global count. */
typedef void (*asim_progress_fn)(int64_t done, int64_t total, void *arg);
asim_status asim_dataset_pack(const asim_dataset *ds, const char *out_path, MPI_Comm comm,
                              asim_progress_fn progress, void *arg);

/* Name parsing and printing. */
asim_status asim_task_parse(const char *s, asim_task *t);
const char *asim_task_name(asim_task t);
int asim_task_classes(asim_task t);
asim_status asim_dataset_format_parse(const char *s, asim_dataset_format *f);
const char *asim_dataset_format_name(asim_dataset_format f);

#endif
