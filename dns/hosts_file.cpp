// The hosts table: parsing hosts(5) text and looking names and addresses up.
#include <pants/dns/hosts_file.hpp>

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

#include <pants/dns/name.hpp>
#include <pants/dns/types.hpp>

namespace pants::dns {

namespace {

// The index key of a name: ASCII lowercase (RFC 4343), one trailing dot
// dropped, so "LocalHost." and "localhost" meet.
std::string key_of(std::string_view name) {
    if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
    std::string key(name);
    for (char& c : key)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    return key;
}

bool same_name(std::string_view a, std::string_view b) { return key_of(a) == key_of(b); }

std::array<std::uint8_t, 4> v4_bytes(const Address& a) {
    std::array<std::uint8_t, 4> out{};
    std::memcpy(out.data(), &reinterpret_cast<const sockaddr_in*>(a.data())->sin_addr, 4);
    return out;
}

std::array<std::uint8_t, 16> v6_bytes(const Address& a) {
    std::array<std::uint8_t, 16> out{};
    std::memcpy(out.data(), &reinterpret_cast<const sockaddr_in6*>(a.data())->sin6_addr, 16);
    return out;
}

// "1.0.0.127.in-addr.arpa" for an IP address, lowercased and without the
// trailing dot (an index key); "" for other families.
std::string reverse_key(const Address& a) {
    if (a.is_ipv4()) return key_of(reverse_name(v4_bytes(a)));
    if (a.is_ipv6()) return key_of(reverse_name(v6_bytes(a)));
    return {};
}

void push_unique(std::vector<Address>& list, const Address& a) {
    if (std::find(list.begin(), list.end(), a) == list.end()) list.push_back(a);
}

}  // namespace

Result<HostsFile> HostsFile::load(std::string path) {
    detail::FileStamp stamp;
    auto text = detail::read_text_file(path, &stamp);
    if (!text) return unexpected(text.error());
    HostsFile hosts = parse(*text);
    hosts.path_ = std::move(path);
    hosts.stamp_ = stamp;
    hosts.last_check_ = std::chrono::steady_clock::now();
    return hosts;
}

HostsFile HostsFile::watch(std::string path) {
    if (auto loaded = load(path)) return std::move(*loaded);
    // No stamp: the next look after recheck_interval reads the file if it
    // exists by then.
    HostsFile hosts;
    hosts.path_ = std::move(path);
    hosts.last_check_ = std::chrono::steady_clock::now();
    return hosts;
}

HostsFile HostsFile::parse(std::string_view text) {
    HostsFile hosts;
    detail::for_each_line(text, [&](std::string_view line) { hosts.add_line(line); });
    return hosts;
}

// hosts(5): "IP_address canonical_hostname [aliases...]", '#' to end of line.
void HostsFile::add_line(std::string_view line) {
    // glibc's nss_files splits hosts lines on isspace(), not only blanks
    // and tabs: a stray '\r', '\v' or '\f' separates names rather than
    // becoming part of one.
    const auto fields = detail::split_fields(line, "#", " \t\r\v\f");
    if (fields.size() < 2) return;
    // Address::from_ip takes exactly the IP literals hosts(5) allows: a
    // dotted quad (inet_pton, no shorthand like "127.1") or IPv6 with an
    // optional "%zone". A zone naming no interface fails: skip the line.
    auto address = Address::from_ip(fields[0], 0);
    if (!address) return;

    Record record{*address, {}};
    for (std::size_t i = 1; i < fields.size(); ++i) {
        if (!normalize_name(fields[i])) continue;  // not a domain name: ignore it, keep the rest
        record.names.emplace_back(fields[i]);
    }
    if (record.names.empty()) return;

    const std::size_t index = records_.size();
    for (const auto& name : record.names) {
        auto& lines = by_name_[key_of(name)];
        if (lines.empty() || lines.back() != index) lines.push_back(index);
    }
    by_reverse_.try_emplace(reverse_key(record.address), index);
    records_.push_back(std::move(record));
}

const std::vector<std::size_t>* HostsFile::lines_of(std::string_view name) const {
    const auto it = by_name_.find(key_of(name));
    return it == by_name_.end() ? nullptr : &it->second;
}

std::vector<Address> HostsFile::addresses(std::string_view name, std::uint16_t type) const {
    std::vector<Address> out;
    const int family = type == A ? AF_INET : type == AAAA ? AF_INET6 : AF_UNSPEC;
    const auto* lines = lines_of(name);
    if (family == AF_UNSPEC || !lines) return out;
    for (const std::size_t i : *lines)
        if (records_[i].address.family() == family) push_unique(out, records_[i].address);
    return out;
}

std::optional<std::string> HostsFile::name_for(const Address& address) const {
    const auto it = by_reverse_.find(reverse_key(address));
    if (it == by_reverse_.end()) return std::nullopt;
    return records_[it->second].names.front();
}

std::optional<HostsFile::Entry> HostsFile::entry(std::string_view name) const {
    const auto* lines = lines_of(name);
    if (!lines) return std::nullopt;
    Entry entry;
    entry.canonical = records_[lines->front()].names.front();
    for (const std::size_t i : *lines) {
        const Record& r = records_[i];
        push_unique(r.address.is_ipv4() ? entry.v4 : entry.v6, r.address);
        for (const auto& n : r.names) {
            if (same_name(n, entry.canonical)) continue;
            const bool seen = std::any_of(entry.aliases.begin(), entry.aliases.end(),
                                          [&](const std::string& a) { return same_name(a, n); });
            if (!seen) entry.aliases.push_back(n);
        }
    }
    return entry;
}

std::vector<Rdata> HostsFile::records(std::string_view name, std::uint16_t type) const {
    std::vector<Rdata> out;
    if (type == A) {
        for (const auto& a : addresses(name, A)) out.emplace_back(rdata::A{v4_bytes(a)});
    } else if (type == AAAA) {
        // Two zones of one address give the same AAAA record: keep one.
        for (const auto& a : addresses(name, AAAA)) {
            Rdata r = rdata::AAAA{v6_bytes(a)};
            if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(std::move(r));
        }
    } else if (type == PTR) {
        const auto it = by_reverse_.find(key_of(name));
        if (it != by_reverse_.end()) {
            auto absolute = normalize_name(records_[it->second].names.front());
            if (absolute) out.emplace_back(rdata::PTR{std::move(*absolute)});
        }
    }
    return out;
}

bool HostsFile::reload_if_changed(std::chrono::steady_clock::time_point now) {
    if (path_.empty() || now - last_check_ < recheck_interval) return false;
    last_check_ = now;
    const detail::FileStamp current = detail::stamp_of(path_);
    if (current == stamp_) return false;

    HostsFile fresh;
    if (current.exists) {
        detail::FileStamp stamp;
        auto text = detail::read_text_file(path_, &stamp);
        // Unreadable for now (permissions being fixed, a race with the
        // writer): keep serving the old table and look again next time.
        if (!text) return false;
        fresh = parse(*text);
        fresh.stamp_ = stamp;
    }
    fresh.path_ = std::move(path_);
    fresh.last_check_ = now;
    *this = std::move(fresh);
    return true;
}

}  // namespace pants::dns
