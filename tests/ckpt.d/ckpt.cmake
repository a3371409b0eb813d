# Checkpoint I/O: the asim-convert command line on the fixtures of tests/data/pkl, and the
# (opt-in, ASIM_LARGE_TESTS=1) peak-memory check of loading a ViT-B/32-sized checkpoint.
add_test(NAME asim_convert_cli
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/scripts/asim_convert.sh $<TARGET_FILE:asim-convert>
          ${CMAKE_SOURCE_DIR}/tests/data/pkl ${golden})
set_tests_properties(asim_convert_cli PROPERTIES TIMEOUT 300)

add_test(NAME ckpt_vit_b32_peak_rss
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/scripts/ckpt_peak_rss.sh $<TARGET_FILE:asim-convert>)
set_tests_properties(ckpt_vit_b32_peak_rss PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77)
