// tests/dns_fake_server.hpp: the resolver suites' fake DNS server on
// loopback (UDP on a Datagram; each test decides what it sends back) and
// the helpers around it: reply skeletons, resolver options without system
// files, and bounded engine runs. Shared by test_dns_resolver.cpp and
// test_dns_api.cpp.
#pragma once

#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <unistd.h>

#include <array>
#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace pants_test_dns {

using namespace std::chrono_literals;
using pants::Address;
namespace dns = pants::dns;

/// The reply skeleton to a query: same id and question, QR and RA set.
inline dns::Message reply_to(const dns::Message& query, std::uint16_t rcode = 0) {
    dns::Message r;
    r.id = query.id;
    r.qr = true;
    r.rd = query.rd;
    r.ra = true;
    r.rcode = rcode;
    r.questions = query.questions;
    return r;
}

inline dns::ResourceRecord record(std::string name, std::uint16_t type, std::uint32_t ttl, dns::Rdata data) {
    return dns::ResourceRecord{std::move(name), type, dns::IN, ttl, std::move(data)};
}

inline dns::ResourceRecord soa(std::string zone, std::uint32_t ttl, std::uint32_t minimum) {
    return record(zone, dns::SOA, ttl, dns::rdata::SOA{"ns." + zone, "admin." + zone, 1, 3600, 600, 86400, minimum});
}

inline std::string bytes_of(const dns::Message& m) {
    auto bytes = dns::encode(m);
    REQUIRE(bytes);
    return std::string(bytes->begin(), bytes->end());
}

/// A fake DNS server on 127.0.0.1: records each query it decodes and lets
/// the test decide what to send back.
struct FakeServer : pants::Datagram {
    using Handler = std::function<void(FakeServer&, const dns::Message& query, const Address& from)>;

    explicit FakeServer(pants::Engine& engine, Address where = Address::loopback_v4(0)) : pants::Datagram(engine) {
        REQUIRE(listen(where));
        address = *local_address();
    }
    void on_read(std::string_view data, const Address& from) override {
        auto query = dns::decode(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
        REQUIRE(query);
        queries.push_back(*query);
        if (handler) handler(*this, *query, from);
    }
    void reply(const dns::Message& m, const Address& to) { write(bytes_of(m), to); }
    /// Names asked, in order.
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& q : queries) out.push_back(q.questions.at(0).name);
        return out;
    }

    Address address;
    std::vector<dns::Message> queries;
    Handler handler;
};

/// A server that answers every A query for `name` with `ip` (TTL `ttl`).
inline FakeServer::Handler answer_a(std::array<std::uint8_t, 4> ip, std::uint32_t ttl = 300) {
    return [=](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        r.answers.push_back(record(q.questions[0].name, dns::A, ttl, dns::rdata::A{ip}));
        s.reply(r, from);
    };
}

inline dns::Resolver::Options options(std::vector<Address> servers, std::chrono::milliseconds timeout = 2000ms,
                               int attempts = 1) {
    dns::Resolver::Options o;
    o.servers = std::move(servers);
    o.resolv_conf_path.clear();
    o.hosts_path.clear();
    o.timeout = timeout;
    o.attempts = attempts;
    return o;
}

/// What one query() callback got.
struct Got {
    int calls = 0;
    dns::Answer answer;
    dns::Resolver::QueryCallback callback() {
        return [this](dns::Status s, std::string cname, std::uint32_t ttl, std::vector<dns::Rdata> rdata) {
            ++calls;
            answer = dns::Answer{s, std::move(cname), ttl, std::move(rdata), {}};
        };
    }
};

inline void run_until(pants::Engine& engine, const std::function<bool()>& done, std::chrono::milliseconds limit = 10000ms) {
    REQUIRE(engine.run_until(done, limit));
}

/// Runs the engine for `d` (for TTLs to pass), bounded.
inline void run_for(pants::Engine& engine, std::chrono::milliseconds d) {
    bool fired = false;
    auto t = engine.defer(d, [&] { fired = true; });
    run_until(engine, [&] { return fired; });
}

inline dns::rdata::A a_of(const dns::Rdata& r) {
    REQUIRE(std::holds_alternative<dns::rdata::A>(r));
    return std::get<dns::rdata::A>(r);
}

inline std::string temp_file(const char* name, const std::string& text) {
    std::string path = "/tmp/pants-resolver-" + std::to_string(::getpid()) + "-" + name;
    std::ofstream(path) << text;
    return path;
}


/// The fake server's TCP side (pants::Server<Tcp> on the same port): each
/// query, framed by its 2-byte length (RFC 1035 4.2.2), gets `answer(q)`.
struct Tcp : pants::Connection {
    static inline std::function<dns::Message(const dns::Message&)> answer;
    static inline std::vector<dns::Message> queries;
    Tcp() { read_delimiter = pants::ReadDelimiter::length_prefixed(2); }
    void on_read(std::string_view data) override {
        auto q = dns::decode(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
        REQUIRE(q);
        queries.push_back(*q);
        std::string body = bytes_of(answer(*q));
        char len[2] = {char(body.size() >> 8), char(body.size() & 0xff)};
        write(std::string_view(len, 2));
        write(body);
    }
};

}  // namespace pants_test_dns
