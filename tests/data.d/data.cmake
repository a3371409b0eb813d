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

# Under ASan, Open MPI's start-up allocations (kept until exit) would fail every test that calls
# MPI_Init; suppress exactly those (lsan-mpi.supp) for the dataset tests. Full unwinding lets
# the suppressions see the MPI frames; keeping MCA plugins loaded keeps them named.
if(ASIM_SANITIZE)
  set(asim_lsan_env
    "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_LIST_DIR}/lsan-mpi.supp:print_suppressions=0:fast_unwind_on_malloc=0"
    "OMPI_MCA_mca_base_component_disable_dlclose=1")
  foreach(t test_resize_matches_pillow test_image_decode_matches_pil test_dataset_formats
            test_dataset_errors test_fashion_mnist_reference test_transform_matches_torchvision
            asim_prep_ranks_agree
            asim_prep_error_stops_all_ranks)
    if(TEST ${t})
      set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT ${asim_lsan_env})
    endif()
  endforeach()
endif()
