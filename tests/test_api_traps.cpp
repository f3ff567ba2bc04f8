// API traps a Pants user hits (issue 10): callbacks overridden in a private
// section, visiting connections without allocating, reaching the user's
// server class from a connection, write_file's named range, and cycle()
// with an interval that is not positive.
#include "net_helpers.hpp"

#include <stdexcept>

#include "alloc_counter.hpp"  // counts allocations around for_each_connection

using namespace std::chrono_literals;
using test::run_until;

namespace {

class ChatServer;

// Every callback overridden in the default private: section of a class, as
// the README's `class Echo : public pants::Connection { ... }` does: the
// server must call each through the base class for this to compile.
class Member : public pants::Connection {
    void on_connect() override;
    void on_read(std::string_view data) override;
    void on_write() override {}
    void on_close() override;
    void on_connect_error(std::error_code) override {}
    void on_read_error(std::error_code) override {}
    void on_write_error(std::error_code) override {}
    void on_overflow_error(std::error_code) override {}
    void on_error(std::error_code) override {}
};

class ChatServer : public pants::Server<Member> {
public:
    using pants::Server<Member>::Server;
    int joined = 0;
    int left = 0;
    long allocations_in_broadcast = -1;

    void broadcast(std::string_view line) {
        const long before = test::allocations.load();
        for_each_connection([&](Member& m) { m.write(line); });
        allocations_in_broadcast = test::allocations.load() - before;
    }

private:
    void on_listen() override {}
    void on_accept(pants::Stream&) override { ++joined; }
    void on_close() override {}
    void on_error(std::error_code) override {}
};

void Member::on_connect() {
    ChatServer* chat = server<ChatServer>();  // no cast in user code
    REQUIRE(chat);
    CHECK(server<pants::Server<Member>>() == chat);
    struct Other : pants::ServerBase {
        using ServerBase::ServerBase;
        void adopt(int) override {}
    };
    CHECK(server<Other>() == nullptr);  // not that kind of server: checked, not assumed
}

void Member::on_read(std::string_view data) { server<ChatServer>()->broadcast(data); }

void Member::on_close() {
    if (auto* chat = server<ChatServer>()) ++chat->left;
}

}  // namespace

TEST_CASE("callbacks overridden privately are called; broadcast visits every connection without allocating") {
    pants::Engine engine;
    ChatServer chat(engine);
    REQUIRE(chat.listen(test::loopback()));
    const auto at = *chat.local_address();
    auto a = test::RawPeer::connect_to(at);
    auto b = test::RawPeer::connect_to(at);
    auto c = test::RawPeer::connect_to(at);
    run_until(engine, [&] { return chat.joined == 3; });
    // Warm up twice: the output blocks go to the engine's pool, and both of
    // the engine's flush lists (it swaps them each turn) grow to three.
    std::string got_a, got_b, got_c;
    for (std::size_t warm = 1; warm <= 2; ++warm) {
        a.send("warm\n");
        run_until(engine, [&] {
            a.drain(got_a), b.drain(got_b), c.drain(got_c);
            return got_c.size() == 5 * warm && got_b.size() == 5 * warm && got_a.size() == 5 * warm;
        });
    }
    b.send("hi all\n");
    run_until(engine, [&] {
        a.drain(got_a), b.drain(got_b), c.drain(got_c);
        return got_a == "warm\nwarm\nhi all\n" && got_b == got_a && got_c == got_a;
    });
    CHECK(chat.allocations_in_broadcast == 0);
    int visited = 0;
    chat.for_each_connection([&](Member&) { ++visited; });
    CHECK(visited == 3);
    a.reset();
    run_until(engine, [&] { return chat.left == 1; });
    visited = 0;
    chat.ServerBase::for_each_connection([&](pants::Stream&) { ++visited; });
    CHECK(visited == 2);
}

TEST_CASE("a connection made outside a server has no server of any kind") {
    struct Lone : pants::Connection {};
    Lone lone;  // on the default engine
    CHECK(lone.server() == nullptr);
    CHECK(lone.server<ChatServer>() == nullptr);
}

// --- write_file's range --------------------------------------------------------

namespace {

struct SliceSender : pants::Connection {
    static inline int fd = -1;
    void on_connect() override {
        REQUIRE(write_file(fd, {.offset = 10, .size = 5}));  // named: cannot be swapped
        REQUIRE(write_file(fd, {.offset = 20}));             // to the end of the file
        end();
    }
};

}  // namespace

TEST_CASE("write_file sends the named range of a file") {
    pants::Engine engine;
    test::TempDir dir("pants-write-file-range");
    std::string content;
    for (int i = 0; i < 26; ++i) content += char('a' + i);
    SliceSender::fd = ::open(dir.write("f", content).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(SliceSender::fd >= 0);
    pants::Server<SliceSender> server(engine);
    REQUIRE(server.listen(test::loopback()));
    auto peer = test::RawPeer::connect_to(*server.local_address());
    CHECK(test::read_to_end(engine, peer) == "klmnouvwxyz");
    ::close(SliceSender::fd);
}

// --- cycle ---------------------------------------------------------------------

TEST_CASE("cycle with a zero or negative interval is an error") {
    pants::Engine engine;
    int fired = 0;
    CHECK_THROWS_AS(engine.cycle(0ms, [&] { ++fired; }), std::invalid_argument);
    CHECK_THROWS_AS(engine.cycle(-5ms, [&] { ++fired; }), std::invalid_argument);
    CHECK_THROWS_AS(engine.cycle(std::chrono::hours::min(), [&] { ++fired; }), std::invalid_argument);
    CHECK(engine.pending_timers() == 0);  // nothing was registered
    pants::Timer ok = engine.cycle(1ns, [&] { ++fired; });
    run_until(engine, [&] { return fired >= 2; });
    ok.cancel();
}
