/* From the run configuration (ASiM's keys) to the settings of each layer group (spec §5.3). */
#include "asim/config.h"
#include "asim/model.h"

static asim_cim_params group(asim_mode mode, int wbit, int xbit, int adc, int nrow, double rn, double nl, int enc,
                             int signed_act, int hyb, double trim, const asim_config *c) {
  asim_cim_params p = asim_cim_defaults();
  p.mode = mode;
  p.wbit = wbit, p.xbit = xbit, p.adc_prec = adc, p.nrow = nrow;
  p.rand_noise_sigma = (float)rn, p.non_linear_sigma = (float)nl;
  p.act_enc = enc, p.signed_act = signed_act, p.hybrid_levels = hyb;
  p.trim_noise = (float)trim;
  p.fix_channel_drop = !c->compat.conv_channel_drop;
  p.fix_double_bias = !c->compat.quant_conv_double_bias;
  p.wbp_act_enc_wrap = c->compat.wbp_act_enc_wrap;
  p.train_macro_noise = c->run.train_macro_noise;
  p.train_macro_noise_mix = (float)c->run.train_macro_noise_mix;
  return p;
}

/* ASiM's extensions of one layer group (spec §11); num_samp None = one conversion. */
static void ext(asim_cim_params *p, int voting_levels, int num_samp, double alpha, double weight_var, int weight_bp) {
  p->voting_levels = voting_levels;
  p->num_samp = num_samp == ASIM_NONE ? 1 : num_samp;
  p->non_linear_alpha = (float)alpha;
  p->weight_var = (float)weight_var;
  p->weight_bp = weight_bp;
}

void asim_model_settings_from_config(const struct asim_config_s *c, asim_model_settings *s) {
  *s = asim_model_settings_default();
  s->pact = c->PACT;
  s->conv = group(c->asim_conv_mode, c->asim_conv_wbit, c->asim_conv_xbit, c->asim_conv_adc_prec, c->asim_conv_nrow,
                  c->asim_conv_rand_noise_sigma, c->asim_conv_non_linear_sigma, c->asim_act_enc, c->asim_signed_act,
                  c->asim_cnn_hybrid_levels, c->asim_conv_trim_noise, c);
  s->linear = group(c->asim_linear_mode, c->asim_linear_wbit, c->asim_linear_xbit, c->asim_linear_adc_prec,
                    c->asim_linear_nrow, c->asim_linear_rand_noise_sigma, c->asim_linear_non_linear_sigma,
                    c->asim_linear_act_enc, c->asim_linear_signed_act, c->asim_cnn_hybrid_levels,
                    c->asim_linear_trim_noise, c);
  s->linear_proj = c->asim_linear_layer == ASIM_LINEAR_PROJ;
  ext(&s->conv, c->asim_conv_voting_levels, c->asim_conv_num_samp, c->asim_conv_non_linear_alpha,
      c->asim_conv_weight_var, c->asim_conv_weight_bp);
  ext(&s->linear, c->asim_linear_voting_levels, c->asim_linear_num_samp, c->asim_linear_non_linear_alpha,
      c->asim_linear_weight_var, c->asim_linear_weight_bp);
  s->linear.wbp_linear_requantize = c->compat.wbp_linear_requantize;
  s->quant_conv = group(c->quant_conv_mode, c->quant_conv_wbit, c->quant_conv_xbit, 8, 255, 0, 0, ASIM_NONE, 1,
                        ASIM_NONE, 0, c);
  s->vit_quant_conv = group(c->asim_vit_quant_conv_mode, c->asim_vit_quant_conv_wbit, c->asim_vit_quant_conv_xbit, 8,
                            255, 0, 0, ASIM_NONE, 1, ASIM_NONE, 0, c);
  s->vit_quant_conv_proj = c->vit_quant_conv_proj;
  s->vit_mlp = group(c->asim_vit_mlp_mode, c->asim_vit_mlp_wbit, c->asim_vit_mlp_xbit, c->asim_vit_mlp_adc_prec,
                     c->asim_vit_mlp_nrow, c->asim_vit_mlp_rand_noise_sigma, c->asim_vit_mlp_non_linear_sigma,
                     c->asim_vit_mlp_act_enc, 1, c->asim_vit_hybrid_levels, c->asim_vit_mlp_trim_noise, c);
  s->vit_fc = group(c->asim_vit_fc_mode, c->asim_vit_fc_wbit, c->asim_vit_fc_xbit, c->asim_vit_fc_adc_prec,
                    c->asim_vit_fc_nrow, c->asim_vit_fc_rand_noise_sigma, c->asim_vit_fc_non_linear_sigma,
                    c->asim_vit_fc_act_enc, 1, c->asim_vit_hybrid_levels, c->asim_vit_fc_trim_noise, c);
  ext(&s->vit_mlp, c->asim_vit_mlp_voting_levels, c->asim_vit_mlp_num_samp, c->asim_vit_mlp_non_linear_alpha,
      c->asim_vit_mlp_weight_var, c->asim_vit_mlp_weight_bp);
  ext(&s->vit_fc, c->asim_vit_fc_voting_levels, c->asim_vit_fc_num_samp, c->asim_vit_fc_non_linear_alpha,
      c->asim_vit_fc_weight_var, c->asim_vit_fc_weight_bp);
  s->vit_mlp.wbp_linear_requantize = s->vit_fc.wbp_linear_requantize = c->compat.wbp_linear_requantize;
  asim_mha_dims *a = &s->attn;
  a->mode = c->asim_vit_attn_mode;
  a->qk_qbit = c->asim_vit_attn_qk_qbit, a->qk_kbit = c->asim_vit_attn_qk_kbit;
  a->av_abit = c->asim_vit_attn_av_abit, a->av_vbit = c->asim_vit_attn_av_vbit;
  a->proj_wbit = c->asim_vit_attn_proj_wbit, a->proj_xbit = c->asim_vit_attn_proj_xbit;
  a->qk_adc_prec = c->asim_vit_attn_qk_adc_prec, a->av_adc_prec = c->asim_vit_attn_av_adc_prec;
  a->proj_adc_prec = c->asim_vit_attn_proj_adc_prec, a->nrow = c->asim_vit_attn_nrow;
  a->qk_rand_noise_sigma = (float)c->asim_vit_attn_qk_rand_noise_sigma;
  a->av_rand_noise_sigma = (float)c->asim_vit_attn_av_rand_noise_sigma;
  a->proj_rand_noise_sigma = (float)c->asim_vit_attn_proj_rand_noise_sigma;
  a->qk_non_linear_sigma = (float)c->asim_vit_attn_qk_non_linear_sigma;
  a->av_non_linear_sigma = (float)c->asim_vit_attn_av_non_linear_sigma;
  a->proj_non_linear_sigma = (float)c->asim_vit_attn_proj_non_linear_sigma;
  a->qk_k_enc = c->asim_vit_attn_qk_k_enc, a->av_a_enc = c->asim_vit_attn_av_a_enc;
  a->proj_act_enc = c->asim_vit_attn_proj_act_enc;
  a->hybrid_levels = c->asim_vit_hybrid_levels;
  a->voting = c->asim_vit_attn_voting_levels != ASIM_NONE;
  a->voting_levels = a->voting ? c->asim_vit_attn_voting_levels : 0;
  a->num_samp = c->asim_vit_attn_num_samp == ASIM_NONE ? 1 : c->asim_vit_attn_num_samp;
  a->attn_trim_noise = (float)c->asim_vit_attn_attn_trim_noise;
  a->proj_trim_noise = (float)c->asim_vit_attn_proj_trim_noise;
}
