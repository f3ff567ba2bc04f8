// libFuzzer target for the resolver's reply handling: what happens to the
// bytes a name server sends back, from the socket to the caller's answer.
//
// There is no seam below the sockets: a reply enters through the UDP
// socket's on_read (or the TCP stream's read_exactly), is matched to its
// query in Exchange (id, question, source), settled by Lookup (retries,
// SERVFAIL/REFUSED), turned into an Answer (answer_from_reply: CNAME chain,
// TTLs, negative caching) and cached by ResolverCore. So this target drives
// that whole path as the network does: a real Resolver on a real Engine
// asks a fake name server on 127.0.0.1 (a UDP socket and a TCP listener on
// the same port, served by hand between engine turns), and the fake server
// answers with the fuzzed bytes.
//
// Input: one mode byte, then records of [flags][length: 2 bytes, big
// endian][bytes]. Each UDP query the server receives is answered with the
// next batch of UDP records (a batch ends after a record with
// `end_of_batch`, or at the last one); each TCP connection gets the next
// TCP record, framed with its length unless `raw`. The query's id is
// written over the reply's first two bytes unless `keep_id`. The name and
// type asked are the first record's question when it has one (so captured
// replies make good seeds), else "example.com." A.
//
// Checks, besides the sanitizers: the caller hears back exactly once; a
// status other than a timeout or a format error needs a reply that was
// sent with the query's id and QR set (and, for a positive answer, exactly
// the question asked): a forged or mismatched reply must never become an
// answer; answered records are of the asked type; no TTL reaches 2^31
// (RFC 2181 8); and asking again answers from the cache, with the same
// records, when the first answer was cacheable.
//
// Build and run: fuzz/run.sh SECONDS fuzz_resolver_reply
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pants/dns/message.hpp>
#include <pants/dns/name.hpp>
#include <pants/dns/resolver.hpp>
#include <pants/engine.hpp>

namespace {

using namespace pants;
using namespace pants::dns;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_resolver_reply: %s\n", what);
    std::abort();
}

enum Flags : std::uint8_t {
    tcp = 1,           // a TCP reply (else a UDP datagram)
    keep_id = 2,       // do not write the query's id over the first two bytes
    raw = 4,           // TCP: send as is, without the two-byte length
    end_of_batch = 8,  // UDP: the last datagram for this query
};

struct Record {
    std::uint8_t flags;
    std::vector<std::uint8_t> bytes;
};

enum class Mode { query, send_message, gethostbyname_ex };

/// The fake name server: a UDP socket and a TCP listener on one loopback
/// port, both non-blocking, served between engine turns.
struct FakeServer {
    int udp = -1;
    int listener = -1;
    Address address;

    FakeServer() {
        for (int tries = 0; tries < 50 && listener < 0; ++tries) {
            udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            Address any = Address::loopback_v4(0);
            if (udp < 0 || ::bind(udp, any.data(), any.size()) != 0) fail("cannot bind the UDP server");
            address.set_size(Address::capacity());
            socklen_t len = address.size();
            ::getsockname(udp, address.data(), &len);
            address.set_size(len);
            listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            int one = 1;
            ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (::bind(listener, address.data(), address.size()) != 0 || ::listen(listener, 16) != 0) {
                ::close(listener);  // the TCP port is taken: try another
                ::close(udp);
                listener = -1;
            }
        }
        if (listener < 0) fail("cannot bind the TCP server");
    }
};

struct TcpPeer {
    int fd;
    std::vector<std::uint8_t> in;
    bool answered = false;
};

/// One input's conversation.
struct Conversation {
    FakeServer& server;
    const std::vector<Record>& records;
    std::size_t next_udp = 0;
    std::size_t next_tcp = 0;
    std::vector<TcpPeer> peers;
    std::vector<std::vector<std::uint8_t>> sent;  // every reply sent, after patching
    std::vector<std::uint16_t> ids;               // every query id seen
    int queries = 0;

    // The record's bytes with the query's id written in (at `at`: 2 for a
    // raw TCP stream, after its length), remembering the message the
    // resolver will read out of them.
    std::vector<std::uint8_t> patched(const Record& r, std::uint16_t id, std::size_t at = 0) {
        std::vector<std::uint8_t> bytes = r.bytes;
        if (!(r.flags & keep_id) && bytes.size() >= at + 2) {
            bytes[at] = static_cast<std::uint8_t>(id >> 8);
            bytes[at + 1] = static_cast<std::uint8_t>(id);
        }
        if (at == 0) {
            sent.push_back(bytes);
        } else if (bytes.size() >= 2) {
            const std::size_t len = std::min(std::size_t(bytes[0]) << 8 | bytes[1], bytes.size() - 2);
            sent.emplace_back(bytes.begin() + 2, bytes.begin() + 2 + std::ptrdiff_t(len));
        }
        return bytes;
    }

    // Answers what arrived; true if anything happened.
    bool serve() {
        bool busy = false;
        std::uint8_t buf[4096];
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        for (ssize_t n; (n = ::recvfrom(server.udp, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len)) >= 0;
             len = sizeof from) {
            busy = true;
            ++queries;
            if (n < 2) continue;
            const std::uint16_t id = static_cast<std::uint16_t>(buf[0] << 8 | buf[1]);
            ids.push_back(id);
            while (next_udp < records.size()) {
                const Record& r = records[next_udp++];
                if (r.flags & tcp) continue;
                auto bytes = patched(r, id);
                ::sendto(server.udp, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
                if (r.flags & end_of_batch) break;
            }
        }
        for (int fd; (fd = ::accept4(server.listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
            busy = true;
            peers.push_back({fd, {}, false});
        }
        for (auto& peer : peers) {
            if (peer.answered) continue;
            ssize_t n;
            while ((n = ::recv(peer.fd, buf, sizeof buf, 0)) > 0) {
                busy = true;
                peer.in.insert(peer.in.end(), buf, buf + n);
            }
            const bool closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
            if (peer.in.size() < 4 && !closed) continue;
            // A whole framed query (or the client gave up): answer it.
            if (peer.in.size() >= 2 && !closed) {
                const std::size_t want = std::size_t(peer.in[0]) << 8 | peer.in[1];
                if (peer.in.size() < want + 2) continue;
            }
            busy = true;
            ++queries;
            const std::uint16_t id = peer.in.size() >= 4 ? static_cast<std::uint16_t>(peer.in[2] << 8 | peer.in[3]) : 0;
            ids.push_back(id);
            peer.answered = true;
            while (next_tcp < records.size() && !(records[next_tcp].flags & tcp)) ++next_tcp;
            if (next_tcp < records.size()) {
                const Record& r = records[next_tcp++];
                std::vector<std::uint8_t> bytes;
                if (r.flags & raw) {
                    bytes = patched(r, id, 2);
                } else {
                    auto body = patched(r, id);
                    bytes.push_back(static_cast<std::uint8_t>(body.size() >> 8));
                    bytes.push_back(static_cast<std::uint8_t>(body.size()));
                    bytes.insert(bytes.end(), body.begin(), body.end());
                }
                // Loopback takes up to 64 KiB at once; a short write just
                // means a shorter reply, which the resolver must survive too.
                (void)::send(peer.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            }
            ::shutdown(peer.fd, SHUT_WR);
        }
        return busy;
    }

    ~Conversation() {
        for (auto& peer : peers) ::close(peer.fd);
    }

    /// True when some reply sent had QR set and one of the query ids; with
    /// `question`, also exactly that one question (RFC 5452 9.1).
    bool matching_reply_sent(const std::optional<Question>& question, bool failures_without_question) const {
        for (const auto& bytes : sent) {
            auto m = decode(bytes);
            if (!m || !m->qr) continue;
            bool id_seen = false;
            for (auto id : ids) id_seen |= id == m->id;
            if (!id_seen) continue;
            if (!question) return true;
            if (m->questions.empty() && failures_without_question && m->rcode != 0) return true;
            if (m->questions.size() != 1) continue;
            const Question& q = m->questions.front();
            if (q.type == question->type && q.klass == question->klass && name_equal(q.name, question->name))
                return true;
        }
        return false;
    }
};

std::optional<std::vector<Record>> parse_input(const std::uint8_t* data, std::size_t size, Mode& mode) {
    if (size < 1) return std::nullopt;
    mode = static_cast<Mode>(data[0] % 3);
    std::vector<Record> records;
    std::size_t pos = 1;
    while (pos + 3 <= size && records.size() < 16) {
        const std::uint8_t flags = data[pos];
        std::size_t len = std::size_t(data[pos + 1]) << 8 | data[pos + 2];
        pos += 3;
        len = std::min(len, size - pos);
        records.push_back({flags, std::vector<std::uint8_t>(data + pos, data + pos + len)});
        pos += len;
    }
    return records;
}

Engine& engine() {
    static Engine* e = [] {
        Engine::Options options;
        // epoll unless PANTS_BACKEND says otherwise: its turns are the most
        // predictable, and both backends deliver through the same channels.
        options.backend = std::getenv("PANTS_BACKEND") ? BackendKind::automatic : BackendKind::epoll;
        options.buffer_count = 16;
        return new Engine(options);
    }();
    return *e;
}

FakeServer& server() {
    static FakeServer* s = new FakeServer;
    return *s;
}

struct Heard {
    int calls = 0;
    Status status = DNS_TIMEOUT;
    std::string cname;
    std::uint32_t ttl = 0;
    std::vector<Rdata> rdata;
};

// Runs turns, serving the fake server, until `done` or nothing moves for a
// while (then the remaining waits are timeouts, which we do not wait for).
void run(Engine& e, Conversation& conversation, const std::function<bool()>& done) {
    int idle = 0;
    for (int turn = 0; turn < 400 && idle < 12 && !done(); ++turn) {
        e.poll(std::chrono::milliseconds(0));
        idle = conversation.serve() ? 0 : idle + 1;
    }
}

void check_answer(const Heard& heard, std::uint16_t qtype) {
    if (heard.ttl > 0x7fffffffu) fail("a TTL of 2^31 or more was not treated as 0");
    if (heard.status == DNS_OK && qtype != ANY)
        for (const auto& r : heard.rdata)
            if (rdata_type(r) != qtype && rdata_type(r) != 0)  // 0: rdata::Raw, any type
                fail("an answer holds records of another type");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Mode mode;
    auto records = parse_input(data, size, mode);
    if (!records) return 0;

    Question question{"example.com.", A, IN};
    if (!records->empty()) {
        if (auto first = decode(records->front().bytes); first && !first->questions.empty()) {
            const Question& q = first->questions.front();
            if (q.klass == IN && q.type != 0 && normalize_name(q.name)) question = {*normalize_name(q.name), q.type, IN};
        }
    }

    Engine& e = engine();
    FakeServer& fake = server();
    Conversation conversation{fake, *records, 0, 0, {}, {}, {}, 0};

    Resolver::Options options;
    options.servers = {fake.address};
    options.resolv_conf_path.clear();
    options.hosts_path.clear();
    options.timeout = std::chrono::seconds(10);  // never reached: idle runs end by shutdown
    options.attempts = 2;
    auto resolver = std::make_unique<Resolver>(options, e);

    Heard heard;
    std::optional<Result<Message>> raw_reply;
    switch (mode) {
    case Mode::query:
        resolver->query(question.name, question.type,
                        [&](Status s, std::string cname, std::uint32_t ttl, std::vector<Rdata> rdata) {
                            heard = {heard.calls + 1, s, std::move(cname), ttl, std::move(rdata)};
                        });
        break;
    case Mode::send_message: {
        auto wire = encode_query(0x1234, question.name, question.type);
        if (!wire) return 0;
        resolver->send_message(std::move(*wire), [&](Status s, Result<Message> reply) {
            heard.calls++;
            heard.status = s;
            raw_reply = std::move(reply);
        });
        break;
    }
    case Mode::gethostbyname_ex:
        question.type = A;
        resolver->gethostbyname_ex(question.name, [&](Status s, HostEntry entry) {
            heard.calls++;
            heard.status = s;
            if (s == DNS_OK && entry.addresses.empty()) fail("gethostbyname_ex: DNS_OK without an address");
        });
        break;
    }

    run(e, conversation, [&] { return heard.calls > 0; });
    const bool answered = heard.calls > 0;
    if (!answered) {
        // Everything left is waiting for a timeout: destroying the
        // Resolver answers DNS_TIMEOUT on a later turn.
        resolver.reset();
        for (int turn = 0; turn < 50 && heard.calls == 0; ++turn) e.poll(std::chrono::milliseconds(0));
        if (heard.calls != 1) fail("destroying the Resolver did not answer the pending query");
        if (heard.status != DNS_TIMEOUT) fail("a query answered at shutdown with a status other than DNS_TIMEOUT");
    }
    if (heard.calls != 1) fail("the callback ran more than once");
    if (std::getenv("FUZZ_VERBOSE"))  // to see what the seeds reach
        std::fprintf(stderr, "mode %d %s type %u: status %d, %zu records, %d queries (%zu over TCP)\n", int(mode),
                     question.name.c_str(), unsigned(question.type), int(heard.status), heard.rdata.size(),
                     conversation.queries, conversation.peers.size());

    if (heard.status != DNS_TIMEOUT && heard.status != DNS_FORMATERROR) {
        // Only a reply to our query may settle it.
        const bool positive = heard.status == DNS_OK || heard.status == DNS_NAMEERROR;
        if (!conversation.matching_reply_sent(question, !positive))
            fail("a status came from no reply matching the query (id, QR, question)");
    }
    if (mode == Mode::send_message && raw_reply && *raw_reply) {
        if (!(*raw_reply)->qr) fail("send_message gave back a reply without QR");
    }
    if (mode == Mode::query) {
        check_answer(heard, question.type);
        if (resolver && (heard.status == DNS_OK || heard.status == DNS_NAMEERROR)) {
            // Asked again: from the cache if it was cacheable (the fake
            // server then hears nothing), else from the server (which has
            // nothing more to say: we stop there).
            const int queries_before = conversation.queries;
            Heard again;
            resolver->query(question.name, question.type,
                            [&](Status s, std::string cname, std::uint32_t ttl, std::vector<Rdata> rdata) {
                                again = {again.calls + 1, s, std::move(cname), ttl, std::move(rdata)};
                            });
            run(e, conversation, [&] { return again.calls > 0; });
            if (again.calls > 0 && conversation.queries == queries_before) {
                if (again.status != heard.status || again.rdata != heard.rdata || again.cname != heard.cname)
                    fail("a cached answer differs from the answer it came from");
                if (again.ttl > heard.ttl) fail("a cached answer's TTL grew");
            }
            resolver.reset();
            for (int turn = 0; turn < 50 && again.calls == 0; ++turn) e.poll(std::chrono::milliseconds(0));
            if (again.calls != 1) fail("the second query was not answered exactly once");
        }
    }
    resolver.reset();
    // Let closed sockets and the TCP coroutine finish before the next input.
    for (int turn = 0; turn < 50 && e.detached_tasks() > 0; ++turn) e.poll(std::chrono::milliseconds(0));
    // Drain whatever the resolver's sockets left at the server.
    conversation.serve();
    return 0;
}
