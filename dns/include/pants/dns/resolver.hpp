// pants/dns/resolver.hpp: the asynchronous DNS resolver, as Pants' pants.dns.
//
// A Resolver answers queries from the hosts file (A, AAAA, PTR), then
// answers the localhost names itself (RFC 6761 6.3: "localhost." and every
// name under it give 127.0.0.1 / ::1 and no records of other types, never
// asking a server), then from its cache, then by asking its name servers
// over UDP (TCP when a reply is truncated, or from the start when asked). It never blocks: every answer arrives through a callback (on
// a later turn of the Engine, never inside the call that asked) or by
// resuming a coroutine.
//
//   pants::dns::Resolver r({*pants::Address::parse("192.0.2.53:53")});
//   r.query("example.com", pants::dns::MX,
//           [](pants::dns::Status s, std::string cname, std::uint32_t ttl,
//              std::vector<pants::dns::Rdata> rdata) { ... });
//   pants::dns::Answer a = co_await r.resolve("example.com");   // type A
//   r.query("example.com", pants::dns::TXT, {.timeout = 500ms, .tcp = true}, cb);
//
// Relative names go through the search list and ndots of resolv.conf;
// answers are cached by TTL, and negative answers (NXDOMAIN, NODATA) by the
// SOA minimum of the authority section (RFC 2308 5); a SERVFAIL that every
// server gave is cached briefly (Options::servfail_ttl, RFC 2308 7.1). A
// server that answers FORMERR without an OPT record to a query with one is
// asked again without it (RFC 6891 7). Each server gets
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
/// records of the asked type, in the order received. `cname_chain` holds
/// the names the CNAME chain went through before `cname`, the asked name
/// first, fully qualified and in presentation form with escapes only
/// where dig puts them (\119ww.example. is given as www.example.);
/// empty when no CNAME was followed.
struct Answer {
    Status status = DNS_TIMEOUT;
    std::string cname;
    std::uint32_t ttl = 0;
    std::vector<Rdata> rdata;
    std::vector<std::string> cname_chain;
};

/// Per-call settings of query(), resolve() and send_message(): Pants'
/// keyword arguments (qclass, timeout, allow_cache, allow_hosts, media).
/// Designated initializers read well: `{.klass = dns::CH, .tcp = true}`.
struct QueryOptions {
    /// The class asked (query only; Pants' qclass). The hosts file and the
    /// localhost names answer class IN only.
    std::uint16_t klass = IN;
    /// Bounds the whole call: the callback runs (with DNS_TIMEOUT at the
    /// latest) no later than this after the call, and no single try waits
    /// longer. None: the resolver's timeout per try and attempts.
    std::optional<std::chrono::milliseconds> timeout{};
    /// Read and fill the cache (query only; Pants' allow_cache).
    bool use_cache = true;
    /// Answer A, AAAA and PTR from the hosts file first (query only;
    /// Pants' allow_hosts). The localhost names are answered either way.
    bool use_hosts = true;
    /// Ask over TCP from the first try (Pants' media="tcp"); by default
    /// UDP, and TCP only when a reply is truncated.
    bool tcp = false;
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
        /// How long a SERVFAIL that every server gave is cached (RFC 2308
        /// 7.1; at most 5 minutes, longer values are cut to that; 0: never).
        std::chrono::seconds servfail_ttl = std::chrono::seconds(30);
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
    /// of `type` (A, MX, ...; A when not given) with the per-call `options`;
    /// `callback(status, cname, ttl, rdata)` runs on a later turn.
    void query(std::string_view name, QueryCallback callback);
    void query(std::string_view name, std::uint16_t type, QueryCallback callback);
    void query(std::string_view name, std::uint16_t type, const QueryOptions& options, QueryCallback callback);
    /// The same for a coroutine, giving the whole Answer.
    Task<Answer> resolve(std::string name, std::uint16_t type = A, QueryOptions options = {});

    /// Sends a raw message (as encode() or encode_query() build it) to the
    /// servers with the same timeout, retry and TCP rules as query(), no
    /// cache. `callback(status, reply)`: status is the reply's RCODE (as a
    /// Status; RCODEs above 5 give DNS_SERVERFAILURE) with the reply, or,
    /// with an error that says more instead of a reply: DNS_TIMEOUT (or
    /// ECONNREFUSED and the like), DNS_FORMATERROR (only malformed replies
    /// came: the WireError that rejected them) or DNS_NETWORKERROR (the
    /// socket's error, as EMFILE).
    /// A message that does not decode gets DNS_FORMATERROR at once.
    /// `options.timeout` and `options.tcp` apply; the others are for query().
    void send_message(std::vector<std::uint8_t> message, MessageCallback callback);
    void send_message(std::vector<std::uint8_t> message, const QueryOptions& options, MessageCallback callback);
    /// The same for a coroutine: the reply, or the Status as an error.
    Task<Result<Message>> send_message(std::vector<std::uint8_t> message, QueryOptions options = {});

    /// The first IPv4 address of `name` as text, in the order of
    /// sort_destinations() (RFC 6724); an IPv4 literal is given back as is.
    void gethostbyname(std::string_view name, HostCallback callback);
    /// The same for a coroutine; the error is a Status.
    Task<Result<std::string>> gethostbyname(std::string name);

    /// The canonical name, aliases and IPv4 addresses of `name`: the
    /// aliases are the names the CNAME chain went through (the asked name
    /// first), the addresses are ordered by sort_destinations() (RFC 6724).
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
void query(std::string_view name, Resolver::QueryCallback callback);
void query(std::string_view name, std::uint16_t type, Resolver::QueryCallback callback);
void query(std::string_view name, std::uint16_t type, const QueryOptions& options, Resolver::QueryCallback callback);
Task<Answer> resolve(std::string name, std::uint16_t type = A, QueryOptions options = {});
void send_message(std::vector<std::uint8_t> message, Resolver::MessageCallback callback);
void send_message(std::vector<std::uint8_t> message, const QueryOptions& options, Resolver::MessageCallback callback);
Task<Result<Message>> send_message(std::vector<std::uint8_t> message, QueryOptions options = {});
void gethostbyname(std::string_view name, Resolver::HostCallback callback);
Task<Result<std::string>> gethostbyname(std::string name);
void gethostbyname_ex(std::string_view name, Resolver::HostEntryCallback callback);
Task<Result<HostEntry>> gethostbyname_ex(std::string name);
void gethostbyaddr(std::string_view address, Resolver::HostEntryCallback callback);
Task<Result<HostEntry>> gethostbyaddr(std::string address);

/// Blocking forms for scripts and tests: each runs the resolver's engine
/// until the answer is in (bounded by the resolver's timeouts). Called from
/// inside a turn of that engine (a callback or coroutine running on it),
/// where it would re-enter the loop, each throws std::logic_error at once
/// and starts nothing: use the callback or co_await form there.
namespace sync {
Answer query(Resolver& resolver, std::string_view name, std::uint16_t type = A, const QueryOptions& options = {});
Result<Message> send_message(Resolver& resolver, std::vector<std::uint8_t> message, const QueryOptions& options = {});
Result<std::string> gethostbyname(Resolver& resolver, std::string_view name);
Result<HostEntry> gethostbyname_ex(Resolver& resolver, std::string_view name);
Result<HostEntry> gethostbyaddr(Resolver& resolver, std::string_view address);

/// The same on default_resolver().
Answer query(std::string_view name, std::uint16_t type = A, const QueryOptions& options = {});
Result<Message> send_message(std::vector<std::uint8_t> message, const QueryOptions& options = {});
Result<std::string> gethostbyname(std::string_view name);
Result<HostEntry> gethostbyname_ex(std::string_view name);
Result<HostEntry> gethostbyaddr(std::string_view address);
}  // namespace sync

}  // namespace pants::dns
