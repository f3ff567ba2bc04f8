// The resolver's cache: answers kept for their TTL, negative answers for
// their RFC 2308 negative TTL, keyed by (name, type, class) with the name
// in wire form folded to lower case (RFC 4343).
//
// At most `capacity` answers are kept. The entries are also ordered by
// expiry time, so that storing costs O(log n) whatever the cache holds:
// expired answers are dropped from the front of that order, and when the
// cache is full of live answers the one that expires first makes room (it
// has the least time left to be useful).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <pants/dns/detail/wire_writer.hpp>
#include <pants/dns/resolver.hpp>

namespace pants::dns::detail {

/// The key of a (name, type, class) triple: the name in wire form folded
/// to lower case (RFC 4343), then TYPE and CLASS, with its hash: computed
/// once per query, then used for both the cache and the lookups in flight.
/// Spellings of one name share a key: a.b, A.b. and \097.b. (presentation form).
/// Inline up to 64 bytes (a name of up to 60 in wire form: most names),
/// so that neither a key nor a copy of one allocates.
struct CacheKey {
    InlineBytes<64> bytes;
    std::size_t hash = 0;
    bool operator==(const CacheKey& other) const noexcept {
        return hash == other.hash && std::ranges::equal(bytes.view(), other.bytes.view());
    }
};
struct CacheKeyHash {
    std::size_t operator()(const CacheKey& key) const noexcept { return key.hash; }
};
/// Writes the key of (name, type, klass) into `out`.
void cache_key(const WireName& name, std::uint16_t type, std::uint16_t klass, CacheKey& out);

class Cache {
public:
    using Clock = std::chrono::steady_clock;

    explicit Cache(std::size_t capacity = 4096) : capacity_(capacity) {}
    Cache(const Cache&) = delete;
    Cache& operator=(const Cache&) = delete;

    /// The answer stored under `key` with its TTL lowered to what remains;
    /// nullopt when absent or expired.
    std::optional<Answer> find(const CacheKey& key, Clock::time_point now = Clock::now());
    /// Keeps `answer` for `ttl` seconds (nothing when ttl is 0), replacing
    /// what `key` held.
    void store(const CacheKey& key, const Answer& answer, std::uint32_t ttl, Clock::time_point now = Clock::now());
    void clear() noexcept;
    std::size_t size() const noexcept { return entries_.size(); }
    std::size_t capacity() const noexcept { return capacity_; }

private:
    struct Entry;
    // Expiry time -> the entry's key (owned by its node in entries_, whose
    // address never changes).
    using Deadlines = std::multimap<Clock::time_point, const CacheKey*>;
    struct Entry {
        Answer answer;
        Deadlines::iterator deadline;
    };
    using Entries = std::unordered_map<CacheKey, Entry, CacheKeyHash>;

    void erase(Entries::iterator it);
    void drop_expired(Clock::time_point now);

    std::size_t capacity_;
    Entries entries_;
    Deadlines deadlines_;
};

}  // namespace pants::dns::detail
