// The resolver's pooled UDP sockets (dns/resolver_udp_pool.*, issue 14):
// queries share a few sockets per server, yet source ports still vary,
// replies still go only to the query they answer, and no socket is left
// behind.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include "net_helpers.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using pants::Address;
namespace dns = pants::dns;

namespace {

std::string bytes_of(const dns::Message& m) {
    auto bytes = dns::encode(m);
    REQUIRE(bytes);
    return std::string(bytes->begin(), bytes->end());
}

dns::Message reply_to(const dns::Message& q, std::array<std::uint8_t, 4> ip) {
    dns::Message r;
    r.id = q.id;
    r.qr = true;
    r.rd = q.rd;
    r.questions = q.questions;
    r.answers.push_back(dns::ResourceRecord{q.questions.at(0).name, dns::A, dns::IN, 300, dns::rdata::A{ip}});
    return r;
}

/// A DNS server on 127.0.0.1 that keeps each query with its sender and
/// answers only when the test says so.
struct Server : pants::Datagram {
    struct Query {
        dns::Message message;
        Address from;
    };
    explicit Server(pants::Engine& engine) : pants::Datagram(engine) {
        REQUIRE(listen(Address::loopback_v4(0)));
        address = *local_address();
    }
    void on_read(std::string_view data, const Address& from) override {
        auto m = dns::decode(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
        REQUIRE(m);
        queries.push_back(Query{*m, from});
        if (answer_at_once) write(bytes_of(reply_to(*m, {10, 0, 0, 1})), from);
        if (answer_at_once && late_copies) write(bytes_of(reply_to(*m, {6, 6, 6, 6})), from);
    }
    Address address;
    std::vector<Query> queries;
    bool answer_at_once = true;
    bool late_copies = false;  // each reply followed by a second, wrong one
};

dns::Resolver::Options options(const Address& server, bool cache = false) {
    dns::Resolver::Options o;
    o.servers = {server};
    o.resolv_conf_path.clear();
    o.hosts_path.clear();
    o.timeout = 3000ms;
    o.attempts = 1;
    o.cache = cache;
    return o;
}

std::size_t open_fds() {
    std::size_t n = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    REQUIRE(dir);
    while (dirent* e = ::readdir(dir))
        if (e->d_name[0] != '.') ++n;
    ::closedir(dir);
    return n - 1;  // the directory's own descriptor
}

/// Asks for `count` names, `window` at a time; returns the answers' statuses.
std::vector<dns::Status> ask(pants::Engine& engine, dns::Resolver& resolver, int count, int window) {
    std::vector<dns::Status> statuses;
    int sent = 0;
    std::function<void()> next = [&] {
        resolver.query("n" + std::to_string(sent++) + ".pool.test.", dns::A,
                       [&](dns::Status s, std::string, std::uint32_t, std::vector<dns::Rdata>) {
                           statuses.push_back(s);
                           if (sent < count) next();
                       });
    };
    for (int i = 0; i < window && sent < count; ++i) next();
    REQUIRE(engine.run_until([&] { return int(statuses.size()) == count; }, 20000ms));
    return statuses;
}

}  // namespace

TEST_CASE("queries share sockets, yet their source ports vary and each socket is retired in time") {
    pants::Engine engine;
    Server server(engine);
    dns::Resolver resolver(options(server.address), engine);
    const int count = 640;
    for (dns::Status s : ask(engine, resolver, count, 32)) CHECK(s == dns::DNS_OK);
    REQUIRE(server.queries.size() == std::size_t(count));
    std::map<std::uint16_t, int> per_port;
    for (const auto& q : server.queries) ++per_port[q.from.port()];
    // At most 32 queries per socket: at least 20 different source ports,
    // and no port carried more than its share. The kernel picks each new
    // socket's port at random and a closed one is free again, so now and
    // then (a few runs in a hundred) two sockets in turn get the same
    // port: one port may carry two sockets' share, never more.
    CHECK(per_port.size() >= std::size_t(count / 32) - 1);
    int shared = 0;
    for (const auto& [port, n] : per_port) {
        CHECK(n <= 2 * 32);
        if (n > 32) ++shared;
    }
    CHECK(shared <= 1);
    // Sharing is real: fewer sockets than queries (one each was the old cost).
    CHECK(per_port.size() < std::size_t(count / 4));
}

// A socket that has carried its share of queries moves to a new random
// port once they are done (connect(AF_UNSPEC), then connect()). Replies
// that reach it late, for queries already answered, may be read after the
// move: they must answer nobody, there or on any other socket.
TEST_CASE("sockets that move to a new port after their share of queries ignore late replies to the old one") {
    pants::Engine engine;
    Server server(engine);
    server.late_copies = true;
    dns::Resolver resolver(options(server.address), engine);
    const int count = 640;
    int sent = 0, good = 0, answered = 0;
    std::function<void()> next = [&] {
        resolver.query("late" + std::to_string(sent++) + ".pool.test.", dns::A,
                       [&](dns::Status s, std::string, std::uint32_t, std::vector<dns::Rdata> r) {
                           ++answered;
                           if (s == dns::DNS_OK && r.size() == 1 &&
                               std::get<dns::rdata::A>(r[0]).address == std::array<std::uint8_t, 4>{10, 0, 0, 1})
                               ++good;
                           if (sent < count) next();
                       });
    };
    for (int i = 0; i < 8; ++i) next();
    REQUIRE(engine.run_until([&] { return answered == count; }, 20000ms));
    CHECK(good == count);
    std::map<std::uint16_t, int> per_port;
    for (const auto& q : server.queries) ++per_port[q.from.port()];
    CHECK(per_port.size() >= std::size_t(count / 32) - 1);  // the ports still change
    for (const auto& [port, n] : per_port) CHECK(n <= 2 * 32);
}

TEST_CASE("concurrent queries on shared sockets each get their own answer, whatever order the replies come in") {
    pants::Engine engine;
    Server server(engine);
    server.answer_at_once = false;
    dns::Resolver resolver(options(server.address), engine);
    const int count = 24;
    std::map<std::string, std::array<std::uint8_t, 4>> got;
    for (int i = 0; i < count; ++i) {
        std::string name = "c" + std::to_string(i) + ".pool.test.";
        resolver.query(name, dns::A, [&got, name](dns::Status s, std::string, std::uint32_t, std::vector<dns::Rdata> r) {
            CHECK(s == dns::DNS_OK);
            REQUIRE(r.size() == 1);
            got[name] = std::get<dns::rdata::A>(r[0]).address;
        });
    }
    REQUIRE(engine.run_until([&] { return server.queries.size() == std::size_t(count); }, 10000ms));
    std::set<std::uint16_t> ports;
    for (const auto& q : server.queries) ports.insert(q.from.port());
    CHECK(ports.size() < std::size_t(count));  // some socket carries several queries
    // Forgeries first, on each query's own port: another query's id with
    // this query's question, this id with another question, an id nobody
    // waits for. Then the real replies, last query first.
    for (std::size_t i = 0; i < server.queries.size(); ++i) {
        const auto& q = server.queries[i];
        const auto& other = server.queries[(i + 1) % server.queries.size()];
        auto wrong_id = reply_to(q.message, {6, 6, 6, 1});
        wrong_id.id = other.message.id;
        server.write(bytes_of(wrong_id), q.from);
        auto wrong_question = reply_to(other.message, {6, 6, 6, 2});
        wrong_question.id = q.message.id;
        server.write(bytes_of(wrong_question), q.from);
        auto nobody = reply_to(q.message, {6, 6, 6, 3});
        nobody.id = static_cast<std::uint16_t>(q.message.id ^ 0x8000);
        server.write(bytes_of(nobody), q.from);
    }
    for (std::size_t i = server.queries.size(); i-- > 0;) {
        const auto& q = server.queries[i];
        server.write(bytes_of(reply_to(q.message, {10, 1, 0, std::uint8_t(i)})), q.from);
    }
    REQUIRE(engine.run_until([&] { return got.size() == std::size_t(count); }, 10000ms));
    for (std::size_t i = 0; i < server.queries.size(); ++i) {
        const auto& q = server.queries[i];
        CHECK(got[q.message.questions[0].name] == std::array<std::uint8_t, 4>{10, 1, 0, std::uint8_t(i)});
    }
}

TEST_CASE("a reply from the server's address but another port is dropped on a shared socket") {
    pants::Engine engine;
    Server server(engine), impostor(engine);
    server.answer_at_once = false;
    dns::Resolver resolver(options(server.address), engine);
    std::optional<dns::Answer> got;
    resolver.query("spoof.pool.test.", dns::A, [&](dns::Status s, std::string c, std::uint32_t t, std::vector<dns::Rdata> r) {
        got = dns::Answer{s, std::move(c), t, std::move(r), {}};
    });
    REQUIRE(engine.run_until([&] { return server.queries.size() == 1; }, 10000ms));
    const auto& q = server.queries[0];
    impostor.write(bytes_of(reply_to(q.message, {6, 6, 6, 6})), q.from);
    // The impostor's datagram has reached the socket (or been dropped by
    // the kernel) once the real server's later one has: send it after.
    server.write(bytes_of(reply_to(q.message, {10, 0, 0, 9})), q.from);
    REQUIRE(engine.run_until([&] { return got.has_value(); }, 10000ms));
    REQUIRE(got->rdata.size() == 1);
    CHECK(std::get<dns::rdata::A>(got->rdata[0]).address == std::array<std::uint8_t, 4>{10, 0, 0, 9});
}

TEST_CASE("no socket is left open: idle sockets close, and so do all of them with the resolver") {
    pants::Engine engine;
    Server server(engine);
    const std::size_t before = open_fds();
    {
        dns::Resolver resolver(options(server.address), engine);
        for (dns::Status s : ask(engine, resolver, 300, 32)) CHECK(s == dns::DNS_OK);
        CHECK(open_fds() > before);  // the pool keeps some for the next queries
        CHECK(open_fds() <= before + 8);
        // A second without queries: the pool closes them all.
        REQUIRE(engine.run_until([&] { return open_fds() == before; }, 5000ms));
        for (dns::Status s : ask(engine, resolver, 100, 32)) CHECK(s == dns::DNS_OK);
        CHECK(open_fds() > before);
    }
    // Destroyed while its sockets were open: they close (on a later turn).
    REQUIRE(engine.run_until([&] { return open_fds() == before; }, 5000ms));
}

// Sent at once with send(2) (issue 14), a query can be the first to hear
// of an earlier datagram's ICMP port-unreachable: that refusal must still
// end every query on the socket early, and its own datagram still go out.
TEST_CASE("queries to a port nobody listens on all end early, refused, many to a socket") {
    // A loopback port that was free a moment ago and has nobody now.
    const Address nobody = Address::loopback_v4(test::free_loopback_port(SOCK_DGRAM));

    pants::Engine engine;
    auto o = options(nobody);
    o.timeout = 5000ms;
    dns::Resolver resolver(o, engine);
    // 24 queries in one turn over the pool's few sockets: most sockets
    // carry several, sent while earlier ones' refusals are pending.
    const int count = 24;
    std::vector<dns::Status> statuses;
    for (int i = 0; i < count; ++i)
        resolver.query("r" + std::to_string(i) + ".pool.test.", dns::A,
                       [&](dns::Status s, std::string, std::uint32_t, std::vector<dns::Rdata>) { statuses.push_back(s); });
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(engine.run_until([&] { return int(statuses.size()) == count; }, 10000ms));
    // Refused (reported as a timeout, the server could not be reached),
    // long before the 5 s timeout.
    CHECK(std::chrono::steady_clock::now() - start < 2500ms);
    for (dns::Status s : statuses) CHECK(s == dns::DNS_TIMEOUT);
}

// On io_uring a query leaves with the turn's io_uring_enter and a refused
// send comes back on a completion (Backend::send_datagram): those errors
// must reach the queries of that socket only, while replies on other
// sockets sent in the same enters still find their own queries.
TEST_CASE("refused sends end their socket's queries early while queries sent in the same turns get their own answers") {
    const Address nobody = Address::loopback_v4(test::free_loopback_port(SOCK_DGRAM));
    pants::Engine engine;
    Server server(engine);
    auto refused_options = options(nobody);
    refused_options.timeout = 5000ms;
    dns::Resolver refused(refused_options, engine);
    dns::Resolver answered(options(server.address), engine);
    const int count = 24;
    std::vector<dns::Status> refusals;
    std::map<std::string, dns::Status> answers;
    const auto start = std::chrono::steady_clock::now();
    for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < count / 2; ++i) {
            const std::string n = std::to_string(round * count + i);
            refused.query("r" + n + ".pool.test.", dns::A,
                          [&](dns::Status s, std::string, std::uint32_t, std::vector<dns::Rdata>) { refusals.push_back(s); });
            const std::string name = "a" + n + ".pool.test.";
            answered.query(name, dns::A, [&answers, name](dns::Status s, std::string, std::uint32_t, std::vector<dns::Rdata> r) {
                answers[name] = s;
                CHECK(r.size() == 1);
            });
        }
        engine.poll(0ms);  // the first round's sends leave; the second's find refusals pending
    }
    REQUIRE(engine.run_until([&] { return int(refusals.size()) == count && int(answers.size()) == count; }, 10000ms));
    CHECK(std::chrono::steady_clock::now() - start < 2500ms);
    for (dns::Status s : refusals) CHECK(s == dns::DNS_TIMEOUT);
    for (const auto& [name, s] : answers) CHECK(s == dns::DNS_OK);
    CHECK(server.queries.size() == std::size_t(count));
}

// Replies that arrive together are reported together, from one engine
// callback (dns/resolver_schedule.*): a callback that throws must not cost
// the others their answers.
TEST_CASE("a query callback that throws goes to the error handler; the replies that came with it are still answered") {
    pants::Engine engine;
    std::vector<std::string> errors;
    engine.set_error_handler([&](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            errors.push_back(x.what());
        }
    });
    Server server(engine);
    server.answer_at_once = false;
    dns::Resolver resolver(options(server.address), engine);
    const int count = 8;
    std::vector<int> calls(count, 0);
    int answered = 0;
    for (int i = 0; i < count; ++i)
        resolver.query("t" + std::to_string(i) + ".pool.test.", dns::A,
                       [&, i](dns::Status s, std::string, std::uint32_t, std::vector<dns::Rdata>) {
                           ++calls[std::size_t(i)];
                           if (s == dns::DNS_OK) ++answered;
                           if (answered == 1 || answered == 5) throw std::runtime_error("from callback " + std::to_string(i));
                       });
    REQUIRE(engine.run_until([&] { return server.queries.size() == std::size_t(count); }, 10000ms));
    // Every reply in one go: they arrive (and are reported) together.
    for (const auto& q : server.queries) server.write(bytes_of(reply_to(q.message, {10, 0, 0, 7})), q.from);
    REQUIRE(engine.run_until([&] { return answered == count; }, 10000ms));
    for (int n : calls) CHECK(n == 1);
    CHECK(errors.size() == 2);
}

// Callers asking for the same name at once share one lookup: a callback
// among them that throws must not cost the others their answer.
TEST_CASE("callers sharing one lookup all get the answer when the first one's callback throws") {
    pants::Engine engine;
    int errors = 0;
    engine.set_error_handler([&](std::exception_ptr) { ++errors; });
    Server server(engine);
    dns::Resolver resolver(options(server.address), engine);
    const int count = 4;
    std::vector<int> calls(count, 0);
    for (int i = 0; i < count; ++i)
        resolver.query("shared.pool.test.", dns::A, [&, i](dns::Status s, std::string, std::uint32_t, std::vector<dns::Rdata>) {
            if (s == dns::DNS_OK) ++calls[std::size_t(i)];
            if (i == 0) throw std::runtime_error("from the first caller");
        });
    REQUIRE(engine.run_until([&] { return calls[count - 1] + errors >= 2; }, 10000ms));
    CHECK(server.queries.size() == 1);  // one lookup for all of them
    CHECK(calls == std::vector<int>(count, 1));
    CHECK(errors == 1);
}

// A lookup's pending entry is made before its query is encoded (one hash
// of the key for both): a name that cannot be encoded must leave none
// behind, or the same name asked again would wait on it for ever.
TEST_CASE("a name that cannot be encoded answers FORMERR every time it is asked, and nothing waits on it") {
    pants::Engine engine;
    Server server(engine);
    dns::Resolver resolver(options(server.address), engine);
    const std::string too_long = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                                 std::string(63, 'd') + ".";  // 256 bytes on the wire: over RFC 1035's 255
    for (int round = 0; round < 2; ++round) {
        std::optional<dns::Status> got;
        resolver.query(too_long, dns::A,
                       [&](dns::Status s, std::string, std::uint32_t, std::vector<dns::Rdata>) { got = s; });
        REQUIRE(engine.run_until([&] { return got.has_value(); }, 5000ms));
        CHECK(*got == dns::DNS_FORMATERROR);
    }
    CHECK(server.queries.empty());
}
