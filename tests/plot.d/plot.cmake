# tools/asim-plot on synthetic reports in the documented schemas (skipped without matplotlib).
add_test(NAME asim_plot COMMAND bash ${CMAKE_SOURCE_DIR}/tests/plot.d/plot.sh)
set_tests_properties(asim_plot PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT "${ASIM_TEST_ENV}")
