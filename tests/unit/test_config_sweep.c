/* The sweep group: parsed into keys and value texts, points enumerated with the last key
 * fastest, written back by asim_config_to_text, and bad sweeps refused with file:line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asim/config.h"
#include "cu_util.h"

static const char *write_tmp(const char *text) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/asim_sweep_%d.cfg", (int)getpid());
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return path;
}

static void sweep_points_enumerate_the_cartesian_product(void) {
  asim_config c;
  const char *p = write_tmp("asim_conv_mode = \"Simulation\";\n"
                            "sweep = { asim_conv_adc_prec = [4, 6, 8]; asim_conv_mode = [\"Simulation\", \"Inference\"];"
                            " repeats = 3; };\n");
  CU_ASSERT_OK(asim_config_load(&c, p, NULL, 0));
  CU_ASSERT_EQUAL(c.sweep.n_keys, 2);
  CU_ASSERT_EQUAL(c.sweep.repeats, 3);
  CU_ASSERT_EQUAL(asim_config_sweep_points(&c), 6);
  char a[ASIM_SWEEP_MAX_KEYS][128];
  CU_ASSERT_EQUAL(asim_config_sweep_point(&c, 0, a), 2);
  CU_ASSERT_STRING_EQUAL(a[0], "asim_conv_adc_prec=4");
  CU_ASSERT_STRING_EQUAL(a[1], "asim_conv_mode=\"Simulation\"");
  asim_config_sweep_point(&c, 5, a);
  CU_ASSERT_STRING_EQUAL(a[0], "asim_conv_adc_prec=8");
  CU_ASSERT_STRING_EQUAL(a[1], "asim_conv_mode=\"Inference\"");
  /* the point applies as a validated configuration */
  const char *as[2] = {a[0], a[1]};
  asim_config pc = c;
  CU_ASSERT_OK(asim_config_apply(&pc, as, 2, "point"));
  CU_ASSERT_EQUAL(pc.asim_conv_adc_prec, 8);
  CU_ASSERT_EQUAL(pc.asim_conv_mode, ASIM_INFERENCE);
  /* text round trip keeps the sweep */
  char *text;
  CU_ASSERT_OK(asim_config_to_text(&c, &text));
  asim_config back;
  CU_ASSERT_OK(asim_config_from_text(&back, text, "text"));
  CU_ASSERT_TRUE(asim_config_equal(&c, &back));
  free(text);
  unlink(p);
}

static void bad_sweeps_are_refused_with_their_line(void) {
  asim_config c;
  const char *p = write_tmp("task = \"CIFAR-10\";\nsweep = { asim_conv_adc_precc = [4, 6]; };\n");
  CU_ASSERT_EQUAL(asim_config_load(&c, p, NULL, 0), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), ":2: sweep.asim_conv_adc_precc"));
  asim_error_clear();
  p = write_tmp("sweep = {\n  asim_conv_adc_prec = 4;\n};\n");
  CU_ASSERT_EQUAL(asim_config_load(&c, p, NULL, 0), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "must be a list"));
  asim_error_clear();
  p = write_tmp("sweep = { repeats = 0; };\n");
  CU_ASSERT_EQUAL(asim_config_load(&c, p, NULL, 0), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "sweep.repeats"));
  asim_error_clear();
  unlink(p);
}

static void linked_keys_take_their_values_together(void) {
  asim_config c;
  const char *p = write_tmp("asim_conv_mode = \"Simulation\";\n"
                            "sweep = { asim_conv_adc_prec = [8, 6]; asim_conv_rand_noise_sigma = [0.25, 1.0];\n"
                            "  asim_linear_adc_prec = [8, 6]; asim_linear_rand_noise_sigma = [0.25, 1.0];\n"
                            "  link = ([\"asim_linear_adc_prec\", \"asim_conv_adc_prec\"],\n"
                            "          [\"asim_conv_rand_noise_sigma\", \"asim_linear_rand_noise_sigma\"]); };\n");
  CU_ASSERT_OK(asim_config_load(&c, p, NULL, 0));
  CU_ASSERT_EQUAL(asim_config_sweep_points(&c), 4); /* 2 ADC x 2 noise, not 16 */
  char a[ASIM_SWEEP_MAX_KEYS][128];
  asim_config_sweep_point(&c, 1, a); /* the noise axis is the faster one */
  CU_ASSERT_STRING_EQUAL(a[0], "asim_conv_adc_prec=8");
  CU_ASSERT_STRING_EQUAL(a[1], "asim_conv_rand_noise_sigma=1.0");
  CU_ASSERT_STRING_EQUAL(a[2], "asim_linear_adc_prec=8");
  CU_ASSERT_STRING_EQUAL(a[3], "asim_linear_rand_noise_sigma=1.0");
  asim_config_sweep_point(&c, 2, a);
  CU_ASSERT_STRING_EQUAL(a[0], "asim_conv_adc_prec=6");
  CU_ASSERT_STRING_EQUAL(a[1], "asim_conv_rand_noise_sigma=0.25");
  CU_ASSERT_STRING_EQUAL(a[2], "asim_linear_adc_prec=6");
  CU_ASSERT_STRING_EQUAL(a[3], "asim_linear_rand_noise_sigma=0.25");
  CU_ASSERT_EQUAL(asim_config_sweep_index(&c, 3, 2), 1);
  char *text; /* the links survive the text round trip */
  CU_ASSERT_OK(asim_config_to_text(&c, &text));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "link = ([\"asim_conv_adc_prec\", \"asim_linear_adc_prec\"]"));
  asim_config back;
  CU_ASSERT_OK(asim_config_from_text(&back, text, "text"));
  CU_ASSERT_TRUE(asim_config_equal(&c, &back));
  CU_ASSERT_EQUAL(asim_config_sweep_points(&back), 4);
  free(text);
  /* links that cannot work are refused with the line */
  p = write_tmp("sweep = { asim_conv_adc_prec = [8, 6];\n asim_linear_adc_prec = [8, 6, 4];\n"
                " link = [\"asim_conv_adc_prec\", \"asim_linear_adc_prec\"]; };\n");
  CU_ASSERT_EQUAL(asim_config_load(&c, p, NULL, 0), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), ":3: sweep.link: asim_linear_adc_prec has 3 values"));
  asim_error_clear();
  p = write_tmp("sweep = { asim_conv_adc_prec = [8, 6];\n link = [\"asim_conv_adc_prec\", \"asim_linear_adc_prec\"]; };\n");
  CU_ASSERT_EQUAL(asim_config_load(&c, p, NULL, 0), ASIM_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(asim_errmsg(), "\"asim_linear_adc_prec\" is not a key swept"));
  asim_error_clear();
  unlink(p);
}

void asim_register_tests(void) {
  ASIM_ADD_SUITE(config_sweep);
  ASIM_ADD_TEST(config_sweep, sweep_points_enumerate_the_cartesian_product);
  ASIM_ADD_TEST(config_sweep, bad_sweeps_are_refused_with_their_line);
  ASIM_ADD_TEST(config_sweep, linked_keys_take_their_values_together);
}
