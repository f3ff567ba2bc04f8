// Tests for detail::Fifo (net/fifo.hpp), the queue a datagram channel's
// output waits in: it must behave as a std::deque used as a FIFO (front,
// index, take from the middle, pop at either end) through any mix of
// pushes and pops, including those that reuse the space before the head.
#include "net/fifo.hpp"

#include <deque>
#include <memory>
#include <random>

#include <doctest/doctest.h>

using pants::detail::Fifo;

namespace {

// Every element of `fifo` equals the model's, in order.
void check_same(const Fifo<std::unique_ptr<int>>& fifo, const std::deque<int>& model) {
    REQUIRE(fifo.size() == model.size());
    REQUIRE(fifo.empty() == model.empty());
    for (std::size_t i = 0; i < model.size(); ++i) REQUIRE(*fifo[i] == model[i]);
}

}  // namespace

TEST_CASE("pushes and pops keep first-in first-out order") {
    Fifo<std::unique_ptr<int>> fifo;
    for (int i = 0; i < 5; ++i) fifo.push_back(std::make_unique<int>(i));
    CHECK(*fifo.pop_front() == 0);
    CHECK(*fifo.take(1) == 2);  // from the middle: those behind move up
    fifo.pop_back();            // 4
    REQUIRE(fifo.size() == 2);
    CHECK(*fifo.front() == 1);
    CHECK(*fifo[1] == 3);
    CHECK(*fifo.pop_front() == 1);
    CHECK(*fifo.pop_front() == 3);
    CHECK(fifo.empty());
}

TEST_CASE("a random mix of operations matches a std::deque (seeded)") {
    for (unsigned seed = 1; seed <= 20; ++seed) {
        CAPTURE(seed);
        std::mt19937 random(seed);
        Fifo<std::unique_ptr<int>> fifo;
        std::deque<int> model;
        int next = 0;
        for (int step = 0; step < 5000; ++step) {
            // More pushes than pops while short, the other way round when
            // long: the length wanders up and down, past the vector's size.
            const unsigned roll = random() % 100;
            const bool push = model.empty() || roll < (model.size() < 40 ? 60u : 40u);
            if (push) {
                fifo.push_back(std::make_unique<int>(next));
                model.push_back(next++);
            } else if (roll % 10 == 0) {
                const std::size_t i = random() % model.size();
                REQUIRE(*fifo.take(i) == model[i]);
                model.erase(model.begin() + std::ptrdiff_t(i));
            } else if (roll % 10 == 1) {
                fifo.pop_back();
                model.pop_back();
            } else {
                REQUIRE(*fifo.pop_front() == model.front());
                model.pop_front();
            }
            check_same(fifo, model);
        }
    }
}
