/* The CiM engine's behaviour, pinned down: quantiser rounding and epsilon, bit-plane
 * decomposition, the cycle plan (grouping quirk, bit-parallel remainder, hybrid levels),
 * the spec's exact test vectors, lossless equivalence with Inference, noise addressing,
 * and parameter validation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "asim/attention.h"
#include "asim/conv.h"
#include "asim/linear.h"
#include "asim/macro.h"
#include "asim/quant.h"
#include "cu_util.h"

/* ---- quantisers ------------------------------------------------------------------------ */

static void quantizer_rounds_ties_to_even(void) {
  /* s = 4 + eps = 4 (eps absorbed), L = 2^4-1 = 15 for 4-bit unsigned: x = s·(c/15) gives
   * exact products; pick x so that fl(fl(x/s)·15) is exactly 0.5, 1.5, 2.5, 3.5 */
  const float s = asim_scale_from_max(4.0f);
  CU_ASSERT_EQUAL(s, 4.0f);
  float x[4];
  int32_t q[4];
  const float halves[4] = {0.5f, 1.5f, 2.5f, 3.5f};
  for (int i = 0; i < 4; i++) {
    x[i] = halves[i] / 15.0f * 4.0f;
    /* find a float whose quotient path lands exactly on the half-integer */
    while ((x[i] / s) * 15.0f < halves[i]) x[i] = nextafterf(x[i], 10.0f);
    while ((x[i] / s) * 15.0f > halves[i]) x[i] = nextafterf(x[i], -10.0f);
  }
  int exact = 1;
  for (int i = 0; i < 4; i++) exact &= (x[i] / s) * 15.0f == halves[i];
  CU_ASSERT_TRUE_FATAL(exact);
  asim_quantize(q, x, 4, s, 4, 0);
  CU_ASSERT_EQUAL(q[0], 0);
  CU_ASSERT_EQUAL(q[1], 2);
  CU_ASSERT_EQUAL(q[2], 2);
  CU_ASSERT_EQUAL(q[3], 4);
  /* signed: the same magnitudes, negated, round symmetrically */
  float xn[4];
  for (int i = 0; i < 4; i++) xn[i] = -x[i];
  asim_quantize(q, xn, 4, s, 5, 1); /* 5-bit signed: L = 15 as well */
  CU_ASSERT_EQUAL(q[0], 0);
  CU_ASSERT_EQUAL(q[1], -2);
  CU_ASSERT_EQUAL(q[2], -2);
  CU_ASSERT_EQUAL(q[3], -4);
}

static void scale_epsilon_is_added_in_float32(void) {
  /* absorbed for max >= 2, one ulp in [1, 2), many ulps below */
  CU_ASSERT_EQUAL(asim_scale_from_max(2.0f), 2.0f);
  CU_ASSERT_EQUAL(asim_scale_from_max(3.5f), 3.5f);
  CU_ASSERT_EQUAL(asim_scale_from_max(1.0f), nextafterf(1.0f, 2.0f));
  CU_ASSERT_EQUAL(asim_scale_from_max(0.0f), 1e-7f);
  CU_ASSERT_TRUE(asim_scale_from_max(0.001f) > 0.001f);
  /* the largest element maps to the top code in every case */
  const float maxima[] = {0.001f, 1.0f, 1.5f, 2.0f, 1000.0f};
  for (int i = 0; i < 5; i++) {
    float x[2] = {maxima[i], -maxima[i]};
    int32_t q[2];
    float s = asim_scale_from_max(asim_absmax(x, 2));
    asim_quantize(q, x, 2, s, 8, 1);
    CU_ASSERT_EQUAL(q[0], 127);
    CU_ASSERT_EQUAL(q[1], -127);
  }
  /* unsigned uses the raw max, negatives become 0 */
  float u[3] = {-5.0f, 0.25f, 0.5f};
  int32_t qu[3];
  asim_quantize(qu, u, 3, asim_scale_from_max(asim_max(u, 3)), 8, 0);
  CU_ASSERT_EQUAL(qu[0], 0);
  CU_ASSERT_EQUAL(qu[2], 255);
}

static void all_zero_inputs_give_zero_codes_and_bias_only(void) {
  float x[2 * 4 * 5 * 5] = {0}, w[3 * 4 * 9], b[3] = {0.5f, -1.0f, 2.0f}, y[2 * 3 * 25];
  for (int i = 0; i < 3 * 4 * 9; i++) w[i] = (float)((i * 7) % 11 - 5) / 4.0f;
  int32_t q[100];
  asim_quantize(q, x, 100, asim_scale_from_max(0.0f), 8, 1);
  for (int i = 0; i < 100; i++) CU_ASSERT_EQUAL(q[i], 0);
  asim_conv_dims c = {4, 3, 3, 1, 1, asim_cim_defaults(), 1, 0, NULL};
  for (int mode = 0; mode < 3; mode++) {
    c.p.mode = (asim_mode)mode;
    CU_ASSERT_OK(asim_conv2d_forward(y, x, 2, 5, 5, w, b, &c, NULL));
    for (int i = 0; i < 2 * 3 * 25; i++) CU_ASSERT_EQUAL(y[i], b[(i / 25) % 3]);
  }
}

static void fake_quantize_matches_code_times_step(void) {
  float x[5] = {0.3f, -0.7f, 1.2f, 0.0f, -1.2f}, y[5];
  int32_t q[5];
  float s = asim_scale_from_max(asim_absmax(x, 5));
  asim_fake_quantize(y, x, 5, s, 4, 1);
  asim_quantize(q, x, 5, s, 4, 1);
  for (int i = 0; i < 5; i++) {
    float expect = (((float)abs(q[i]) / 7.0f) * s) * (q[i] > 0 ? 1.0f : (q[i] < 0 ? -1.0f : 0.0f));
    if (x[i] != 0.0f && q[i] == 0) expect = 0.0f;
    CU_ASSERT_EQUAL(y[i], expect);
  }
}

/* ---- bit planes ------------------------------------------------------------------------- */

static void wbit4_planes_are_twos_complement(void) {
  /* spec §2.3: value → planes MSB..LSB */
  static const char *table[15] = {"1001", "1010", "1011", "1100", "1101", "1110", "1111", "0000",
                                  "0001", "0010", "0011", "0100", "0101", "0110", "0111"};
  int32_t codes[15];
  for (int i = 0; i < 15; i++) codes[i] = i - 7;
  asim_macro_desc d = {.wbit = 4, .xbit = 4, .adc_prec = 8, .nrow = 255, .K = 1, .load_rows = 255, .n_loads = 1};
  asim_macro m;
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  asim_bitmat bm;
  CU_ASSERT_OK(asim_bitmat_pack(&bm, codes, 15, &m, 4));
  for (int r = 0; r < 15; r++) {
    char got[5] = {0};
    for (int t = 3; t >= 0; t--) got[3 - t] = (bm.w[(r * 4 + t) * bm.n_loads * bm.wpl] & 1) ? '1' : '0';
    CU_ASSERT_STRING_EQUAL(got, table[r]);
    /* reconstruction: -8·b3 + 4·b2 + 2·b1 + b0 */
    int v = -8 * (got[0] - '0') + 4 * (got[1] - '0') + 2 * (got[2] - '0') + (got[3] - '0');
    CU_ASSERT_EQUAL(v, codes[r]);
  }
  asim_bitmat_free(&bm);
  asim_macro_free(&m);
}

/* ---- cycle plan ------------------------------------------------------------------------- */

static void hybrid_levels_protect_the_top_antidiagonals(void) {
  asim_macro_desc d = {.wbit = 8, .xbit = 8, .adc_prec = 8, .nrow = 255, .hybrid_levels = 2,
                       .rand_noise_sigma = 1.0f, .K = 10, .load_rows = 255, .n_loads = 1};
  asim_macro m;
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  int quiet = 0;
  for (int c = 0; c < m.n_cycles; c++) {
    const asim_cycle *cy = &m.cycles[c];
    int level = (7 - cy->i) + (7 - cy->j);
    CU_ASSERT_EQUAL(cy->noisy, level >= 2);
    if (!cy->noisy) {
      quiet++;
      CU_ASSERT_TRUE((cy->i == 7 && cy->j == 7) || (cy->i == 7 && cy->j == 6) || (cy->i == 6 && cy->j == 7));
    }
  }
  CU_ASSERT_EQUAL(quiet, 3);
  CU_ASSERT_EQUAL(m.n_cycles, 64);
  asim_macro_free(&m);
  /* without noise nothing is noisy, whatever h */
  d.rand_noise_sigma = 0.0f;
  d.hybrid_levels = 0;
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  for (int c = 0; c < m.n_cycles; c++) CU_ASSERT_FALSE(m.cycles[c].noisy);
  asim_macro_free(&m);
}

static void bit_parallel_msb_cycle_holds_the_remainder(void) {
  /* unsigned xbit 7, e 2: T = 4 cycles per weight bit, the top one 1 bit wide (bit 6) */
  asim_macro_desc d = {.wbit = 4, .xbit = 7, .adc_prec = 8, .nrow = 128, .act_enc = 2, .K = 9, .load_rows = 126,
                       .n_loads = 1};
  asim_macro m;
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  CU_ASSERT_EQUAL(m.n_cycles, 4 * 4);
  const asim_cycle *top = &m.cycles[0];
  CU_ASSERT_EQUAL(top->i, 3);
  CU_ASSERT_EQUAL(top->j, 3);
  CU_ASSERT_EQUAL(top->nbits, 1);
  CU_ASSERT_EQUAL(top->bit[0], 6);
  CU_ASSERT_EQUAL(top->R, 128.0f);
  CU_ASSERT_EQUAL(top->shift, ldexpf(1.0f, 3 + 6));
  CU_ASSERT_TRUE(top->negate);
  const asim_cycle *next = &m.cycles[1];
  CU_ASSERT_EQUAL(next->nbits, 2);
  CU_ASSERT_EQUAL(next->bit[0], 4);
  CU_ASSERT_EQUAL(next->R, 3.0f * 128.0f);
  asim_macro_free(&m);
  /* signed xbit 8, e 2: sign cycle + groups (4,5) (2,3) (0,1) + remainder 1 bit (6) */
  asim_macro_desc s = {.wbit = 8, .xbit = 8, .x_signed = 1, .adc_prec = 8, .nrow = 255, .act_enc = 2, .K = 9,
                       .load_rows = 255, .n_loads = 1};
  CU_ASSERT_OK(asim_macro_init(&m, &s));
  CU_ASSERT_EQUAL(m.n_cycles, 8 * 5);
  CU_ASSERT_EQUAL(m.cycles[0].bit[0], 7); /* the sign cycle first, added for the weight MSB */
  CU_ASSERT_FALSE(m.cycles[0].negate);
  CU_ASSERT_EQUAL(m.cycles[1].nbits, 1);
  CU_ASSERT_EQUAL(m.cycles[1].bit[0], 6);
  CU_ASSERT_EQUAL(m.cycles[2].nbits, 2);
  CU_ASSERT_EQUAL(m.cycles[2].bit[0], 4);
  CU_ASSERT_TRUE(m.cycles[5 + 0].negate); /* weight bit 6: sign cycle subtracted */
  asim_macro_free(&m);
}

static void conv_drops_trailing_channel_groups_like_asim(void) {
  asim_conv_dims c = {113, 4, 3, 1, 1, asim_cim_defaults(), 1, 0, NULL};
  c.p.nrow = 256;
  asim_conv_map map;
  CU_ASSERT_OK(asim_conv_mapping(&c, &map));
  CU_ASSERT_EQUAL(map.channels_per_load, 28);
  CU_ASSERT_EQUAL(map.loads, 4);
  CU_ASSERT_EQUAL(map.ignored_channels, 1);
  c.p.fix_channel_drop = 1;
  CU_ASSERT_OK(asim_conv_mapping(&c, &map));
  CU_ASSERT_EQUAL(map.loads, 5);
  CU_ASSERT_EQUAL(map.ignored_channels, 0);
  /* ResNet-18 with nrow 255 loses nothing (spec appendix A) */
  c.p.fix_channel_drop = 0;
  c.p.nrow = 255;
  const int C[] = {64, 128, 256, 512}, U[] = {3, 5, 10, 19};
  for (int i = 0; i < 4; i++) {
    c.in_ch = C[i];
    CU_ASSERT_OK(asim_conv_mapping(&c, &map));
    CU_ASSERT_EQUAL(map.loads, U[i]);
    CU_ASSERT_EQUAL(map.ignored_channels, 0);
  }
}

/* ---- the spec's test vectors (§3.9) ------------------------------------------------------- */

static void tv_conv_inputs(float *X, float *W, float *b) {
  for (int c = 0; c < 5; c++)
    for (int h = 0; h < 5; h++)
      for (int w = 0; w < 5; w++) X[(c * 5 + h) * 5 + w] = (float)(((3 * c + 5 * h + 7 * w) % 11) / 10.0);
  for (int o = 0; o < 2; o++)
    for (int c = 0; c < 5; c++)
      for (int u = 0; u < 3; u++)
        for (int v = 0; v < 3; v++)
          W[((o * 5 + c) * 3 + u) * 3 + v] = (float)((((13 * o + 7 * c + 3 * u + 5 * v) % 17) - 8) / 8.0);
  b[0] = 0.25f, b[1] = -0.5f;
}

static void check_vec(const float *got, const double *want, int n, double rel) {
  double mx = 0, err = 0;
  for (int i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
  for (int i = 0; i < n; i++) err = fmax(err, fabs(got[i] - want[i]));
  if (err > rel * mx) {
    fprintf(stderr, "\n  max error %.3g (max %.3g):", err, mx);
    for (int i = 0; i < n; i++) fprintf(stderr, " %.9g", got[i]);
  }
  CU_ASSERT_TRUE(err <= rel * mx);
}

static void run_tv_conv(int nrow, int adc, int act_enc, int signed_act, asim_mode mode, const double *want) {
  float X[125], W[90], b[2], y[18];
  tv_conv_inputs(X, W, b);
  asim_conv_dims c = {5, 2, 3, 2, 1, asim_cim_defaults(), 7, 0, NULL};
  c.p.mode = mode, c.p.wbit = 4, c.p.xbit = 4, c.p.nrow = nrow, c.p.adc_prec = adc;
  c.p.act_enc = act_enc, c.p.signed_act = signed_act;
  CU_ASSERT_OK(asim_conv2d_forward(y, X, 1, 5, 5, W, b, &c, NULL));
  check_vec(y, want, 18, 2e-7);
}

static void spec_conv_test_vectors(void) {
  static const double tv1[18] = {-2.5527215, 0.90306133, -0.457483351, 0.52210933, -2.52550912, -0.348640025,
    -1.1649667, 0.658162832, -0.566326857, 0.670068383, 0.0442175269, 2.76530695, -0.52721101, -1.88775575,
    0.642857432, 3.47278976, -2.89455867, -0.880952597};
  static const double tv2[18] = {0.135714114, 0.935714662, -0.45204103, -0.615306616, 0.0214285702,
    -0.0275509655, 0.543877602, -0.33775568, -1.83979583, 1.63877654, -0.630612612, 0.381633043, -0.140816331,
    -0.891836643, 0.332653522, 0.30000037, -3.14489913, -2.14898014};
  static const double tv3[18] = {-0.499616086, 1.06106019, -0.769969583, 0.194700688, -0.112518817, 0.88287282,
    -0.468894184, 1.14093709, -0.425883651, 0.937788367, -0.241935223, 2.41858721, -0.55529958, -2.23886442,
    2.30184388, 0.821044683, -2.58294964, -0.764209151};
  static const double tv3b[18] = {-1.07718909, 1.65092194, -1.07718933, 0.397465587, -0.561060488, 0.821428835,
    -1.18778813, 1.11635923, -0.763825059, 0.919354796, -0.00230377913, 1.82258129, -0.868663669, -1.9562211,
    1.71198153, 1.10368681, -2.54608321, -0.573732555};
  static const double tv4[18] = {-1.65476191, 1.25680292, -1.49149692, 0.0595239699, -1.76360536, 0.794217885,
    -1.02891111, 0.358844042, 0.440476179, 0.914966702, -0.690475523, 1.59523845, -1.04421759, -2.26870775,
    1.40476227, 1.1054424, -2.3231287, -1.04421687};
  static const double ref[18] = {-0.864285946, 1.33571458, -0.664285958, 0.230952382, -0.045238167, 0.907142997,
    -0.702381194, 0.897619188, -0.19761917, 0.890476465, 0.0619049072, 2.14761972, -0.385714263, -2.45238137,
    2.2904768, 0.966666937, -2.33809566, -0.852380991};
  run_tv_conv(20, 3, -1, 0, ASIM_SIMULATION, tv1);
  run_tv_conv(12, 3, -1, 0, ASIM_SIMULATION, tv2); /* G = 1, U = 4: channel 4 dropped */
  run_tv_conv(20, 5, 3, 0, ASIM_SIMULATION, tv3);  /* e = 3 on 4 bits: remainder cycle */
  run_tv_conv(20, 5, 2, 0, ASIM_SIMULATION, tv3b);
  run_tv_conv(20, 4, -1, 1, ASIM_SIMULATION, tv4);
  run_tv_conv(20, 3, -1, 0, ASIM_INFERENCE, ref);
  /* TV1 bit patterns are exact */
  static const char *hex[18] = {"-0x1.46bf94p+1", "0x1.ce5e0ep-1", "-0x1.d47684p-2", "0x1.0b51eap-1",
    "-0x1.4343e2p+1", "-0x1.6501e4p-2", "-0x1.2a3b42p+0", "0x1.50fab8p-1", "-0x1.21f598p-1", "0x1.571334p-1",
    "0x1.6a3aep-5", "0x1.61f594p+1", "-0x1.0dee9ap-1", "-0x1.e343f6p+0", "0x1.49249cp-1", "0x1.bc846p+1",
    "-0x1.7280e6p+1", "-0x1.c30c38p-1"};
  float X[125], W[90], b[2], y[18];
  tv_conv_inputs(X, W, b);
  asim_conv_dims c = {5, 2, 3, 2, 1, asim_cim_defaults(), 7, 0, NULL};
  c.p.mode = ASIM_SIMULATION, c.p.wbit = 4, c.p.xbit = 4, c.p.nrow = 20, c.p.adc_prec = 3;
  CU_ASSERT_OK(asim_conv2d_forward(y, X, 1, 5, 5, W, b, &c, NULL));
  for (int i = 0; i < 18; i++) CU_ASSERT_EQUAL(y[i], strtof(hex[i], NULL));
}

static void run_tv_linear(int nrow, int adc, int act_enc, int signed_act, asim_mode mode, const double *want) {
  float X[20], W[30], b[3] = {0.125f, 0.0f, -0.375f}, y[6];
  for (int bb = 0; bb < 2; bb++)
    for (int f = 0; f < 10; f++) {
      X[bb * 10 + f] = (float)((((5 * bb + 3 * f) % 13) - 6) / 4.0);
      if (!signed_act && X[bb * 10 + f] < 0) X[bb * 10 + f] = 0.0f;
    }
  for (int o = 0; o < 3; o++)
    for (int f = 0; f < 10; f++) W[o * 10 + f] = (float)((((7 * o + 2 * f) % 9) - 4) / 3.0);
  asim_linear_dims l = {10, 3, asim_cim_defaults(), 3, NULL};
  l.p.mode = mode, l.p.wbit = 4, l.p.xbit = 5, l.p.nrow = nrow, l.p.adc_prec = adc;
  l.p.act_enc = act_enc, l.p.signed_act = signed_act;
  CU_ASSERT_OK(asim_linear_forward(y, X, 2, 1, W, b, &l, NULL));
  check_vec(y, want, 6, 2e-7);
}

static void spec_linear_test_vectors(void) {
  static const double tv5[6] = {9.99711227, -2.08979654, -4.92466164, -3.59745097, -2.63401413, 2.58554554};
  static const double tv6[6] = {9.816432, -1.70158768, -4.40293694, -3.3848424, -2.06730175, 2.11896944};
  static const double tv7[6] = {9.70468426, -1.9453975, -4.74833441, -3.06484222, -2.48888993, 2.36785793};
  static const double tv8[6] = {4.00334263, 1.22887886, -1.64811885, -0.668855786, -2.1800313, -0.116935372};
  static const double ref[6] = {8.88690662, -1.65714324, -4.24166775, -3.05595326, -2.20952439, 2.25357199};
  run_tv_linear(4, 3, -1, 1, ASIM_SIMULATION, tv5);
  run_tv_linear(4, 4, 2, 1, ASIM_SIMULATION, tv6);
  run_tv_linear(4, 4, 3, 1, ASIM_SIMULATION, tv7);
  run_tv_linear(4, 4, 2, 0, ASIM_SIMULATION, tv8);
  run_tv_linear(4, 4, -1, 1, ASIM_INFERENCE, ref);
}

static void spec_attention_test_vectors(void) {
  static const double tv9[24] = {-6.57135248, 4.18576145, -10.2571154, 3.76491356, -2.00745678, 7.76728296,
    -5.20457315, 2.98982811, 10.2571154, -5.08270979, 7.85270929, -10.3299952, 6.49220037, 1.53135705,
    1.07406676, -1.28135657, 2.48355794, -5.08270979, 1.53135419, -0.164576039, 2.69084597, -3.50864315,
    4.91813374, -5.03999758};
  static const double tv10[24] = {-7.74710226, 3.63740778, -8.43936443, 5.04445124, -2.42494035, 8.59583092,
    -4.65530634, 4.60738277, 10.7430563, -5.84005928, 7.42377853, -12.374692, 6.2644248, 1.76558638,
    0.0329093337, -0.727482617, 1.12413228, -6.30483961, 1.15935111, 0.659352124, 2.32389903, -3.30657673,
    3.34699178, -4.32447529};
  static const double ref[24] = {-5.24898148, 3.66122603, -8.26939201, 3.20000148, -1.61938858, 6.51632929,
    -4.1928587, 2.60510302, 8.41020775, -4.08367491, 6.58673716, -8.48775864, 5.42143106, 1.3061229, 1.01734746,
    -0.915306509, 2.00306225, -4.08367491, 1.37653112, -0.109183609, 2.25306225, -2.84796047, 4.11530828,
    -4.08367491};
  float x[24], qw[192], qb[24], pw[64], pb[8], y[24];
  for (int n = 0; n < 3; n++)
    for (int e = 0; e < 8; e++) x[n * 8 + e] = (float)((((3 * n + 5 * e) % 7) - 3) / 2.0);
  for (int r = 0; r < 24; r++) {
    for (int c = 0; c < 8; c++) qw[r * 8 + c] = (float)((((5 * r + 3 * c) % 11) - 5) / 4.0);
    qb[r] = (float)(((r % 5) - 2) / 8.0);
  }
  for (int r = 0; r < 8; r++) {
    for (int c = 0; c < 8; c++) pw[r * 8 + c] = (float)((((2 * r + 7 * c) % 9) - 4) / 4.0);
    pb[r] = (float)(((r % 3) - 1) / 4.0);
  }
  asim_mha_dims a = {.embed_dim = 8, .num_heads = 2, .mode = ASIM_SIMULATION, .qk_qbit = 4, .qk_kbit = 5,
                     .av_abit = 4, .av_vbit = 4, .proj_wbit = 4, .proj_xbit = 5, .qk_adc_prec = 4, .av_adc_prec = 4,
                     .proj_adc_prec = 4, .nrow = 4, .qk_k_enc = -1, .av_a_enc = -1, .proj_act_enc = -1,
                     .hybrid_levels = -1, .layer_id = 10};
  CU_ASSERT_OK(asim_mha_forward(y, x, 1, 3, qw, qb, pw, pb, &a, NULL, NULL));
  check_vec(y, tv9, 24, 1e-6);
  a.qk_k_enc = a.av_a_enc = a.proj_act_enc = 2;
  CU_ASSERT_OK(asim_mha_forward(y, x, 1, 3, qw, qb, pw, pb, &a, NULL, NULL));
  check_vec(y, tv10, 24, 1e-6);
  a.mode = ASIM_INFERENCE;
  CU_ASSERT_OK(asim_mha_forward(y, x, 1, 3, qw, qb, pw, pb, &a, NULL, NULL));
  check_vec(y, ref, 24, 1e-6);
}

/* ---- invariants ------------------------------------------------------------------------ */

static float frand(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)((*s >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* spec §3.8: bit-serial, no noise, nrow = 2^adc - 1 (or a near-ideal ADC): Simulation is the
 * integer Inference path, bit for bit. (nrow < 2^adc - 1 is NOT lossless in general: with
 * nrow 128 and adc 8 a count of 1 comes back as 2/255·128.) */
static void lossless_adc_simulation_equals_inference(void) {
  uint32_t seed = 12345;
  const int adcs[] = {4, 5, 7, 8, 9, 100}, nrows[] = {15, 31, 127, 255, 511, 64};
  for (int t = 0; t < 6; t++)
    for (int sa = 0; sa < 2; sa++) {
      const int C = 11, O = 5, H = 6, B = 2;
      float x[B * C * H * H], w[O * C * 9], ys[B * O * H * H], yi[B * O * H * H];
      for (int i = 0; i < B * C * H * H; i++) x[i] = frand(&seed) * 3.0f;
      for (int i = 0; i < O * C * 9; i++) w[i] = frand(&seed);
      asim_conv_dims c = {C, O, 3, 1, 1, asim_cim_defaults(), 2, 0, NULL};
      c.p.wbit = 6, c.p.xbit = 7, c.p.adc_prec = adcs[t], c.p.nrow = nrows[t], c.p.signed_act = sa;
      asim_conv_map map;
      CU_ASSERT_OK(asim_conv_mapping(&c, &map));
      asim_macro_desc d = asim_cim_macro_desc(&c.p, 6, 7, sa, -1, C * 9, map.channels_per_load * 9, map.loads);
      asim_macro m;
      CU_ASSERT_OK(asim_macro_init(&m, &d));
      CU_ASSERT_TRUE(m.lossless);
      asim_macro_free(&m);
      if (map.ignored_channels) continue; /* Inference sees the dropped channels */
      c.p.mode = ASIM_SIMULATION;
      CU_ASSERT_OK(asim_conv2d_forward(ys, x, B, H, H, w, NULL, &c, NULL));
      c.p.mode = ASIM_INFERENCE;
      CU_ASSERT_OK(asim_conv2d_forward(yi, x, B, H, H, w, NULL, &c, NULL));
      CU_ASSERT_EQUAL(memcmp(ys, yi, sizeof ys), 0);
      /* linear, fc and proj */
      const int K = 300, OF = 7, T = 3;
      float lx[B * T * K], lw[OF * K], lys[B * T * OF], lyi[B * T * OF];
      for (int i = 0; i < B * T * K; i++) lx[i] = frand(&seed);
      for (int i = 0; i < OF * K; i++) lw[i] = frand(&seed);
      asim_linear_dims l = {K, OF, c.p, 3, NULL};
      l.p.mode = ASIM_SIMULATION;
      CU_ASSERT_OK(asim_linear_forward(lys, lx, B, T, lw, NULL, &l, NULL));
      l.p.mode = ASIM_INFERENCE;
      CU_ASSERT_OK(asim_linear_forward(lyi, lx, B, T, lw, NULL, &l, NULL));
      CU_ASSERT_EQUAL(memcmp(lys, lyi, sizeof lys), 0);
    }
  /* and a lossy one is detected as such */
  asim_macro_desc d = {.wbit = 4, .xbit = 4, .adc_prec = 8, .nrow = 128, .K = 10, .load_rows = 128, .n_loads = 1};
  asim_macro m;
  CU_ASSERT_OK(asim_macro_init(&m, &d));
  CU_ASSERT_FALSE(m.lossless);
  asim_macro_free(&m);
}

/* A sample's noise depends only on (seed, layer, global sample index, element, cycle):
 * moving it to another batch position with other batch-mates leaves it unchanged. */
static void noise_is_independent_of_batch_composition(void) {
  uint32_t seed = 99;
  const int C = 8, O = 4, H = 5, n1 = C * H * H, n2 = O * H * H;
  float A[n1], Bs[n1], Cs[n1], w[O * C * 9], batch1[2 * n1], batch2[3 * n1];
  float y1[2 * n2], y2[3 * n2], clean[2 * n2];
  for (int i = 0; i < n1; i++) A[i] = fabsf(frand(&seed)), Bs[i] = fabsf(frand(&seed)), Cs[i] = fabsf(frand(&seed));
  for (int i = 0; i < O * C * 9; i++) w[i] = frand(&seed);
  memcpy(batch1, A, sizeof A), memcpy(batch1 + n1, Bs, sizeof Bs);                            /* A at position 0 */
  memcpy(batch2, Cs, sizeof Cs), memcpy(batch2 + n1, Bs, sizeof Bs), memcpy(batch2 + 2 * n1, A, sizeof A); /* A at 2 */
  asim_conv_dims c = {C, O, 3, 1, 1, asim_cim_defaults(), 5, 0, NULL};
  c.p.mode = ASIM_SIMULATION, c.p.nrow = 72, c.p.rand_noise_sigma = 2.0f, c.p.non_linear_sigma = 2.0f;
  asim_exec e1 = {.seed = 7, .sample0 = 40, .per_sample_scale = 1};
  asim_exec e2 = {.seed = 7, .sample0 = 38, .per_sample_scale = 1};
  CU_ASSERT_OK(asim_conv2d_forward(y1, batch1, 2, H, H, w, NULL, &c, &e1));
  CU_ASSERT_OK(asim_conv2d_forward(y2, batch2, 3, H, H, w, NULL, &c, &e2));
  CU_ASSERT_EQUAL(memcmp(y1, y2 + 2 * n2, sizeof(float) * n2), 0);
  /* the noise is real: it changes the output, and another sample index draws other noise */
  asim_conv_dims q = c;
  q.p.rand_noise_sigma = q.p.non_linear_sigma = 0.0f;
  CU_ASSERT_OK(asim_conv2d_forward(clean, batch1, 2, H, H, w, NULL, &q, &e1));
  CU_ASSERT_NOT_EQUAL(memcmp(clean, y1, sizeof(float) * n2), 0);
  asim_exec e3 = {.seed = 7, .sample0 = 41, .per_sample_scale = 1};
  CU_ASSERT_OK(asim_conv2d_forward(y2, batch1, 2, H, H, w, NULL, &c, &e3));
  CU_ASSERT_NOT_EQUAL(memcmp(y2, y1, sizeof(float) * n2), 0);
  /* the same for a proj linear (rows are tokens of a sample) */
  const int K = 40, OF = 6, T = 3;
  float lx[3 * T * K], lw[OF * K], ly1[3 * T * OF], ly2[T * OF];
  for (int i = 0; i < 3 * T * K; i++) lx[i] = frand(&seed);
  for (int i = 0; i < OF * K; i++) lw[i] = frand(&seed);
  asim_linear_dims l = {K, OF, c.p, 9, NULL};
  l.p.signed_act = 1;
  asim_exec f1 = {.seed = 3, .sample0 = 100, .per_sample_scale = 1};
  asim_exec f2 = {.seed = 3, .sample0 = 102, .per_sample_scale = 1};
  CU_ASSERT_OK(asim_linear_forward(ly1, lx, 3, T, lw, NULL, &l, &f1));
  CU_ASSERT_OK(asim_linear_forward(ly2, lx + 2 * T * K, 1, T, lw, NULL, &l, &f2));
  CU_ASSERT_EQUAL(memcmp(ly1 + 2 * T * OF, ly2, sizeof ly2), 0);
}

static void noise_statistics_follow_the_adc_model(void) {
  /* one cycle, M fixed: mean of ADC(M)+noise ≈ M, std ≈ R·sqrt(σr² + σnl²/(v·nrow+1))/100 */
  const float R = 255.0f, A = 255.0f, sr = 2.0f, snl = 3.0f;
  asim_noise_key key = {11, 2};
  double s = 0, s2 = 0;
  const int n = 20000;
  for (int i = 0; i < n; i++) {
    float z1, z2;
    asim_normal2(key, 5, (uint32_t)i, 0, ASIM_STREAM_ADC, &z1, &z2);
    float v = asim_adc(100.0f, R, A, 255, 1, sr, snl, z1, z2);
    s += v, s2 += (double)v * v;
  }
  double mean = s / n, sd = sqrt(s2 / n - mean * mean);
  double want = R * sqrt(sr * sr + snl * snl / (100.0 + 1.0)) / 100.0;
  CU_ASSERT_TRUE(fabs(mean - 100.0) < 0.1);
  CU_ASSERT_TRUE(fabs(sd - want) / want < 0.05);
  /* the normals are standard */
  double a = 0, a2 = 0, b = 0;
  for (int i = 0; i < n; i++) {
    float z1, z2;
    asim_normal2(key, (uint64_t)i, 1, 2, 0, &z1, &z2);
    a += z1, a2 += (double)z1 * z1, b += (double)z1 * z2;
  }
  CU_ASSERT_TRUE(fabs(a / n) < 0.03);
  CU_ASSERT_TRUE(fabs(a2 / n - 1.0) < 0.04);
  CU_ASSERT_TRUE(fabs(b / n) < 0.03);
}

/* ---- parameter validation -------------------------------------------------------------- */

static void expect_einval(asim_status st, const char *frag) {
  CU_ASSERT_EQUAL(st, ASIM_EINVAL);
  if (!strstr(asim_errmsg(), frag)) fprintf(stderr, "\n  message '%s' lacks '%s'", asim_errmsg(), frag);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), frag));
  asim_error_clear();
}

static void bad_parameters_are_rejected_with_clear_errors(void) {
  float x[2 * 4 * 4 * 4] = {0}, w[2 * 4 * 9] = {0}, y[64];
  asim_conv_dims c = {4, 2, 3, 1, 1, asim_cim_defaults(), 1, 0, NULL};
  c.p.mode = ASIM_SIMULATION;
  asim_conv_dims t = c;
  t.p.adc_prec = 0;
  expect_einval(asim_conv2d_forward(y, x, 2, 4, 4, w, NULL, &t, NULL), "adc_prec = 0");
  t = c, t.p.wbit = 1;
  expect_einval(asim_conv2d_forward(y, x, 2, 4, 4, w, NULL, &t, NULL), "wbit = 1");
  t = c, t.p.act_enc = 9;
  expect_einval(asim_conv2d_forward(y, x, 2, 4, 4, w, NULL, &t, NULL), "act_enc = 9");
  t = c, t.p.nrow = 0;
  expect_einval(asim_conv2d_forward(y, x, 2, 4, 4, w, NULL, &t, NULL), "nrow = 0");
  t = c, t.p.xbit = 17;
  expect_einval(asim_conv2d_forward(y, x, 2, 4, 4, w, NULL, &t, NULL), "xbit = 17");
  t = c, t.p.hybrid_levels = -3;
  expect_einval(asim_conv2d_forward(y, x, 2, 4, 4, w, NULL, &t, NULL), "hybrid_levels = -3");
  t = c, t.quant_conv = 1;
  expect_einval(asim_conv2d_forward(y, x, 2, 4, 4, w, NULL, &t, NULL), "QuantConv2d");
  asim_linear_dims l = {4, 2, c.p, 1, NULL};
  l.p.signed_act = 1, l.p.act_enc = 8;
  expect_einval(asim_linear_forward(y, x, 2, 1, w, NULL, &l, NULL), "act_enc = 8");
  asim_mha_dims a = {.embed_dim = 10, .num_heads = 3};
  expect_einval(asim_mha_check(&a), "not divisible");
  /* too large a shape for the kernel is a shape error, not a crash */
  CU_ASSERT_EQUAL(asim_conv2d_forward(y, x, 2, 1, 1, w, NULL, &(asim_conv_dims){4, 2, 5, 1, 0, c.p, 1, 0, NULL}, NULL),
                  ASIM_ESHAPE);
  asim_error_clear();
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(quantizer);
  ASIM_ADD_TEST(quantizer, quantizer_rounds_ties_to_even);
  ASIM_ADD_TEST(quantizer, scale_epsilon_is_added_in_float32);
  ASIM_ADD_TEST(quantizer, all_zero_inputs_give_zero_codes_and_bias_only);
  ASIM_ADD_TEST(quantizer, fake_quantize_matches_code_times_step);
  ASIM_ADD_SUITE(bitplanes);
  ASIM_ADD_TEST(bitplanes, wbit4_planes_are_twos_complement);
  ASIM_ADD_SUITE(cycles);
  ASIM_ADD_TEST(cycles, hybrid_levels_protect_the_top_antidiagonals);
  ASIM_ADD_TEST(cycles, bit_parallel_msb_cycle_holds_the_remainder);
  ASIM_ADD_TEST(cycles, conv_drops_trailing_channel_groups_like_asim);
  ASIM_ADD_SUITE(spec_vectors);
  ASIM_ADD_TEST(spec_vectors, spec_conv_test_vectors);
  ASIM_ADD_TEST(spec_vectors, spec_linear_test_vectors);
  ASIM_ADD_TEST(spec_vectors, spec_attention_test_vectors);
  ASIM_ADD_SUITE(invariants);
  ASIM_ADD_TEST(invariants, lossless_adc_simulation_equals_inference);
  ASIM_ADD_TEST(invariants, noise_is_independent_of_batch_composition);
  ASIM_ADD_TEST(invariants, noise_statistics_follow_the_adc_model);
  ASIM_ADD_SUITE(validation);
  ASIM_ADD_TEST(validation, bad_parameters_are_rejected_with_clear_errors);
}
