// pants/client.hpp: a Stream that connects by host name and port.
//
// Client::connect(host, port) takes IP literals and "localhost" directly.
// Other names are resolved through pants::dns (AAAA and A, asked at once)
// and connected to as RFC 8305 (Happy Eyeballs v2) says: address families
// interleaved starting with IPv6, a new attempt every `attempt_delay` while
// none has connected (at once when one fails), the first to connect wins
// and the others are cancelled. on_connect() fires once, on the winner;
// write()s made before it are queued and go out on the winner.
//
// The names are resolved by the Resolver given to the constructor, else by
// dns::default_resolver() for a Client on Engine::instance(), else by a
// Resolver with the system configuration that the Client makes on its own
// engine at its first lookup (the default resolver runs on
// Engine::instance() only).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include <pants/stream.hpp>

namespace pants {

namespace dns {
class Resolver;
}

class Client : public Stream {
public:
    /// A client on `engine` that resolves names with the engine's default resolver.
    explicit Client(Engine& engine = Engine::instance());
    /// A client that resolves names with `resolver` (which must run on
    /// `engine` and outlive the connect).
    Client(Engine& engine, dns::Resolver& resolver);
    ~Client() override;

    /// RFC 8305 5 "Connection Attempt Delay": how long an attempt runs
    /// alone before the next address is tried too.
    std::chrono::milliseconds attempt_delay{250};

    /// Resolves names with `resolver` from now on (it must run on this
    /// client's engine).
    void set_resolver(dns::Resolver& resolver);
    /// The resolver the next connect by name uses.
    dns::Resolver& resolver();

    using Stream::connect;
    /// Connects to host:port; on_connect() or on_connect_error() follows,
    /// and `co_await` gives the outcome. When the name does not resolve the
    /// error is its dns::Status (category dns::category(); a name without
    /// A or AAAA records gives DNS_NAMEERROR); when every address fails, the
    /// last attempt's error.
    ConnectAwaiter connect(std::string_view host, std::uint16_t port);

private:
    dns::Resolver* resolver_ = nullptr;
    std::unique_ptr<dns::Resolver> own_resolver_;  // for an engine other than Engine::instance()
};

}  // namespace pants
