# Test registration. Every tests/unit/test_*.c is a CUnit executable (one per module, named
# after the behaviour it pins down) and runs under ctest; scripts in tests/scripts run the
# command-line tools on reference cases.

if(ASIM_GOLDEN_DIR)
  set(golden ${ASIM_GOLDEN_DIR})
elseif(EXISTS ${CMAKE_SOURCE_DIR}/../shared/golden/README.md)
  get_filename_component(golden ${CMAKE_SOURCE_DIR}/../shared/golden ABSOLUTE)
else()
  set(golden ${CMAKE_SOURCE_DIR}/tests/golden)
endif()
message(STATUS "asim: reference cases in ${golden}")

# Environment of every test: one BLAS thread per process, MPI as root, and under the
# sanitizers Open MPI's own lifetime allocations suppressed (plugins kept loaded so the
# suppressions can match their frames).
set(ASIM_TEST_ENV "OPENBLAS_NUM_THREADS=1" "OMPI_ALLOW_RUN_AS_ROOT=1" "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
    "OMPI_MCA_mca_base_component_disable_dlclose=1"
    "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
    "ASAN_OPTIONS=fast_unwind_on_malloc=0:detect_stack_use_after_return=1"
    "ASIM_SOURCE_DIR=${CMAKE_SOURCE_DIR}")

file(GLOB ASIM_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${ASIM_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} ${CMAKE_SOURCE_DIR}/tests/unit/cu_main.c)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests/unit)
  target_compile_definitions(${name} PRIVATE
    ASIM_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data" ASIM_GOLDEN="${golden}")
  target_link_libraries(${name} PRIVATE asim PkgConfig::CUNIT)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 600 ENVIRONMENT "${ASIM_TEST_ENV}")
endforeach()

# Every layer case of the reference folder, discovered when the test runs.
add_test(NAME golden_layer_cases
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/scripts/golden_layers.sh $<TARGET_FILE:asim-layer> ${golden})
set_tests_properties(golden_layer_cases PROPERTIES TIMEOUT 900 ENVIRONMENT "${ASIM_TEST_ENV}")

add_test(NAME asim_layer_rejects_bad_input
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/scripts/asim_layer_bad_input.sh $<TARGET_FILE:asim-layer> ${golden})
set_tests_properties(asim_layer_rejects_bad_input PROPERTIES TIMEOUT 300 ENVIRONMENT "${ASIM_TEST_ENV}")

file(GLOB ASIM_TEST_CMAKE CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/*.d/*.cmake)
foreach(f ${ASIM_TEST_CMAKE})
  include(${f})
endforeach()
