// Tests for detail::SharedRule (pants/detail/shared_rule.hpp), the
// one-pointer shared value behind a ReadDelimiter's rule: copies share one
// value, the value is destroyed once with its last copy (also when copies
// are dropped on several threads), and moved-from holders are empty.
#include <pants/detail/shared_rule.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using pants::detail::SharedRule;

namespace {

std::atomic<int> live{0};

struct Counted {
    explicit Counted(int v) : value(v) { ++live; }
    Counted(const Counted&) = delete;
    ~Counted() { --live; }
    int value;
};

}  // namespace

TEST_CASE("copies share one value, destroyed with the last copy") {
    {
        SharedRule a = SharedRule::make<Counted>(7);
        CHECK(live == 1);
        SharedRule b = a;
        SharedRule c;
        c = b;
        CHECK(live == 1);
        CHECK(b.get<Counted>() == a.get<Counted>());
        CHECK(c.get<Counted>()->value == 7);
        a = SharedRule();
        CHECK(live == 1);
        SharedRule& same = c;
        c = same;  // assigning a holder to itself keeps the value
        CHECK(c.get<Counted>()->value == 7);
    }
    CHECK(live == 0);
}

TEST_CASE("a moved-from holder is empty; assigning over one drops its old value") {
    SharedRule a = SharedRule::make<std::string>("a long delimiter");
    SharedRule b = std::move(a);
    CHECK_FALSE(a);
    CHECK(a.get<std::string>() == nullptr);
    REQUIRE(b);
    CHECK(*b.get<std::string>() == "a long delimiter");
    {
        SharedRule c = SharedRule::make<Counted>(1);
        c = SharedRule::make<Counted>(2);
        CHECK(live == 1);
        CHECK(c.get<Counted>()->value == 2);
    }
    CHECK(live == 0);
}

TEST_CASE("copies dropped on several threads destroy the value exactly once") {
    for (int round = 0; round < 50; ++round) {
        SharedRule original = SharedRule::make<Counted>(round);
        std::vector<SharedRule> copies(8, original);
        original = SharedRule();
        std::vector<std::thread> threads;
        for (auto& copy : copies)
            threads.emplace_back([held = std::move(copy)]() mutable {
                SharedRule again = held;  // one more count up and down
                held = SharedRule();
            });
        for (auto& t : threads) t.join();
        CHECK(live == 0);
    }
}
