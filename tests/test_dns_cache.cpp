// The resolver's cache (dns/resolver_cache.*): TTL expiry, capacity, and
// which answer makes room when it is full (issue 14). The clock is passed
// in, so expiry is tested without waiting.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <string_view>

#include "../dns/resolver_cache.hpp"

using namespace std::chrono_literals;
namespace dns = pants::dns;
using dns::detail::Cache;

namespace {

dns::Answer answer_a(std::uint8_t last) {
    return dns::Answer{dns::DNS_OK, {}, 0, {dns::rdata::A{{192, 0, 2, last}}}, {}};
}

std::uint8_t last_octet(const dns::Answer& a) {
    REQUIRE(a.rdata.size() == 1);
    return std::get<dns::rdata::A>(a.rdata[0]).address[3];
}

// The key of a presentation name.
dns::detail::CacheKey key_of(std::string_view name, std::uint16_t type, std::uint16_t klass = dns::IN) {
    dns::detail::WireName wire;
    REQUIRE(dns::detail::name_to_wire(name, wire) == dns::WireError::ok);
    dns::detail::CacheKey key;
    dns::detail::cache_key(wire, type, klass, key);
    return key;
}

dns::detail::CacheKey key(int i) { return key_of("n" + std::to_string(i) + ".example.", dns::A); }

}  // namespace

TEST_CASE("an answer is found until its TTL runs out, with the TTL that remains") {
    Cache cache;
    const auto t0 = Cache::Clock::now();
    cache.store(key(1), answer_a(1), 10, t0);
    auto hit = cache.find(key(1), t0 + 3500ms);
    REQUIRE(hit);
    CHECK(last_octet(*hit) == 1);
    CHECK(hit->ttl == 6);  // 6.5 s left, rounded down
    CHECK_FALSE(cache.find(key(1), t0 + 10s));
    CHECK(cache.size() == 0);  // the expired answer is gone, not just hidden
}

TEST_CASE("a TTL of 0 stores nothing; storing a key again replaces its answer and expiry") {
    Cache cache;
    const auto t0 = Cache::Clock::now();
    cache.store(key(1), answer_a(1), 0, t0);
    CHECK(cache.size() == 0);
    cache.store(key(1), answer_a(1), 5, t0);
    cache.store(key(1), answer_a(2), 100, t0 + 1s);
    CHECK(cache.size() == 1);
    auto hit = cache.find(key(1), t0 + 50s);  // past the first expiry, before the second
    REQUIRE(hit);
    CHECK(last_octet(*hit) == 2);
    CHECK(hit->ttl == 51);
}

TEST_CASE("keys are case-insensitive and per type") {
    Cache cache;
    const auto t0 = Cache::Clock::now();
    cache.store(key_of("WWW.Example.COM", dns::A), answer_a(7), 60, t0);
    CHECK(cache.find(key_of("www.example.com.", dns::A), t0));
    CHECK_FALSE(cache.find(key_of("www.example.com.", dns::AAAA), t0));
    CHECK_FALSE(cache.find(key_of("www.example.com.", dns::A, dns::CH), t0));
}

TEST_CASE("every spelling of a name shares one key: with or without the dot, any case, escaped") {
    const auto key = key_of("a.b", dns::A);
    CHECK(key_of("A.b.", dns::A) == key);
    CHECK(key_of("\\097.b.", dns::A) == key);
    CHECK(key_of("\\065.B", dns::A) == key);
    CHECK(key.hash == key_of("A.B.", dns::A).hash);
    // Only ASCII letters fold (RFC 4343): other bytes stay apart, also
    // those 0x20 away from a letter, and past the first 8 bytes.
    CHECK_FALSE(key_of("\\193.b.", dns::A) == key_of("\\225.b.", dns::A));
    CHECK_FALSE(key_of("[.b.", dns::A) == key_of("{.b.", dns::A));
    CHECK(key_of("abcdefghijklmnopqrstuvwxyz.example.", dns::A) == key_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ.EXAMPLE.", dns::A));
    CHECK_FALSE(key_of("abcdefghij@.example.", dns::A) == key_of("abcdefghij`.example.", dns::A));
}

TEST_CASE("a full cache never grows: the answer closest to expiry makes room") {
    Cache cache(3);
    const auto t0 = Cache::Clock::now();
    cache.store(key(1), answer_a(1), 300, t0);
    cache.store(key(2), answer_a(2), 100, t0);  // expires first
    cache.store(key(3), answer_a(3), 200, t0);
    cache.store(key(4), answer_a(4), 400, t0);
    CHECK(cache.size() == 3);
    CHECK_FALSE(cache.find(key(2), t0));
    CHECK(cache.find(key(1), t0));
    CHECK(cache.find(key(3), t0));
    CHECK(cache.find(key(4), t0));
    // Next to go: 3 (200 s), then 1 (300 s); the newest short-lived answer
    // is itself the first to go after that.
    cache.store(key(5), answer_a(5), 500, t0);
    CHECK_FALSE(cache.find(key(3), t0));
    cache.store(key(6), answer_a(6), 50, t0);
    CHECK_FALSE(cache.find(key(1), t0));
    cache.store(key(7), answer_a(7), 600, t0);
    CHECK_FALSE(cache.find(key(6), t0));
    CHECK(cache.size() == 3);
    CHECK(cache.find(key(4), t0));
    CHECK(cache.find(key(5), t0));
    CHECK(cache.find(key(7), t0));
}

TEST_CASE("replacing an answer moves it in the expiry order") {
    Cache cache(2);
    const auto t0 = Cache::Clock::now();
    cache.store(key(1), answer_a(1), 100, t0);
    cache.store(key(2), answer_a(2), 200, t0);
    cache.store(key(1), answer_a(1), 300, t0);  // now 2 expires first
    cache.store(key(3), answer_a(3), 400, t0);
    CHECK(cache.find(key(1), t0));
    CHECK_FALSE(cache.find(key(2), t0));
    CHECK(cache.find(key(3), t0));
}

TEST_CASE("expired answers are dropped when a new one is stored, before any live one") {
    Cache cache(3);
    const auto t0 = Cache::Clock::now();
    cache.store(key(1), answer_a(1), 10, t0);
    cache.store(key(2), answer_a(2), 20, t0);
    cache.store(key(3), answer_a(3), 1000, t0);
    cache.store(key(4), answer_a(4), 1000, t0 + 30s);  // 1 and 2 have expired
    CHECK(cache.size() == 2);
    CHECK(cache.find(key(3), t0 + 30s));
    CHECK(cache.find(key(4), t0 + 30s));
}

TEST_CASE("many more names than the capacity: the size stays at the capacity and the newest are kept") {
    Cache cache(4096);
    const auto t0 = Cache::Clock::now();
    // TTLs that grow with i: the oldest names are the first to expire, so
    // the last 4096 stored are the ones kept.
    for (int i = 0; i < 100000; ++i) cache.store(key(i), answer_a(std::uint8_t(i)), 1000 + std::uint32_t(i), t0);
    CHECK(cache.size() == 4096);
    CHECK_FALSE(cache.find(key(100000 - 4097), t0));
    CHECK(cache.find(key(100000 - 4096), t0));
    CHECK(cache.find(key(99999), t0));
    cache.clear();
    CHECK(cache.size() == 0);
    CHECK_FALSE(cache.find(key(99999), t0));
}

TEST_CASE("a cache of capacity 0 keeps nothing") {
    Cache cache(0);
    cache.store(key(1), answer_a(1), 100);
    CHECK(cache.size() == 0);
    CHECK_FALSE(cache.find(key(1)));
}
