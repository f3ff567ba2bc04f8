// The resolver's transport: one try of one query at one server.
//
// An Exchange sends the query over UDP from one of the resolver's pooled
// sockets to that server (resolver_udp_pool.hpp: random source ports,
// connected so the kernel drops datagrams from other sources). Replies whose id or question do not match,
// and bytes that do not decode, are dropped and the wait goes on: an
// off-path attacker or a confused middlebox must not end a query early. A
// reply with TC set is retried over TCP (RFC 1035 4.2.2: each message
// preceded by its length in two bytes), with a fresh timeout. The outcome
// is reported once, on a later turn, through `done`; destroying the
// Exchange first cancels everything and reports nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <pants/address.hpp>
#include <pants/datagram.hpp>
#include <pants/dns/message.hpp>
#include <pants/engine.hpp>
#include <pants/result.hpp>
#include <pants/task.hpp>
#include <pants/timer.hpp>

#include "resolver_reply.hpp"
#include "resolver_schedule.hpp"
#include "resolver_udp_pool.hpp"

namespace pants::dns::detail {

/// A random 16-bit query id from the kernel's CSPRNG (drawn in batches:
/// one getrandom() per 128 ids).
std::uint16_t random_id();

class Exchange final : private UdpPool::Client, private TrySchedule::Entry {
public:
    /// The accepted reply, or an error: DNS_TIMEOUT when nothing valid came
    /// in time; a WireError (pants.dns.wire) when only malformed replies came
    /// or a TCP reply was cut short; DNS_FORMATERROR when a TCP reply did not
    /// match the query; or the socket's error (EMFILE, ECONNREFUSED, ...).
    /// Given by reference to the Exchange's own copy: valid until the
    /// Exchange is destroyed (which `done` may do once it has read it).
    using Done = std::function<void(const Result<Reply>&)>;

    /// `tcp`: skip UDP and ask over TCP at once (QueryOptions::tcp).
    /// `query` is the Lookup's, which outlives this try and does not change
    /// until it has finished: not copied. With `fresh_id` the try gets a new
    /// random id (RFC 5452 9.2), written over the query's first two bytes
    /// (for UDP once the pool has chosen the socket); else it keeps the
    /// query's. `expected`'s id is set to it.
    /// The timeout and the later-turn report go through `schedule`.
    Exchange(Engine& engine, UdpPool& pool, TrySchedule& schedule, const Address& server,
             std::span<std::uint8_t> query, bool fresh_id, Expected expected, Engine::Duration timeout, Done done,
             bool tcp = false);
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;
    ~Exchange();

    /// True once the reply was truncated and the query went to TCP.
    bool over_tcp() const noexcept { return tcp_ != nullptr; }

private:
    struct TcpLink;

    // UdpPool::Client.
    void on_udp_reply(std::string_view data) override;
    void on_udp_oversized() override;
    void on_udp_error(std::error_code error) override;
    void release_udp() noexcept;
    // TrySchedule::Entry.
    void on_deadline() override;
    void on_report() override;

    void on_reply_bytes(std::string_view data, bool from_tcp);
    void start_tcp();
    void finish(Result<Reply> outcome);
    static Task<> run_tcp(std::shared_ptr<TcpLink> link, Address server, std::string framed);
    static Task<> tcp_exchange(TcpLink& link, const Address& server, std::string framed);

    Engine& engine_;
    UdpPool& pool_;
    TrySchedule& schedule_;
    Address server_;
    std::span<std::uint8_t> query_;
    Expected expected_;
    Engine::Duration timeout_;
    Done done_;
    UdpPool::Port* port_ = nullptr;  // while registered for UDP replies
    std::shared_ptr<TcpLink> tcp_;
    Result<Reply> outcome_;  // once finished, until reported
    std::error_code malformed_;  // why the last undecodable reply was rejected
    bool finished_ = false;
};

}  // namespace pants::dns::detail
