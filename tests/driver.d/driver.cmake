# The MPI driver under mpirun: results identical for any rank count in every dataset format,
# kill-and-resume, the catalogue of bad inputs, sweeps and the per-layer diagnostics; the shipped
# models: a sweep of them, and their accuracy table's claims (issue 5).
foreach(t rank_identity kill_resume bad_inputs sweep diagnostics)
  add_test(NAME driver_${t} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/driver.d/${t}.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(driver_${t} PROPERTIES TIMEOUT 1800 PROCESSORS 2 ENVIRONMENT "${ASIM_TEST_ENV}")
endforeach()
foreach(t sweep_shipped_model shipped_models_accuracy)
  add_test(NAME driver_${t} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/driver.d/${t}.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(driver_${t} PROPERTIES TIMEOUT 1800 PROCESSORS 2 SKIP_RETURN_CODE 77
    ENVIRONMENT "${ASIM_TEST_ENV}")
endforeach()
