#include <pants/client.hpp>

#include <stdexcept>
#include <string>

#include <pants/dns/resolver.hpp>

#include "happy_eyeballs.hpp"
#include "net/stream_io.hpp"

namespace pants {

Client::Client(Engine& engine) : Stream(engine) {}

Client::Client(Engine& engine, dns::Resolver& resolver) : Stream(engine) { set_resolver(resolver); }

Client::~Client() = default;

void Client::set_resolver(dns::Resolver& resolver) {
    if (&resolver.engine() != &engine()) throw std::invalid_argument("pants::Client: resolver runs on another engine");
    resolver_ = &resolver;
}

dns::Resolver& Client::resolver() {
    if (resolver_) return *resolver_;
    // default_resolver() is bound to Engine::instance(); a client on any
    // other engine gets a system-configured resolver of its own there.
    if (&engine() == &Engine::instance()) return dns::default_resolver();
    if (!own_resolver_) own_resolver_ = std::make_unique<dns::Resolver>(engine());
    return *own_resolver_;
}

Stream::ConnectAwaiter Client::connect(std::string_view host, std::uint16_t port) {
    if (host == "localhost") return Stream::connect(Address::loopback_v4(port));
    if (auto address = Address::from_ip(host, port)) return Stream::connect(*address);
    auto started = detail::HappyEyeballs::start(io(), resolver(), std::string(host), port, attempt_delay);
    return ConnectAwaiter(io(), started);
}

}  // namespace pants
