/* asim-prep — packs a dataset into asim-mpi's HDF5 format (decoded, resized uint8), in
 * parallel: mpirun -n K asim-prep --format F --task T --input-size S [--split test] SRC OUT.h5
 * Samples are split over the ranks and written collectively; any rank's error stops all ranks
 * with a non-zero exit status. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asim/dataset.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: mpirun -n K asim-prep [options] SRC OUT.h5\n"
          "  --format F       auto (default), folders, csv, cifar-bin, idx, hdf5\n"
          "  --task T         CIFAR-10, CIFAR-100, ImageNet, MNIST, Fashion-MNIST\n"
          "  --input-size S   side of the stored images (default: the task's: 32, 32, 224, 28, 28)\n"
          "  --split S        test (default) or train: for cifar-bin and idx sources\n"
          "  --channels C     0 = native (default), 3 = replicate gray to RGB\n"
          "  --labels M       class-folder numbering: strict (default), asim, dirs\n"
          "  --ext E          class folders: image file suffix (default .png / .JPEG)\n"
          "  --quiet          no progress on stderr\n"
          "See docs/datasets.md for the formats and the output layout.\n");
}

typedef struct {
  double t0;
  int64_t last;
} progress_state;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void on_progress(int64_t done, int64_t total, void *arg) {
  progress_state *p = arg;
  double t = now() - p->t0;
  fprintf(stderr, "asim-prep: %lld / %lld samples (%.0f%%), %.1f s\n", (long long)done,
          (long long)total, 100.0 * done / total, t);
  p->last = done;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, K;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &K);
  asim_dataset_opts o = {0};
  const char *pos[2] = {NULL, NULL}, *labels = NULL;
  int npos = 0, quiet = 0, bad = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **dst = NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      if (rank == 0) usage(stdout);
      MPI_Finalize();
      return 0;
    } else if (!strcmp(a, "--quiet")) quiet = 1;
    else if (!strcmp(a, "--format")) dst = &o.format;
    else if (!strcmp(a, "--task")) dst = &o.task;
    else if (!strcmp(a, "--split")) dst = &o.split;
    else if (!strcmp(a, "--labels")) dst = &labels;
    else if (!strcmp(a, "--ext")) dst = &o.ext;
    else if (!strcmp(a, "--input-size") || !strcmp(a, "--channels")) {
      char *end;
      long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
      if (i + 1 >= argc || *end || end == argv[i + 1] || v < 0 || v > 4096) {
        if (rank == 0) fprintf(stderr, "asim-prep: %s needs a number\n", a);
        bad = 1;
        break;
      }
      if (!strcmp(a, "--input-size")) o.input_size = (int)v;
      else o.channels = (int)v;
      i++;
    } else if (a[0] == '-' && a[1]) {
      if (rank == 0) fprintf(stderr, "asim-prep: unknown option %s\n", a);
      bad = 1;
      break;
    } else if (npos < 2) pos[npos++] = a;
    else {
      if (rank == 0) fprintf(stderr, "asim-prep: unexpected argument %s\n", a);
      bad = 1;
      break;
    }
    if (dst) {
      if (i + 1 >= argc) {
        if (rank == 0) fprintf(stderr, "asim-prep: %s needs a value\n", a);
        bad = 1;
        break;
      }
      *dst = argv[++i];
    }
  }
  if (!bad && npos != 2) {
    if (rank == 0) usage(stderr);
    bad = 1;
  }
  if (!bad && labels) {
    if (!strcmp(labels, "strict")) o.label_mode = ASIM_LABELS_STRICT;
    else if (!strcmp(labels, "asim")) o.label_mode = ASIM_LABELS_ASIM;
    else if (!strcmp(labels, "dirs")) o.label_mode = ASIM_LABELS_DIRS;
    else {
      if (rank == 0) fprintf(stderr, "asim-prep: --labels must be strict, asim or dirs\n");
      bad = 1;
    }
  }
  if (bad) { /* the same on every rank: argv is the same */
    MPI_Finalize();
    return 2;
  }
  o.path = pos[0];

  /* Every rank opens (lists / validates) the source itself; agree before going on. */
  asim_dataset *ds = NULL;
  asim_status st = asim_dataset_open(&ds, &o);
  int ok = st == ASIM_OK, all_ok;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!all_ok) {
    /* Opening is deterministic: report once from the lowest failing rank. */
    int mine = ok ? K : rank, first;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rank == first) fprintf(stderr, "asim-prep: rank %d: %s\n", rank, asim_errmsg());
    asim_dataset_close(ds);
    MPI_Finalize();
    return 1;
  }
  if (rank == 0 && !quiet)
    fprintf(stderr, "asim-prep: %s, %lld samples, %d classes -> %s as %dx%dx%d uint8 on %d rank%s\n",
            asim_dataset_name(ds), (long long)asim_dataset_size(ds), asim_dataset_classes(ds),
            pos[1], asim_dataset_input_size(ds), asim_dataset_input_size(ds),
            asim_dataset_channels(ds), K, K > 1 ? "s" : "");
  progress_state ps = {now(), 0};
  st = asim_dataset_pack(ds, pos[1], MPI_COMM_WORLD, rank == 0 && !quiet ? on_progress : NULL, &ps);
  asim_dataset_close(ds);
  /* asim_dataset_pack returns the same status on every rank; rank 0 carries the message. */
  if (st != ASIM_OK && rank == 0) fprintf(stderr, "asim-prep: %s\n", asim_errmsg());
  if (st == ASIM_OK && rank == 0 && !quiet) fprintf(stderr, "asim-prep: wrote %s\n", pos[1]);
  MPI_Finalize();
  return st == ASIM_OK ? 0 : 1;
}
