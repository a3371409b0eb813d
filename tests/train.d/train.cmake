# Training tests that need mpirun and Fashion-MNIST (Debian package dataset-fashion-mnist; the
# tests skip with code 77 without it): a CI-sized training run whose loss falls and whose -n 2
# loss curve matches -n 1; resume equals an uninterrupted run; bad training input stops every
# rank with a clear message.
if(TARGET asim-train)
  set(asim_train_env "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1;OMPI_MCA_pml=ob1")
  add_test(NAME asim_train_ci_loss_falls_and_ranks_agree
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/train_ci.sh $<TARGET_FILE:asim-train> ${MPIEXEC_EXECUTABLE} ${CMAKE_SOURCE_DIR})
  add_test(NAME asim_train_resume_equals_uninterrupted
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/train_resume.sh $<TARGET_FILE:asim-train> ${MPIEXEC_EXECUTABLE} ${CMAKE_SOURCE_DIR})
  add_test(NAME asim_train_bad_input_stops_all_ranks
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/train_bad_input.sh $<TARGET_FILE:asim-train> ${MPIEXEC_EXECUTABLE} ${CMAKE_SOURCE_DIR} ${golden})
  set_tests_properties(asim_train_ci_loss_falls_and_ranks_agree asim_train_resume_equals_uninterrupted
    asim_train_bad_input_stops_all_ranks PROPERTIES
    TIMEOUT 900 PROCESSORS 2 SKIP_RETURN_CODE 77 ENVIRONMENT "${asim_train_env}")
  if(ASIM_SANITIZE)
    foreach(t asim_train_ci_loss_falls_and_ranks_agree asim_train_resume_equals_uninterrupted
              asim_train_bad_input_stops_all_ranks)
      set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
        "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/data.d/lsan-mpi.supp:print_suppressions=0:fast_unwind_on_malloc=0"
        "OMPI_MCA_mca_base_component_disable_dlclose=1")
    endforeach()
  endif()
endif()
