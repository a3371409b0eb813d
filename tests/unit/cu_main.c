/* Shared main() for the CUnit test executables: each test file defines asim_register_tests()
 * adding its suites; this runs them and turns failures into a non-zero exit code (CUnit's
 * basic runner does not). */
#include <CUnit/Basic.h>
#include <mpi.h>
#include <stdio.h>

#include "cu_util.h"

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  if (CU_initialize_registry() != CUE_SUCCESS) return 2;
  asim_register_tests();
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failures = CU_get_number_of_failures();
  unsigned run = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  MPI_Finalize();
  if (run == 0) {
    fprintf(stderr, "no tests ran\n");
    return 2;
  }
  return failures != 0;
}
