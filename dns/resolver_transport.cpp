// One try of one query at one server: UDP, then TCP when truncated.
#include "resolver_transport.hpp"

#include <sys/random.h>

#include <random>

#include <pants/dns/name.hpp>
#include <pants/net_error.hpp>
#include <pants/stream.hpp>

namespace pants::dns::detail {

bool reply_matches(const Message& reply, const Expected& expected) {
    if (!reply.qr || reply.id != expected.id) return false;
    if (!expected.question) return true;
    // Without a question a reply proves nothing about our name: accept it
    // only as a failure that moves on and is never cached (RFC 1035 4.1.1:
    // a server that cannot parse a query may omit the question).
    if (reply.questions.empty())
        return reply.rcode == DNS_FORMATERROR || reply.rcode == DNS_SERVERFAILURE ||
               reply.rcode == DNS_NOTIMPLEMENTED || reply.rcode == DNS_REFUSED;
    if (reply.questions.size() != 1) return false;
    const Question& q = reply.questions.front();
    return q.type == expected.question->type && q.klass == expected.question->klass &&
           name_equal(q.name, expected.question->name);
}

std::uint16_t random_id() {
    std::uint16_t id = 0;
    // RFC 5452 9.2: ids must be unpredictable; getrandom() never blocks
    // once the kernel's pool is initialised, which it is after boot.
    if (::getrandom(&id, sizeof id, GRND_NONBLOCK) == sizeof id) return id;
    static std::random_device device;
    return static_cast<std::uint16_t>(device());
}

/// The UDP socket of one try: hands everything to the Exchange.
class Exchange::Udp final : public Datagram {
public:
    Udp(Engine& engine, Exchange& owner) : Datagram(engine), owner_(owner) {}
    void on_read(std::string_view data, const Address& from) override { owner_.on_udp(data, from); }
    void on_read_error(std::error_code error) override {
        // A reply too big for the receive buffer is what TCP is for (as a
        // truncated one); ECONNREFUSED (ICMP port unreachable) means nobody
        // listens.
        if (error == std::errc::message_size)
            owner_.on_oversized();
        else
            owner_.finish(unexpected(error));
    }
    void on_write_error(std::error_code error) override { owner_.finish(unexpected(error)); }
    // The socket itself failed (the channel closes): this try is over now,
    // not at its timeout.
    void on_error(std::error_code error) override { owner_.finish(unexpected(error)); }

private:
    Exchange& owner_;
};

/// The TCP connection of a try whose UDP reply was truncated. Shared by the
/// Exchange and the coroutine that drives it, which outlives the Exchange
/// when the try is abandoned mid-way.
struct Exchange::TcpLink {
    explicit TcpLink(Engine& engine) : stream(engine) {}
    Stream stream;
    Exchange* owner = nullptr;  // null once the Exchange is gone
};

Exchange::Exchange(Engine& engine, const Address& server, std::vector<std::uint8_t> query, Expected expected,
                   Engine::Duration timeout, Done done, bool tcp)
    : engine_(engine),
      server_(server),
      query_(std::move(query)),
      expected_(std::move(expected)),
      timeout_(timeout),
      done_(std::move(done)) {
    arm_timeout();
    if (tcp) {
        start_tcp();
        return;
    }
    udp_ = std::make_unique<Udp>(engine_, *this);
    // A fresh socket per try: a new ephemeral source port each time
    // (RFC 5452 9.2), and connect() makes the kernel drop datagrams from
    // any other source address.
    if (auto connected = udp_->connect(server_); !connected) {
        finish(unexpected(connected.error()));
        return;
    }
    udp_->write(std::string_view(reinterpret_cast<const char*>(query_.data()), query_.size()));
}

Exchange::~Exchange() {
    timeout_timer_.cancel();
    finish_timer_.cancel();
    if (tcp_) {
        tcp_->owner = nullptr;
        tcp_->stream.close();  // resumes the coroutine, which then ends
    }
}

void Exchange::arm_timeout() {
    timeout_timer_.cancel();
    timeout_timer_ = engine_.defer(timeout_, [this] {
        // Only garbage came: say why it was rejected (a WireError), not
        // that nothing came.
        finish(unexpected(malformed_ ? malformed_ : make_error_code(DNS_TIMEOUT)));
    });
}

void Exchange::on_udp(std::string_view data, const Address& from) {
    if (finished_ || tcp_) return;  // a late or duplicate datagram
    if (!(from == server_)) return;
    on_reply_bytes(data, false);
}

void Exchange::on_reply_bytes(std::string_view data, bool from_tcp) {
    auto reply = decode(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
    if (!reply || !reply_matches(*reply, expected_)) {
        if (!reply) malformed_ = reply.error();
        // Over UDP, anyone can send a datagram: drop it and keep waiting
        // for the real reply. Over TCP the connection is ours alone, and a
        // bad message means this server will not answer well.
        if (from_tcp) finish(unexpected(reply ? make_error_code(DNS_FORMATERROR) : reply.error()));
        return;
    }
    if (reply->tc && !from_tcp) return start_tcp();
    finish(std::move(*reply));
}

void Exchange::on_oversized() {
    if (!finished_ && !tcp_) start_tcp();
}

void Exchange::start_tcp() {
    if (udp_) udp_->close();
    arm_timeout();  // the TCP exchange gets a full timeout of its own
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

void Exchange::finish(Result<Message> outcome) {
    if (finished_) return;
    finished_ = true;
    timeout_timer_.cancel();
    // Report on a later turn: whoever owns this Exchange may destroy it
    // from `done`, and must not do so under a socket's own callback.
    finish_timer_ = engine_.callback([this, outcome = std::move(outcome)]() mutable {
        Done done = std::move(done_);
        done(std::move(outcome));
    });
}

}  // namespace pants::dns::detail
