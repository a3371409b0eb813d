/* checkpoint.h — model checkpoints: the safe native reader of PyTorch zip checkpoints, the
 * asim-mpi HDF5 checkpoint format, and the torchvision -> ASiM state_dict key mapping.
 *
 * PyTorch reader (asim_pkl_read*): parses the ZIP container (ZIP64, stored and deflate entries)
 * and `<archive>/data.pkl` with a pickle VM that knows only what `torch.save` writes for tensors
 * and (ordered) dicts. The only callables a file can name are collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and the storage classes
 * torch.{Float,Double,Half,BFloat16,Long,Int,Byte}Storage (via persistent ids); any other global,
 * opcode (INST, OBJ, NEWOBJ, EXT*, PERSID, ...) or BUILD target is refused with an EFORMAT error
 * naming it and its data.pkl offset. A checkpoint never executes code. Tensors are materialised
 * in C order (any storage offset / strides, including 0-strides), float16/bfloat16/float64 are
 * converted to float32, integer tensors keep their dtype (int64 num_batches_tracked). Storages
 * are read straight from the file into the tensor buffers (no whole-file buffer): peak memory is
 * about the size of the weights (1.04x for a 353 MB ViT-B/32 checkpoint). Every size, stride and
 * offset is checked against the storage and the archive entry (no overflow); CRC-32s are checked
 * whenever a whole entry is read; a checkpoint may expand (stride-0 broadcasts) to at most 16x
 * its file size + 1 GiB. Legacy (pre-1.6, non-zip) torch.save files are refused (EUNSUP), so are
 * big-endian archives. The state dict is `model_state_dict` of an ASiM checkpoint dict, else
 * `state_dict`, else the top-level dict itself (torchvision .pth); every entry must be a tensor
 * and keys must be unique. Other entries (optimizer state, ...) are parsed but not returned.
 *
 * HDF5 format (asim_ckpt_h5_*): one dataset per state_dict key at the root (same name and
 * shape, 0-dim tensors as scalar datasets, contiguous, float32 / int64 / int32 / uint8,
 * little-endian), root attribute `keys_json` = JSON array of the keys in state_dict order
 * (required by the reader; a file without it is refused), optional root attributes
 * `model_name` (string), `classes`, `epoch` (int64), `best_acc` (float64), `provenance`
 * (string), and `format_version` (int64, 1). Strings are fixed-length null-padded ASCII, as in
 * /work/shared/golden; the reader also accepts variable-length strings and the golden file's
 * `model` / `num_classes` attribute names. Extra states (optimizer) live in groups with the same
 * layout (datasets + `keys_json`) plus numeric scalar attributes. Files are written with the
 * HDF5 1.8 file format (dense attribute storage: keys_json may exceed 64 KiB), readable by h5py,
 * h5dump and any HDF5 >= 1.8.
 *
 * All functions return asim_status; a state to be filled must be empty (zero-initialised) and
 * is left empty on error. `meta` arguments may be NULL. */
#ifndef ASIM_CHECKPOINT_H
#define ASIM_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "asim/error.h"
#include "asim/tensor.h"

#define ASIM_CKPT_NAME_MAX 256
#define ASIM_CKPT_TEXT_MAX 4096

/* Checkpoint metadata; unknown values are "" / -1. */
typedef struct {
  char model_name[ASIM_CKPT_NAME_MAX]; /* e.g. "resnet18" */
  int64_t classes;                     /* number of output classes */
  int64_t epoch;                       /* 0-based epoch at which it was saved */
  double best_acc;                     /* best validation accuracy, fraction in [0,1] */
  char provenance[ASIM_CKPT_TEXT_MAX];  /* free text: how it was trained / converted */
} asim_ckpt_meta;

void asim_ckpt_meta_init(asim_ckpt_meta *meta);

/* Reads a checkpoint of either format, chosen by the file's magic bytes (zip or HDF5). */
asim_status asim_ckpt_read(const char *path, asim_state *state, asim_ckpt_meta *meta);

/* PyTorch zip checkpoints (torch.save). meta receives `epoch` and `best_acc` when present. */
asim_status asim_pkl_read(const char *path, asim_state *state, asim_ckpt_meta *meta);
asim_status asim_pkl_read_mem(const void *buf, size_t len, asim_state *state, asim_ckpt_meta *meta);

/* HDF5 checkpoints. The writer writes `path` + ".tmp<pid>" and renames it over `path`. */
asim_status asim_ckpt_h5_write(const char *path, const asim_state *state, const asim_ckpt_meta *meta);
asim_status asim_ckpt_h5_read(const char *path, asim_state *state, asim_ckpt_meta *meta);

/* Numeric scalar attributes of an extra group (e.g. optimizer hyper-parameters, step). */
#define ASIM_CKPT_MAX_SCALARS 64
typedef struct {
  int n;
  char name[ASIM_CKPT_MAX_SCALARS][64];
  double value[ASIM_CKPT_MAX_SCALARS];
} asim_ckpt_scalars;

/* Extra state under a group of an existing checkpoint file (e.g. "optimizer"): (re)creates the
 * group in place with one dataset per key, `keys_json`, and the scalars as float64 attributes
 * (scalars may be NULL). Group names are '/'-separated components of [A-Za-z0-9_.-]. */
asim_status asim_ckpt_h5_write_group(const char *path, const char *group, const asim_state *state,
                                     const asim_ckpt_scalars *scalars);
/* Reads a group written above; scalars (may be NULL) receives every numeric scalar attribute. */
asim_status asim_ckpt_h5_read_group(const char *path, const char *group, asim_state *state,
                                    asim_ckpt_scalars *scalars);
asim_status asim_ckpt_h5_has_group(const char *path, const char *group, int *exists);

/* Turns an official torchvision state_dict (resnet18/34/50/101/152, vit_b_16, vit_b_32,
 * vit_l_16, vit_l_32, vit_h_14; '-', '_' and case are ignored) into ASiM's key layout and order
 * (spec §6.4), in place. Tensors are moved, not copied; on error `in_out` is unchanged.
 *
 * What bins/resnet_model_init.py and bins/vit_model_init.py intend, without their bugs:
 *  - ResNet: every block of every stage is mapped (the scripts map blocks 0-1 only), Bottleneck
 *    conv3/bn3 too, downsample.0/.1, bn1, and `num_batches_tracked` is copied (created as int64
 *    0, PyTorch's value for old BatchNorm state, when the file lacks it). The official 7x7 stem
 *    `conv1.weight` always goes to ASiM's 7x7 `conv2.weight` (used by large-input models; the
 *    scripts drop it for small ones, where conv2 is unused anyway). ASiM's 3x3 `conv1.weight`
 *    is absent from torchvision and is initialised Kaiming-normal (fan_out, ReLU gain). With
 *    `pact` every block gets `layerL.j.relu.alpha` and the stem `relu.alpha` (last key), all 0-d
 *    6.0; without it no alpha keys exist (ASiM's PACT = False).
 *  - ViT: every encoder layer is mapped (the script maps layers 0-11 only, so L/H models lost
 *    half of theirs); `mlp.linear_1/2` (official files) and `mlp.0/3` (newer torchvision) are
 *    both accepted; `pact` is ignored (ViTs have no alphas).
 *  - Head (`fc.*` / `heads.*`): kept from the file when num_classes == 1000 (the scripts always
 *    replace it, discarding the official classifier); otherwise a fresh head with Xavier-uniform
 *    weight and zero bias.
 * Random values come from Philox-4x32-10 keyed by `seed` (they cannot equal PyTorch's draws).
 * Every key of the input must be consumed and every shape must match the architecture;
 * anything else is an error naming the key. */
asim_status asim_ckpt_map_torchvision(asim_state *in_out, const char *arch, int num_classes,
                                      uint64_t seed, int pact);

#endif
