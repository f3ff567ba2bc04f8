#include <pants/client.hpp>

namespace pants {

Stream::ConnectAwaiter Client::connect(std::string_view host, std::uint16_t port) {
    if (host == "localhost") return Stream::connect(Address::loopback_v4(port));
    auto address = Address::from_ip(host, port);
    if (!address) {
        // Name resolution comes with pants::dns; until then only literals.
        on_connect_error(address.error());
        return ConnectAwaiter(*this, unexpected(address.error()));
    }
    return Stream::connect(*address);
}

}  // namespace pants
