// The resolver's TTL cache.
#include "resolver_cache.hpp"

#include <cstring>

namespace pants::dns::detail {

namespace {
// ASCII letters of the 8 bytes in `word` to lower case, the rest as they
// are: a byte below 0x80 gets 0x20 added when 'A' <= it <= 'Z'.
std::uint64_t lower8(std::uint64_t word) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    const std::uint64_t low7 = word & ~highs;
    const std::uint64_t above_z = low7 + (0x7F - 'Z') * ones;  // high bit: byte > 'Z'
    const std::uint64_t from_a = low7 + (0x80 - 'A') * ones;   // high bit: byte >= 'A'
    const std::uint64_t upper = (from_a ^ above_z) & ~word & highs;
    return word | upper >> 2;
}
}  // namespace

void cache_key(const WireName& name, std::uint16_t type, std::uint16_t klass, CacheKey& key) {
    key.bytes.resize(name.size + 4);
    std::uint8_t* out = key.bytes.data();
    // Folded 8 bytes at a time; a length byte (at most 63) is no letter.
    std::size_t i = 0;
    for (; i + 8 <= name.size; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, name.bytes.data() + i, 8);
        word = lower8(word);
        std::memcpy(out + i, &word, 8);
    }
    for (; i < name.size; ++i) {
        const std::uint8_t c = name.bytes[i];
        out[i] = c >= 'A' && c <= 'Z' ? static_cast<std::uint8_t>(c + 32) : c;
    }
    out[i] = static_cast<std::uint8_t>(type >> 8);
    out[i + 1] = static_cast<std::uint8_t>(type);
    out[i + 2] = static_cast<std::uint8_t>(klass >> 8);
    out[i + 3] = static_cast<std::uint8_t>(klass);
    key.hash = std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(out), name.size + 4));
}

std::optional<Answer> Cache::find(const CacheKey& key, Clock::time_point now) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    const Clock::time_point expires = it->second.deadline->first;
    if (expires <= now) {
        erase(it);
        return std::nullopt;
    }
    Answer answer = it->second.answer;
    auto left = std::chrono::duration_cast<std::chrono::seconds>(expires - now).count();
    // Round down, as a downstream cache must not keep it longer than we may.
    answer.ttl = static_cast<std::uint32_t>(left);
    return answer;
}

void Cache::store(const CacheKey& key, const Answer& answer, std::uint32_t ttl, Clock::time_point now) {
    if (ttl == 0 || capacity_ == 0) return;
    const Clock::time_point expires = now + std::chrono::seconds(ttl);
    drop_expired(now);
    if (auto it = entries_.find(key); it != entries_.end()) {
        it->second.answer = answer;
        deadlines_.erase(it->second.deadline);
        it->second.deadline = deadlines_.emplace(expires, &it->first);
        return;
    }
    // Full of live answers: the one closest to expiry makes room.
    if (entries_.size() >= capacity_) erase(entries_.find(*deadlines_.begin()->second));
    auto it = entries_.try_emplace(key, Entry{answer, deadlines_.end()}).first;
    it->second.deadline = deadlines_.emplace(expires, &it->first);
}

void Cache::clear() noexcept {
    deadlines_.clear();
    entries_.clear();
}

void Cache::erase(Entries::iterator it) {
    deadlines_.erase(it->second.deadline);
    entries_.erase(it);
}

void Cache::drop_expired(Clock::time_point now) {
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) erase(entries_.find(*deadlines_.begin()->second));
}

}  // namespace pants::dns::detail
