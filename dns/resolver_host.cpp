// gethostbyname, gethostbyname_ex and gethostbyaddr, as Python's socket
// module (and Pants) offer them, on top of Resolver::query.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include <pants/dns/address_order.hpp>
#include <pants/dns/name.hpp>
#include <pants/dns/resolver.hpp>

#include "resolver_await.hpp"
#include "resolver_core.hpp"

namespace pants::dns {

namespace {

std::string ipv4_text(const rdata::A& a) {
    char text[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, a.address.data(), text, sizeof text);
    return text;
}

/// A host name as the socket module gives it: without the root's dot.
std::string host_name(std::string_view name) {
    if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
    return std::string(name);
}

/// The IPv4 addresses of `rdata` as text, in RFC 6724 order.
std::vector<std::string> addresses_of(const std::vector<Rdata>& rdata) {
    std::vector<Address> addresses;
    for (const auto& r : rdata)
        if (const auto* a = std::get_if<rdata::A>(&r)) addresses.push_back(*Address::from_ip(ipv4_text(*a), 0));
    sort_destinations(addresses);
    std::vector<std::string> out;
    for (const auto& a : addresses) out.push_back(a.host());
    return out;
}

/// An IP literal (IPv4 or IPv6, optional zone, no port).
std::optional<Address> ip_literal(std::string_view text) {
    auto address = Address::from_ip(text, 0);
    if (!address || !(address->is_ipv4() || address->is_ipv6())) return std::nullopt;
    return *address;
}

std::string reverse_of(const Address& address) {
    if (address.is_ipv4()) {
        std::array<std::uint8_t, 4> bytes;
        std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in*>(address.data())->sin_addr, 4);
        return reverse_name(bytes);
    }
    std::array<std::uint8_t, 16> bytes;
    std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in6*>(address.data())->sin6_addr, 16);
    return reverse_name(bytes);
}

/// A status for "nothing to give": an empty NOERROR answer (NODATA) is
/// reported as DNS_NAMEERROR, as the socket module raises for it.
Status host_status(Status status, bool empty) { return status == DNS_OK && empty ? DNS_NAMEERROR : status; }

}  // namespace

void Resolver::gethostbyname(std::string_view name, HostCallback callback) {
    if (auto literal = ip_literal(name); literal && literal->is_ipv4()) {
        engine().callback([callback = std::move(callback), text = std::string(name)] { callback(DNS_OK, text); });
        return;
    }
    core_->query(name, A, {}, [callback = std::move(callback)](Answer answer) {
        auto addresses = addresses_of(answer.rdata);
        const Status status = host_status(answer.status, addresses.empty());
        callback(status, status == DNS_OK ? addresses.front() : std::string());
    });
}

void Resolver::gethostbyname_ex(std::string_view name, HostEntryCallback callback) {
    if (auto literal = ip_literal(name); literal && literal->is_ipv4()) {
        HostEntry entry{std::string(name), {}, {std::string(name)}};
        engine().callback([callback = std::move(callback), entry = std::move(entry)] { callback(DNS_OK, entry); });
        return;
    }
    core_->query(name, A, {}, [callback = std::move(callback), asked = std::string(name)](Answer answer) {
        HostEntry entry;
        entry.addresses = addresses_of(answer.rdata);
        const Status status = host_status(answer.status, entry.addresses.empty());
        if (status == DNS_OK) {
            entry.name = host_name(answer.cname.empty() ? asked : answer.cname);
            // Every name the CNAME chain went through, the asked one first,
            // as glibc's gethostbyname_ex lists them.
            for (const auto& alias : answer.cname_chain) entry.aliases.push_back(host_name(alias));
        }
        callback(status, std::move(entry));
    });
}

void Resolver::gethostbyaddr(const Address& address, HostEntryCallback callback) {
    if (!address.is_ipv4() && !address.is_ipv6()) {
        engine().callback([callback = std::move(callback)] { callback(DNS_FORMATERROR, HostEntry{}); });
        return;
    }
    query(reverse_of(address), PTR,
          [callback = std::move(callback), ip = address.host()](Status status, std::string, std::uint32_t,
                                                                 std::vector<Rdata> rdata) {
              HostEntry entry;
              for (const auto& r : rdata) {
                  if (const auto* ptr = std::get_if<rdata::PTR>(&r))
                      (entry.name.empty() ? entry.name : entry.aliases.emplace_back()) = host_name(ptr->name);
              }
              status = host_status(status, entry.name.empty());
              if (status == DNS_OK) entry.addresses.push_back(ip);
              callback(status, std::move(entry));
          });
}

void Resolver::gethostbyaddr(std::string_view address, HostEntryCallback callback) {
    auto literal = ip_literal(address);
    if (!literal) {
        engine().callback([callback = std::move(callback)] { callback(DNS_FORMATERROR, HostEntry{}); });
        return;
    }
    gethostbyaddr(*literal, std::move(callback));
}

// --- coroutine forms ---------------------------------------------------------

namespace {
template <class T>
Result<T> as_result(Status status, T value) {
    if (status != DNS_OK) return unexpected(make_error_code(status));
    return value;
}
}  // namespace

Task<Result<std::string>> Resolver::gethostbyname(std::string name) {
    detail::CallbackAwaiter<Result<std::string>> awaiter(
        engine(), unexpected(make_error_code(DNS_TIMEOUT)), [&](auto deliver) {
            gethostbyname(std::string_view(name), [deliver = std::move(deliver)](Status s, std::string address) {
                deliver(as_result(s, std::move(address)));
            });
        });
    auto result = co_await awaiter;
    co_return result;
}

Task<Result<HostEntry>> Resolver::gethostbyname_ex(std::string name) {
    detail::CallbackAwaiter<Result<HostEntry>> awaiter(
        engine(), unexpected(make_error_code(DNS_TIMEOUT)), [&](auto deliver) {
            gethostbyname_ex(std::string_view(name), [deliver = std::move(deliver)](Status s, HostEntry entry) {
                deliver(as_result(s, std::move(entry)));
            });
        });
    auto result = co_await awaiter;
    co_return result;
}

Task<Result<HostEntry>> Resolver::gethostbyaddr(std::string address) {
    detail::CallbackAwaiter<Result<HostEntry>> awaiter(
        engine(), unexpected(make_error_code(DNS_TIMEOUT)), [&](auto deliver) {
            gethostbyaddr(std::string_view(address), [deliver = std::move(deliver)](Status s, HostEntry entry) {
                deliver(as_result(s, std::move(entry)));
            });
        });
    auto result = co_await awaiter;
    co_return result;
}

}  // namespace pants::dns
