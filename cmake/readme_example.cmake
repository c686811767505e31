# ctest -P script: README.md's C example (its first ```c block) must be EXAMPLE's code from
# its first #include on, so the README shows what the tests and CI build and run.
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(FIND "${readme}" "\n```c\n" begin)
if(begin EQUAL -1)
  message(FATAL_ERROR "${README} has no ```c block")
endif()
math(EXPR begin "${begin} + 6")
string(SUBSTRING "${readme}" ${begin} -1 rest)
string(FIND "${rest}" "\n```\n" end)
math(EXPR end "${end} + 1")
string(SUBSTRING "${rest}" 0 ${end} shown)
string(FIND "${example}" "#include" code_begin)
string(SUBSTRING "${example}" ${code_begin} -1 code)
if(NOT shown STREQUAL code)
  message(FATAL_ERROR "${README}'s C example differs from ${EXAMPLE}: copy the file's code, "
                      "from its first #include, into the README")
endif()
