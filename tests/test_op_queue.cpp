// Tests for detail::OpQueue (runtime/op_queue.hpp), the epoll backend's
// FIFO of parked and finished operations, kept as a ring through one tail
// pointer: order, removal from every position, and re-use after removal.
#include "runtime/op_queue.hpp"

#include <vector>

#include <doctest/doctest.h>

using pants::detail::OpQueue;
using pants::detail::Operation;

namespace {

void no_handler(Operation&, const pants::detail::Completion&) {}

// The queue front to back, through front() and after().
std::vector<const Operation*> contents(const OpQueue& q) {
    std::vector<const Operation*> out;
    for (const Operation* op = q.front(); op; op = q.after(*op)) out.push_back(op);
    return out;
}

}  // namespace

TEST_CASE("operations come out in the order they were pushed") {
    Operation a(no_handler), b(no_handler), c(no_handler);
    OpQueue q;
    CHECK(q.empty());
    CHECK(q.front() == nullptr);
    CHECK(q.pop() == nullptr);
    q.push(a);
    q.push(b);
    q.push(c);
    CHECK(contents(q) == std::vector<const Operation*>{&a, &b, &c});
    CHECK(q.after(c) == nullptr);
    CHECK(q.pop() == &a);
    CHECK(a.next == nullptr);
    q.push(a);  // a popped operation queues again, at the back
    CHECK(contents(q) == std::vector<const Operation*>{&b, &c, &a});
    CHECK(q.pop() == &b);
    CHECK(q.pop() == &c);
    CHECK(q.pop() == &a);
    CHECK(q.empty());
    CHECK(q.pop() == nullptr);
}

TEST_CASE("remove takes an operation out of any position, and reports one not queued") {
    Operation a(no_handler), b(no_handler), c(no_handler), d(no_handler);
    auto filled = [&](OpQueue& q) {
        q.push(a);
        q.push(b);
        q.push(c);
    };

    SUBCASE("the only one") {
        OpQueue q;
        q.push(a);
        CHECK(q.remove(a));
        CHECK(q.empty());
        CHECK(a.next == nullptr);
    }
    SUBCASE("the first") {
        OpQueue q;
        filled(q);
        CHECK(q.remove(a));
        CHECK(contents(q) == std::vector<const Operation*>{&b, &c});
    }
    SUBCASE("the middle") {
        OpQueue q;
        filled(q);
        CHECK(q.remove(b));
        CHECK(contents(q) == std::vector<const Operation*>{&a, &c});
    }
    SUBCASE("the last, then a push goes behind the new last") {
        OpQueue q;
        filled(q);
        CHECK(q.remove(c));
        CHECK(contents(q) == std::vector<const Operation*>{&a, &b});
        q.push(d);
        CHECK(contents(q) == std::vector<const Operation*>{&a, &b, &d});
    }
    SUBCASE("one not queued here") {
        OpQueue q, other;
        CHECK_FALSE(q.remove(a));
        filled(q);
        other.push(d);
        CHECK_FALSE(q.remove(d));
        CHECK(contents(q) == std::vector<const Operation*>{&a, &b, &c});
        CHECK(contents(other) == std::vector<const Operation*>{&d});
    }
}
