// The doctest runner shared by every suite. A suite asked to run on
// io_uring (PANTS_BACKEND=io_uring) on a machine where io_uring cannot be
// set up (seccomp, kernel.io_uring_disabled, an old kernel) reports itself
// skipped (exit 77, meson's skip code) with the reason, instead of failing
// every case; the epoll run of the same suite still runs.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <pants/engine.hpp>

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <system_error>

int main(int argc, char** argv) {
    const char* backend = std::getenv("PANTS_BACKEND");
    if (backend && std::string_view(backend) == "io_uring") {
        try {
            pants::Engine::Options options;
            options.backend = pants::BackendKind::io_uring;
            pants::Engine probe(options);
        } catch (const std::system_error& e) {
            std::fprintf(stderr, "SKIP: io_uring cannot be set up here (%s)\n", e.what());
            return 77;
        }
    }
    doctest::Context context(argc, argv);
    return context.run();
}
