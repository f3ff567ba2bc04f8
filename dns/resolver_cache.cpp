// The resolver's TTL cache.
#include "resolver_cache.hpp"

namespace pants::dns::detail {

std::string cache_key(std::string_view fqdn, std::uint16_t type) {
    std::string key;
    key.reserve(fqdn.size() + 7);
    for (char c : fqdn) key.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    if (key.empty() || key.back() != '.') key.push_back('.');
    key.push_back('|');
    key += std::to_string(type);
    return key;
}

std::optional<Answer> Cache::find(const std::string& key, Clock::time_point now) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    if (it->second.expires <= now) {
        entries_.erase(it);
        return std::nullopt;
    }
    Answer answer = it->second.answer;
    auto left = std::chrono::duration_cast<std::chrono::seconds>(it->second.expires - now).count();
    // Round down, as a downstream cache must not keep it longer than we may.
    answer.ttl = static_cast<std::uint32_t>(left);
    return answer;
}

void Cache::store(const std::string& key, const Answer& answer, std::uint32_t ttl, Clock::time_point now) {
    if (ttl == 0 || capacity_ == 0) return;
    if (entries_.size() >= capacity_ && !entries_.count(key)) evict(now);
    entries_[key] = Entry{answer, now + std::chrono::seconds(ttl)};
}

void Cache::evict(Clock::time_point now) {
    std::erase_if(entries_, [now](const auto& e) { return e.second.expires <= now; });
    // Still full of live entries: drop the one closest to expiry.
    if (entries_.size() >= capacity_) {
        auto oldest = entries_.begin();
        for (auto it = entries_.begin(); it != entries_.end(); ++it)
            if (it->second.expires < oldest->second.expires) oldest = it;
        entries_.erase(oldest);
    }
}

}  // namespace pants::dns::detail
