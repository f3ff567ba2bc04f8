// The epoll backend's hot path (issue 14, epoll instructions): a send is
// made in submit() and its result delivered by a later turn without an
// epoll_wait; stream receives run in one pass over the events. These cases
// drive the backend directly (an Operation, as the channels use it) on an
// engine built on epoll, so both suite runs test the epoll backend.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "net_helpers.hpp"
#include "watchdog.hpp"

namespace {

using namespace std::chrono_literals;
using pants::detail::Completion;
using pants::detail::OpKind;
using pants::detail::Operation;

pants::Engine::Options epoll_options(unsigned buffer_size = 16384) {
    pants::Engine::Options o;
    o.backend = pants::BackendKind::epoll;
    o.buffer_size = buffer_size;
    return o;
}

// A connected TCP pair on loopback, both ends non-blocking.
struct TcpPair {
    int a = -1, b = -1;
    TcpPair() {
        int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(listener >= 0);
        pants::Address any = test::loopback();
        REQUIRE(::bind(listener, any.data(), any.size()) == 0);
        REQUIRE(::listen(listener, 1) == 0);
        sockaddr_storage bound{};
        socklen_t len = sizeof bound;
        REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &len) == 0);
        test::RawPeer client = test::RawPeer::connect_to(pants::Address::from_sockaddr(reinterpret_cast<sockaddr*>(&bound), len));
        a = std::exchange(client.fd, -1);  // non-blocking already
        b = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        REQUIRE(b >= 0);
        ::close(listener);
    }
    ~TcpPair() {
        if (a >= 0) ::close(a);
        if (b >= 0) ::close(b);
    }
    // Everything readable on b now.
    std::string drain_b() {
        std::string got;
        char buf[65536];
        for (ssize_t n; (n = ::recv(b, buf, sizeof buf, MSG_DONTWAIT)) > 0;) got.append(buf, std::size_t(n));
        return got;
    }
};

// One send Operation over a string, recording its completions.
struct Send : Operation {
    std::string bytes;
    iovec iov{};
    msghdr msg{};
    std::vector<int> results;
    Send(int fd, std::string data) : Operation(&Send::done), bytes(std::move(data)) {
        kind = OpKind::send;
        this->fd = fd;
        iov = {bytes.data(), bytes.size()};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        Operation::msg = &msg;
    }
    static void done(Operation& op, const Completion& c) { static_cast<Send&>(op).results.push_back(c.result); }
};

// A multishot stream receive that appends what it gets.
struct Receive : Operation {
    std::string got;
    int chunks = 0;
    bool ended = false;
    explicit Receive(int fd) : Operation(&Receive::done) {
        kind = OpKind::receive;
        this->fd = fd;
    }
    static void done(Operation& op, const Completion& c) {
        auto& r = static_cast<Receive&>(op);
        if (c.more) {
            r.got.append(c.data, std::size_t(c.result));
            ++r.chunks;
        } else {
            r.ended = true;
        }
    }
};

}  // namespace

TEST_CASE("a send made at submit completes on a later turn with its bytes on the wire") {
    pants::Engine engine(epoll_options());
    TcpPair pair;
    Send send(pair.a, "hello, hot path");
    engine.backend().submit(send);
    CHECK(send.results.empty());  // never inside submit()
    test::run_until(engine, [&] { return !send.results.empty(); });
    REQUIRE(send.results.size() == 1);
    CHECK(send.results[0] == int(send.bytes.size()));
    std::string got;
    test::run_until(engine, [&] {
        got += pair.drain_b();
        return got.size() >= send.bytes.size();
    });
    CHECK(got == send.bytes);
    CHECK(engine.backend().in_flight() == 0);
}

TEST_CASE("a finished send is delivered by a turn that would otherwise block") {
    pants::Engine engine(epoll_options());
    TcpPair pair;
    Send send(pair.a, "x");
    engine.backend().submit(send);
    test::Watchdog watchdog(engine, 10s);
    engine.poll(std::chrono::hours(1));  // nothing else will ever happen
    CHECK(!watchdog.fired());
    CHECK(send.results == std::vector<int>{1});
}

TEST_CASE("a send behind a parked one waits its turn, and the bytes keep their order") {
    pants::Engine engine(epoll_options());
    TcpPair pair;
    // The first fills the socket (a partial write), the second finds it
    // full and parks, the third parks behind it.
    Send big(pair.a, test::pattern(8 << 20, 1));
    Send second(pair.a, test::pattern(300000, 2));
    Send third(pair.a, "the end");
    engine.backend().submit(big);
    engine.backend().submit(second);
    engine.backend().submit(third);
    std::string got;
    test::run_until(engine, [&] {
        got += pair.drain_b();
        return !third.results.empty();
    });
    REQUIRE(big.results.size() == 1);
    REQUIRE(second.results.size() == 1);
    REQUIRE(third.results.size() == 1);
    REQUIRE(big.results[0] > 0);
    REQUIRE(big.results[0] < int(big.bytes.size()));  // else nothing parked
    REQUIRE(second.results[0] > 0);
    REQUIRE(third.results[0] > 0);
    const std::string expected = big.bytes.substr(0, std::size_t(big.results[0])) +
                                 second.bytes.substr(0, std::size_t(second.results[0])) +
                                 third.bytes.substr(0, std::size_t(third.results[0]));
    test::run_until(engine, [&] {
        got += pair.drain_b();
        return got.size() >= expected.size();
    });
    CHECK(got == expected);
}

TEST_CASE("a peer that resets while a send is parked fails the send, without SIGPIPE") {
    pants::Engine engine(epoll_options());
    TcpPair pair;
    Send big(pair.a, test::pattern(8 << 20, 3));
    Send parked(pair.a, test::pattern(100000, 4));
    engine.backend().submit(big);
    engine.backend().submit(parked);
    test::run_until(engine, [&] { return !big.results.empty(); });
    REQUIRE(big.results[0] < int(big.bytes.size()));  // the socket is full: `parked` waits
    CHECK(parked.results.empty());
    linger lg{1, 0};
    ::setsockopt(pair.b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(std::exchange(pair.b, -1));  // RST
    test::run_until(engine, [&] { return !parked.results.empty(); });
    REQUIRE(parked.results.size() == 1);
    CHECK((parked.results[0] == -ECONNRESET || parked.results[0] == -EPIPE));
    // The next send, made at submit on the dead socket, fails as well.
    Send after(pair.a, "more");
    engine.backend().submit(after);
    CHECK(after.results.empty());
    test::run_until(engine, [&] { return !after.results.empty(); });
    CHECK(after.results[0] < 0);
}

TEST_CASE("cancelling a send already made delivers its real result") {
    pants::Engine engine(epoll_options());
    TcpPair pair;
    Send send(pair.a, "already gone");
    engine.backend().submit(send);
    engine.backend().cancel(send);  // the bytes left in submit(): too late
    test::run_until(engine, [&] { return !send.results.empty(); });
    CHECK(send.results == std::vector<int>{int(send.bytes.size())});
    CHECK(pair.drain_b() == send.bytes);
}

TEST_CASE("a receive gets a backlog larger than one turn's budget whole and in order") {
    // 1 KiB buffers: the backlog needs far more receives than one fd may
    // make per turn, so it spans turns.
    pants::Engine engine(epoll_options(1024));
    TcpPair pair;
    const std::string sent = test::pattern(200000, 5);
    std::size_t off = 0;
    while (off < sent.size()) {
        ssize_t n = ::send(pair.b, sent.data() + off, sent.size() - off, MSG_NOSIGNAL);
        REQUIRE(n > 0);
        off += std::size_t(n);
        if (off >= 100000) break;  // the rest once the receive runs
    }
    Receive receive(pair.a);
    engine.backend().submit(receive);
    int turns = 0;
    test::run_until(engine, [&] {
        ++turns;
        CHECK(engine.backend().buffers_lent() == 0);  // each went back when its handler returned
        if (off < sent.size()) {
            ssize_t n = ::send(pair.b, sent.data() + off, sent.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) off += std::size_t(n);
        }
        return receive.got.size() >= sent.size();
    });
    CHECK(receive.got == sent);
    CHECK(receive.chunks >= int(sent.size() / 1024));
    CHECK(turns > 2);
    // The end of the stream ends the receive.
    ::shutdown(pair.b, SHUT_WR);
    test::run_until(engine, [&] { return receive.ended; });
    CHECK(receive.got == sent);
}

TEST_CASE("bytes and the end of the stream that arrive together are all delivered") {
    // The peer writes and closes before the receive is armed: one edge
    // for both. A short read must not be taken for an empty socket.
    pants::Engine engine(epoll_options());
    TcpPair pair;
    REQUIRE(::send(pair.b, "last words", 10, MSG_NOSIGNAL) == 10);
    ::shutdown(pair.b, SHUT_WR);
    Receive receive(pair.a);
    engine.backend().submit(receive);
    test::run_until(engine, [&] { return receive.ended; });
    CHECK(receive.got == "last words");
}

TEST_CASE("a receive that found no free buffer in a nested turn runs once the buffer comes back") {
    // One receive buffer. The first receive's handler holds it while it
    // runs a turn of its own, in which a second socket's bytes find no
    // buffer; they came before the receive was armed, so no later edge
    // will bring them: the end of the outer turn must wake that receive.
    pants::Engine::Options options = epoll_options();
    options.buffer_count = 1;
    pants::Engine engine(options);
    TcpPair first, second;
    REQUIRE(::send(first.b, "outer", 5, MSG_NOSIGNAL) == 5);
    REQUIRE(::send(second.b, "starved", 7, MSG_NOSIGNAL) == 7);
    Receive starved(second.a);
    bool nested = false;
    struct Nesting : Receive {
        std::function<void()> on_first;
        explicit Nesting(int fd) : Receive(fd) { handler = &Nesting::done; }
        static void done(Operation& op, const Completion& c) {
            auto& self = static_cast<Nesting&>(op);
            Receive::done(op, c);
            if (self.chunks == 1 && c.more) self.on_first();
        }
    } outer(first.a);
    outer.on_first = [&] {
        engine.backend().submit(starved);
        engine.poll(std::chrono::milliseconds(0));  // a nested turn, our buffer still lent
        engine.poll(std::chrono::milliseconds(0));
        nested = true;
        CHECK(starved.got.empty());  // no buffer for it: it waits
    };
    engine.backend().submit(outer);
    test::run_until(engine, [&] { return starved.got == "starved"; });
    CHECK(nested);
    CHECK(outer.got == "outer");
    CHECK(engine.backend().buffers_lent() == 0);
}
