/* Helpers shared by the CUnit test files. */
#ifndef ASIM_CU_UTIL_H
#define ASIM_CU_UTIL_H
#include <CUnit/CUnit.h>
#include <stdio.h>

#include "asim/error.h"

void asim_register_tests(void);

/* Asserts an asim call succeeded, printing the error chain if not. */
#define CU_ASSERT_OK(call)                                                                   \
  do {                                                                                       \
    asim_status cu_s_ = (call);                                                              \
    if (cu_s_ != ASIM_OK) fprintf(stderr, "\n%s\n", asim_errmsg());                          \
    CU_ASSERT_EQUAL_FATAL(cu_s_, ASIM_OK);                                                   \
  } while (0)

#define ASIM_ADD_SUITE(name) CU_pSuite name##_suite = CU_add_suite(#name, NULL, NULL)
#define ASIM_ADD_TEST(suite, fn) CU_add_test(suite##_suite, #fn, fn)
#endif
