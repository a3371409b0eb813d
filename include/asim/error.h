/* error.h — status codes and the one error-propagation macro (PETSc/HDF5 style).
 *
 * Every call that can fail returns asim_status. The first failure records a message with
 * file:line; every ASIM_CHECK on the way up appends a traceback line. The top level prints
 * the whole chain once (asim_errmsg()) and exits non-zero. Messages are per thread. */
#ifndef ASIM_ERROR_H
#define ASIM_ERROR_H

#include <stddef.h>

typedef enum {
  ASIM_OK = 0,
  ASIM_EINVAL = 1,  /* bad parameter or configuration value */
  ASIM_ENOMEM = 2,  /* allocation failed */
  ASIM_EIO = 3,     /* file missing, unreadable or unwritable */
  ASIM_EFORMAT = 4, /* malformed or hostile file content */
  ASIM_ESHAPE = 5,  /* tensor shapes do not match */
  ASIM_EMPI = 6,    /* MPI call failed or another rank failed */
  ASIM_EINTR = 7,   /* interrupted by a signal (SIGTERM/SIGINT) */
  ASIM_EUNSUP = 8   /* valid request this build does not support */
} asim_status;

#if defined(__GNUC__)
#define ASIM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ASIM_PRINTF(a, b)
#endif

/* Records a new error (replacing any previous chain) and returns `code`. */
asim_status asim_error_set(asim_status code, const char *file, int line, const char *fmt, ...)
    ASIM_PRINTF(4, 5);
/* Appends a traceback line "  from file:line: what" and returns `code`. */
asim_status asim_error_trace(asim_status code, const char *file, int line, const char *what);
/* The recorded message chain ("" when none). */
const char *asim_errmsg(void);
void asim_error_clear(void);
const char *asim_status_name(asim_status s);

#define ASIM_ERR(code, ...) asim_error_set((code), __FILE__, __LINE__, __VA_ARGS__)
#define ASIM_CHECK(call)                                                                     \
  do {                                                                                       \
    asim_status asim_s_ = (call);                                                            \
    if (asim_s_ != ASIM_OK) return asim_error_trace(asim_s_, __FILE__, __LINE__, #call);     \
  } while (0)
/* For functions that must clean up: jumps to `label` with `st` set. */
#define ASIM_CHECK_GOTO(st, call, label)                                                     \
  do {                                                                                       \
    (st) = (call);                                                                           \
    if ((st) != ASIM_OK) {                                                                   \
      asim_error_trace((st), __FILE__, __LINE__, #call);                                     \
      goto label;                                                                            \
    }                                                                                        \
  } while (0)

/* Checked allocation helpers: zeroed memory, or ASIM_ENOMEM with the size in the message. */
asim_status asim_calloc(void *pptr, size_t count, size_t size);
asim_status asim_malloc(void *pptr, size_t size);
#define ASIM_ALLOC(ptr, count) asim_calloc(&(ptr), (count), sizeof(*(ptr)))

#endif
