// The resolver's cache: answers kept for their TTL, negative answers for
// their RFC 2308 negative TTL, keyed by (name, type) with the name folded
// to lower case (RFC 4343).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <pants/dns/resolver.hpp>

namespace pants::dns::detail {

/// The key of a (name, type) pair: "example.com.|1", lower case.
std::string cache_key(std::string_view fqdn, std::uint16_t type);

class Cache {
public:
    using Clock = std::chrono::steady_clock;

    explicit Cache(std::size_t capacity = 4096) : capacity_(capacity) {}

    /// The answer stored under `key` with its TTL lowered to what remains;
    /// nullopt when absent or expired.
    std::optional<Answer> find(const std::string& key, Clock::time_point now = Clock::now());
    /// Keeps `answer` for `ttl` seconds (nothing when ttl is 0).
    void store(const std::string& key, const Answer& answer, std::uint32_t ttl, Clock::time_point now = Clock::now());
    void clear() { entries_.clear(); }
    std::size_t size() const noexcept { return entries_.size(); }

private:
    struct Entry {
        Answer answer;
        Clock::time_point expires;
    };
    void evict(Clock::time_point now);

    std::size_t capacity_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace pants::dns::detail
