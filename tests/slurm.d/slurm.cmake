# The sbatch scripts of jobs/ on a real one-node SLURM cluster started by the test itself
# (Debian's slurmctld/slurmd, installed with apt-get when missing; needs root).
add_test(NAME slurm_jobs COMMAND bash ${CMAKE_SOURCE_DIR}/tests/slurm.d/slurm_jobs.sh ${CMAKE_BINARY_DIR})
set_tests_properties(slurm_jobs PROPERTIES TIMEOUT 600 PROCESSORS 2 ENVIRONMENT "${ASIM_TEST_ENV}")
