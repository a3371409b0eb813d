/* Folders for the files asim-mpi and asim-train write (reports, checkpoints): created with
 * their parents, so out/… works in a fresh clone. */
#ifndef ASIM_FS_H
#define ASIM_FS_H

#include "asim/error.h"

/* mkdir -p DIR (mode 0755): every missing component created; an existing non-directory is an
 * error naming it. */
asim_status asim_mkdir_p(const char *dir);

/* The folder that holds FILE (nothing to do for a bare file name). */
asim_status asim_mkdir_parent(const char *file);

#endif
