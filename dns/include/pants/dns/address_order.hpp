// pants/dns/address_order.hpp: destination address selection (RFC 6724 6).
//
// sort_destinations() orders the addresses a name resolved to the way
// RFC 6724 says a host should try them, as glibc's getaddrinfo and c-ares
// do. The source address the kernel would use for each destination is
// learnt by connect() on a UDP socket and getsockname(): a route lookup,
// no packet is sent and nothing blocks. The rules applied (6, in order):
//   1  avoid unusable destinations (no route: no source address);
//   2  prefer matching scope (of the destination and its source);
//   5  prefer matching label (of the policy table, RFC 6724 2.1);
//   6  prefer higher precedence (same table);
//   8  prefer smaller scope;
//   9  longest matching prefix with the source (IPv6 only, as glibc and
//      c-ares, since for IPv4 it defeats DNS round robin);
//  10  otherwise keep the order received (the sort is stable).
// Not applied, for want of the information: rule 3 (deprecated source
// addresses: needs the interface flags from netlink), rule 4 (home
// addresses, Mobile IPv6) and rule 7 (native transport, which needs to
// know which interfaces are tunnels). Pure functions of their arguments
// and the routing table: call from any thread.
#pragma once

#include <vector>

#include <pants/address.hpp>

namespace pants::dns {

/// Orders IPv4 and IPv6 `destinations` by RFC 6724 (rules above), stably.
/// Other addresses (Unix paths) go last, in their order. Without a socket
/// to probe with (descriptors exhausted) the order is left as it is.
void sort_destinations(std::vector<Address>& destinations);

}  // namespace pants::dns
