/* dataset_folders.c — image-file datasets: class folders (ASiM's CIFAR-10 PNGs and ImageNet
 * JPEGs) and the CIFAR-100 image folder labelled by ../train.csv and ../test.csv. Only the
 * listings and CSVs are read at open; images are decoded on demand. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset_internal.h"

static int ends_with(const char *s, const char *suf) {
  size_t ls = strlen(s), lf = strlen(suf);
  return ls >= lf && memcmp(s + ls - lf, suf, lf) == 0;
}

static int is_dir(const char *dir, const char *name) {
  char *p = asim_ds_join(dir, name);
  struct stat sb;
  int r = p && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode); /* follows links, like os.path.isdir */
  free(p);
  return r;
}

/* Appends one sample (relative name, label) growing rel/labels geometrically. */
static asim_status add_sample(asim_dataset *ds, size_t *cap, size_t *acap, size_t *aused,
                              const char *a, const char *b, int label) {
  if ((size_t)ds->n == *cap) {
    size_t nc = *cap ? 2 * *cap : 1024;
    size_t *nr = realloc(ds->rel, nc * sizeof *nr);
    if (!nr) return ASIM_ERR(ASIM_ENOMEM, "sample list of %s", ds->path);
    ds->rel = nr;
    int32_t *nl = realloc(ds->labels, nc * sizeof *nl);
    if (!nl) return ASIM_ERR(ASIM_ENOMEM, "sample list of %s", ds->path);
    ds->labels = nl;
    *cap = nc;
  }
  ASIM_CHECK(asim_ds_arena_add(ds, acap, aused, a, b, &ds->rel[ds->n]));
  ds->labels[ds->n++] = label;
  return ASIM_OK;
}

/* ---- class folders ----------------------------------------------------------------------- */

asim_status asim_ds_open_folders(asim_dataset *ds, const asim_dataset_opts *o) {
  const char *root = ds->path, *ext = o->ext;
  if (!ext) {
    if (ds->task == ASIM_TASK_IMAGENET) ext = ".JPEG";
    else if (ds->task == ASIM_TASK_CIFAR10) ext = ".png";
    else
      return ASIM_ERR(ASIM_EINVAL, "class folders %s: no default image extension for task %s "
                      "(ASiM uses folders for CIFAR-10 and ImageNet): give one", root,
                      asim_task_name(ds->task));
  }
  char **ent;
  size_t nent;
  ASIM_CHECK(asim_ds_list_dir(root, &ent, &nent));
  asim_status st = ASIM_OK;
  char *isdir = NULL, **files = NULL;
  size_t nfiles = 0;
  ASIM_CHECK_GOTO(st, asim_calloc(&isdir, nent, 1), done);
  long last_dir = -1, ndirs = 0;
  for (size_t i = 0; i < nent; i++)
    if ((isdir[i] = (char)is_dir(root, ent[i]))) last_dir = (long)i, ndirs++;
  if (ndirs == 0) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s has no class folders (expected %s/<class>/*%s)", root, root, ext);
    goto done;
  }
  /* ASiM labels a class folder by its position among ALL sorted entries of the root, so a
   * stray file sorting before a class folder (".DS_Store", "README") shifts the labels. */
  if (o->label_mode == ASIM_LABELS_STRICT)
    for (long i = 0; i < last_dir; i++)
      if (!isdir[i]) {
        long first_dir = i + 1;
        while (!isdir[first_dir]) first_dir++;
        st = ASIM_ERR(ASIM_EFORMAT,
                      "%s: the entry '%s' is not a folder but sorts before the class folder '%s'. "
                      "ASiM numbers classes by position in the sorted listing of ALL entries, so "
                      "it would shift the labels of '%s' and every later class by one. Remove "
                      "'%s', or choose the label mode 'asim' (replicate ASiM's shifted labels) or "
                      "'dirs' (number only the folders)",
                      root, ent[i], ent[first_dir], ent[first_dir], ent[i]);
        goto done;
      }
  int classes = asim_task_classes(ds->task);
  size_t cap = 0, acap = 0, aused = 0;
  long label = 0;
  for (size_t i = 0; i < nent; i++) {
    if (!isdir[i]) {
      if (o->label_mode == ASIM_LABELS_ASIM) label++; /* consumes an index, as in ASiM */
      continue;
    }
    if (label >= classes) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: class folder '%s' would get label %ld but task %s has "
                    "%d classes (%ld entries in the root)", root, ent[i], label,
                    asim_task_name(ds->task), classes, (long)nent);
      goto done;
    }
    char *dir = asim_ds_join(root, ent[i]);
    if (!dir) {
      st = ASIM_ERR(ASIM_ENOMEM, "path");
      goto done;
    }
    st = asim_ds_list_dir(dir, &files, &nfiles);
    free(dir);
    if (st != ASIM_OK) goto done;
    for (size_t f = 0; f < nfiles; f++)
      if (ends_with(files[f], ext))
        ASIM_CHECK_GOTO(st, add_sample(ds, &cap, &acap, &aused, ent[i], files[f], (int)label), done);
    asim_ds_free_list(files, nfiles);
    files = NULL;
    label++;
  }
  if (ds->n == 0) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: no images (names ending in '%s') in its %ld class folders",
                  root, ext, ndirs);
    goto done;
  }
  ds->src_c = 3;
done:
  asim_ds_free_list(files, nfiles);
  asim_ds_free_list(ent, nent);
  free(isdir);
  return st;
}

/* ---- CIFAR-100: image folder + CSV labels ------------------------------------------------- */

/* A small open-addressing map from file name to label. */
typedef struct {
  size_t cap;
  char **keys;
  int *vals;
} strmap;

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

static void strmap_free(strmap *m) {
  if (m->keys)
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

static size_t strmap_slot(const strmap *m, const char *k) {
  size_t i = hash_str(k) & (m->cap - 1);
  while (m->keys[i] && strcmp(m->keys[i], k)) i = (i + 1) & (m->cap - 1);
  return i;
}

static asim_status strmap_put(strmap *m, size_t *count, const char *k, int v) {
  if (2 * (*count + 1) > m->cap) { /* grow and rehash, load ≤ 1/2 */
    strmap nm = {m->cap ? 2 * m->cap : 1024, NULL, NULL};
    ASIM_CHECK(asim_calloc(&nm.keys, nm.cap, sizeof *nm.keys));
    asim_status st = asim_calloc(&nm.vals, nm.cap, sizeof *nm.vals);
    if (st != ASIM_OK) {
      free(nm.keys);
      return st;
    }
    for (size_t i = 0; i < m->cap; i++)
      if (m->keys[i]) {
        size_t j = strmap_slot(&nm, m->keys[i]);
        nm.keys[j] = m->keys[i];
        nm.vals[j] = m->vals[i];
      }
    free(m->keys);
    free(m->vals);
    *m = nm;
  }
  size_t j = strmap_slot(m, k);
  if (!m->keys[j]) {
    if (!(m->keys[j] = strdup(k))) return ASIM_ERR(ASIM_ENOMEM, "csv map");
    (*count)++;
  }
  m->vals[j] = v; /* later files (test.csv) override earlier ones, as in ASiM */
  return ASIM_OK;
}

static int strmap_get(const strmap *m, const char *k) {
  if (!m->cap) return -1;
  size_t j = strmap_slot(m, k);
  return m->keys[j] ? m->vals[j] : -1;
}

/* Splits one CSV line in place into at most `max` fields (RFC 4180 quoting, trailing CR and
 * surrounding blanks removed). Returns the field count. */
static int csv_split(char *line, char **fields, int max) {
  int n = 0;
  char *p = line;
  size_t L = strlen(line);
  while (L && (line[L - 1] == '\n' || line[L - 1] == '\r')) line[--L] = 0;
  for (;;) {
    while (*p == ' ' || *p == '\t') p++;
    char *start = p, *w = p;
    if (*p == '"') {
      start = w = ++p;
      while (*p) {
        if (*p == '"' && p[1] == '"') *w++ = '"', p += 2;
        else if (*p == '"') {
          p++;
          break;
        } else *w++ = *p++;
      }
      while (*p && *p != ',') p++;
    } else {
      while (*p && *p != ',') p++;
      w = p;
      while (w > start && (w[-1] == ' ' || w[-1] == '\t')) w--;
    }
    char sep = *p;
    *w = 0;
    if (n < max) fields[n] = start;
    n++;
    if (sep != ',') break;
    p++;
  }
  return n < max ? n : max;
}

#define CSV_MAXF 64

static asim_status read_csv(const char *path, strmap *m, size_t *count) {
  FILE *f = fopen(path, "r");
  if (!f) return ASIM_ERR(ASIM_EIO, "cannot open %s: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  char *fld[CSV_MAXF];
  int id_col = -1, lab_col = -1, nf;
  long lineno = 1;
  asim_status st = ASIM_OK;
  if ((len = getline(&line, &cap, f)) < 0) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s is empty (expected a header with image_id and fine_labels)", path);
    goto done;
  }
  nf = csv_split(line, fld, CSV_MAXF);
  for (int c = 0; c < nf; c++) {
    if (!strcmp(fld[c], "image_id")) id_col = c;
    if (!strcmp(fld[c], "fine_labels")) lab_col = c;
  }
  if (id_col < 0 || lab_col < 0) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: header lacks the column '%s' (ASiM reads image_id and fine_labels)",
                  path, id_col < 0 ? "image_id" : "fine_labels");
    goto done;
  }
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    if (strspn(line, " \t\r\n") == (size_t)len) continue; /* blank line */
    nf = csv_split(line, fld, CSV_MAXF);
    if (nf <= id_col || nf <= lab_col) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s:%ld: %d fields, expected at least %d", path, lineno, nf,
                    (id_col > lab_col ? id_col : lab_col) + 1);
      goto done;
    }
    char *end;
    errno = 0;
    long v = strtol(fld[lab_col], &end, 10);
    if (errno || end == fld[lab_col] || *end || v < 0 || v > 99) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s:%ld: fine_labels '%s' is not an integer in 0..99", path,
                    lineno, fld[lab_col]);
      goto done;
    }
    ASIM_CHECK_GOTO(st, strmap_put(m, count, fld[id_col], (int)v), done);
  }
  if (ferror(f)) st = ASIM_ERR(ASIM_EIO, "cannot read %s", path);
done:
  free(line);
  fclose(f);
  return st;
}

asim_status asim_ds_open_csv(asim_dataset *ds, const asim_dataset_opts *o) {
  const char *root = ds->path;
  struct stat sb;
  if (stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return ASIM_ERR(ASIM_EIO, "CIFAR-100 image folder %s: %s", root,
                    errno ? strerror(errno) : "not a folder");
  char *parent = asim_ds_join(root, "..");
  char *csv[2] = {parent ? asim_ds_join(parent, "train.csv") : NULL,
                  parent ? asim_ds_join(parent, "test.csv") : NULL};
  strmap m = {0};
  size_t count = 0, nent = 0;
  char **ent = NULL;
  asim_status st = ASIM_OK;
  if (!csv[0] || !csv[1]) {
    st = ASIM_ERR(ASIM_ENOMEM, "path");
    goto done;
  }
  int found = 0;
  for (int k = 0; k < 2; k++) /* train first: on duplicates the test.csv row wins */
    if (stat(csv[k], &sb) == 0) {
      found++;
      ASIM_CHECK_GOTO(st, read_csv(csv[k], &m, &count), done);
    }
  if (!found) {
    st = ASIM_ERR(ASIM_EIO, "no label file for %s: neither %s nor %s exists", root, csv[0], csv[1]);
    goto done;
  }
  /* ASiM walks the unsorted directory listing (filesystem dependent); we sort by name. */
  ASIM_CHECK_GOTO(st, asim_ds_list_dir(root, &ent, &nent), done);
  size_t cap = 0, acap = 0, aused = 0;
  for (size_t i = 0; i < nent; i++) {
    int lab = strmap_get(&m, ent[i]);
    if (lab >= 0) ASIM_CHECK_GOTO(st, add_sample(ds, &cap, &acap, &aused, ent[i], NULL, lab), done);
  }
  if (ds->n == 0) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: none of its %zu files is listed in the image_id column of "
                  "%s/train.csv or test.csv", root, nent, parent);
    goto done;
  }
  ds->src_c = 3;
done:
  asim_ds_free_list(ent, nent);
  strmap_free(&m);
  free(csv[0]);
  free(csv[1]);
  free(parent);
  return st;
}
