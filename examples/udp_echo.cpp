// udp_echo: a UDP echo server, callback style. Each datagram goes back to
// whoever sent it: write(data) without an address answers the last sender.
//
//   build-release/examples/udp_echo &   then   nc -u localhost 4000
#include <pants/pants.hpp>

#include <cstdio>

class UdpEcho : public pants::Datagram {
    void on_read(std::string_view data, const pants::Address&) override { write(data); }
    void on_read_error(std::error_code e) override {
        // A truncated datagram or an ICMP report: this one is lost, go on.
        std::fprintf(stderr, "udp_echo: %s\n", e.message().c_str());
    }
};

int main() {
    UdpEcho echo;
    if (auto r = echo.listen(pants::Address::ipv4_any(4000)); !r) {
        std::fprintf(stderr, "udp_echo: listen: %s\n", r.error().message().c_str());
        return 1;
    }
    pants::Engine::instance().start();
}
