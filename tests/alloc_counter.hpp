// tests/alloc_counter.hpp: counts every operator new of the test program,
// for tests that check a path allocates nothing. Include it from exactly
// one file of a test executable (it replaces the global operator new).
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

// The replacements below pair operator new with malloc and delete with
// free, which is correct; GCC 12 still flags the pairs it inlines into the
// including file in sanitizer builds.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace test {
/// Calls of operator new so far.
inline std::atomic<long> allocations{0};
}  // namespace test

void* operator new(std::size_t n) {
    ++test::allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
