// Client::connect over TLS (the `tls` feature): start_tls, then connect.
#include <pants/client.hpp>
#include <pants/tls.hpp>

namespace pants {

Stream::ConnectAwaiter Client::connect(std::string_view host, std::uint16_t port, const tls::Context& context) {
    if (auto started = start_tls(context, host); !started) return ConnectAwaiter(io(), started);
    return connect(host, port);
}

}  // namespace pants
