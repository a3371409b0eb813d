#include "asim/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASIM_ERRBUF 8192
static _Thread_local char errbuf[ASIM_ERRBUF];
static _Thread_local size_t errlen;

static const char *basename_of(const char *path) {
  const char *s = strstr(path, "/src/");
  if (s) return s + 1;
  const char *b = strrchr(path, '/');
  return b ? b + 1 : path;
}

asim_status asim_error_set(asim_status code, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  int n = snprintf(errbuf, ASIM_ERRBUF, "error (%s) at %s:%d: ", asim_status_name(code),
                   basename_of(file), line);
  if (n < 0) n = 0;
  if ((size_t)n >= ASIM_ERRBUF) n = ASIM_ERRBUF - 1;
  va_start(ap, fmt);
  int m = vsnprintf(errbuf + n, ASIM_ERRBUF - (size_t)n, fmt, ap);
  va_end(ap);
  if (m < 0) m = 0;
  errlen = strnlen(errbuf, ASIM_ERRBUF);
  return code;
}

asim_status asim_error_trace(asim_status code, const char *file, int line, const char *what) {
  if (errlen == 0) /* a callee returned an error without a message: make one */
    asim_error_set(code, file, line, "%s failed", what);
  else if (errlen < ASIM_ERRBUF - 1) {
    int n = snprintf(errbuf + errlen, ASIM_ERRBUF - errlen, "\n  from %s:%d: %s",
                     basename_of(file), line, what);
    if (n > 0) errlen = strnlen(errbuf, ASIM_ERRBUF);
  }
  return code;
}

const char *asim_errmsg(void) { return errbuf; }

void asim_error_clear(void) {
  errbuf[0] = 0;
  errlen = 0;
}

const char *asim_status_name(asim_status s) {
  switch (s) {
  case ASIM_OK: return "ok";
  case ASIM_EINVAL: return "invalid value";
  case ASIM_ENOMEM: return "out of memory";
  case ASIM_EIO: return "i/o";
  case ASIM_EFORMAT: return "bad format";
  case ASIM_ESHAPE: return "shape mismatch";
  case ASIM_EMPI: return "mpi";
  case ASIM_EINTR: return "interrupted";
  case ASIM_EUNSUP: return "unsupported";
  }
  return "unknown";
}

asim_status asim_calloc(void *pptr, size_t count, size_t size) {
  void **p = (void **)pptr;
  *p = NULL;
  if (count == 0 || size == 0) count = size = 1;
  if (size && count > (size_t)-1 / size)
    return ASIM_ERR(ASIM_ENOMEM, "allocation of %zu x %zu bytes overflows", count, size);
  *p = calloc(count, size);
  if (!*p) return ASIM_ERR(ASIM_ENOMEM, "cannot allocate %zu bytes", count * size);
  return ASIM_OK;
}

asim_status asim_malloc(void *pptr, size_t size) {
  void **p = (void **)pptr;
  *p = malloc(size ? size : 1);
  if (!*p) return ASIM_ERR(ASIM_ENOMEM, "cannot allocate %zu bytes", size);
  return ASIM_OK;
}
