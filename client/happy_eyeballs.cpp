#include "happy_eyeballs.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <variant>

#include <pants/net_error.hpp>

#include "net/socket.hpp"

namespace pants::detail {
namespace {

Address from_rdata(const dns::rdata::A& a, std::uint16_t port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    std::memcpy(&sa.sin_addr, a.address.data(), a.address.size());
    return Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
}

Address from_rdata(const dns::rdata::AAAA& a, std::uint16_t port) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    std::memcpy(&sa.sin6_addr, a.address.data(), a.address.size());
    return Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
}

}  // namespace

Result<void> HappyEyeballs::start(StreamIo& io, dns::Resolver& resolver, std::string host, std::uint16_t port,
                                  std::chrono::milliseconds attempt_delay) {
    auto race = std::make_shared<HappyEyeballs>(io, port, attempt_delay);
    if (auto r = io.begin_connect(*race); !r) return r;
    race->self_ = race;
    // The resolver may answer after this race is over (or after the Client
    // and its own resolver are gone): the answers only reach a live race.
    std::weak_ptr<HappyEyeballs> weak = race;
    auto answer = [weak](bool v6) {
        return [weak, v6](dns::Status status, std::string, std::uint32_t, std::vector<dns::Rdata> rdata) {
            if (auto r = weak.lock()) r->on_answer(v6, status, std::move(rdata));
        };
    };
    // RFC 8305 3: both queries go out at once, AAAA first.
    resolver.query(host, dns::AAAA, answer(true));
    resolver.query(host, dns::A, answer(false));
    return ok();
}

HappyEyeballs::HappyEyeballs(StreamIo& io, std::uint16_t port, std::chrono::milliseconds attempt_delay)
    : io_(&io), engine_(io.engine), port_(port), attempt_delay_(attempt_delay) {}

HappyEyeballs::~HappyEyeballs() {
    stagger_timer_.cancel();
    resolution_timer_.cancel();
}

// --- resolution (RFC 8305 3) ------------------------------------------------

void HappyEyeballs::on_answer(bool v6, dns::Status status, std::vector<dns::Rdata> rdata) {
    if (reported_ || cancelled_) return;
    (v6 ? aaaa_done_ : a_done_) = true;
    (v6 ? aaaa_status_ : a_status_) = status;
    for (const dns::Rdata& r : rdata) {
        if (const auto* a = std::get_if<dns::rdata::A>(&r)) v4_.push_back(from_rdata(*a, port_));
        if (const auto* a = std::get_if<dns::rdata::AAAA>(&r)) v6_.push_back(from_rdata(*a, port_));
    }
    if (!started_) {
        if (aaaa_done_) {
            started_ = true;
            resolution_timer_.cancel();
            return start_next();
        }
        // A came first: give AAAA the Resolution Delay before going IPv4.
        if (!v4_.empty() && !resolution_timer_.active()) {
            std::weak_ptr<HappyEyeballs> weak = weak_from_this();
            resolution_timer_ = engine_.defer(kResolutionDelay, [weak] {
                auto r = weak.lock();
                if (!r || r->started_ || r->reported_ || r->cancelled_) return;
                r->started_ = true;
                r->start_next();
            });
        }
        return;
    }
    // Addresses that arrive while racing join the list (RFC 8305 3); they
    // start now if nothing runs or the current attempt already had its delay.
    if (attempts_in_flight() == 0 || delay_passed_) start_next();
}

std::error_code HappyEyeballs::resolution_error() const {
    // NXDOMAIN for either family means the name does not exist.
    if (a_status_ == dns::DNS_NAMEERROR || aaaa_status_ == dns::DNS_NAMEERROR)
        return dns::make_error_code(dns::DNS_NAMEERROR);
    if (a_status_ != dns::DNS_OK) return dns::make_error_code(a_status_);
    if (aaaa_status_ != dns::DNS_OK) return dns::make_error_code(aaaa_status_);
    // Both answered with no address records: no such host to connect to.
    return dns::make_error_code(dns::DNS_NAMEERROR);
}

// --- attempts (RFC 8305 4 and 5) ---------------------------------------------

void HappyEyeballs::start_next() {
    if (reported_ || cancelled_) return;
    stagger_timer_.cancel();
    delay_passed_ = false;
    for (;;) {
        // RFC 8305 4: alternate the families, IPv6 first.
        std::vector<Address>* list = next_v6_ ? &v6_ : &v4_;
        if (list->empty()) list = next_v6_ ? &v4_ : &v6_;
        if (list->empty()) break;
        Address address = list->front();
        list->erase(list->begin());
        next_v6_ = !address.is_ipv6();
        if (!start_attempt(address)) continue;  // no socket: on to the next address at once
        std::weak_ptr<HappyEyeballs> weak = weak_from_this();
        stagger_timer_ = engine_.defer(attempt_delay_, [weak] {
            auto r = weak.lock();
            if (!r) return;
            if (r->v6_.empty() && r->v4_.empty())
                r->delay_passed_ = true;  // a late answer may still bring one
            else
                r->start_next();
        });
        return;
    }
    // Nothing left to try now. We got here because an attempt failed or the
    // delay passed: either way an address that arrives later starts at once,
    // not when a hanging attempt finally times out.
    delay_passed_ = true;
    // Wait for attempts still running or answers still due, else every
    // address has failed (or there were none).
    if (attempts_in_flight() > 0 || !aaaa_done_ || !a_done_) return;
    report(-1, last_error_ ? last_error_ : resolution_error());
}

bool HappyEyeballs::start_attempt(const Address& address) {
    auto s = open_socket(address.family(), SOCK_STREAM);
    if (!s) {
        last_error_ = s.error();
        return false;
    }
    auto& attempt = *attempts_.emplace_back(std::make_unique<Attempt>(this));
    attempt.target = address;
    attempt.socket = *s;
    attempt.kind = OpKind::connect;
    attempt.fd = *s;
    attempt.address = attempt.target.data();
    attempt.address_size = attempt.target.size();
    engine_.backend().submit(attempt);
    return true;
}

std::size_t HappyEyeballs::attempts_in_flight() const noexcept {
    std::size_t n = 0;
    for (const auto& a : attempts_) n += a->in_flight ? 1 : 0;
    return n;
}

void HappyEyeballs::on_attempt_done(Operation& op, const Completion& c) {
    auto& attempt = static_cast<Attempt&>(op);
    attempt.race->attempt_done(attempt, c.result);
}

void HappyEyeballs::attempt_done(Attempt& attempt, int result) {
    int fd = std::exchange(attempt.socket, -1);
    if (result >= 0 && !reported_ && !cancelled_) {
        // The winner: the others are cancelled (their completions still
        // come back here and close their sockets), the Client takes this one.
        for (auto& other : attempts_)
            if (other->in_flight) engine_.backend().cancel(*other);
        report(fd, {});
    } else {
        if (fd >= 0) engine_.backend().close(fd);
        if (result < 0 && result != -ECANCELED) last_error_ = errno_code(-result);
        start_next();  // RFC 8305 5: a failure starts the next attempt at once
    }
    release_if_drained();
}

// --- the end -----------------------------------------------------------------

void HappyEyeballs::cancel() noexcept {
    if (reported_ || cancelled_) return;
    cancelled_ = true;
    stagger_timer_.cancel();
    resolution_timer_.cancel();
    for (auto& a : attempts_)
        if (a->in_flight) engine_.backend().cancel(*a);
    // Answer on a later turn: never inside the StreamIo's close().
    engine_.callback([self = shared_from_this()] {
        self->report(-1, make_error_code(NetError::closed));
    });
}

void HappyEyeballs::report(int fd, std::error_code error) {
    if (reported_) return;
    reported_ = true;
    stagger_timer_.cancel();
    resolution_timer_.cancel();
    std::exchange(io_, nullptr)->adopt_connection(fd, error);
    release_if_drained();
}

void HappyEyeballs::release_if_drained() {
    if (!reported_ || attempts_in_flight() > 0 || !self_) return;
    // Freed on a later turn: this may run inside an attempt's completion
    // handler, and the backend may still look at that Operation after it.
    engine_.callback([self = std::move(self_)] {});
}

}  // namespace pants::detail
