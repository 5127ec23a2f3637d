# Runs one command and checks its exit code and output, for CTest.
#   cmake -DETLD=<binary> -DARGS=<args separated by '|'> -DEXPECT_CODE=<n>
#         -DEXPECT_FILE=<file of regular expressions, one per line> -P check_run.cmake
# Every expression must match somewhere in stdout + stderr.
string(REPLACE "|" ";" args "${ARGS}")
execute_process(COMMAND ${ETLD} ${args} RESULT_VARIABLE code OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
set(all "${out}${err}")
message("${all}")
if(NOT code EQUAL EXPECT_CODE)
  message(FATAL_ERROR "exit code ${code}, expected ${EXPECT_CODE}")
endif()
file(STRINGS "${EXPECT_FILE}" expressions)
foreach(re IN LISTS expressions)
  if(NOT all MATCHES "${re}")
    message(FATAL_ERROR "output does not match: ${re}")
  endif()
endforeach()
