#include "asim/fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

asim_status asim_mkdir_p(const char *dir) {
  char p[4096];
  if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return ASIM_ERR(ASIM_EINVAL, "path too long: %s", dir);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = 0;
      if (mkdir(p, 0755) != 0 && errno != EEXIST) return ASIM_ERR(ASIM_EIO, "cannot create %s: %s", p, strerror(errno));
      *s = '/';
    }
  if (mkdir(p, 0755) != 0 && errno != EEXIST) return ASIM_ERR(ASIM_EIO, "cannot create %s: %s", p, strerror(errno));
  struct stat sb;
  if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) return ASIM_ERR(ASIM_EIO, "%s is not a directory", p);
  return ASIM_OK;
}

asim_status asim_mkdir_parent(const char *file) {
  char p[4096];
  if (snprintf(p, sizeof p, "%s", file) >= (int)sizeof p) return ASIM_ERR(ASIM_EINVAL, "path too long: %s", file);
  char *slash = strrchr(p, '/');
  if (!slash || slash == p) return ASIM_OK; /* the current folder, or / */
  *slash = 0;
  return asim_mkdir_p(p);
}
