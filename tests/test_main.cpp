// The doctest runner shared by every suite. A suite asked to run on
// io_uring (PANTS_BACKEND=io_uring) on a machine where io_uring cannot be
// set up (seccomp, kernel.io_uring_disabled, an old kernel) reports itself
// skipped (exit 77, meson's skip code) with the reason, instead of failing
// every case; the epoll run of the same suite still runs. ./test.sh counts
// such skips and fails on them under CI=true (tests/skip.hpp for the cases
// skipped one by one).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <pants/engine.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "skip.hpp"

namespace {

std::string current_case;                // name of the running test case
std::vector<std::string> skipped_cases;  // "name: reason"

bool env_is(const char* name, std::string_view value) {
    const char* v = std::getenv(name);
    return v && std::string_view(v) == value;
}

// Listens only to learn which test case runs, for the skip report.
struct CurrentCase : doctest::IReporter {
    explicit CurrentCase(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData& tc) override { current_case = tc.m_name; }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("pants-current-case", 1, CurrentCase);

}  // namespace

namespace test {

bool require_all() { return env_is("CI", "true") || env_is("PANTS_REQUIRE_ALL", "1"); }

void skip_case(const char* file, int line, const std::string& reason) {
    if (require_all())
        ADD_FAIL_AT(file, line,
                    "precondition missing: " << reason << " (CI=true or PANTS_REQUIRE_ALL=1: every test case must run)");
    ADD_MESSAGE_AT(file, line, "SKIPPED: " << reason);
    skipped_cases.push_back(current_case + ": " + reason);
}

}  // namespace test

int main(int argc, char** argv) {
    if (env_is("PANTS_BACKEND", "io_uring")) {
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
    int rc = context.run();
    if (context.shouldExit()) return rc;
    // Always printed, so that ./test.sh can add the skips up from meson's log.
    std::printf("pants-skipped-cases: %zu\n", skipped_cases.size());
    for (const auto& s : skipped_cases) std::printf("  skipped: %s\n", s.c_str());
    return rc;
}
