# Dataset tests that need mpirun: asim-prep gives the same file for any rank count, and an
# error on one rank stops all ranks.
if(TARGET asim-prep)
  add_test(NAME asim_prep_ranks_agree
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/prep_ranks_agree.sh $<TARGET_FILE:asim-prep> ${MPIEXEC_EXECUTABLE})
  add_test(NAME asim_prep_error_stops_all_ranks
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/prep_error_all_ranks.sh $<TARGET_FILE:asim-prep> ${MPIEXEC_EXECUTABLE})
  set_tests_properties(asim_prep_ranks_agree asim_prep_error_stops_all_ranks PROPERTIES
    TIMEOUT 300 PROCESSORS 3 SKIP_RETURN_CODE 77
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1")
endif()
