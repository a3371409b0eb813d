/* augment.h — ASiM's training transform (spec §7.4) on 8-bit images, with counter-based
 * randomness: the draws for a sample are a pure function of (seed, epoch, sample index), so
 * the transform does not depend on the rank or the batch that processes the sample.
 *
 * Order (spec §7.4): one of four colour jitters (brightness, contrast, saturation, hue),
 * resize to origin_size (done by the dataset when it is opened at origin_size: asim-mpi
 * resizes before the jitter, see docs/training.md), random crop of input_size from the image
 * zero-padded by 4 pixels, horizontal flip with p = 0.5, rotation by U(−15°, 15°) with
 * nearest-neighbour resampling and zero fill, then ToTensor + Normalize. Each step follows
 * Pillow's 8-bit arithmetic (what torchvision runs on PIL images). */
#ifndef ASIM_AUGMENT_H
#define ASIM_AUGMENT_H

#include <stdint.h>

#include "asim/error.h"

typedef struct {
  int jitter;   /* 0 brightness, 1 contrast, 2 saturation, 3 hue, -1 none */
  float factor; /* brightness/contrast/saturation factor in [0.5, 1.5], or hue shift in [−0.3, 0.3] */
  int pad;      /* zero padding of the random crop (4) */
  int crop_y, crop_x; /* crop offset in the padded image, 0 .. S_in + 2·pad − S_out */
  int flip;     /* horizontal flip */
  float angle;  /* rotation in degrees, counter-clockwise (PIL) */
} asim_aug_params;

/* The random choices for one sample. mode (config.h's data.augment): 0 = ASiM's transform, 1 = the
 * random crop and flip only, 2 = none (a centre crop when S_out < S_in). */
void asim_augment_draw(asim_aug_params *p, int mode, uint32_t seed, uint32_t epoch, int64_t index, int S_in, int S_out);
/* out (S_out × S_out × C, HWC) = transform(in (S_in × S_in × C)). C is 1 or 3. */
asim_status asim_augment_apply(uint8_t *out, const uint8_t *in, int S_in, int C, int S_out, const asim_aug_params *p);

/* The steps on their own (HWC, in place where the output has the input's size). */
void asim_aug_brightness(uint8_t *img, int64_t pixels, int C, float factor);
void asim_aug_contrast(uint8_t *img, int64_t pixels, int C, float factor);
void asim_aug_saturation(uint8_t *img, int64_t pixels, int C, float factor);
void asim_aug_hue(uint8_t *img, int64_t pixels, int C, float shift);
void asim_aug_rotate(uint8_t *out, const uint8_t *in, int S, int C, float angle_deg);

/* Beta(α, α) draw for mixup (λ = 1 when α <= 0), counter-based. */
double asim_beta_draw(double alpha, uint32_t seed, uint32_t epoch, uint32_t step);

#endif
