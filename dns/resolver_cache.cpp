// The resolver's TTL cache.
#include "resolver_cache.hpp"

namespace pants::dns::detail {

CacheKey cache_key(std::string_view fqdn, std::uint16_t type, std::uint16_t klass) {
    CacheKey key;
    std::string& text = key.text;
    text.reserve(fqdn.size() + 13);
    text.assign(fqdn);
    for (char& c : text)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (text.empty() || text.back() != '.') text.push_back('.');
    text.push_back('|');
    text += std::to_string(type);
    if (klass != IN) text += "/" + std::to_string(klass);
    key.hash = std::hash<std::string>{}(text);
    return key;
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
