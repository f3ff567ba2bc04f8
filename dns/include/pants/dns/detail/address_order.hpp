// pants/dns/detail/address_order.hpp: the RFC 6724 comparison itself, with
// the source addresses given, so that tests can pin every rule.
#pragma once

#include <optional>
#include <vector>

#include <pants/address.hpp>

namespace pants::dns::detail {

/// A destination and the source address the kernel would send from
/// (nullopt: no route, the destination is unusable).
struct Destination {
    Address address;
    std::optional<Address> source;
};

/// The source address for `destination` (RFC 6724 4, as the kernel picks
/// it), or nullopt when there is no route. `probe_failed` is set when no
/// socket could be opened to ask.
std::optional<Address> source_for(const Address& destination, bool& probe_failed);

/// Sorts stably by RFC 6724 6 rules 1, 2, 5, 6, 8, 9 and 10.
void order_destinations(std::vector<Destination>& destinations);

}  // namespace pants::dns::detail
