// echo_coro: the same echo server, written as a coroutine per connection.
// Ctrl-C (or SIGTERM) shuts it down gracefully, as examples/echo.cpp.
//
//   build-release/examples/echo_coro &   then   telnet localhost 4000
#include <pants/pants.hpp>

#include <csignal>

pants::Task<> echo(pants::Stream& s) {
    while (auto data = co_await s.read()) co_await s.write(*data);
}

int main() {
    auto& engine = pants::Engine::instance();
    pants::Server server(echo);
    server.listen(4000);
    engine.run([&]() -> pants::Task<> {
        co_await engine.signal(SIGINT, SIGTERM);
        co_await server.shutdown(std::chrono::seconds(5));
    }());
}
