// bench/peers/asio_echo.cpp: a Boost.Asio echo server with C++20 coroutines,
// written as Asio's own examples write it (one awaitable per connection:
// async_read_some, then async_write of what came), one io_context on one
// thread.
//
// Built twice by bench/peers/build.sh: with Asio's default reactor (epoll),
// and with BOOST_ASIO_HAS_IO_URING + BOOST_ASIO_DISABLE_EPOLL for its io_uring
// backend (Boost >= 1.78 only; Debian 12's Boost 1.74 has none).
//
//   asio_echo [PORT]      (default 4000; listens on 127.0.0.1)
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>

#include <cstdlib>

namespace asio = boost::asio;
using asio::ip::tcp;

static asio::awaitable<void> echo(tcp::socket socket) {
    char data[16384];
    try {
        for (;;) {
            std::size_t n = co_await socket.async_read_some(asio::buffer(data), asio::use_awaitable);
            co_await asio::async_write(socket, asio::buffer(data, n), asio::use_awaitable);
        }
    } catch (const std::exception&) {
        // The peer closed or reset: the connection ends.
    }
}

static asio::awaitable<void> listener(unsigned short port) {
    auto executor = co_await asio::this_coro::executor;
    tcp::acceptor acceptor(executor, {asio::ip::address_v4::loopback(), port});
    for (;;) {
        tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
        socket.set_option(tcp::no_delay(true));
        asio::co_spawn(executor, echo(std::move(socket)), asio::detached);
    }
}

int main(int argc, char** argv) {
    const auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 4000);
    asio::io_context io(1);
    asio::co_spawn(io, listener(port), asio::detached);
    io.run();
}
