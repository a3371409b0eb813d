/* asim-layer — runs one reference case file (golden format, ../shared/golden/README.md) through
 * libasim and reports the error against the stored output of the original ASiM.
 *
 *   asim-layer [--fix-channel-drop] [--reps R] [--seed S] [--quiet] CASE.h5 ...
 *
 * Noise-free cases pass when max|c − ref| ≤ 1e-5·max|ref|. Noise cases (noise_* files) are
 * checked statistically: R noisy runs with different seeds; the mean and standard deviation of
 * (noisy − clean) must match the stored statistics within 5 % of the reference std (or three
 * standard errors). Extension cases (golden README §8: majority voting, current domain, W4A4) run
 * with ASiM's own behaviour where asim-mpi's default differs (compat switches on); their noise
 * cases also vary the cell variation per run and compare voting with the base module.
 * Exit status: 0 all passed, 1 a case failed, 2 bad input. */
#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asim/attention.h"
#include "asim/checkpoint.h"
#include "asim/config.h"
#include "asim/conv.h"
#include "asim/h5util.h"
#include "asim/linear.h"
#include "asim/model.h"

typedef struct {
  int fix_channel_drop, reps, quiet;
  uint32_t seed;
  double model_tol; /* logits: max error / logit range */
  const char *dump_dir;
} options;

typedef struct {
  char kind[32], mode[32], name[256];
  hid_t f;
  asim_tensor input, output;
  asim_tensor w, b, w2, b2; /* conv/linear: weight, bias; mha: qkv.weight/bias, proj.weight/bias */
  int has_bias;
  asim_conv_dims conv;
  asim_linear_dims lin;
  int lin_B, lin_T;
  asim_mha_dims mha;
} layer_case;

static asim_status get_int(hid_t f, const char *name, int *v) {
  int64_t x;
  ASIM_CHECK(asim_h5_attr_i64(f, name, &x));
  *v = (int)x;
  return ASIM_OK;
}

static asim_status get_float(hid_t f, const char *name, float *v) {
  double x;
  ASIM_CHECK(asim_h5_attr_f64(f, name, &x));
  *v = (float)x;
  return ASIM_OK;
}

static asim_status get_f32(hid_t f, const char *name, asim_tensor *t) {
  ASIM_CHECK(asim_h5_read_tensor(f, name, t));
  if (t->dtype != ASIM_F32) return ASIM_ERR(ASIM_EFORMAT, "dataset '%s' must be float32", name);
  return ASIM_OK;
}

/* Optional attributes: the extension modules replace some base parameters (spec §11). */
static asim_status get_int_opt(hid_t f, const char *name, int *v) {
  return asim_h5_has_attr(f, name) ? get_int(f, name, v) : ASIM_OK;
}
static asim_status get_float_opt(hid_t f, const char *name, float *v) {
  return asim_h5_has_attr(f, name) ? get_float(f, name, v) : ASIM_OK;
}

/* An extension case's parameters (golden README §8.1) as the engine's options, with ASiM's own
 * behaviour where it differs from the default (the cases are ASiM's outputs). */
static asim_status load_ext_params(hid_t f, const char *kind, asim_cim_params *p) {
  if (!asim_h5_has_attr(f, "extension")) return ASIM_OK;
  char ext[64];
  ASIM_CHECK(asim_h5_attr_str(f, "extension", ext, sizeof ext));
  if (!strcmp(ext, "majority_voting")) {
    ASIM_CHECK(get_int(f, "voting_levels", &p->voting_levels));
    ASIM_CHECK(get_int(f, "num_samp", &p->num_samp));
    if (p->voting_levels < 0) p->voting_levels = 0; /* None: no voted levels, every cycle analog */
    if (p->num_samp < 0) p->num_samp = 1;           /* None = one conversion */
    p->hybrid_levels = -1;
  } else if (!strcmp(ext, "current_domain")) {
    ASIM_CHECK(get_float(f, "non_linear_alpha", &p->non_linear_alpha));
    ASIM_CHECK(get_float(f, "weight_var", &p->weight_var));
    if (p->mode != ASIM_SIMULATION) p->non_linear_alpha = p->weight_var = 0.0f; /* unused in Inference */
  } else if (!strcmp(ext, "w4a4_weight_full_bit_parallel")) {
    ASIM_CHECK(get_int(f, "weight_bp", &p->weight_bp));
    if (!p->weight_bp) p->act_enc = -1; /* the ordinary bit-serial simulation */
    p->wbp_act_enc_wrap = 1;
    p->wbp_linear_requantize = !strcmp(kind, "linear");
  } else {
    return ASIM_ERR(ASIM_EUNSUP, "extension '%s': not one of majority_voting, current_domain, "
                    "w4a4_weight_full_bit_parallel", ext);
  }
  return ASIM_OK;
}

static asim_status load_cim_params(hid_t f, asim_cim_params *p, const options *o) {
  *p = asim_cim_defaults();
  char mode[32];
  ASIM_CHECK(asim_h5_attr_str(f, "mode", mode, sizeof mode));
  ASIM_CHECK(asim_mode_parse(mode, &p->mode));
  ASIM_CHECK(get_int(f, "wbit", &p->wbit));
  ASIM_CHECK(get_int(f, "xbit", &p->xbit));
  ASIM_CHECK(get_int(f, "adc_prec", &p->adc_prec));
  ASIM_CHECK(get_int(f, "nrow", &p->nrow));
  ASIM_CHECK(get_float(f, "rand_noise_sigma", &p->rand_noise_sigma));
  ASIM_CHECK(get_float_opt(f, "non_linear_sigma", &p->non_linear_sigma));
  ASIM_CHECK(get_int(f, "act_enc", &p->act_enc));
  ASIM_CHECK(get_int(f, "signed_act", &p->signed_act));
  ASIM_CHECK(get_int_opt(f, "hybrid_levels", &p->hybrid_levels));
  ASIM_CHECK(get_float(f, "trim_noise", &p->trim_noise));
  p->fix_channel_drop = o->fix_channel_drop;
  char kind[32];
  ASIM_CHECK(asim_h5_attr_str(f, "kind", kind, sizeof kind));
  ASIM_CHECK(load_ext_params(f, kind, p));
  return ASIM_OK;
}

static asim_status check_shape(const asim_tensor *t, const char *what, int nd, const int64_t *shape) {
  int ok = t->ndim == nd;
  for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == shape[i];
  if (!ok) {
    char a[128], b[128];
    asim_tensor want = {.ndim = nd};
    for (int i = 0; i < nd; i++) want.shape[i] = shape[i];
    return ASIM_ERR(ASIM_ESHAPE, "%s has shape %s, expected %s", what, asim_tensor_shape_str(t, a, sizeof a),
                    asim_tensor_shape_str(&want, b, sizeof b));
  }
  return ASIM_OK;
}

static asim_status load_case(layer_case *c, const char *path, const options *o) {
  ASIM_CHECK(asim_h5_open_read(path, &c->f));
  hid_t f = c->f;
  ASIM_CHECK(asim_h5_attr_str(f, "kind", c->kind, sizeof c->kind));
  ASIM_CHECK(asim_h5_attr_str(f, "mode", c->mode, sizeof c->mode));
  if (asim_h5_has_attr(f, "case_name")) ASIM_CHECK(asim_h5_attr_str(f, "case_name", c->name, sizeof c->name));
  ASIM_CHECK(get_f32(f, "input", &c->input));
  ASIM_CHECK(get_f32(f, "output", &c->output));
  if (!strcmp(c->kind, "conv2d")) {
    asim_conv_dims *d = &c->conv;
    ASIM_CHECK(load_cim_params(f, &d->p, o));
    ASIM_CHECK(get_int(f, "in_channels", &d->in_ch));
    ASIM_CHECK(get_int(f, "out_channels", &d->out_ch));
    ASIM_CHECK(get_int(f, "kernel_size", &d->k));
    ASIM_CHECK(get_int(f, "stride", &d->stride));
    ASIM_CHECK(get_int(f, "padding", &d->pad));
    int dil = 1, groups = 1;
    if (asim_h5_has_attr(f, "dilation")) ASIM_CHECK(get_int(f, "dilation", &dil));
    if (asim_h5_has_attr(f, "groups")) ASIM_CHECK(get_int(f, "groups", &groups));
    if (dil != 1 || groups != 1)
      return ASIM_ERR(ASIM_EUNSUP, "%s: dilation %d / groups %d: ASiM supports only 1/1", path, dil, groups);
    ASIM_CHECK(get_int(f, "bias", &c->has_bias));
    ASIM_CHECK(asim_conv_check(d));
    if (c->input.ndim != 4) return ASIM_ERR(ASIM_ESHAPE, "%s: conv input must be NCHW", path);
    int64_t ws[4] = {d->out_ch, d->in_ch, d->k, d->k};
    ASIM_CHECK(get_f32(f, "weight", &c->w));
    ASIM_CHECK(check_shape(&c->w, "weight", 4, ws));
    int64_t is[4] = {c->input.shape[0], d->in_ch, c->input.shape[2], c->input.shape[3]};
    ASIM_CHECK(check_shape(&c->input, "input", 4, is));
    int Ho = asim_conv_out_size((int)is[2], d->k, d->stride, d->pad);
    int Wo = asim_conv_out_size((int)is[3], d->k, d->stride, d->pad);
    int64_t os[4] = {is[0], d->out_ch, Ho, Wo};
    ASIM_CHECK(check_shape(&c->output, "output", 4, os));
    if (c->has_bias) {
      int64_t bs[1] = {d->out_ch};
      ASIM_CHECK(get_f32(f, "bias", &c->b));
      ASIM_CHECK(check_shape(&c->b, "bias", 1, bs));
    }
  } else if (!strcmp(c->kind, "linear")) {
    asim_linear_dims *d = &c->lin;
    char layer[16];
    ASIM_CHECK(load_cim_params(f, &d->p, o));
    ASIM_CHECK(get_int(f, "in_features", &d->in_features));
    ASIM_CHECK(get_int(f, "out_features", &d->out_features));
    ASIM_CHECK(get_int(f, "bias", &c->has_bias));
    ASIM_CHECK(asim_h5_attr_str(f, "layer", layer, sizeof layer));
    ASIM_CHECK(asim_linear_check(d));
    int proj = !strcmp(layer, "proj");
    if (!proj && strcmp(layer, "fc")) return ASIM_ERR(ASIM_EINVAL, "%s: layer '%s' must be fc or proj", path, layer);
    if (c->input.ndim != (proj ? 3 : 2))
      return ASIM_ERR(ASIM_ESHAPE, "%s: a '%s' linear needs a %d-D input, got %d-D", path, layer, proj ? 3 : 2,
                      c->input.ndim);
    c->lin_B = (int)c->input.shape[0];
    c->lin_T = proj ? (int)c->input.shape[1] : 1;
    int64_t is[3] = {c->lin_B, c->lin_T, d->in_features}, os[3] = {c->lin_B, c->lin_T, d->out_features};
    if (proj) {
      ASIM_CHECK(check_shape(&c->input, "input", 3, is));
      ASIM_CHECK(check_shape(&c->output, "output", 3, os));
    } else {
      is[1] = d->in_features, os[1] = d->out_features;
      ASIM_CHECK(check_shape(&c->input, "input", 2, is));
      ASIM_CHECK(check_shape(&c->output, "output", 2, os));
    }
    int64_t ws[2] = {d->out_features, d->in_features};
    ASIM_CHECK(get_f32(f, "weight", &c->w));
    ASIM_CHECK(check_shape(&c->w, "weight", 2, ws));
    if (c->has_bias) {
      int64_t bs[1] = {d->out_features};
      ASIM_CHECK(get_f32(f, "bias", &c->b));
      ASIM_CHECK(check_shape(&c->b, "bias", 1, bs));
    }
  } else if (!strcmp(c->kind, "mha")) {
    asim_mha_dims *a = &c->mha;
    ASIM_CHECK(asim_mode_parse(c->mode, &a->mode));
    struct { const char *n; int *v; } ints[] = {{"embed_dim", &a->embed_dim}, {"num_heads", &a->num_heads},
      {"qk_qbit", &a->qk_qbit}, {"qk_kbit", &a->qk_kbit}, {"av_abit", &a->av_abit}, {"av_vbit", &a->av_vbit},
      {"proj_wbit", &a->proj_wbit}, {"proj_xbit", &a->proj_xbit}, {"qk_adc_prec", &a->qk_adc_prec},
      {"av_adc_prec", &a->av_adc_prec}, {"proj_adc_prec", &a->proj_adc_prec}, {"nrow", &a->nrow},
      {"qk_k_enc", &a->qk_k_enc}, {"av_a_enc", &a->av_a_enc}, {"proj_act_enc", &a->proj_act_enc},
      {"hybrid_levels", &a->hybrid_levels}};
    a->hybrid_levels = -1;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) ASIM_CHECK(get_int_opt(f, ints[i].n, ints[i].v));
    if (asim_h5_has_attr(f, "extension")) { /* the voting attention (golden README §8.1) */
      ASIM_CHECK(get_int(f, "voting_levels", &a->voting_levels));
      ASIM_CHECK(get_int(f, "num_samp", &a->num_samp));
      a->voting = 1;
      if (a->voting_levels < 0) a->voting_levels = 0;
      if (a->num_samp < 0) a->num_samp = 1;
    }
    ASIM_CHECK(asim_mha_check(a));
    const int64_t E = a->embed_dim;
    if (c->input.ndim != 3 || c->input.shape[2] != E)
      return ASIM_ERR(ASIM_ESHAPE, "%s: attention input must be (N, T, %lld)", path, (long long)E);
    ASIM_CHECK(check_shape(&c->output, "output", 3, c->input.shape));
    int64_t s1[2] = {3 * E, E}, s2[1] = {3 * E}, s3[2] = {E, E}, s4[1] = {E};
    ASIM_CHECK(get_f32(f, "qkv.weight", &c->w));
    ASIM_CHECK(check_shape(&c->w, "qkv.weight", 2, s1));
    ASIM_CHECK(get_f32(f, "qkv.bias", &c->b));
    ASIM_CHECK(check_shape(&c->b, "qkv.bias", 1, s2));
    ASIM_CHECK(get_f32(f, "proj.weight", &c->w2));
    ASIM_CHECK(check_shape(&c->w2, "proj.weight", 2, s3));
    ASIM_CHECK(get_f32(f, "proj.bias", &c->b2));
    ASIM_CHECK(check_shape(&c->b2, "proj.bias", 1, s4));
  } else {
    return ASIM_ERR(ASIM_EFORMAT, "%s: unknown kind '%s' (conv2d, linear or mha)", path, c->kind);
  }
  return ASIM_OK;
}

static void free_case(layer_case *c) {
  asim_tensor *ts[] = {&c->input, &c->output, &c->w, &c->b, &c->w2, &c->b2};
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) asim_tensor_free(ts[i]);
  if (c->f > 0) H5Fclose(c->f);
}

/* How a run differs from the case's own settings: noise levels, current-domain cell variation, and
 * `base` = the base module (majority voting off, every cycle analog and converted once). */
typedef struct {
  float sigma_r, sigma_nl, weight_var;
  int base;
} run_opts;

static void apply_run_opts(asim_cim_params *p, const run_opts *r) {
  p->rand_noise_sigma = r->sigma_r, p->non_linear_sigma = r->sigma_nl;
  if (r->weight_var > 0.0f) p->weight_var = r->weight_var;
  if (r->base) p->voting_levels = -1, p->num_samp = 1;
}

/* Runs the case's layer on its input with the given noise settings and seed. */
static asim_status run_case(const layer_case *c, float *out, const run_opts *r, uint32_t seed,
                            asim_mha_trace *trace) {
  asim_exec ex = {.seed = seed};
  const float *x = c->input.data;
  const float sigma_r = r->sigma_r, sigma_nl = r->sigma_nl;
  if (!strcmp(c->kind, "conv2d")) {
    asim_conv_dims d = c->conv;
    apply_run_opts(&d.p, r);
    ASIM_CHECK(asim_conv2d_forward(out, x, (int)c->input.shape[0], (int)c->input.shape[2], (int)c->input.shape[3],
                                   c->w.data, c->has_bias ? c->b.data : NULL, &d, &ex));
  } else if (!strcmp(c->kind, "linear")) {
    asim_linear_dims d = c->lin;
    apply_run_opts(&d.p, r);
    ASIM_CHECK(asim_linear_forward(out, x, c->lin_B, c->lin_T, c->w.data, c->has_bias ? c->b.data : NULL, &d, &ex));
  } else {
    asim_mha_dims a = c->mha;
    a.qk_rand_noise_sigma = a.av_rand_noise_sigma = a.proj_rand_noise_sigma = sigma_r;
    a.qk_non_linear_sigma = a.av_non_linear_sigma = a.proj_non_linear_sigma = sigma_nl;
    ASIM_CHECK(asim_mha_forward(out, x, (int)c->input.shape[0], (int)c->input.shape[1], c->w.data, c->b.data,
                                c->w2.data, c->b2.data, &a, &ex, trace));
  }
  return ASIM_OK;
}

typedef struct {
  double max_abs, max_ref;
  int64_t exact, n;
} errstat;

static errstat compare(const float *c, const float *ref, int64_t n) {
  errstat e = {0, 0, 0, n};
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)c[i] - (double)ref[i]);
    if (!(d <= e.max_abs)) e.max_abs = d; /* NaN propagates as a failure */
    if (fabs((double)ref[i]) > e.max_ref) e.max_ref = fabs((double)ref[i]);
    e.exact += c[i] == ref[i];
  }
  return e;
}

static int report(const char *what, errstat e, double tol_rel, int quiet) {
  double rel = e.max_ref > 0 ? e.max_abs / e.max_ref : e.max_abs;
  int ok = rel <= tol_rel;
  if (!quiet || !ok)
    printf("  %-14s max|err| %.3g  rel %.3g  bit-exact %lld/%lld  %s\n", what, e.max_abs, rel,
           (long long)e.exact, (long long)e.n, ok ? "ok" : "FAIL");
  return ok;
}

/* Stage-wise attention check: each product fed with the reference's own inputs. */
static asim_status check_mha_stages(const layer_case *c, const options *o, int *ok) {
  if (!asim_h5_exists(c->f, "intermediates/q")) return ASIM_OK;
  const int B = (int)c->input.shape[0], T = (int)c->input.shape[1];
  const int H = c->mha.num_heads, D = c->mha.embed_dim / H;
  asim_tensor q = {0}, kt = {0}, v = {0}, qk = {0}, P = {0}, av = {0};
  float *k = NULL, *S = NULL, *O = NULL, *Ot = NULL, *Pc = NULL;
  asim_status st = ASIM_OK;
  ASIM_CHECK_GOTO(st, get_f32(c->f, "intermediates/q", &q), done);
  ASIM_CHECK_GOTO(st, get_f32(c->f, "intermediates/k_t", &kt), done);
  ASIM_CHECK_GOTO(st, get_f32(c->f, "intermediates/v", &v), done);
  ASIM_CHECK_GOTO(st, get_f32(c->f, "intermediates/qk_out", &qk), done);
  ASIM_CHECK_GOTO(st, get_f32(c->f, "intermediates/attn_probs", &P), done);
  ASIM_CHECK_GOTO(st, get_f32(c->f, "intermediates/av_out", &av), done);
  const int64_t bhtd = (int64_t)B * H * T * D, bhtt = (int64_t)B * H * T * T;
  if (asim_tensor_numel(&q) != bhtd || asim_tensor_numel(&kt) != bhtd || asim_tensor_numel(&v) != bhtd ||
      asim_tensor_numel(&qk) != bhtt || asim_tensor_numel(&P) != bhtt || asim_tensor_numel(&av) != bhtd) {
    st = ASIM_ERR(ASIM_ESHAPE, "attention intermediates have unexpected sizes");
    goto done;
  }
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(k, (size_t)bhtd), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(S, (size_t)bhtt), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(Pc, (size_t)bhtt), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(O, (size_t)bhtd), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(Ot, (size_t)bhtd), done);
  const float *ktd = kt.data;
  for (int64_t bh = 0; bh < (int64_t)B * H; bh++)
    for (int t = 0; t < T; t++)
      for (int d = 0; d < D; d++) k[(bh * T + t) * D + d] = ktd[(bh * D + d) * T + t];
  asim_exec ex = {.seed = o->seed};
  ASIM_CHECK_GOTO(st, asim_mha_qk(S, q.data, k, B, T, &c->mha, &ex), done);
  *ok &= report("stage QK", compare(S, qk.data, bhtt), 1e-5, o->quiet);
  {
    const float scale = (float)pow((double)c->mha.embed_dim, -0.5);
    const float *qkd = qk.data;
    for (int64_t i = 0; i < bhtt; i++) S[i] = qkd[i] * scale;
    asim_softmax_rows(Pc, S, (int64_t)B * H * T, T);
    /* softmax rounding is library-specific (spec §13.3): reported, checked at 1e-6 */
    *ok &= report("stage softmax", compare(Pc, P.data, bhtt), 1e-6, o->quiet);
  }
  ASIM_CHECK_GOTO(st, asim_mha_av(O, P.data, v.data, B, T, &c->mha, &ex), done);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++)
          Ot[((int64_t)b * T + t) * H * D + h * D + d] = O[(((int64_t)b * H + h) * T + t) * D + d];
  *ok &= report("stage AV", compare(Ot, av.data, bhtd), 1e-5, o->quiet);
done:
  asim_tensor_free(&q), asim_tensor_free(&kt), asim_tensor_free(&v);
  asim_tensor_free(&qk), asim_tensor_free(&P), asim_tensor_free(&av);
  free(k), free(S), free(O), free(Ot), free(Pc);
  return st;
}

/* mean, std (ddof 1), mean |d| and fraction changed of noisy − clean over R runs */
typedef struct {
  double mean, std, absmean, frac;
} noise_stats;

static asim_status noise_runs(const layer_case *c, const run_opts *r, uint32_t seed0, int R, const float *clean,
                              float *noisy, int64_t n, noise_stats *ns) {
  double sum = 0, sum2 = 0, sumabs = 0;
  int64_t changed = 0;
  for (int k = 0; k < R; k++) {
    ASIM_CHECK(run_case(c, noisy, r, seed0 + (uint32_t)k, NULL));
    for (int64_t i = 0; i < n; i++) {
      double d = (double)noisy[i] - (double)clean[i];
      sum += d, sum2 += d * d, sumabs += fabs(d);
      changed += noisy[i] != clean[i];
    }
  }
  double N = (double)R * (double)n;
  ns->mean = sum / N;
  ns->std = sqrt((sum2 - N * ns->mean * ns->mean) / (N - 1));
  ns->absmean = sumabs / N;
  ns->frac = (double)changed / N;
  return ASIM_OK;
}

/* Statistical check of a noise case against the stored reference statistics. Extension cases
 * (golden README §8.2): the current-domain cell variation σ_w comes from noise_weight_var (a new
 * chip per run, as ASiM draws it per forward call); majority-voting cases are also compared with
 * the base module without voting (base_ statistics): the ratio of the spreads is what voting buys. */
static asim_status check_noise(const layer_case *c, const options *o, int *ok) {
  double sr, snl = 0, wv = 0, ref_mean, ref_std, ref_absmean, ref_frac;
  int64_t ref_reps;
  ASIM_CHECK(asim_h5_attr_f64(c->f, "noise_rand_noise_sigma", &sr));
  if (asim_h5_has_attr(c->f, "noise_non_linear_sigma")) ASIM_CHECK(asim_h5_attr_f64(c->f, "noise_non_linear_sigma", &snl));
  if (asim_h5_has_attr(c->f, "noise_weight_var")) ASIM_CHECK(asim_h5_attr_f64(c->f, "noise_weight_var", &wv));
  ASIM_CHECK(asim_h5_attr_f64(c->f, "noise_diff_mean_all", &ref_mean));
  ASIM_CHECK(asim_h5_attr_f64(c->f, "noise_diff_std_all", &ref_std));
  ASIM_CHECK(asim_h5_attr_f64(c->f, "noise_diff_absmean_all", &ref_absmean));
  ASIM_CHECK(asim_h5_attr_f64(c->f, "noise_frac_changed", &ref_frac));
  ASIM_CHECK(asim_h5_attr_i64(c->f, "noise_reps", &ref_reps));
  const int64_t n = asim_tensor_numel(&c->output);
  const int R = o->reps > 1 ? o->reps : (int)(ref_reps > 1 ? ref_reps : 200);
  float *clean = NULL, *noisy = NULL;
  asim_status st = ASIM_OK;
  const run_opts clean_run = {0}, noisy_run = {(float)sr, (float)snl, (float)wv, 0};
  noise_stats ns;
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(clean, (size_t)n), done);
  ASIM_CHECK_GOTO(st, ASIM_ALLOC(noisy, (size_t)n), done);
  ASIM_CHECK_GOTO(st, run_case(c, clean, &clean_run, o->seed, NULL), done);
  *ok &= report("noise-free", compare(clean, c->output.data, n), 1e-5, o->quiet);
  ASIM_CHECK_GOTO(st, noise_runs(c, &noisy_run, o->seed + 1000u, R, clean, noisy, n, &ns), done);
  {
    double N = (double)R * (double)n;
    /* standard errors of the two estimates (ours and the reference's) combined */
    double se_mean = sqrt(ref_std * ref_std / ((double)ref_reps * n) + ns.std * ns.std / N);
    double se_std = ref_std * sqrt(1.0 / (2.0 * ((double)ref_reps * n - 1)) + 1.0 / (2.0 * (N - 1)));
    int ok_mean = fabs(ns.mean - ref_mean) <= fmax(0.05 * ref_std, 3 * se_mean);
    int ok_std = fabs(ns.std - ref_std) <= fmax(0.05 * ref_std, 3 * se_std);
    printf("  noise r=%g n=%g%s, %d runs: diff mean %.4g (ref %.4g) %s, std %.4g (ref %.4g, %+.1f%%) %s, "
           "|diff| mean %.4g (ref %.4g), changed %.3f (ref %.3f)\n",
           sr, snl, wv > 0 ? " (with cell variation)" : "", R, ns.mean, ref_mean, ok_mean ? "ok" : "FAIL", ns.std,
           ref_std, 100.0 * (ns.std - ref_std) / ref_std, ok_std ? "ok" : "FAIL", ns.absmean, ref_absmean, ns.frac,
           ref_frac);
    if (wv > 0) printf("  weight_var %g%%: one chip per run (seed), shared by every sample\n", wv);
    *ok &= ok_mean && ok_std;
  }
  if (asim_h5_has_attr(c->f, "noise_std_ratio_vs_base")) {
    double ref_ratio, ref_base_std;
    ASIM_CHECK_GOTO(st, asim_h5_attr_f64(c->f, "noise_std_ratio_vs_base", &ref_ratio), done);
    ASIM_CHECK_GOTO(st, asim_h5_attr_f64(c->f, "base_noise_diff_std_all", &ref_base_std), done);
    const run_opts base_run = {(float)sr, (float)snl, 0.0f, 1};
    noise_stats bs;
    ASIM_CHECK_GOTO(st, noise_runs(c, &base_run, o->seed + 1000u, R, clean, noisy, n, &bs), done);
    /* each std is known to about 1/sqrt(2·R·n) relative; the ratio to twice that, with a floor of 0.03
     * for the spread between the elements' own variances */
    double ratio = ns.std / bs.std, tol = fmax(0.03, 3.0 * ref_ratio * sqrt(2.0 / ((double)R * n)));
    int ok_ratio = fabs(ratio - ref_ratio) <= tol;
    printf("  voting: std / std without voting %.3f (ref %.3f) %s; base std %.4g (ref %.4g)\n", ratio, ref_ratio,
           ok_ratio ? "ok" : "FAIL", bs.std, ref_base_std);
    *ok &= ok_ratio;
  }
done:
  free(clean);
  free(noisy);
  return st;
}

/* ---- whole-model cases (golden README §3) ------------------------------------------------ */

typedef struct {
  hid_t f;
  char group[128];
  int quiet, worst_flips;
  double worst_rel;
  const char *dump_dir;
} stage_cmp;

/* Compares image 0 of each traced stage with activations_<run>/<stage>. */
static void compare_stage(void *arg, const char *name, const float *x, int B, int ndim, const int64_t *shape) {
  stage_cmp *c = arg;
  char path[256];
  if (c->dump_dir) { /* --dump: the whole batch of every stage as raw float32, for offline checks */
    int64_t per = 1;
    for (int i = 0; i < ndim; i++) per *= shape[i];
    snprintf(path, sizeof path, "%s/%s_%s.f32", c->dump_dir, c->group, name);
    FILE *df = fopen(path, "wb");
    if (df) fwrite(x, sizeof(float), (size_t)(per * B), df), fclose(df);
  }
  snprintf(path, sizeof path, "%s/%s", c->group, name);
  if (!asim_h5_exists(c->f, path)) return;
  asim_tensor ref;
  if (asim_h5_read_tensor(c->f, path, &ref) != ASIM_OK || ref.dtype != ASIM_F32) {
    asim_error_clear();
    return;
  }
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  if (asim_tensor_numel(&ref) != n) {
    printf("    stage %-10s size %lld, reference %lld\n", name, (long long)n, (long long)asim_tensor_numel(&ref));
    asim_tensor_free(&ref);
    return;
  }
  const float *r = ref.data;
  double mx = 0, err = 0;
  for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(r[i]));
  /* a flip of one 8-bit activation code moves a value by about max/255 */
  double half_step = mx / 255.0 / 2.0;
  int flips = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)x[i] - r[i]);
    err = fmax(err, d);
    flips += d > half_step;
  }
  double rel = mx > 0 ? err / mx : err;
  if (rel > c->worst_rel) c->worst_rel = rel;
  if (flips > c->worst_flips) c->worst_flips = flips;
  if (!c->quiet)
    printf("    stage %-10s max|err| %.3g (rel %.3g), elements off by > half a code step: %d/%lld\n", name, err, rel,
           flips, (long long)n);
  asim_tensor_free(&ref);
}

static int argmax(const float *v, int n) {
  int b = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[b]) b = i;
  return b;
}

/* logits error relative to the reference logit range, and top-1 agreement */
static int compare_logits(const char *what, const float *got, const float *ref, int B, int C, double tol, int quiet) {
  double lo = INFINITY, hi = -INFINITY, err = 0;
  int agree = 0;
  for (int i = 0; i < B * C; i++) lo = fmin(lo, ref[i]), hi = fmax(hi, ref[i]), err = fmax(err, fabs(got[i] - ref[i]));
  for (int b = 0; b < B; b++) agree += argmax(got + b * C, C) == argmax(ref + b * C, C);
  double rel = err / (hi - lo > 0 ? hi - lo : 1.0);
  int ok = rel <= tol && agree == B;
  if (!quiet)
    for (int b = 0; b < B; b++) {
      double e = 0;
      for (int c = 0; c < C; c++) e = fmax(e, fabs(got[b * C + c] - ref[b * C + c]));
      printf("    image %d: max|err| %.3g\n", b, e);
    }
  printf("  %-34s logits max|err| %.3g = %.3g of the range, top-1 %d/%d  %s\n", what, err, rel, agree, B,
         ok ? "ok" : "FAIL");
  return ok;
}

static void dir_of(const char *path, char *out, size_t len) {
  snprintf(out, len, "%s", path);
  char *s = strrchr(out, '/');
  if (s) s[1] = 0;
  else snprintf(out, len, "./");
}

static asim_status check_same_weights(const asim_state *a, const asim_state *b, const char *an, const char *bn) {
  if (a->n != b->n) return ASIM_ERR(ASIM_EFORMAT, "%s has %d entries, %s %d", an, a->n, bn, b->n);
  for (int i = 0; i < a->n; i++) {
    asim_tensor *t = asim_state_find(b, a->names[i]);
    if (!t || !asim_tensor_same_shape(t, &a->tensors[i]) || t->dtype != a->tensors[i].dtype ||
        memcmp(t->data, a->tensors[i].data, asim_dtype_size(t->dtype) * (size_t)asim_tensor_numel(t)))
      return ASIM_ERR(ASIM_EFORMAT, "'%s' differs between %s and %s", a->names[i], an, bn);
  }
  return ASIM_OK;
}

static asim_status run_model_case(hid_t f, const char *path, const options *o, int *ok) {
  char dir[1024], wpkl[1400], wh5[1400], buf[256], runs[1024], model_desc[256] = "";
  asim_status st = ASIM_OK;
  asim_state spkl = {0}, sh5 = {0};
  asim_ckpt_meta meta;
  asim_tensor input = {0};
  asim_model m;
  memset(&m, 0, sizeof m);
  float *logits = NULL;
  char *json = NULL;
  dir_of(path, dir, sizeof dir);
  ASIM_CHECK(asim_h5_attr_str(f, "weights_pkl", buf, sizeof buf));
  snprintf(wpkl, sizeof wpkl, "%s%s", dir, buf);
  ASIM_CHECK(asim_h5_attr_str(f, "weights_h5", buf, sizeof buf));
  snprintf(wh5, sizeof wh5, "%s%s", dir, buf);
  ASIM_CHECK(asim_h5_attr_str(f, "runs", runs, sizeof runs));
  if (asim_h5_has_attr(f, "model")) ASIM_CHECK(asim_h5_attr_str(f, "model", model_desc, sizeof model_desc));
  /* the native .pkl reader and the HDF5 weights must agree bit for bit */
  ASIM_CHECK_GOTO(st, asim_ckpt_read(wpkl, &spkl, &meta), done);
  if (access(wh5, R_OK) == 0) {
    ASIM_CHECK_GOTO(st, asim_ckpt_read(wh5, &sh5, &meta), done);
    ASIM_CHECK_GOTO(st, check_same_weights(&spkl, &sh5, wpkl, wh5), done);
    printf("  weights: %d tensors, .pkl (native reader) == _weights.h5 bit for bit\n", spkl.n);
  } else {
    ASIM_CHECK_GOTO(st, asim_ckpt_read(wpkl, &sh5, &meta), done);
    printf("  weights: %d tensors from the .pkl (native reader; no _weights.h5 beside it)\n", spkl.n);
  }
  ASIM_CHECK_GOTO(st, get_f32(f, "input", &input), done);
  if (input.ndim != 4 || input.shape[2] != input.shape[3]) {
    st = ASIM_ERR(ASIM_ESHAPE, "%s: input must be (N, C, S, S)", path);
    goto done;
  }
  const int B = (int)input.shape[0], S = (int)input.shape[2];
  char *save = NULL;
  for (char *run = strtok_r(runs, ",", &save); run; run = strtok_r(NULL, ",", &save)) {
    char key[160];
    snprintf(key, sizeof key, "config_%s_json", run);
    asim_config cfg;
    asim_config_defaults(&cfg);
    /* the architecture comes from the tensors; the size from the input */
    char a1[64], a2[64], a3[1500];
    snprintf(a1, sizeof a1, "input_size=%d", S);
    snprintf(a2, sizeof a2, "image_size=%d", S);
    snprintf(a3, sizeof a3, "pretrain_model_path=\"%s\"", wpkl);
    const char *pre[3] = {a1, a2, a3};
    ASIM_CHECK_GOTO(st, asim_config_apply(&cfg, pre, 3, "model case"), done);
    free(json);
    json = NULL;
    {
      hid_t a = H5Aopen(f, key, H5P_DEFAULT);
      if (a < 0) {
        st = ASIM_ERR(ASIM_EFORMAT, "%s: missing attribute '%s'", path, key);
        goto done;
      }
      hid_t t = H5Aget_type(a);
      size_t sz = H5Tget_size(t);
      H5Tclose(t);
      H5Aclose(a);
      ASIM_CHECK_GOTO(st, asim_calloc(&json, sz + 16, 1), done);
      ASIM_CHECK_GOTO(st, asim_h5_attr_str(f, key, json, sz + 16), done);
    }
    int large = strstr(json, "\"large_model\": true") != NULL;
    const char *skip[] = {"large_model", "image_size", "input_size"};
    ASIM_CHECK_GOTO(st, asim_config_apply_json(&cfg, json, key, skip, 3), done);
    asim_model_settings s;
    asim_model_settings_from_config(&cfg, &s);
    s.conv.fix_channel_drop = s.linear.fix_channel_drop = o->fix_channel_drop;
    if (!m.ops) {
      ASIM_CHECK_GOTO(st, asim_model_infer(&m, &sh5, model_desc, large, &s), done);
      asim_state copy = {0};
      for (int i = 0; i < spkl.n && !st; i++) {
        asim_tensor t = spkl.tensors[i];
        spkl.tensors[i].data = NULL;
        st = asim_state_add(&copy, spkl.names[i], &t);
      }
      if (st) goto done;
      ASIM_CHECK_GOTO(st, asim_model_load_state(&m, &copy, 0), done);
      printf("  model: %s, %d classes, input %dx%dx%d\n", m.name, m.classes, m.in_ch, S, S);
      ASIM_CHECK_GOTO(st, asim_calloc(&logits, (size_t)B * m.classes, sizeof(float)), done);
    }
    int pact = m.s.pact;
    m.s = s;
    m.s.pact = pact;
    asim_tensor ref;
    char lname[160];
    snprintf(lname, sizeof lname, "logits_%s", run);
    stage_cmp sc = {f, "", o->quiet, 0, 0.0, o->dump_dir};
    snprintf(sc.group, sizeof sc.group, "activations_%s", run);
    asim_exec ex = {.seed = o->seed};
    printf("  run %s:\n", run);
    ASIM_CHECK_GOTO(st, asim_model_forward(&m, logits, input.data, B, &ex, compare_stage, &sc), done);
    ASIM_CHECK_GOTO(st, get_f32(f, lname, &ref), done);
    *ok &= compare_logits("batched", logits, ref.data, B, m.classes, o->model_tol, o->quiet);
    asim_tensor_free(&ref);
    printf("  %-34s worst stage rel err %.3g, at most %d elements off by > half a code step\n", "", sc.worst_rel,
           sc.worst_flips);
    snprintf(lname, sizeof lname, "logits_%s_single", run);
    if (asim_h5_exists(f, lname)) {
      const int64_t per = asim_tensor_numel(&input) / B;
      for (int b = 0; b < B; b++) {
        asim_exec e1 = {.seed = o->seed, .sample0 = b};
        ASIM_CHECK_GOTO(st, asim_model_forward(&m, logits + (int64_t)b * m.classes, (const float *)input.data + b * per,
                                               1, &e1, NULL, NULL), done);
      }
      ASIM_CHECK_GOTO(st, get_f32(f, lname, &ref), done);
      *ok &= compare_logits("one image per call", logits, ref.data, B, m.classes, o->model_tol, o->quiet);
      asim_tensor_free(&ref);
    }
  }
done:
  free(json);
  free(logits);
  asim_model_free(&m);
  asim_state_free(&spkl);
  asim_state_free(&sh5);
  asim_tensor_free(&input);
  return st;
}

static asim_status run_file(const char *path, const options *o, int *ok) {
  layer_case c;
  memset(&c, 0, sizeof c);
  asim_status st = ASIM_OK;
  float *out = NULL;
  {
    hid_t f;
    char kind[32] = "";
    ASIM_CHECK(asim_h5_open_read(path, &f));
    if (asim_h5_has_attr(f, "kind") && asim_h5_attr_str(f, "kind", kind, sizeof kind) == ASIM_OK &&
        !strcmp(kind, "model")) {
      printf("%s: whole model\n", path);
      *ok = 1;
      st = run_model_case(f, path, o, ok);
      H5Fclose(f);
      return st;
    }
    H5Fclose(f);
  }
  ASIM_CHECK_GOTO(st, load_case(&c, path, o), done);
  printf("%s: %s %s\n", c.name[0] ? c.name : path, c.kind, c.mode);
  *ok = 1;
  if (asim_h5_has_attr(c.f, "noise_reps")) {
    ASIM_CHECK_GOTO(st, check_noise(&c, o, ok), done);
  } else {
    const int64_t n = asim_tensor_numel(&c.output);
    const run_opts clean_run = {0};
    ASIM_CHECK_GOTO(st, ASIM_ALLOC(out, (size_t)n), done);
    ASIM_CHECK_GOTO(st, run_case(&c, out, &clean_run, o->seed, NULL), done);
    *ok &= report("output", compare(out, c.output.data, n), 1e-5, o->quiet);
    if (!strcmp(c.kind, "mha")) ASIM_CHECK_GOTO(st, check_mha_stages(&c, o, ok), done);
  }
done:
  free(out);
  free_case(&c);
  return st;
}

static void usage(FILE *f) {
  fprintf(f, "usage: asim-layer [--fix-channel-drop] [--reps R] [--seed S] [--model-tol T] [--dump DIR] [--quiet] CASE.h5 ...\n"
             "Runs reference case files through libasim and compares with the stored ASiM outputs.\n");
}

int main(int argc, char **argv) {
  options o = {0, 0, 0, 1, 1e-4, NULL};
  int nfiles = 0, failed = 0, bad = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--fix-channel-drop")) o.fix_channel_drop = 1;
    else if (!strcmp(argv[i], "--quiet")) o.quiet = 1;
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) o.reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--model-tol") && i + 1 < argc) o.model_tol = atof(argv[++i]);
    else if (!strcmp(argv[i], "--dump") && i + 1 < argc) o.dump_dir = argv[++i];
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) o.seed = (uint32_t)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
    else if (argv[i][0] == '-' && argv[i][1]) { usage(stderr); fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    else argv[++nfiles] = argv[i];
  }
  if (nfiles == 0) { usage(stderr); return 2; }
  for (int i = 1; i <= nfiles; i++) {
    int ok = 0;
    asim_error_clear();
    if (run_file(argv[i], &o, &ok) != ASIM_OK) {
      fprintf(stderr, "asim-layer: %s\n", asim_errmsg());
      bad++;
    } else if (!ok) {
      printf("FAIL %s\n", argv[i]);
      failed++;
    } else {
      printf("PASS %s\n", argv[i]);
    }
  }
  if (nfiles > 1) printf("%d case(s): %d passed, %d failed, %d unreadable\n", nfiles, nfiles - failed - bad, failed, bad);
  return bad ? 2 : (failed ? 1 : 0);
}
