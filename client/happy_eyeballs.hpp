// client/happy_eyeballs.hpp: the connection race behind Client::connect
// by name (RFC 8305, Happy Eyeballs v2).
//
// One HappyEyeballs asks the resolver for AAAA and A at once, then opens one
// socket per attempt and connects it with its own Operation. The winner's
// fd is handed to the Client's StreamIo (adopt_connection); the losers are
// cancelled, and this object lives on, owning itself, until the last
// attempt's completion has come back (DESIGN.md, Buffer lifetime). The
// StreamIo does not finish closing before adopt_connection(), so the
// pointer to it stays valid until then.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <pants/address.hpp>
#include <pants/dns/resolver.hpp>
#include <pants/engine.hpp>

#include "net/stream_io.hpp"

namespace pants::detail {

class HappyEyeballs final : public PendingConnect, public std::enable_shared_from_this<HappyEyeballs> {
public:
    /// Starts resolving `host` and connecting to `port` for `io`; the
    /// outcome arrives as one io.adopt_connection() on a later turn.
    static Result<void> start(StreamIo& io, dns::Resolver& resolver, std::string host, std::uint16_t port,
                              std::chrono::milliseconds attempt_delay);

    HappyEyeballs(StreamIo& io, std::uint16_t port, std::chrono::milliseconds attempt_delay);
    HappyEyeballs(const HappyEyeballs&) = delete;
    HappyEyeballs& operator=(const HappyEyeballs&) = delete;
    ~HappyEyeballs();

    /// The StreamIo is closing: stop every attempt and report NetError::closed
    /// on a later turn.
    void cancel() noexcept override;

private:
    /// One connection attempt: a socket and the connect in flight on it.
    struct Attempt : Operation {
        explicit Attempt(HappyEyeballs* r) : Operation(&HappyEyeballs::on_attempt_done), race(r) {}
        HappyEyeballs* race;
        Address target;  // the connect points here until its completion
        int socket = -1;  // ours until handed to the Client or closed
    };

    /// RFC 8305 3: with A answered first, wait this long for the AAAA answer.
    static constexpr auto kResolutionDelay = std::chrono::milliseconds(50);

    void on_answer(bool v6, dns::Status status, std::vector<dns::Rdata> rdata);
    void start_next();
    bool start_attempt(const Address& address);
    static void on_attempt_done(Operation& op, const Completion& c);
    void attempt_done(Attempt& attempt, int result);
    void report(int fd, std::error_code error);
    void release_if_drained();
    std::size_t attempts_in_flight() const noexcept;
    std::error_code resolution_error() const;

    StreamIo* io_;
    Engine& engine_;
    std::uint16_t port_;
    std::chrono::milliseconds attempt_delay_;
    std::shared_ptr<HappyEyeballs> self_;  // alive until reported and drained

    // Resolution.
    bool aaaa_done_ = false;
    bool a_done_ = false;
    dns::Status aaaa_status_ = dns::DNS_OK;
    dns::Status a_status_ = dns::DNS_OK;
    bool started_ = false;  // the first attempt went out (or was due)
    Timer resolution_timer_;

    // RFC 8305 4: addresses not yet tried, per family, in the resolver's order.
    std::vector<Address> v6_;
    std::vector<Address> v4_;
    bool next_v6_ = true;  // the family the next attempt prefers
    bool delay_passed_ = false;  // the stagger timer fired with nothing left to start
    Timer stagger_timer_;

    std::vector<std::unique_ptr<Attempt>> attempts_;
    std::error_code last_error_;
    bool cancelled_ = false;
    bool reported_ = false;
};

}  // namespace pants::detail
