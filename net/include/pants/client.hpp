// pants/client.hpp: a Stream that connects by host name and port.
//
// Client::connect(host, port) takes IP literals and "localhost" directly;
// other names are resolved through pants::dns (RFC 8305 ordering).
#pragma once

#include <cstdint>
#include <string_view>

#include <pants/stream.hpp>

namespace pants {

class Client : public Stream {
public:
    explicit Client(Engine& engine = Engine::instance()) : Stream(engine) {}

    using Stream::connect;
    /// Connects to host:port; on_connect() or on_connect_error() follows,
    /// and `co_await` gives the outcome.
    ConnectAwaiter connect(std::string_view host, std::uint16_t port);
};

}  // namespace pants
