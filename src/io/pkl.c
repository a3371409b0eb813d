/* pkl.c — safe native reader of PyTorch zip checkpoints (what torch.save writes).
 *
 * Three layers: a byte source (file descriptor with pread, or a memory buffer), a ZIP reader
 * (central directory, ZIP64, stored/deflate entries, CRC-32), and a pickle VM that builds a
 * small object graph (dicts, tuples, ints, strings, storages, tensors) from data.pkl. Nothing
 * in a file can name code: globals are resolved against a fixed whitelist at GLOBAL time.
 * Tensor data is read after the pickle has been walked, straight into the tensor buffers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "asim/checkpoint.h"

/* ------------------------------------------------------------------------------------------
 * byte source */

typedef struct {
  int fd;             /* -1 for a memory source */
  const uint8_t *mem; /* memory source */
  uint64_t size;
  const char *name; /* for messages */
} src_t;

static asim_status src_read(const src_t *s, uint64_t off, void *buf, size_t len, const char *what) {
  if (off > s->size || len > s->size - off)
    return ASIM_ERR(ASIM_EFORMAT, "%s: %s (%zu bytes at offset %llu) lies beyond the end of the file (%llu bytes): truncated?",
                    s->name, what, len, (unsigned long long)off, (unsigned long long)s->size);
  if (s->fd < 0) {
    if (len) memcpy(buf, s->mem + off, len);
    return ASIM_OK;
  }
  uint8_t *p = buf;
  while (len > 0) {
    size_t chunk = len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len;
    ssize_t r = pread(s->fd, p, chunk, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ASIM_ERR(ASIM_EIO, "%s: reading %s at offset %llu: %s", s->name, what, (unsigned long long)off, strerror(errno));
    if (r == 0) return ASIM_ERR(ASIM_EIO, "%s: unexpected end of file reading %s at offset %llu", s->name, what, (unsigned long long)off);
    p += r;
    off += (uint64_t)r;
    len -= (size_t)r;
  }
  return ASIM_OK;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ------------------------------------------------------------------------------------------
 * ZIP container */

typedef struct {
  char *name;
  uint64_t csize, usize, lho, data_off; /* data_off 0 = not resolved yet */
  uint32_t crc;
  uint16_t method, flags;
} zent;

typedef struct {
  src_t src;
  zent *e;
  size_t n;
  char prefix[512]; /* "<archive>/" */
} zipf;

static void zip_free(zipf *z) {
  for (size_t i = 0; i < z->n; i++) free(z->e[i].name);
  free(z->e);
  z->e = NULL;
  z->n = 0;
}

static int zent_cmp(const void *a, const void *b) { return strcmp(((const zent *)a)->name, ((const zent *)b)->name); }

/* Parses the central directory. Sizes and offsets come from it (local headers may defer them
 * to data descriptors, as PyTorch's writer does). */
static asim_status zip_open(zipf *z) {
  const src_t *s = &z->src;
  uint8_t tail[22 + 65535];
  asim_status st = ASIM_OK;
  if (s->size < 22) return ASIM_ERR(ASIM_EFORMAT, "%s: not a zip archive (only %llu bytes)", s->name, (unsigned long long)s->size);
  size_t tl = s->size < sizeof tail ? (size_t)s->size : sizeof tail;
  uint64_t tail_off = s->size - tl;
  ASIM_CHECK(src_read(s, tail_off, tail, tl, "zip end-of-central-directory search"));
  size_t e = (size_t)-1;
  for (size_t i = tl - 22 + 1; i-- > 0;)
    if (rd32(tail + i) == 0x06054b50u && i + 22 + rd16(tail + i + 20) <= tl) {
      e = i;
      break;
    }
  if (e == (size_t)-1) return ASIM_ERR(ASIM_EFORMAT, "%s: no zip end-of-central-directory record (not a zip archive, or truncated)", s->name);
  uint64_t eocd = tail_off + e;
  uint64_t nent = rd16(tail + e + 10), cdsize = rd32(tail + e + 12), cdoff = rd32(tail + e + 16);
  uint16_t disk = rd16(tail + e + 4), cddisk = rd16(tail + e + 6);
  uint64_t cd_end_limit = eocd;
  if (eocd >= 20) { /* ZIP64 locator right before the EOCD */
    uint8_t loc[20];
    ASIM_CHECK(src_read(s, eocd - 20, loc, 20, "zip64 locator"));
    if (rd32(loc) == 0x07064b50u) {
      uint64_t z64 = rd64(loc + 8);
      uint8_t r[56];
      if (z64 > eocd - 20 || eocd - 20 - z64 < 56)
        return ASIM_ERR(ASIM_EFORMAT, "%s: zip64 end-of-central-directory offset %llu is invalid", s->name, (unsigned long long)z64);
      ASIM_CHECK(src_read(s, z64, r, 56, "zip64 end-of-central-directory record"));
      if (rd32(r) != 0x06064b50u) return ASIM_ERR(ASIM_EFORMAT, "%s: bad zip64 end-of-central-directory signature at offset %llu", s->name, (unsigned long long)z64);
      disk = (uint16_t)rd32(r + 16);
      cddisk = (uint16_t)rd32(r + 20);
      nent = rd64(r + 32);
      cdsize = rd64(r + 40);
      cdoff = rd64(r + 48);
      cd_end_limit = z64;
    }
  }
  if (disk != 0 || cddisk != 0) return ASIM_ERR(ASIM_EUNSUP, "%s: multi-disk zip archives are not supported", s->name);
  if (cdoff > cd_end_limit || cdsize > cd_end_limit - cdoff)
    return ASIM_ERR(ASIM_EFORMAT, "%s: zip central directory (offset %llu, %llu bytes) lies outside the file: truncated?", s->name,
                    (unsigned long long)cdoff, (unsigned long long)cdsize);
  if (nent == 0) return ASIM_ERR(ASIM_EFORMAT, "%s: empty zip archive", s->name);
  if (nent > cdsize / 46) return ASIM_ERR(ASIM_EFORMAT, "%s: zip claims %llu entries in a %llu-byte central directory", s->name, (unsigned long long)nent, (unsigned long long)cdsize);
  uint8_t *cd = NULL;
  ASIM_CHECK(asim_malloc(&cd, (size_t)cdsize));
  ASIM_CHECK_GOTO(st, src_read(s, cdoff, cd, (size_t)cdsize, "zip central directory"), done);
  ASIM_CHECK_GOTO(st, asim_calloc(&z->e, (size_t)nent, sizeof *z->e), done);
  size_t p = 0;
  for (uint64_t i = 0; i < nent; i++) {
    if (cdsize - p < 46 || rd32(cd + p) != 0x02014b50u) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: bad zip central directory entry %llu at offset %llu", s->name, (unsigned long long)i, (unsigned long long)(cdoff + p));
      goto done;
    }
    const uint8_t *h = cd + p;
    zent *ze = &z->e[z->n];
    ze->flags = rd16(h + 8);
    ze->method = rd16(h + 10);
    ze->crc = rd32(h + 16);
    ze->csize = rd32(h + 20);
    ze->usize = rd32(h + 24);
    size_t nl = rd16(h + 28), xl = rd16(h + 30), cl = rd16(h + 32);
    ze->lho = rd32(h + 42);
    if (cdsize - p - 46 < nl + xl + cl) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: zip central directory entry %llu overruns the directory", s->name, (unsigned long long)i);
      goto done;
    }
    if (nl == 0 || memchr(h + 46, 0, nl)) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: zip entry %llu has an empty or NUL-containing name", s->name, (unsigned long long)i);
      goto done;
    }
    ASIM_CHECK_GOTO(st, asim_malloc(&ze->name, nl + 1), done);
    memcpy(ze->name, h + 46, nl);
    ze->name[nl] = 0;
    z->n++;
    /* ZIP64 extended information: the 64-bit values of fields saturated at 0xffffffff */
    const uint8_t *x = h + 46 + nl, *xe = x + xl;
    while (xe - x >= 4) {
      uint16_t id = rd16(x), sz = rd16(x + 2);
      if ((size_t)(xe - x - 4) < sz) break;
      if (id == 0x0001) {
        const uint8_t *q = x + 4, *qe = q + sz;
        uint64_t *fld[3] = {&ze->usize, &ze->csize, &ze->lho};
        for (int k = 0; k < 3; k++)
          if (*fld[k] == 0xffffffffu) {
            if (qe - q < 8) {
              st = ASIM_ERR(ASIM_EFORMAT, "%s: zip entry '%s': short zip64 extra field", s->name, ze->name);
              goto done;
            }
            *fld[k] = rd64(q);
            q += 8;
          }
      }
      x += 4 + sz;
    }
    p += 46 + nl + xl + cl;
  }
  qsort(z->e, z->n, sizeof *z->e, zent_cmp);
  for (size_t i = 1; i < z->n; i++)
    if (strcmp(z->e[i - 1].name, z->e[i].name) == 0) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: duplicate zip entry '%s'", s->name, z->e[i].name);
      goto done;
    }
  /* torch's reader: the archive name is the first entry's directory */
  {
    const char *first = (const char *)cd + 46;
    size_t nl = rd16(cd + 28), k = 0;
    while (k < nl && first[k] != '/') k++;
    if (k == nl || k + 2 > sizeof z->prefix) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: first zip entry is not inside an archive folder: not a torch.save checkpoint", s->name);
      goto done;
    }
    memcpy(z->prefix, first, k + 1);
    z->prefix[k + 1] = 0;
  }
done:
  free(cd);
  return st;
}

static zent *zip_find(zipf *z, const char *rel) {
  char name[1024];
  if ((size_t)snprintf(name, sizeof name, "%s%s", z->prefix, rel) >= sizeof name) return NULL;
  zent key = {.name = name};
  return bsearch(&key, z->e, z->n, sizeof *z->e, zent_cmp);
}

/* Locates the entry's data via its local header. */
static asim_status zip_resolve(zipf *z, zent *e) {
  if (e->data_off) return ASIM_OK;
  const src_t *s = &z->src;
  uint8_t h[30];
  if (e->flags & 1) return ASIM_ERR(ASIM_EUNSUP, "%s: zip entry '%s' is encrypted", s->name, e->name);
  if (e->method != 0 && e->method != 8)
    return ASIM_ERR(ASIM_EUNSUP, "%s: zip entry '%s' uses compression method %u (only stored and deflate are supported)", s->name, e->name, e->method);
  ASIM_CHECK(src_read(s, e->lho, h, 30, "zip local header"));
  if (rd32(h) != 0x04034b50u) return ASIM_ERR(ASIM_EFORMAT, "%s: zip entry '%s': bad local header signature at offset %llu", s->name, e->name, (unsigned long long)e->lho);
  uint64_t off = e->lho + 30 + rd16(h + 26) + rd16(h + 28);
  if (off > s->size || e->csize > s->size - off)
    return ASIM_ERR(ASIM_EFORMAT, "%s: zip entry '%s' (%llu bytes at offset %llu) extends beyond the end of the file (%llu bytes): truncated?", s->name, e->name,
                    (unsigned long long)e->csize, (unsigned long long)off, (unsigned long long)s->size);
  if (e->method == 0 && e->csize != e->usize)
    return ASIM_ERR(ASIM_EFORMAT, "%s: stored zip entry '%s' has compressed size %llu != size %llu", s->name, e->name, (unsigned long long)e->csize, (unsigned long long)e->usize);
  /* deflate cannot expand more than ~1032:1: refuse claims that would make us allocate wildly */
  if (e->method == 8 && e->usize / 1032 > e->csize + 1)
    return ASIM_ERR(ASIM_EFORMAT, "%s: zip entry '%s' claims %llu bytes from %llu compressed bytes", s->name, e->name, (unsigned long long)e->usize, (unsigned long long)e->csize);
  e->data_off = off;
  return ASIM_OK;
}

static asim_status zip_check_crc(const zipf *z, const zent *e, const uint8_t *buf) {
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* let the fuzzer reach the pickle VM */
  uLong c = crc32(0L, Z_NULL, 0);
  for (uint64_t o = 0; o < e->usize;) {
    uInt k = e->usize - o > (1u << 30) ? (1u << 30) : (uInt)(e->usize - o);
    c = crc32(c, buf + o, k);
    o += k;
  }
  if ((uint32_t)c != e->crc)
    return ASIM_ERR(ASIM_EFORMAT, "%s: zip entry '%s': CRC-32 mismatch (file corrupted)", z->src.name, e->name);
#endif
  return ASIM_OK;
}

static asim_status zip_inflate(zipf *z, zent *e, uint8_t *out) {
  const src_t *s = &z->src;
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return ASIM_ERR(ASIM_ENOMEM, "zlib inflateInit2 failed");
  uint8_t in[65536];
  uint64_t done_in = 0, done_out = 0;
  asim_status st = ASIM_OK;
  int zr = Z_OK;
  while (zr != Z_STREAM_END) {
    if (zs.avail_in == 0) {
      if (done_in == e->csize) break;
      size_t k = e->csize - done_in > sizeof in ? sizeof in : (size_t)(e->csize - done_in);
      ASIM_CHECK_GOTO(st, src_read(s, e->data_off + done_in, in, k, "deflate data"), end);
      done_in += k;
      zs.next_in = in;
      zs.avail_in = (uInt)k;
    }
    uint64_t room = e->usize - done_out;
    uint8_t dummy;
    zs.next_out = room ? out + done_out : &dummy;
    zs.avail_out = room ? (room > (1u << 30) ? (1u << 30) : (uInt)room) : 1;
    uInt before = zs.avail_out;
    zr = inflate(&zs, Z_NO_FLUSH);
    if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: zip entry '%s': corrupt deflate data (%s)", s->name, e->name, zs.msg ? zs.msg : "zlib error");
      goto end;
    }
    if (!room && zs.avail_out == 0) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: zip entry '%s' inflates to more than its declared %llu bytes", s->name, e->name, (unsigned long long)e->usize);
      goto end;
    }
    done_out += before - zs.avail_out;
    if (zr == Z_BUF_ERROR && zs.avail_in == 0 && done_in == e->csize) break;
  }
  if (zr != Z_STREAM_END || done_out != e->usize)
    st = ASIM_ERR(ASIM_EFORMAT, "%s: zip entry '%s': deflate stream ends after %llu of %llu bytes (truncated or corrupt)", s->name, e->name,
                  (unsigned long long)done_out, (unsigned long long)e->usize);
end:
  inflateEnd(&zs);
  return st;
}

/* Reads bytes [off, off+len) of an entry's uncompressed content into buf. The CRC is checked
 * whenever the whole entry is read. */
static asim_status zip_read(zipf *z, zent *e, uint64_t off, void *buf, size_t len) {
  ASIM_CHECK(zip_resolve(z, e));
  if (off > e->usize || len > e->usize - off)
    return ASIM_ERR(ASIM_EFORMAT, "%s: zip entry '%s' has %llu bytes; %zu bytes at offset %llu requested", z->src.name, e->name,
                    (unsigned long long)e->usize, len, (unsigned long long)off);
  int whole = off == 0 && len == e->usize;
  if (e->method == 0) {
    ASIM_CHECK(src_read(&z->src, e->data_off + off, buf, len, e->name));
    if (whole) ASIM_CHECK(zip_check_crc(z, e, buf));
    return ASIM_OK;
  }
  uint8_t *tmp = buf;
  if (!whole) ASIM_CHECK(asim_malloc(&tmp, (size_t)e->usize));
  asim_status st = zip_inflate(z, e, tmp);
  if (st == ASIM_OK) st = zip_check_crc(z, e, tmp);
  if (st == ASIM_OK && !whole) memcpy(buf, tmp + off, len);
  if (!whole) free(tmp);
  return st == ASIM_OK ? ASIM_OK : asim_error_trace(st, __FILE__, __LINE__, "zip_read");
}

/* ------------------------------------------------------------------------------------------
 * pickle VM: objects */

enum { P_NONE, P_BOOL, P_INT, P_FLOAT, P_STR, P_BYTES, P_TUPLE, P_LIST, P_DICT, P_GLOBAL, P_STORAGE, P_TENSOR };
enum { G_ODICT = 1, G_REBUILD_TENSOR, G_REBUILD_PARAM, G_STORAGE };
static const char *kind_name[] = {"None", "a bool", "an int", "a float", "a str", "a bytes", "a tuple", "a list", "a dict", "a global", "a storage", "a tensor"};

typedef struct {
  struct pobj *storage;
  int64_t offset;
  int ndim;
  int64_t shape[ASIM_MAXDIM], stride[ASIM_MAXDIM];
} ptensor;

typedef struct pobj {
  struct pobj *next; /* every object is on the VM's arena list; freed together */
  int kind;
  int glob;         /* P_GLOBAL: G_*; P_STORAGE: unused */
  asim_dtype dtype; /* P_GLOBAL G_STORAGE and P_STORAGE */
  int64_t i;        /* P_INT, P_BOOL; P_STORAGE: numel */
  double f;
  char *s; /* P_STR, P_BYTES (NUL-terminated copy); P_STORAGE: key; P_GLOBAL: "module.name" */
  size_t slen;
  struct pobj **items; /* P_TUPLE, P_LIST; P_DICT: key, value, key, value... */
  size_t n, cap;
  ptensor *t; /* P_TENSOR */
  size_t pos; /* data.pkl offset of the opcode that made it */
} pobj;

typedef struct {
  const uint8_t *p;
  size_t n, pos;
  const char *name;
  pobj *arena;
  pobj **stack;
  size_t sp, scap;
  size_t *marks;
  size_t nmarks, mcap;
  pobj **memo;
  size_t memocap, memon;
} pvm;

static void vm_free(pvm *vm) {
  for (pobj *o = vm->arena, *nx; o; o = nx) {
    nx = o->next;
    free(o->s);
    free(o->items);
    free(o->t);
    free(o);
  }
  free(vm->stack);
  free(vm->marks);
  free(vm->memo);
  memset(vm, 0, sizeof *vm);
}

static asim_status vm_new(pvm *vm, int kind, size_t pos, pobj **out) {
  pobj *o;
  ASIM_CHECK(asim_calloc(&o, 1, sizeof *o));
  o->kind = kind;
  o->pos = pos;
  o->next = vm->arena;
  vm->arena = o;
  *out = o;
  return ASIM_OK;
}

/* Grows *arr (elements of `size` bytes) to hold at least `need`. */
static asim_status grow(void *parr, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return ASIM_OK;
  size_t nc = *cap ? *cap : 16;
  while (nc < need) nc *= 2;
  if (nc > ((size_t)-1) / size) return ASIM_ERR(ASIM_ENOMEM, "pickle VM array overflow");
  void *p = realloc(*(void **)parr, nc * size);
  if (!p) return ASIM_ERR(ASIM_ENOMEM, "pickle VM: cannot grow an array to %zu entries", nc);
  *(void **)parr = p;
  *cap = nc;
  return ASIM_OK;
}

static asim_status vm_push(pvm *vm, pobj *o) {
  ASIM_CHECK(grow(&vm->stack, &vm->scap, vm->sp + 1, sizeof *vm->stack));
  vm->stack[vm->sp++] = o;
  return ASIM_OK;
}

static size_t vm_floor(const pvm *vm) { return vm->nmarks ? vm->marks[vm->nmarks - 1] : 0; }

static asim_status vm_pop(pvm *vm, size_t op_pos, pobj **o) {
  if (vm->sp <= vm_floor(vm)) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: pickle stack underflow", vm->name, op_pos);
  *o = vm->stack[--vm->sp];
  return ASIM_OK;
}

static asim_status vm_top(pvm *vm, size_t op_pos, pobj **o) {
  if (vm->sp <= vm_floor(vm)) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: pickle stack underflow", vm->name, op_pos);
  *o = vm->stack[vm->sp - 1];
  return ASIM_OK;
}

/* Pops the items above the topmost MARK and the mark itself. */
static asim_status vm_pop_mark(pvm *vm, size_t op_pos, size_t *first) {
  if (!vm->nmarks) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: no MARK on the pickle stack", vm->name, op_pos);
  *first = vm->marks[--vm->nmarks];
  return ASIM_OK;
}

static asim_status obj_append(pobj *o, pobj *item) {
  ASIM_CHECK(grow(&o->items, &o->cap, o->n + 1, sizeof *o->items));
  o->items[o->n++] = item;
  return ASIM_OK;
}

/* dict[k] = v. Keys are appended without a duplicate check (that would be quadratic in a
 * hostile file); lookups take the last occurrence, as Python's dict would hold its value, and
 * the state dict itself is checked for duplicates once, by sorting. */
static asim_status dict_set(pobj *d, pobj *k, pobj *v) {
  ASIM_CHECK(obj_append(d, k));
  return obj_append(d, v);
}

static pobj *dict_get(const pobj *d, const char *key) {
  size_t kl = strlen(key);
  for (size_t i = d->n; i >= 2; i -= 2)
    if (d->items[i - 2]->kind == P_STR && d->items[i - 2]->slen == kl && memcmp(d->items[i - 2]->s, key, kl) == 0) return d->items[i - 1];
  return NULL;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* ------------------------------------------------------------------------------------------
 * pickle VM: the whitelist */

static const struct {
  const char *module, *name;
  int glob;
  asim_dtype dtype;
} whitelist[] = {
    {"collections", "OrderedDict", G_ODICT, ASIM_F32},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR, ASIM_F32},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAM, ASIM_F32},
    {"torch", "FloatStorage", G_STORAGE, ASIM_F32},
    {"torch", "DoubleStorage", G_STORAGE, ASIM_F64},
    {"torch", "HalfStorage", G_STORAGE, ASIM_F16},
    {"torch", "BFloat16Storage", G_STORAGE, ASIM_BF16},
    {"torch", "LongStorage", G_STORAGE, ASIM_I64},
    {"torch", "IntStorage", G_STORAGE, ASIM_I32},
    {"torch", "ByteStorage", G_STORAGE, ASIM_U8},
};

/* Printable rendering of a file-controlled name for messages. */
static void safe_name(char *dst, size_t cap, const char *src, size_t len) {
  size_t o = 0, i = 0;
  for (; i < len && o + 8 < cap; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c >= 32 && c < 127) dst[o++] = (char)c;
    else o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
  }
  if (i < len) o += (size_t)snprintf(dst + o, cap - o, "...");
  dst[o] = 0;
}

static asim_status vm_global(pvm *vm, size_t op_pos, const char *mod, size_t ml, const char *name, size_t nl) {
  for (size_t i = 0; i < sizeof whitelist / sizeof whitelist[0]; i++)
    if (strlen(whitelist[i].module) == ml && memcmp(whitelist[i].module, mod, ml) == 0 && strlen(whitelist[i].name) == nl &&
        memcmp(whitelist[i].name, name, nl) == 0) {
      pobj *o;
      ASIM_CHECK(vm_new(vm, P_GLOBAL, op_pos, &o));
      o->glob = whitelist[i].glob;
      o->dtype = whitelist[i].dtype;
      ASIM_CHECK(asim_malloc(&o->s, ml + nl + 2));
      sprintf(o->s, "%s.%s", whitelist[i].module, whitelist[i].name);
      return vm_push(vm, o);
    }
  char a[128], b[128];
  safe_name(a, sizeof a, mod, ml);
  safe_name(b, sizeof b, name, nl);
  return ASIM_ERR(ASIM_EFORMAT,
                  "%s: data.pkl offset %zu: forbidden global '%s.%s' (a checkpoint may only reference tensors, storages and "
                  "OrderedDict; refusing to load)",
                  vm->name, op_pos, a, b);
}

static int as_int(const pobj *o, int64_t *v) {
  if (o->kind != P_INT && o->kind != P_BOOL) return 0;
  *v = o->i;
  return 1;
}

/* torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) */
static asim_status rebuild_tensor(pvm *vm, size_t op_pos, const pobj *args, pobj **out) {
  const char *fn = "torch._utils._rebuild_tensor_v2";
  if (args->n != 6 && args->n != 7) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: %s takes 6 or 7 arguments, got %zu", vm->name, op_pos, fn, args->n);
  pobj *stor = args->items[0], *size = args->items[2], *stride = args->items[3];
  int64_t off;
  if (stor->kind != P_STORAGE) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: %s: argument 1 is %s, not a storage", vm->name, op_pos, fn, kind_name[stor->kind]);
  if (!as_int(args->items[1], &off) || off < 0) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: %s: bad storage offset", vm->name, op_pos, fn);
  if (size->kind != P_TUPLE || stride->kind != P_TUPLE || size->n != stride->n)
    return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: %s: size and stride must be tuples of equal length", vm->name, op_pos, fn);
  if (size->n > ASIM_MAXDIM) return ASIM_ERR(ASIM_EUNSUP, "%s: data.pkl offset %zu: tensor of rank %zu (max %d)", vm->name, op_pos, size->n, ASIM_MAXDIM);
  if (args->items[4]->kind != P_BOOL && args->items[4]->kind != P_INT)
    return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: %s: requires_grad is %s", vm->name, op_pos, fn, kind_name[args->items[4]->kind]);
  ptensor *t;
  ASIM_CHECK(asim_calloc(&t, 1, sizeof *t));
  pobj *o;
  asim_status st = vm_new(vm, P_TENSOR, op_pos, &o);
  if (st) {
    free(t);
    return st;
  }
  o->t = t;
  t->storage = stor;
  t->offset = off;
  t->ndim = (int)size->n;
  /* every element must lie inside the storage: off + sum((size-1)*stride) < numel, no overflow */
  int64_t numel = 1, prod_nz = 1, last = off;
  size_t esz = asim_dtype_size(stor->dtype);
  for (int d = 0; d < t->ndim; d++) {
    int64_t sz, sd;
    if (!as_int(size->items[d], &sz) || !as_int(stride->items[d], &sd) || sz < 0 || sd < 0)
      return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: %s: bad size or stride in dimension %d", vm->name, op_pos, fn, d);
    t->shape[d] = sz;
    t->stride[d] = sd;
    /* bound the product of the non-zero sizes too: an empty tensor must not hide an overflow */
    if (sz > 0 && prod_nz > INT64_MAX / (int64_t)esz / sz)
      return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: tensor size overflows (dimension %d = %lld)", vm->name, op_pos, d, (long long)sz);
    if (sz > 0) prod_nz *= sz;
    numel *= sz;
  }
  if (numel > 0) {
    for (int d = 0; d < t->ndim; d++) {
      if (t->stride[d] && t->shape[d] - 1 > (INT64_MAX - last) / t->stride[d])
        return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: tensor extent overflows (dimension %d: size %lld, stride %lld)", vm->name, op_pos, d,
                        (long long)t->shape[d], (long long)t->stride[d]);
      last += (t->shape[d] - 1) * t->stride[d];
    }
    if (last >= stor->i)
      return ASIM_ERR(ASIM_EFORMAT,
                      "%s: data.pkl offset %zu: tensor needs element %lld of storage '%s', which has only %lld elements",
                      vm->name, op_pos, (long long)last, stor->s, (long long)stor->i);
  } /* an empty tensor reads nothing: torch accepts any storage offset for it */
  *out = o;
  return ASIM_OK;
}

static asim_status vm_reduce(pvm *vm, size_t op_pos) {
  pobj *args, *fn, *o;
  ASIM_CHECK(vm_pop(vm, op_pos, &args));
  ASIM_CHECK(vm_pop(vm, op_pos, &fn));
  if (fn->kind != P_GLOBAL || fn->glob == G_STORAGE)
    return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: REDUCE of %s%s%s is not allowed", vm->name, op_pos, kind_name[fn->kind],
                    fn->kind == P_GLOBAL ? " " : "", fn->kind == P_GLOBAL ? fn->s : "");
  if (args->kind != P_TUPLE) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: REDUCE arguments are %s, not a tuple", vm->name, op_pos, kind_name[args->kind]);
  switch (fn->glob) {
  case G_ODICT:
    if (args->n != 0) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: collections.OrderedDict with arguments is not supported", vm->name, op_pos);
    ASIM_CHECK(vm_new(vm, P_DICT, op_pos, &o));
    break;
  case G_REBUILD_TENSOR: ASIM_CHECK(rebuild_tensor(vm, op_pos, args, &o)); break;
  case G_REBUILD_PARAM: /* (data, requires_grad, backward_hooks): the parameter is its tensor */
    if (args->n != 3 || args->items[0]->kind != P_TENSOR)
      return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: torch._utils._rebuild_parameter expects (tensor, requires_grad, hooks)", vm->name, op_pos);
    o = args->items[0];
    break;
  default: return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: REDUCE of %s is not allowed", vm->name, op_pos, fn->s);
  }
  return vm_push(vm, o);
}

/* persistent_load(('storage', StorageType, key, location, numel)) */
static asim_status vm_persid(pvm *vm, size_t op_pos) {
  pobj *pid, *o;
  ASIM_CHECK(vm_pop(vm, op_pos, &pid));
  if (pid->kind != P_TUPLE || pid->n != 5 || pid->items[0]->kind != P_STR || strcmp(pid->items[0]->s, "storage") != 0)
    return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: persistent id is not ('storage', type, key, location, numel)", vm->name, op_pos);
  pobj *type = pid->items[1], *key = pid->items[2], *loc = pid->items[3];
  int64_t numel;
  if (type->kind != P_GLOBAL || type->glob != G_STORAGE)
    return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: persistent id names %s%s%s, not a storage type", vm->name, op_pos, kind_name[type->kind],
                    type->kind == P_GLOBAL ? " " : "", type->kind == P_GLOBAL ? type->s : "");
  if (key->kind != P_STR || key->slen == 0 || key->slen > 200 || strlen(key->s) != key->slen || strchr(key->s, '/'))
    return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: bad storage key", vm->name, op_pos);
  if (loc->kind != P_STR) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: storage location is %s", vm->name, op_pos, kind_name[loc->kind]);
  if (!as_int(pid->items[4], &numel) || numel < 0 || numel > INT64_MAX / (int64_t)asim_dtype_size(type->dtype))
    return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: storage '%s' has a bad element count", vm->name, op_pos, key->s);
  ASIM_CHECK(vm_new(vm, P_STORAGE, op_pos, &o));
  o->dtype = type->dtype;
  o->i = numel;
  ASIM_CHECK(asim_malloc(&o->s, key->slen + 1));
  memcpy(o->s, key->s, key->slen + 1);
  o->slen = key->slen;
  return vm_push(vm, o);
}

static const char *opcode_name(uint8_t op) {
  switch (op) {
  case 'I': return "INT";
  case 'L': return "LONG";
  case 'F': return "FLOAT";
  case 'S': return "STRING";
  case 'T': return "BINSTRING";
  case 'U': return "SHORT_BINSTRING";
  case 'V': return "UNICODE";
  case 'P': return "PERSID";
  case 'p': return "PUT";
  case 'g': return "GET";
  case 'i': return "INST";
  case 'o': return "OBJ";
  case 0x81: return "NEWOBJ";
  case 0x92: return "NEWOBJ_EX";
  case 0x82: return "EXT1";
  case 0x83: return "EXT2";
  case 0x84: return "EXT4";
  case 0x8f: return "EMPTY_SET";
  case 0x90: return "ADDITEMS";
  case 0x91: return "FROZENSET";
  case 0x96: return "BYTEARRAY8";
  case 0x97: return "NEXT_BUFFER";
  case 0x98: return "READONLY_BUFFER";
  }
  return "unknown opcode";
}

static asim_status vm_need(pvm *vm, size_t op_pos, size_t k) {
  if (vm->n - vm->pos < k) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: pickle truncated inside an opcode argument", vm->name, op_pos);
  return ASIM_OK;
}

static asim_status vm_string(pvm *vm, size_t op_pos, int kind, uint64_t len) {
  if (len > vm->n - vm->pos) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: string of %llu bytes overruns the pickle", vm->name, op_pos, (unsigned long long)len);
  pobj *o;
  ASIM_CHECK(vm_new(vm, kind, op_pos, &o));
  ASIM_CHECK(asim_malloc(&o->s, (size_t)len + 1));
  memcpy(o->s, vm->p + vm->pos, (size_t)len);
  o->s[len] = 0;
  o->slen = (size_t)len;
  vm->pos += (size_t)len;
  return vm_push(vm, o);
}

static asim_status vm_memo_put(pvm *vm, size_t op_pos, uint64_t idx) {
  pobj *o;
  ASIM_CHECK(vm_top(vm, op_pos, &o));
  /* Python's pickler numbers memo entries 0,1,2..., each costing >= 2 bytes: bounding the index
   * by the pickle length keeps the memo table linear in the input */
  if (idx >= vm->n + 256) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: memo index %llu out of range", vm->name, op_pos, (unsigned long long)idx);
  size_t old = vm->memocap;
  ASIM_CHECK(grow(&vm->memo, &vm->memocap, (size_t)idx + 1, sizeof *vm->memo));
  if (vm->memocap > old) memset(vm->memo + old, 0, (vm->memocap - old) * sizeof *vm->memo);
  if (!vm->memo[idx]) vm->memon++;
  vm->memo[idx] = o;
  return ASIM_OK;
}

static asim_status vm_memo_get(pvm *vm, size_t op_pos, uint64_t idx) {
  if (idx >= vm->memocap || !vm->memo[idx]) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: memo entry %llu is not defined", vm->name, op_pos, (unsigned long long)idx);
  return vm_push(vm, vm->memo[idx]);
}

static asim_status vm_run(pvm *vm, pobj **result) {
  for (;;) {
    size_t at = vm->pos;
    if (vm->pos >= vm->n) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl ends at offset %zu without a STOP opcode (truncated)", vm->name, at);
    uint8_t op = vm->p[vm->pos++];
    const uint8_t *a = vm->p + vm->pos;
    pobj *o, *k, *v, *top;
    size_t first;
    switch (op) {
    case 0x80: /* PROTO */
      ASIM_CHECK(vm_need(vm, at, 1));
      if (a[0] < 2 || a[0] > 5) return ASIM_ERR(ASIM_EUNSUP, "%s: data.pkl offset %zu: pickle protocol %u not supported", vm->name, at, a[0]);
      vm->pos += 1;
      break;
    case 0x95: /* FRAME: framing is only a read-ahead hint */
      ASIM_CHECK(vm_need(vm, at, 8));
      vm->pos += 8;
      break;
    case '.': /* STOP */
      ASIM_CHECK(vm_pop(vm, at, result));
      return ASIM_OK;
    case '(': /* MARK */
      ASIM_CHECK(grow(&vm->marks, &vm->mcap, vm->nmarks + 1, sizeof *vm->marks));
      vm->marks[vm->nmarks++] = vm->sp;
      break;
    case ')': ASIM_CHECK(vm_new(vm, P_TUPLE, at, &o)); ASIM_CHECK(vm_push(vm, o)); break;
    case ']': ASIM_CHECK(vm_new(vm, P_LIST, at, &o)); ASIM_CHECK(vm_push(vm, o)); break;
    case '}': ASIM_CHECK(vm_new(vm, P_DICT, at, &o)); ASIM_CHECK(vm_push(vm, o)); break;
    case 'N': ASIM_CHECK(vm_new(vm, P_NONE, at, &o)); ASIM_CHECK(vm_push(vm, o)); break;
    case 0x88:
    case 0x89:
      ASIM_CHECK(vm_new(vm, P_BOOL, at, &o));
      o->i = op == 0x88;
      ASIM_CHECK(vm_push(vm, o));
      break;
    case 'K': /* BININT1 */
    case 'M': /* BININT2 */
    case 'J': /* BININT */
    {
      size_t w = op == 'K' ? 1 : op == 'M' ? 2 : 4;
      ASIM_CHECK(vm_need(vm, at, w));
      ASIM_CHECK(vm_new(vm, P_INT, at, &o));
      o->i = op == 'K' ? a[0] : op == 'M' ? rd16(a) : (int64_t)(int32_t)rd32(a);
      vm->pos += w;
      ASIM_CHECK(vm_push(vm, o));
      break;
    }
    case 0x8a: /* LONG1 */
    case 0x8b: /* LONG4 */
    {
      size_t w = op == 0x8a ? 1 : 4;
      ASIM_CHECK(vm_need(vm, at, w));
      uint64_t len = op == 0x8a ? a[0] : rd32(a);
      vm->pos += w;
      if (len > 8) return ASIM_ERR(ASIM_EUNSUP, "%s: data.pkl offset %zu: integer of %llu bytes does not fit in 64 bits", vm->name, at, (unsigned long long)len);
      ASIM_CHECK(vm_need(vm, at, (size_t)len));
      uint64_t u = 0;
      for (size_t b = 0; b < len; b++) u |= (uint64_t)vm->p[vm->pos + b] << (8 * b);
      if (len > 0 && len < 8 && (vm->p[vm->pos + len - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * len); /* sign-extend */
      vm->pos += (size_t)len;
      ASIM_CHECK(vm_new(vm, P_INT, at, &o));
      memcpy(&o->i, &u, 8);
      ASIM_CHECK(vm_push(vm, o));
      break;
    }
    case 'G': { /* BINFLOAT, big-endian */
      ASIM_CHECK(vm_need(vm, at, 8));
      uint64_t u = 0;
      for (int b = 0; b < 8; b++) u = u << 8 | a[b];
      vm->pos += 8;
      ASIM_CHECK(vm_new(vm, P_FLOAT, at, &o));
      memcpy(&o->f, &u, 8);
      ASIM_CHECK(vm_push(vm, o));
      break;
    }
    case 'X': ASIM_CHECK(vm_need(vm, at, 4)); vm->pos += 4; ASIM_CHECK(vm_string(vm, at, P_STR, rd32(a))); break;
    case 0x8c: ASIM_CHECK(vm_need(vm, at, 1)); vm->pos += 1; ASIM_CHECK(vm_string(vm, at, P_STR, a[0])); break;
    case 0x8d: ASIM_CHECK(vm_need(vm, at, 8)); vm->pos += 8; ASIM_CHECK(vm_string(vm, at, P_STR, rd64(a))); break;
    case 'B': ASIM_CHECK(vm_need(vm, at, 4)); vm->pos += 4; ASIM_CHECK(vm_string(vm, at, P_BYTES, rd32(a))); break;
    case 'C': ASIM_CHECK(vm_need(vm, at, 1)); vm->pos += 1; ASIM_CHECK(vm_string(vm, at, P_BYTES, a[0])); break;
    case 0x8e: ASIM_CHECK(vm_need(vm, at, 8)); vm->pos += 8; ASIM_CHECK(vm_string(vm, at, P_BYTES, rd64(a))); break;
    case 'q': ASIM_CHECK(vm_need(vm, at, 1)); vm->pos += 1; ASIM_CHECK(vm_memo_put(vm, at, a[0])); break;
    case 'r': ASIM_CHECK(vm_need(vm, at, 4)); vm->pos += 4; ASIM_CHECK(vm_memo_put(vm, at, rd32(a))); break;
    case 0x94: ASIM_CHECK(vm_memo_put(vm, at, vm->memon)); break; /* MEMOIZE */
    case 'h': ASIM_CHECK(vm_need(vm, at, 1)); vm->pos += 1; ASIM_CHECK(vm_memo_get(vm, at, a[0])); break;
    case 'j': ASIM_CHECK(vm_need(vm, at, 4)); vm->pos += 4; ASIM_CHECK(vm_memo_get(vm, at, rd32(a))); break;
    case 'c': { /* GLOBAL "module\nname\n" */
      const uint8_t *end = vm->p + vm->n;
      const uint8_t *nl1 = memchr(a, '\n', (size_t)(end - a));
      const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
      if (!nl2) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: unterminated GLOBAL", vm->name, at);
      vm->pos = (size_t)(nl2 + 1 - vm->p);
      ASIM_CHECK(vm_global(vm, at, (const char *)a, (size_t)(nl1 - a), (const char *)nl1 + 1, (size_t)(nl2 - nl1 - 1)));
      break;
    }
    case 0x93: /* STACK_GLOBAL */
      ASIM_CHECK(vm_pop(vm, at, &v));
      ASIM_CHECK(vm_pop(vm, at, &k));
      if (k->kind != P_STR || v->kind != P_STR) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: STACK_GLOBAL needs two strings", vm->name, at);
      ASIM_CHECK(vm_global(vm, at, k->s, k->slen, v->s, v->slen));
      break;
    case 'R': ASIM_CHECK(vm_reduce(vm, at)); break;
    case 'Q': ASIM_CHECK(vm_persid(vm, at)); break;
    case 't': /* TUPLE */
    case 'l': /* LIST */
      ASIM_CHECK(vm_pop_mark(vm, at, &first));
      ASIM_CHECK(vm_new(vm, op == 't' ? P_TUPLE : P_LIST, at, &o));
      for (size_t i = first; i < vm->sp; i++) ASIM_CHECK(obj_append(o, vm->stack[i]));
      vm->sp = first;
      ASIM_CHECK(vm_push(vm, o));
      break;
    case 0x85: /* TUPLE1..3 */
    case 0x86:
    case 0x87: {
      size_t cnt = (size_t)(op - 0x84);
      if (vm->sp < vm_floor(vm) + cnt) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: pickle stack underflow", vm->name, at);
      ASIM_CHECK(vm_new(vm, P_TUPLE, at, &o));
      for (size_t i = vm->sp - cnt; i < vm->sp; i++) ASIM_CHECK(obj_append(o, vm->stack[i]));
      vm->sp -= cnt;
      ASIM_CHECK(vm_push(vm, o));
      break;
    }
    case 'd': /* DICT */
      ASIM_CHECK(vm_pop_mark(vm, at, &first));
      if ((vm->sp - first) % 2) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: DICT with an odd number of items", vm->name, at);
      ASIM_CHECK(vm_new(vm, P_DICT, at, &o));
      for (size_t i = first; i < vm->sp; i += 2) ASIM_CHECK(dict_set(o, vm->stack[i], vm->stack[i + 1]));
      vm->sp = first;
      ASIM_CHECK(vm_push(vm, o));
      break;
    case 'a': /* APPEND */
      ASIM_CHECK(vm_pop(vm, at, &v));
      ASIM_CHECK(vm_top(vm, at, &top));
      if (top->kind != P_LIST) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: APPEND to %s", vm->name, at, kind_name[top->kind]);
      ASIM_CHECK(obj_append(top, v));
      break;
    case 'e': /* APPENDS */
      ASIM_CHECK(vm_pop_mark(vm, at, &first));
      if (first == 0 || first <= vm_floor(vm) || vm->stack[first - 1]->kind != P_LIST)
        return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: APPENDS without a list", vm->name, at);
      for (size_t i = first; i < vm->sp; i++) ASIM_CHECK(obj_append(vm->stack[first - 1], vm->stack[i]));
      vm->sp = first;
      break;
    case 's': /* SETITEM */
      ASIM_CHECK(vm_pop(vm, at, &v));
      ASIM_CHECK(vm_pop(vm, at, &k));
      ASIM_CHECK(vm_top(vm, at, &top));
      if (top->kind != P_DICT) return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: SETITEM on %s", vm->name, at, kind_name[top->kind]);
      ASIM_CHECK(dict_set(top, k, v));
      break;
    case 'u': /* SETITEMS */
      ASIM_CHECK(vm_pop_mark(vm, at, &first));
      if (first == 0 || first <= vm_floor(vm) || vm->stack[first - 1]->kind != P_DICT || (vm->sp - first) % 2)
        return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: SETITEMS without a dict or with an odd number of items", vm->name, at);
      for (size_t i = first; i < vm->sp; i += 2) ASIM_CHECK(dict_set(vm->stack[first - 1], vm->stack[i], vm->stack[i + 1]));
      vm->sp = first;
      break;
    case 'b': /* BUILD: only an OrderedDict's attribute dict (state_dict()._metadata), ignored */
      ASIM_CHECK(vm_pop(vm, at, &v));
      ASIM_CHECK(vm_top(vm, at, &top));
      if (top->kind != P_DICT || (v->kind != P_DICT && v->kind != P_NONE))
        return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: BUILD of %s with %s state is not allowed", vm->name, at, kind_name[top->kind], kind_name[v->kind]);
      break;
    case '0': ASIM_CHECK(vm_pop(vm, at, &v)); break; /* POP */
    case '1': ASIM_CHECK(vm_pop_mark(vm, at, &first)); vm->sp = first; break; /* POP_MARK */
    case '2': ASIM_CHECK(vm_top(vm, at, &top)); ASIM_CHECK(vm_push(vm, top)); break; /* DUP */
    default:
      return ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl offset %zu: pickle opcode 0x%02x (%s) is not allowed in a checkpoint", vm->name, at, op, opcode_name(op));
    }
  }
}

/* ------------------------------------------------------------------------------------------
 * materialising tensors */

static float f16_to_f32(uint16_t h) {
  uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
  if (e == 0) {
    if (m == 0) bits = s;
    else { /* subnormal: normalise */
      e = 113;
      while (!(m & 0x400)) {
        m <<= 1;
        e--;
      }
      bits = s | (e << 23) | ((m & 0x3ff) << 13);
    }
  } else if (e == 31) bits = s | 0x7f800000u | (m << 13);
  else bits = s | ((e + 112) << 23) | (m << 13);
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* One element of storage dtype `st` at p, stored into out[i] of dtype `ot`. */
static void convert_elem(asim_dtype st, const uint8_t *p, asim_dtype ot, void *out, int64_t i) {
  if (ot == ASIM_F32) {
    float f = 0;
    uint16_t h;
    uint32_t b;
    double d;
    switch (st) {
    case ASIM_F32: memcpy(&f, p, 4); break;
    case ASIM_F64: memcpy(&d, p, 8); f = (float)d; break;
    case ASIM_F16: memcpy(&h, p, 2); f = f16_to_f32(h); break;
    case ASIM_BF16: memcpy(&h, p, 2); b = (uint32_t)h << 16; memcpy(&f, &b, 4); break;
    default: break;
    }
    ((float *)out)[i] = f;
  } else {
    size_t e = asim_dtype_size(ot);
    memcpy((uint8_t *)out + (size_t)i * e, p, e);
  }
}

/* Stride-0 views let a few bytes of storage describe a huge tensor, which we materialise. A
 * checkpoint may therefore expand to at most 16x its file size plus this slack. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define EXPAND_SLACK ((uint64_t)64 << 20)
#else
#define EXPAND_SLACK ((uint64_t)1 << 30)
#endif

static asim_status load_tensor(zipf *z, const char *tname, const ptensor *t, asim_tensor *out, uint64_t *budget) {
  const pobj *stor = t->storage;
  asim_dtype sd = stor->dtype;
  asim_dtype od = (sd == ASIM_F16 || sd == ASIM_BF16 || sd == ASIM_F64) ? ASIM_F32 : sd;
  size_t esz = asim_dtype_size(sd);
  char rel[256];
  snprintf(rel, sizeof rel, "data/%s", stor->s);
  zent *e = zip_find(z, rel);
  if (!e) return ASIM_ERR(ASIM_EFORMAT, "%s: tensor '%s': storage '%s' has no archive entry '%s%s'", z->src.name, tname, stor->s, z->prefix, rel);
  uint64_t sbytes = (uint64_t)stor->i * esz; /* no overflow: checked at persistent_load */
  if (e->usize < sbytes)
    return ASIM_ERR(ASIM_EFORMAT, "%s: tensor '%s': archive entry '%s' holds %llu bytes but storage '%s' claims %lld %s elements (%llu bytes)",
                    z->src.name, tname, e->name, (unsigned long long)e->usize, stor->s, (long long)stor->i, asim_dtype_name(sd),
                    (unsigned long long)sbytes);
  ASIM_CHECK(zip_resolve(z, e));
  /* C-contiguous: stride[d] == prod(shape[d+1:]) wherever shape[d] != 1 */
  int64_t numel = 1, last = t->offset;
  int contiguous = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->stride[d] != numel) contiguous = 0;
    numel *= t->shape[d];
  }
  uint64_t bytes = (uint64_t)numel * asim_dtype_size(od);
  if (bytes > *budget)
    return ASIM_ERR(ASIM_EFORMAT, "%s: tensor '%s' (%llu bytes) would expand the checkpoint beyond 16x its file size + %llu MiB (stride-0 broadcast?)",
                    z->src.name, tname, (unsigned long long)bytes, (unsigned long long)(EXPAND_SLACK >> 20));
  *budget -= bytes;
  ASIM_CHECK(asim_tensor_alloc(out, od, t->ndim, t->shape));
  if (numel == 0) return ASIM_OK;
  for (int d = 0; d < t->ndim; d++) last += (t->shape[d] - 1) * t->stride[d];
  asim_status st = ASIM_OK;
  if (contiguous && od == sd) {
    /* the common case: read the bytes straight into the tensor */
    ASIM_CHECK_GOTO(st, zip_read(z, e, (uint64_t)t->offset * esz, out->data, (size_t)numel * esz), fail);
    return ASIM_OK;
  }
  /* strided and/or converted: read the span the tensor touches, then gather in C order */
  size_t span = (size_t)(last - t->offset + 1) * esz;
  uint8_t *tmp = NULL;
  ASIM_CHECK_GOTO(st, asim_malloc(&tmp, span), fail);
  st = zip_read(z, e, (uint64_t)t->offset * esz, tmp, span);
  if (st != ASIM_OK) {
    free(tmp);
    asim_error_trace(st, __FILE__, __LINE__, "zip_read(tensor span)");
    goto fail;
  }
  int64_t idx[ASIM_MAXDIM] = {0}, src = 0;
  for (int64_t i = 0; i < numel; i++) {
    convert_elem(sd, tmp + (size_t)src * esz, od, out->data, i);
    for (int d = t->ndim - 1; d >= 0; d--) { /* odometer over the C-order index */
      if (++idx[d] < t->shape[d]) {
        src += t->stride[d];
        break;
      }
      src -= (idx[d] - 1) * t->stride[d];
      idx[d] = 0;
    }
  }
  free(tmp);
  return ASIM_OK;
fail:
  asim_tensor_free(out);
  return st;
}

/* ------------------------------------------------------------------------------------------
 * entry points (the metadata default lives here so that the fuzzer can link pkl.c alone) */

void asim_ckpt_meta_init(asim_ckpt_meta *meta) {
  memset(meta, 0, sizeof *meta);
  meta->classes = -1;
  meta->epoch = -1;
  meta->best_acc = -1;
}

static asim_status pkl_read_src(const src_t *src, asim_state *state, asim_ckpt_meta *meta) {
  zipf z;
  pvm vm;
  asim_state out = {0};
  uint8_t *pkl = NULL;
  asim_status st = ASIM_OK;
  memset(&z, 0, sizeof z);
  memset(&vm, 0, sizeof vm);
  if (state->n != 0) return ASIM_ERR(ASIM_EINVAL, "asim_pkl_read: the output state must be empty");
  if (meta) asim_ckpt_meta_init(meta);
  z.src = *src;
  {
    uint8_t head[16] = {0};
    size_t hl = src->size < 16 ? (size_t)src->size : 16;
    ASIM_CHECK(src_read(src, 0, head, hl, "file header"));
    static const uint8_t legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    if (hl >= sizeof legacy && memcmp(head, legacy, sizeof legacy) == 0)
      return ASIM_ERR(ASIM_EUNSUP, "%s: legacy (PyTorch < 1.6, non-zip) torch.save format is not supported: re-save it with a current torch.save", src->name);
    if (hl < 4 || memcmp(head, "PK", 2) != 0)
      return ASIM_ERR(ASIM_EFORMAT, "%s: not a PyTorch zip checkpoint (no zip signature at offset 0)", src->name);
  }
  ASIM_CHECK_GOTO(st, zip_open(&z), done);
  zent *bo = zip_find(&z, "byteorder");
  if (bo) {
    char b[16] = {0};
    if (bo->usize < sizeof b) ASIM_CHECK_GOTO(st, zip_read(&z, bo, 0, b, (size_t)bo->usize), done);
    if (strcmp(b, "little") != 0) {
      st = ASIM_ERR(ASIM_EUNSUP, "%s: checkpoint byte order is '%.15s'; only little-endian is supported", src->name, b);
      goto done;
    }
  }
  zent *pe = zip_find(&z, "data.pkl");
  if (!pe) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: no '%sdata.pkl' in the zip archive: not a torch.save checkpoint", src->name, z.prefix);
    goto done;
  }
  if (pe->usize > ((uint64_t)1 << 31)) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: data.pkl claims %llu bytes", src->name, (unsigned long long)pe->usize);
    goto done;
  }
  ASIM_CHECK_GOTO(st, zip_resolve(&z, pe), done);
  ASIM_CHECK_GOTO(st, asim_malloc(&pkl, (size_t)pe->usize), done);
  ASIM_CHECK_GOTO(st, zip_read(&z, pe, 0, pkl, (size_t)pe->usize), done);
  vm.p = pkl;
  vm.n = (size_t)pe->usize;
  vm.name = src->name;
  pobj *root;
  ASIM_CHECK_GOTO(st, vm_run(&vm, &root), done);
  if (root->kind != P_DICT) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: checkpoint holds %s, not a dict", src->name, kind_name[root->kind]);
    goto done;
  }
  uint64_t budget = src->size > (UINT64_MAX - EXPAND_SLACK) / 16 ? UINT64_MAX : src->size * 16 + EXPAND_SLACK;
  pobj *sd = dict_get(root, "model_state_dict");
  if (!sd) sd = dict_get(root, "state_dict");
  if (sd && sd->kind != P_DICT) {
    st = ASIM_ERR(ASIM_EFORMAT, "%s: the checkpoint's state dict is %s, not a dict", src->name, kind_name[sd->kind]);
    goto done;
  }
  if (sd && meta) {
    pobj *ep = dict_get(root, "epoch"), *ba = dict_get(root, "best_acc");
    if (ep && (ep->kind == P_INT)) meta->epoch = ep->i;
    if (ba && ba->kind == P_FLOAT) meta->best_acc = ba->f;
    if (ba && ba->kind == P_INT) meta->best_acc = (double)ba->i;
  }
  if (!sd) sd = root;
  for (size_t i = 0; i < sd->n; i += 2) {
    pobj *k = sd->items[i], *v = sd->items[i + 1];
    char nm[160];
    if (k->kind != P_STR || strlen(k->s) != k->slen || k->slen == 0) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: state dict entry %zu has %s key (names must be non-empty strings)", src->name, i / 2, kind_name[k->kind]);
      goto done;
    }
    safe_name(nm, sizeof nm, k->s, k->slen);
    if (v->kind != P_TENSOR) {
      st = ASIM_ERR(ASIM_EFORMAT, "%s: state dict entry '%s' is %s, not a tensor", src->name, nm, kind_name[v->kind]);
      goto done;
    }
    asim_tensor t;
    ASIM_CHECK_GOTO(st, load_tensor(&z, nm, v->t, &t, &budget), done);
    st = asim_state_add(&out, k->s, &t);
    if (st != ASIM_OK) {
      asim_tensor_free(&t);
      goto done;
    }
  }
  if (out.n > 1) { /* a hand-made pickle can repeat a key; torch never does */
    char **names = NULL;
    ASIM_CHECK_GOTO(st, asim_calloc(&names, (size_t)out.n, sizeof *names), done);
    memcpy(names, out.names, (size_t)out.n * sizeof *names);
    qsort(names, (size_t)out.n, sizeof *names, name_cmp);
    for (int i = 1; i < out.n; i++)
      if (strcmp(names[i - 1], names[i]) == 0) {
        char nm[160];
        safe_name(nm, sizeof nm, names[i], strlen(names[i]));
        st = ASIM_ERR(ASIM_EFORMAT, "%s: duplicate state dict key '%s'", src->name, nm);
        break;
      }
    free(names);
    if (st != ASIM_OK) goto done;
  }
  *state = out;
  memset(&out, 0, sizeof out);
done:
  asim_state_free(&out);
  vm_free(&vm);
  free(pkl);
  zip_free(&z);
  return st;
}

asim_status asim_pkl_read_mem(const void *buf, size_t len, asim_state *state, asim_ckpt_meta *meta) {
  src_t s = {.fd = -1, .mem = buf, .size = len, .name = "<memory>"};
  if (!buf && len) return ASIM_ERR(ASIM_EINVAL, "asim_pkl_read_mem: NULL buffer");
  ASIM_CHECK(pkl_read_src(&s, state, meta));
  return ASIM_OK;
}

asim_status asim_pkl_read(const char *path, asim_state *state, asim_ckpt_meta *meta) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ASIM_ERR(ASIM_EIO, "cannot open checkpoint '%s': %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return ASIM_ERR(ASIM_EIO, "checkpoint '%s' is not a regular file", path);
  }
  src_t s = {.fd = fd, .size = (uint64_t)sb.st_size, .name = path};
  asim_status st = pkl_read_src(&s, state, meta);
  close(fd);
  if (st != ASIM_OK) return asim_error_trace(st, __FILE__, __LINE__, "asim_pkl_read");
  return ASIM_OK;
}
