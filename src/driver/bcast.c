#include <stdlib.h>
#include <string.h>

#include "driver.h"

/* Header: count, then per tensor: dtype, ndim, shape[8], name length, name bytes. */
asim_status asim_state_bcast(asim_state *st, int root, MPI_Comm comm) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  int64_t hlen = 0;
  char *hdr = NULL;
  if (rank == root) {
    hlen = sizeof(int64_t);
    for (int i = 0; i < st->n; i++) hlen += (int64_t)(sizeof(int64_t) * (3 + ASIM_MAXDIM) + strlen(st->names[i]));
    ASIM_CHECK(asim_malloc(&hdr, (size_t)hlen));
    char *p = hdr;
    int64_t n = st->n;
    memcpy(p, &n, 8), p += 8;
    for (int i = 0; i < st->n; i++) {
      const asim_tensor *t = &st->tensors[i];
      int64_t v[3 + ASIM_MAXDIM] = {t->dtype, t->ndim, (int64_t)strlen(st->names[i])};
      for (int d = 0; d < t->ndim; d++) v[3 + d] = t->shape[d];
      memcpy(p, v, sizeof v), p += sizeof v;
      memcpy(p, st->names[i], strlen(st->names[i])), p += strlen(st->names[i]);
    }
  }
  MPI_Bcast(&hlen, 1, MPI_INT64_T, root, comm);
  if (rank != root) ASIM_CHECK(asim_malloc(&hdr, (size_t)hlen));
  MPI_Bcast(hdr, (int)hlen, MPI_CHAR, root, comm);
  asim_status s = ASIM_OK;
  if (rank != root) {
    memset(st, 0, sizeof *st);
    const char *p = hdr;
    int64_t n;
    memcpy(&n, p, 8), p += 8;
    for (int64_t i = 0; i < n && !s; i++) {
      int64_t v[3 + ASIM_MAXDIM];
      memcpy(v, p, sizeof v), p += sizeof v;
      char name[512];
      size_t len = (size_t)v[2] < sizeof name - 1 ? (size_t)v[2] : sizeof name - 1;
      memcpy(name, p, len), name[len] = 0, p += v[2];
      asim_tensor t;
      s = asim_tensor_alloc(&t, (asim_dtype)v[0], (int)v[1], v + 3);
      if (!s) s = asim_state_add(st, name, &t);
    }
  }
  free(hdr);
  /* every rank must take part in the data broadcasts: agree on allocation first */
  int bad = s != ASIM_OK, anybad;
  MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, comm);
  if (anybad) return s ? s : ASIM_ERR(ASIM_ENOMEM, "checkpoint broadcast: another rank ran out of memory");
  for (int i = 0; i < st->n; i++) {
    char *d = st->tensors[i].data;
    int64_t bytes = asim_tensor_numel(&st->tensors[i]) * (int64_t)asim_dtype_size(st->tensors[i].dtype);
    for (int64_t off = 0; off < bytes; off += 1 << 30) { /* MPI counts are int */
      int64_t chunk = bytes - off < (1 << 30) ? bytes - off : (1 << 30);
      MPI_Bcast(d + off, (int)chunk, MPI_BYTE, root, comm);
    }
  }
  return ASIM_OK;
}
