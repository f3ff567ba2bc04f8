// echo_coro: the same echo server, written as a coroutine per connection.
//
//   build-release/examples/echo_coro &   then   telnet localhost 4000
#include <pants/pants.hpp>

pants::Task<> echo(pants::Stream& s) {
    while (auto data = co_await s.read()) co_await s.write(*data);
}

int main() {
    pants::Server server(echo);
    server.listen(4000);
    pants::Engine::instance().start();
}
