// tests/skip.hpp: a test case whose precondition this machine lacks.
//
// PANTS_SKIP("reason") ends the current test case. The skip is never
// silent: the runner (tests/test_main.cpp) counts and lists skipped cases
// at the end of the suite and prints `pants-skipped-cases: N`, which
// ./test.sh adds up. Where every case must run (CI=true, or
// PANTS_REQUIRE_ALL=1 anywhere), a skip is a failure instead.
// Create the precondition where you can; skip only where you cannot.
#pragma once

#include <string>

namespace test {

/// True under CI=true or PANTS_REQUIRE_ALL=1: a skipped case fails.
bool require_all();

/// Records that the current test case is skipped for `reason` (reported at
/// `file`:`line`); under require_all() fails it (throws doctest's failure,
/// ending the case).
void skip_case(const char* file, int line, const std::string& reason);

}  // namespace test

#define PANTS_SKIP(reason)                             \
    do {                                               \
        ::test::skip_case(__FILE__, __LINE__, reason); \
        return;                                        \
    } while (0)
