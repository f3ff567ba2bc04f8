// One message asked of the servers: the timeout and retry schedule.
#include "resolver_core.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

namespace pants::dns::detail {

namespace {
// Errors by which the network says a server cannot be reached (ICMP port or
// host unreachable, a reset): unlike a socket that cannot be opened, they
// say nothing is wrong here.
bool server_unreachable(std::error_code error) {
    if (error.category() != std::system_category() && error.category() != std::generic_category()) return false;
    switch (error.value()) {
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
        return true;
    default:
        return false;
    }
}
}  // namespace

Lookup::Lookup(Engine& engine, UdpPool& pool, TrySchedule& schedule, std::span<const Address> servers,
               std::size_t rotate_by, int attempts, Engine::Duration timeout, std::span<const std::uint8_t> query,
               const WireName* question_name, std::uint16_t question_type, std::uint16_t question_class,
               bool fresh_ids, Done done, bool tcp, std::size_t edns_opt_size)
    : engine_(engine),
      pool_(pool),
      schedule_(schedule),
      servers_(servers),
      rotate_by_(servers.empty() ? 0 : rotate_by % servers.size()),
      attempts_(attempts),
      timeout_(timeout),
      query_(query),
      asks_(question_name != nullptr),
      question_type_(question_type),
      question_class_(question_class),
      fresh_ids_(fresh_ids),
      done_(std::move(done)),
      tcp_(tcp),
      edns_opt_size_(edns_opt_size) {
    // Replies echo the question in wire form: compared in that form.
    if (question_name) {
        std::memcpy(question_name_.bytes.data(), question_name->bytes.data(), question_name->size);
        question_name_.size = question_name->size;
    }
    if (servers_.size() > 64) given_up_more_.resize(servers_.size() - 64);
}

void Lookup::give_up(std::size_t i) {
    if (i < 64)
        given_up_ |= std::uint64_t(1) << i;
    else
        given_up_more_[i - 64] = true;
}

void Lookup::start() { next_try(); }

bool Lookup::every_server_failed() const noexcept {
    if (servers_.empty()) return false;
    for (std::size_t i = 0; i < servers_.size(); ++i)
        if (!given_up(i)) return false;
    return true;
}

void Lookup::next_try() {
    exchange_.reset();
    // resolv.conf(5): `attempts` rounds, each over every server in order
    // (the order already rotated by the caller when `rotate` is set).
    const std::size_t slots = servers_.size() * std::size_t(attempts_);
    while (slot_ < slots) {
        const std::size_t server = slot_++ % servers_.size();
        if (given_up(server)) continue;
        // RFC 5452 9.2: with fresh_ids_, a new unpredictable id for every
        // packet sent (the Exchange writes it, once the socket is chosen).
        exchange_.emplace(engine_, pool_, schedule_, this->server(server), std::span(query_.data(), query_.size()),
                          fresh_ids_, Expected{0, asks_ ? &question_name_ : nullptr, question_type_, question_class_},
                          timeout_,
                          [this, server](const Result<Reply>& outcome) { on_outcome(server, outcome); }, tcp_);
        return;
    }
    // Out of tries: the last server failure if one replied; else what went
    // wrong, most telling first: a server that sent only malformed replies,
    // then queries that went out and met silence or a refusal, then our own
    // sockets that could not be opened or used (descriptors exhausted):
    // each its own status, never all reported as a timeout.
    if (failure_) {
        Status status = status_of_rcode(failure_->layout.rcode);
        return settle(status, *failure_);
    }
    if (malformed_) return settle(DNS_FORMATERROR, unexpected(malformed_));
    if (socket_error_ && !timed_out_) return settle(DNS_NETWORKERROR, unexpected(socket_error_));
    settle(DNS_TIMEOUT, unexpected(unreachable_ ? unreachable_ : make_error_code(DNS_TIMEOUT)));
}

void Lookup::on_outcome(std::size_t server, const Result<Reply>& outcome) {
    if (!outcome) {
        const std::error_code error = outcome.error();
        if (error == make_error_code(DNS_TIMEOUT)) {
            timed_out_ = true;
        } else if (error == make_error_code(DNS_FORMATERROR) || error.category() == wire_category()) {
            malformed_ = error;
        } else if (server_unreachable(error)) {
            // The query went out and the network said nobody answers there
            // (ICMP): as silence, the server could not be reached.
            timed_out_ = true;
            unreachable_ = error;
        } else {
            socket_error_ = error;  // our socket could not be opened or used
        }
        return next_try();
    }
    if (outcome->layout.rcode == DNS_FORMATERROR && !outcome->layout.edns && edns_opt_size_ != 0) {
        // RFC 6891 7: a server that does not know EDNS answers a query with
        // an OPT record FORMERR (and without OPT). Ask it again without one;
        // the servers after it get the plain query too. The OPT record is
        // the query's last and only additional record: cut it, ARCOUNT 0.
        query_.resize(query_.size() - std::exchange(edns_opt_size_, 0));
        query_.data()[10] = query_.data()[11] = 0;
        --slot_;  // the same server, not another try used up
        return next_try();
    }
    switch (outcome->layout.rcode) {
        case DNS_SERVERFAILURE:
        case DNS_NOTIMPLEMENTED:
        case DNS_REFUSED:
            // This server cannot help (RFC 1035 7.3 says try another);
            // do not ask it again in later rounds.
            failure_ = *outcome;
            give_up(server);
            return next_try();
        default:
            return settle(status_of_rcode(outcome->layout.rcode), outcome);
    }
}

// `reply` may be the Exchange's outcome or failure_: both live until this
// Lookup is destroyed, which `done` does only once it has read them.
void Lookup::settle(Status status, const Result<Reply>& reply) {
    if (servers_.empty() && !deferred_.active()) {
        // Nothing was sent, so we are still inside start(): report later.
        // No server, no reply: an error only.
        deferred_ = engine_.callback([this, status, error = reply.error()] {
            Done done = std::move(done_);
            done(status, unexpected(error));
        });
        return;
    }
    Done done = std::move(done_);
    done(status, reply);  // may destroy this: touch nothing after
}

}  // namespace pants::dns::detail
