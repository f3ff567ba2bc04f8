// The resolver's machinery behind pants::dns::Resolver (internal).
//
// ResolverCore owns everything in flight: one Lookup per distinct
// (name, type) being asked (identical concurrent queries wait on the same
// one), the cache, and the configuration. A Lookup walks the servers ×
// attempts schedule, one Exchange (transport try) at a time. Everything
// reports on a later turn, through the Engine's callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <pants/address.hpp>
#include <pants/dns/message.hpp>
#include <pants/dns/resolver.hpp>
#include <pants/engine.hpp>
#include <pants/timer.hpp>

#include "resolver_answer_queue.hpp"
#include "resolver_cache.hpp"
#include "resolver_reply.hpp"
#include "resolver_schedule.hpp"
#include "resolver_transport.hpp"

namespace pants::dns::detail {

/// The resolver's settings once the system files and overrides are merged.
struct Config {
    std::vector<Address> servers;
    std::vector<std::string> search;
    int ndots = 1;
    Engine::Duration timeout = std::chrono::seconds(5);
    int attempts = 2;
    bool rotate = false;
    bool cache = true;
    std::uint16_t edns_udp_size = 1232;
    std::uint32_t servfail_ttl = 30;  // seconds, at most 300 (RFC 2308 7.1)
};

/// Answers from the hosts file: the records for (name, type), or nullopt
/// when the file does not know the name (or cannot answer that type).
using HostsLookup = std::function<std::optional<std::vector<Rdata>>(std::string_view name, std::uint16_t type)>;

/// The configuration and hosts lookup that `options` describe
/// (resolver_system.cpp: resolv.conf and the hosts file).
Config load_config(const Resolver::Options& options);
HostsLookup load_hosts(const std::string& path);

/// The Status of a reply's RCODE (RFC 1035 4.1.1); RCODEs past REFUSED
/// (NOTAUTH, BADVERS, ...) are reported as DNS_SERVERFAILURE.
Status status_of_rcode(std::uint16_t rcode);

/// True for "localhost" and the names under it (RFC 6761 6.3), with or
/// without the trailing dot, in any case.
bool is_localhost_name(std::string_view name);

/// The answer the resolver gives itself for a localhost name (RFC 6761
/// 6.3): 127.0.0.1 for A, ::1 for AAAA, NODATA for other types; nullopt
/// for other names and classes other than IN (resolver_local.cpp).
std::optional<Answer> localhost_answer(std::string_view name, std::uint16_t type, std::uint16_t klass);

/// The names to try for `name`, in order (resolv.conf(5), "search" and
/// "ndots"): an absolute name alone; a name with at least `ndots` dots
/// as-is first, then with each search domain; others the other way round.
std::vector<std::string> search_candidates(std::string_view name, const std::vector<std::string>& search, int ndots);

/// One message asked of the servers until a reply settles it or every try
/// has failed.
class Lookup {
public:
    /// The settling reply with its status (SERVFAIL/REFUSED/NOTIMP replies
    /// settle only once every server gave one or the tries ran out), or the
    /// status alone with an error: DNS_FORMATERROR with why the reply was
    /// rejected, DNS_TIMEOUT (with ECONNREFUSED and the like when the network
    /// said so), or DNS_NETWORKERROR with the socket's error.
    using Done = std::function<void(Status, const Result<Reply>&)>;

    /// `servers`: asked in this order, starting at `rotate_by` (modulo
    /// their number); not copied: they outlive the Lookup (the resolver's
    /// configuration, fixed at its construction). `query`: the message
    /// (copied). `question_name` (copied; null for a message without one
    /// question), `question_type` and `question_class`: the query's
    /// question, which replies must echo. With `fresh_ids` each try gets a new random id
    /// written over the first two bytes. `tcp`: every try
    /// over TCP. `edns_opt_size`: the size of the OPT record (without
    /// options) that ends `query` as its only additional record; the first
    /// server that answers FORMERR without one gets the query again without
    /// it, and so do the servers after it (RFC 6891 7). 0: no such fallback.
    Lookup(Engine& engine, UdpPool& pool, TrySchedule& schedule, std::span<const Address> servers,
           std::size_t rotate_by, int attempts, Engine::Duration timeout, std::span<const std::uint8_t> query,
           const WireName* question_name, std::uint16_t question_type, std::uint16_t question_class,
           bool fresh_ids, Done done, bool tcp = false,
           std::size_t edns_opt_size = 0);
    Lookup(const Lookup&) = delete;
    Lookup& operator=(const Lookup&) = delete;
    ~Lookup() { deferred_.cancel(); }

    /// Starts the first try. `done` runs on a later turn; it may destroy this.
    void start();
    /// True once every server has answered with a failure (SERVFAIL,
    /// REFUSED, NOTIMP) and none is left to ask.
    bool every_server_failed() const noexcept;
    /// The question's name in wire form and its type (meaningful only for
    /// a message with a question).
    const WireName& question_name() const noexcept { return question_name_; }
    std::uint16_t question_type() const noexcept { return question_type_; }

private:
    void next_try();
    void on_outcome(std::size_t server, const Result<Reply>& outcome);
    void settle(Status status, const Result<Reply>& reply);

    // The i-th server in this Lookup's order, and whether it refused or
    // failed (then it is not asked again).
    const Address& server(std::size_t i) const noexcept { return servers_[(i + rotate_by_) % servers_.size()]; }
    bool given_up(std::size_t i) const noexcept {
        return i < 64 ? (given_up_ >> i & 1) != 0 : given_up_more_[i - 64];
    }
    void give_up(std::size_t i);

    Engine& engine_;
    UdpPool& pool_;
    TrySchedule& schedule_;
    std::span<const Address> servers_;
    std::size_t rotate_by_;
    std::uint64_t given_up_ = 0;          // bit i: given_up(i), for the first 64
    std::vector<bool> given_up_more_;     // the rest, rarely any
    int attempts_;
    Engine::Duration timeout_;
    MessageBytes query_;
    bool asks_;  // the query has a question
    WireName question_name_;  // what replies' questions are compared with
    std::uint16_t question_type_ = 0;
    std::uint16_t question_class_ = 0;
    bool fresh_ids_;
    Done done_;
    bool tcp_;
    std::size_t edns_opt_size_;
    std::optional<Exchange> exchange_;
    std::size_t slot_ = 0;        // position in the attempts × servers schedule
    std::optional<Reply> failure_;    // last SERVFAIL/REFUSED/NOTIMP reply
    std::error_code malformed_;       // a try got only malformed replies (why)
    std::error_code socket_error_;    // a try's socket failed (EMFILE, EPIPE, ...)
    std::error_code unreachable_;     // a try was refused (ECONNREFUSED, EHOSTUNREACH, ...)
    bool timed_out_ = false;          // a try went out and nothing (or a refusal) came back
    Timer deferred_;  // an outcome known at once, reported on the next turn
};

class ResolverCore : public std::enable_shared_from_this<ResolverCore> {
public:

    ResolverCore(Engine& engine, Config config, HostsLookup hosts);
    ~ResolverCore();

    /// Hosts file, localhost names, then search list, then lookup() per
    /// candidate; the whole bounded by options.timeout.
    void query(std::string_view name, std::uint16_t type, const QueryOptions& options, AnswerRecipient done);
    /// One absolute name: cache, then a Lookup shared with identical queries.
    void lookup(std::string_view fqdn, std::uint16_t type, const QueryOptions& options, AnswerRecipient done);
    /// A raw message to the first server.
    void send_message(std::vector<std::uint8_t> message, const QueryOptions& options,
                      Resolver::MessageCallback done);
    /// Answers everything pending with DNS_TIMEOUT (on a later turn) and
    /// closes every socket.
    void shutdown();

    Engine& engine;
    Config config;
    Cache cache;
    // Both before the lookups: their tries release into the pool and leave
    // the schedule as they go.
    TrySchedule schedule;
    UdpPool udp_pool;
    /// Answers known at once (cache, hosts file, localhost), for a later turn.
    AnswerQueue answers;

private:
    // One per lookup in flight, in pending_ under its cache key and
    // whether it is forced onto TCP (it then joins no lookup over UDP).
    struct PendingKey {
        CacheKey key;
        bool tcp = false;
        bool operator==(const PendingKey&) const = default;
    };
    struct PendingKeyHash {
        std::size_t operator()(const PendingKey& k) const noexcept { return k.key.hash ^ std::size_t(k.tcp); }
    };
    struct Pending {
        std::optional<Lookup> lookup;  // its question is the name and type asked
        bool store = false;  // a waiter wants the answer cached
        AnswerRecipient first;      // the waiter that started it
        std::vector<AnswerRecipient> more;  // identical queries that joined it
    };
    using PendingMap = std::unordered_map<PendingKey, Pending, PendingKeyHash>;
    void settled(const PendingKey& key, Status status, const Result<Reply>& reply);
    PendingMap::iterator add_pending();

    // Settled nodes kept for the next lookups (no allocation for the node,
    // its key or its Lookup while queries keep coming), at most
    // kSpareNodes, freed once no lookup has been in flight for kIdleFree.
    static constexpr std::size_t kSpareNodes = 64;
    static constexpr std::chrono::seconds kIdleFree{1};

    HostsLookup hosts_;
    PendingMap pending_;
    std::vector<PendingMap::node_type> spare_;
    PendingKey probe_;  // the key being looked up
    Timer idle_timer_;
    struct Raw {
        std::optional<Lookup> lookup;
        Resolver::MessageCallback done;
    };
    std::unordered_map<std::uint64_t, Raw> raw_;
    std::uint64_t next_raw_ = 0;
    std::size_t rotation_ = 0;
};

}  // namespace pants::dns::detail
