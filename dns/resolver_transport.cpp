// One try of one query at one server: UDP, then TCP when truncated.
#include "resolver_transport.hpp"

#include <sys/random.h>

#include <random>

#include <pants/net_error.hpp>
#include <pants/stream.hpp>

namespace pants::dns::detail {

std::uint16_t random_id() {
    // RFC 5452 9.2: ids must be unpredictable. The kernel's CSPRNG output,
    // fetched 256 bytes at a time (a syscall per id cost more than the
    // rest of choosing it); getrandom() never blocks once the kernel's pool
    // is initialised, which it is after boot.
    thread_local std::uint8_t pool[256];
    thread_local std::size_t left = 0;
    if (left < 2) {
        if (::getrandom(pool, sizeof pool, GRND_NONBLOCK) == ssize_t(sizeof pool)) {
            left = sizeof pool;
        } else {
            static std::random_device device;
            return static_cast<std::uint16_t>(device());
        }
    }
    left -= 2;
    const auto id = static_cast<std::uint16_t>(pool[left] << 8 | pool[left + 1]);
    pool[left] = pool[left + 1] = 0;  // used: not kept in memory
    return id;
}

/// The TCP connection of a try whose UDP reply was truncated. Shared by the
/// Exchange and the coroutine that drives it, which outlives the Exchange
/// when the try is abandoned mid-way.
struct Exchange::TcpLink {
    explicit TcpLink(Engine& engine) : stream(engine) {}
    Stream stream;
    Exchange* owner = nullptr;  // null once the Exchange is gone
};

Exchange::Exchange(Engine& engine, UdpPool& pool, TrySchedule& schedule, const Address& server,
                   std::span<std::uint8_t> query, bool fresh_id, Expected expected, Engine::Duration timeout, Done done,
                   bool tcp)
    : engine_(engine),
      pool_(pool),
      schedule_(schedule),
      server_(server),
      query_(query),
      expected_(expected),
      timeout_(timeout),
      done_(std::move(done)),
      outcome_(unexpected(make_error_code(DNS_TIMEOUT))) {
    schedule_.arm(*this, timeout_);
    if (tcp) {
        if (fresh_id) {
            const std::uint16_t id = random_id();
            query_[0] = static_cast<std::uint8_t>(id >> 8);
            query_[1] = static_cast<std::uint8_t>(id & 0xFF);
        }
        expected_.id = static_cast<std::uint16_t>(query_[0] << 8 | query_[1]);
        start_tcp();
        return;
    }
    auto port = pool_.send(server_, query_, *this, fresh_id);
    expected_.id = static_cast<std::uint16_t>(query_[0] << 8 | query_[1]);
    if (port)
        port_ = *port;
    else
        finish(unexpected(port.error()));  // no socket: EMFILE and the like
}

Exchange::~Exchange() {
    release_udp();  // the schedule forgets us in ~Entry
    if (tcp_) {
        tcp_->owner = nullptr;
        tcp_->stream.close();  // resumes the coroutine, which then ends
    }
}

void Exchange::on_deadline() {
    // Only garbage came: say why it was rejected (a WireError), not that
    // nothing came.
    finish(unexpected(malformed_ ? malformed_ : make_error_code(DNS_TIMEOUT)));
}

void Exchange::release_udp() noexcept {
    pool_.release(std::exchange(port_, nullptr), *this);
}

// The pool hands over only datagrams from the server with our id (or too
// short to carry one); the rest is checked here.
void Exchange::on_udp_reply(std::string_view data) {
    if (finished_ || tcp_) return;  // a late or duplicate datagram
    on_reply_bytes(data, false);
}

void Exchange::on_udp_oversized() {
    if (!finished_ && !tcp_) start_tcp();
}

void Exchange::on_udp_error(std::error_code error) {
    // ECONNREFUSED (ICMP port unreachable: nobody listens), or the socket
    // itself failed: this try is over now, not at its timeout.
    finish(unexpected(error));
}

void Exchange::on_reply_bytes(std::string_view data, bool from_tcp) {
    const std::span bytes(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    auto reply = scan_reply(bytes);
    if (!reply || !reply_matches(bytes, *reply, expected_)) {
        if (!reply) malformed_ = reply.error();
        // Over UDP, anyone can send a datagram: drop it and keep waiting
        // for the real reply. Over TCP the connection is ours alone, and a
        // bad message means this server will not answer well.
        if (from_tcp) finish(unexpected(reply ? make_error_code(DNS_FORMATERROR) : reply.error()));
        return;
    }
    if (reply->tc && !from_tcp) return start_tcp();
    finish(Reply{*reply, MessageBytes(bytes)});
}

void Exchange::start_tcp() {
    release_udp();
    schedule_.arm(*this, timeout_);  // the TCP exchange gets a full timeout of its own
    tcp_ = std::make_shared<TcpLink>(engine_);
    tcp_->owner = this;
    // RFC 1035 4.2.2: over TCP each message is preceded by its length.
    std::string framed;
    framed.reserve(query_.size() + 2);
    framed.push_back(static_cast<char>(query_.size() >> 8));
    framed.push_back(static_cast<char>(query_.size() & 0xFF));
    framed.append(reinterpret_cast<const char*>(query_.data()), query_.size());
    engine_.spawn(run_tcp(tcp_, server_, std::move(framed)));
}

Task<> Exchange::run_tcp(std::shared_ptr<TcpLink> link, Address server, std::string framed) {
    co_await tcp_exchange(*link, server, std::move(framed));
    // This coroutine may have been resumed from inside the Stream's own
    // close notification: free the Stream on a later turn, not under it.
    Engine& engine = link->stream.engine();
    engine.callback([keep = std::move(link)] {});
}

namespace {
// The server closed the connection before a whole reply came: a reply cut
// short is a malformed reply (a server problem), not a timeout and not a
// failure of our socket.
std::error_code cut_short(std::error_code error) {
    return error == NetError::end_of_stream ? make_error_code(WireError::truncated) : error;
}
}  // namespace

Task<> Exchange::tcp_exchange(TcpLink& link, const Address& server, std::string framed) {
    auto connected = co_await link.stream.connect(server);
    if (!link.owner) co_return;
    if (!connected) co_return link.owner->finish(unexpected(connected.error()));
    link.stream.write(framed);
    auto head = co_await link.stream.read_exactly(2);
    if (!link.owner) co_return;
    if (!head) co_return link.owner->finish(unexpected(cut_short(head.error())));
    std::size_t length = std::size_t(std::uint8_t((*head)[0])) << 8 | std::uint8_t((*head)[1]);
    if (length == 0) co_return link.owner->finish(unexpected(make_error_code(WireError::truncated)));
    auto body = co_await link.stream.read_exactly(length);
    if (!link.owner) co_return;
    if (!body) co_return link.owner->finish(unexpected(cut_short(body.error())));
    link.owner->on_reply_bytes(*body, true);
    link.stream.close();
}

void Exchange::finish(Result<Reply> outcome) {
    if (finished_) return;
    finished_ = true;
    schedule_.disarm(*this);
    release_udp();  // later datagrams are nothing to us
    // Report on a later turn: whoever owns this Exchange may destroy it
    // from `done`, and must not do so under a socket's own callback.
    outcome_ = std::move(outcome);
    schedule_.report_later(*this);
}

void Exchange::on_report() {
    Done done = std::move(done_);
    done(outcome_);  // may destroy this: touch nothing after
}

}  // namespace pants::dns::detail
