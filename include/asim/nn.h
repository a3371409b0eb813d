/* nn.h — the float (non-analog) layers of ASiM's networks, llm.c style: plain forward
 * functions over flat float32 arrays with explicit shapes (spec §5–6). Their last bits follow
 * PyTorch's CPU kernels where that is cheap (folded BatchNorm with FMA, max-subtracting
 * softmax); exact agreement is not possible across libraries (spec §13.3). */
#ifndef ASIM_NN_H
#define ASIM_NN_H

#include <stdint.h>

#include "asim/error.h"

/* Eval-mode BatchNorm over (B, C, HW): y = x·a + c, a = γ/sqrt(var+eps), c = β − μ·a (fused). */
void asim_batchnorm_forward(float *y, const float *x, int B, int C, int64_t HW, const float *gamma,
                            const float *beta, const float *mean, const float *var, float eps);
/* PACT: clamp(x, 0, alpha); ReLU: max(x, 0). In place allowed. */
void asim_pact_forward(float *y, const float *x, int64_t n, float alpha);
void asim_relu_forward(float *y, const float *x, int64_t n);
/* y += x */
void asim_add_inplace(float *y, const float *x, int64_t n);
/* Max pooling (B·C planes of H×W), zero-free padding (padding never wins). */
void asim_maxpool_forward(float *y, const float *x, int BC, int H, int W, int k, int stride, int pad);
/* Adaptive average pooling to (OH, OW): PyTorch's window rule floor(i·I/O) … ceil((i+1)·I/O). */
void asim_adaptive_avgpool_forward(float *y, const float *x, int BC, int H, int W, int OH, int OW);
/* LayerNorm over the last axis (rows × n), biased variance, affine. */
void asim_layernorm_forward(float *y, const float *x, int64_t rows, int n, const float *gamma,
                            const float *beta, float eps);
/* GELU, exact erf form. */
void asim_gelu_forward(float *y, const float *x, int64_t n);
/* Float conv out (B, O, Ho, Wo), computed as PyTorch's CPU conv would for a call of
 * `torch_batch` samples (it picks its algorithm by batch size; see nn.c). */
asim_status asim_conv2d_float(float *out, const float *in, int B, int C, int H, int W, const float *w, const float *bias,
                              int O, int k, int stride, int pad, int64_t torch_batch);

#endif
