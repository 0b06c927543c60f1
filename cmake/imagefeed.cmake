# Helpers that keep the per-module CMake files short.

# Warnings for our own code (generated code does not get them).
set(IMAGEFEED_WARNINGS -Wall -Wextra -Wshadow)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND IMAGEFEED_WARNINGS -Wthread-safety)
endif()
if(IMAGEFEED_WERROR)
  list(APPEND IMAGEFEED_WARNINGS -Werror)
endif()

# imagefeed_library(NAME SRCS a.cc b.cc DEPS x y)
# A static library whose include root is the repository root ("server/decode/jpeg_decoder.h").
function(imagefeed_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${IMAGEFEED_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# imagefeed_test(NAME SRCS a_test.cc DEPS lib LABELS unit [TIMEOUT s])
# One GoogleTest binary registered with ctest under its labels.
function(imagefeed_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${IMAGEFEED_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} imagefeed_test_support GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "IMAGEFEED_SHARED_DIR=${PROJECT_SOURCE_DIR}/../shared")
  if("unit" IN_LIST ARG_LABELS)
    set_property(GLOBAL APPEND PROPERTY IMAGEFEED_UNIT_TESTS ${name})
  endif()
  if("concurrency" IN_LIST ARG_LABELS)
    set_property(GLOBAL APPEND PROPERTY IMAGEFEED_CONCURRENCY_TESTS ${name})
  endif()
endfunction()

# Target `unit_tests` builds every unit-test binary and nothing else (the
# ASan phase of scripts/test.sh); `concurrency_tests` those labelled
# concurrency (the TSan phase). Call once, after all subdirectories.
function(imagefeed_unit_tests_target)
  get_property(tests GLOBAL PROPERTY IMAGEFEED_UNIT_TESTS)
  add_custom_target(unit_tests DEPENDS ${tests})
  get_property(concurrent GLOBAL PROPERTY IMAGEFEED_CONCURRENCY_TESTS)
  add_custom_target(concurrency_tests DEPENDS ${concurrent})
endfunction()
