// pants/dns/resolver.hpp: the asynchronous DNS resolver, as Pants' pants.dns.
//
// A Resolver answers queries from the hosts file (A, AAAA, PTR), then from
// its cache, then by asking its name servers over UDP (TCP when a reply is
// truncated). It never blocks: every answer arrives through a callback (on
// a later turn of the Engine, never inside the call that asked) or by
// resuming a coroutine.
//
//   pants::dns::Resolver r({*pants::Address::parse("192.0.2.53:53")});
//   r.query("example.com", pants::dns::MX,
//           [](pants::dns::Status s, std::string cname, std::uint32_t ttl,
//              std::vector<pants::dns::Rdata> rdata) { ... });
//   pants::dns::Answer a = co_await r.resolve("example.com", pants::dns::A);
//
// Relative names go through the search list and ndots of resolv.conf;
// answers are cached by TTL, and negative answers (NXDOMAIN, NODATA) by the
// SOA minimum of the authority section (RFC 2308 5). Each server gets
// `timeout` per try and `attempts` rounds over all servers; a reply with
// the wrong id, question or source is dropped and the wait goes on, as is a
// malformed one (reported as DNS_FORMATERROR only if nothing valid came
// before the last try ended; so is a TCP reply cut short). A query that
// could not be asked at all (no descriptor left, a socket that fails)
// gives DNS_NETWORKERROR, not DNS_TIMEOUT. Identical concurrent queries
// share one request.
//
// A Resolver belongs to one Engine and is used on that engine's thread.
// Destroying it answers every pending query with DNS_TIMEOUT (on a later
// turn) and closes its sockets; the Engine must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pants/address.hpp>
#include <pants/dns/message.hpp>
#include <pants/dns/rdata.hpp>
#include <pants/dns/types.hpp>
#include <pants/engine.hpp>
#include <pants/result.hpp>
#include <pants/task.hpp>

namespace pants::dns {

/// What a query gives: Pants' (status, cname, ttl, rdata). `cname` is the
/// canonical name when a CNAME chain led there ("www.example.net.", with
/// the trailing dot), else empty. `ttl` is the seconds the answer stays
/// valid (the smallest TTL of the records used; for a negative answer the
/// RFC 2308 negative TTL; 0 for hosts-file answers). `rdata` holds the
/// records of the asked type, in the order received.
struct Answer {
    Status status = DNS_TIMEOUT;
    std::string cname;
    std::uint32_t ttl = 0;
    std::vector<Rdata> rdata;
};

/// What gethostbyname_ex and gethostbyaddr give, as Python's socket module:
/// the canonical host name (no trailing dot), its aliases and its
/// addresses as text ("192.0.2.1", "2001:db8::1").
struct HostEntry {
    std::string name;
    std::vector<std::string> aliases;
    std::vector<std::string> addresses;
};

namespace detail {
class ResolverCore;
}

class Resolver {
public:
    /// How a Resolver is configured. The defaults read the system files.
    struct Options {
        /// Name servers to ask, in order. Empty: resolv.conf's nameservers
        /// (127.0.0.1:53 if it names none, as glibc does).
        std::vector<Address> servers;
        /// resolv.conf to read ("" = none: no search list, ndots 1).
        std::string resolv_conf_path = "/etc/resolv.conf";
        /// hosts file to answer A, AAAA and PTR from first ("" = none).
        std::string hosts_path = "/etc/hosts";
        /// Overrides of resolv.conf's options.
        std::optional<std::chrono::milliseconds> timeout;  ///< per try (default 5 s)
        std::optional<int> attempts;                       ///< rounds over all servers (default 2)
        std::optional<bool> rotate;                        ///< start at a different server each query
        std::optional<std::vector<std::string>> search;    ///< search list
        std::optional<int> ndots;                          ///< dots that make a name tried as-is first
        /// Keep answers for their TTL (and negative answers for the SOA minimum).
        bool cache = true;
        /// Advertised EDNS0 UDP payload size (0: send no OPT record).
        std::uint16_t edns_udp_size = 1232;
    };

    using QueryCallback = std::function<void(Status status, std::string cname, std::uint32_t ttl, std::vector<Rdata> rdata)>;
    using MessageCallback = std::function<void(Status status, Result<Message> reply)>;
    using HostCallback = std::function<void(Status status, std::string address)>;
    using HostEntryCallback = std::function<void(Status status, HostEntry entry)>;

    /// A resolver configured from resolv.conf and the hosts file.
    explicit Resolver(Engine& engine = Engine::instance());
    /// A resolver configured by `options` (paths, servers, overrides).
    explicit Resolver(Options options, Engine& engine = Engine::instance());
    /// A resolver that asks exactly `servers`, with no hosts file, no
    /// search list and resolv.conf's default timeout and attempts.
    explicit Resolver(std::vector<Address> servers, Engine& engine = Engine::instance());
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;
    ~Resolver();

    /// Looks up `name` (relative names through the search list) for records
    /// of `type` (A, MX, ...); `callback(status, cname, ttl, rdata)` runs on
    /// a later turn.
    void query(std::string_view name, std::uint16_t type, QueryCallback callback);
    /// The same for a coroutine.
    Task<Answer> resolve(std::string name, std::uint16_t type);

    /// Sends a raw message (as encode() or encode_query() build it) to the
    /// servers with the same timeout, retry and TCP rules as query(), no
    /// cache. `callback(status, reply)`: status is the reply's RCODE (as a
    /// Status; RCODEs above 5 give DNS_SERVERFAILURE) with the reply, or,
    /// with an error that says more instead of a reply: DNS_TIMEOUT (or
    /// ECONNREFUSED and the like), DNS_FORMATERROR (only malformed replies
    /// came: the WireError that rejected them) or DNS_NETWORKERROR (the
    /// socket's error, as EMFILE).
    /// A message that does not decode gets DNS_FORMATERROR at once.
    void send_message(std::vector<std::uint8_t> message, MessageCallback callback);
    /// The same for a coroutine: the reply, or the Status as an error.
    Task<Result<Message>> send_message(std::vector<std::uint8_t> message);

    /// The first IPv4 address of `name` as text (an IPv4 literal is given
    /// back as is).
    void gethostbyname(std::string_view name, HostCallback callback);
    /// The same for a coroutine; the error is a Status.
    Task<Result<std::string>> gethostbyname(std::string name);

    /// The canonical name, aliases and IPv4 addresses of `name`.
    void gethostbyname_ex(std::string_view name, HostEntryCallback callback);
    Task<Result<HostEntry>> gethostbyname_ex(std::string name);

    /// The host names of an IPv4 or IPv6 address ("192.0.2.1", "2001:db8::1"
    /// or an Address; its port is ignored), through PTR records of the
    /// in-addr.arpa / ip6.arpa name. An unparsable address gives
    /// DNS_FORMATERROR.
    void gethostbyaddr(std::string_view address, HostEntryCallback callback);
    void gethostbyaddr(const Address& address, HostEntryCallback callback);
    Task<Result<HostEntry>> gethostbyaddr(std::string address);

    /// The servers asked, in order.
    const std::vector<Address>& servers() const noexcept;
    /// The search list applied to relative names.
    const std::vector<std::string>& search() const noexcept;
    /// Forgets every cached answer.
    void clear_cache();
    Engine& engine() const noexcept;

private:
    std::shared_ptr<detail::ResolverCore> core_;
};

/// The process-wide resolver: system configuration, on Engine::instance().
Resolver& default_resolver();

// Pants' module-level functions, on default_resolver().
void query(std::string_view name, std::uint16_t type, Resolver::QueryCallback callback);
Task<Answer> resolve(std::string name, std::uint16_t type);
void send_message(std::vector<std::uint8_t> message, Resolver::MessageCallback callback);
void gethostbyname(std::string_view name, Resolver::HostCallback callback);
Task<Result<std::string>> gethostbyname(std::string name);
void gethostbyname_ex(std::string_view name, Resolver::HostEntryCallback callback);
Task<Result<HostEntry>> gethostbyname_ex(std::string name);
void gethostbyaddr(std::string_view address, Resolver::HostEntryCallback callback);
Task<Result<HostEntry>> gethostbyaddr(std::string address);

/// Blocking forms for scripts and tests: each runs the resolver's engine
/// until the answer is in (bounded by the resolver's timeouts). Never call
/// them from a callback or coroutine running on that engine.
namespace sync {
Answer query(Resolver& resolver, std::string_view name, std::uint16_t type);
Result<Message> send_message(Resolver& resolver, std::vector<std::uint8_t> message);
Result<std::string> gethostbyname(Resolver& resolver, std::string_view name);
Result<HostEntry> gethostbyname_ex(Resolver& resolver, std::string_view name);
Result<HostEntry> gethostbyaddr(Resolver& resolver, std::string_view address);

/// The same on default_resolver().
Answer query(std::string_view name, std::uint16_t type);
Result<Message> send_message(std::vector<std::uint8_t> message);
Result<std::string> gethostbyname(std::string_view name);
Result<HostEntry> gethostbyname_ex(std::string_view name);
Result<HostEntry> gethostbyaddr(std::string_view address);
}  // namespace sync

}  // namespace pants::dns
