// The resolver's system configuration: resolv.conf and the hosts file,
// merged with the overrides of Resolver::Options.
#include <algorithm>
#include <cerrno>
#include <cstdint>

#include <pants/dns/hosts_file.hpp>
#include <pants/dns/resolv_conf.hpp>

#include "resolver_core.hpp"

namespace pants::dns::detail {

Config load_config(const Resolver::Options& options) {
    ResolvConf conf;  // defaults of a missing file, but no server yet
    if (!options.resolv_conf_path.empty()) {
        auto loaded = ResolvConf::load(options.resolv_conf_path);
        // A missing or unreadable file means the defaults, as in glibc.
        conf = loaded ? *loaded : ResolvConf::parse("");
    } else {
        conf = ResolvConf::parse("");
    }
    Config config;
    config.servers = options.servers.empty() ? conf.nameservers : options.servers;
    config.search = options.search ? *options.search : conf.search;
    config.ndots = options.ndots.value_or(conf.ndots);
    config.timeout = options.timeout.value_or(conf.timeout);
    config.attempts = std::max(1, options.attempts.value_or(conf.attempts));
    config.rotate = options.rotate.value_or(conf.rotate);
    config.cache = options.cache;
    config.edns_udp_size = options.edns_udp_size;
    // RFC 2308 7.1: never longer than five minutes.
    config.servfail_ttl = static_cast<std::uint32_t>(std::clamp<std::int64_t>(options.servfail_ttl.count(), 0, 300));
    return config;
}

HostsLookup load_hosts(const std::string& path) {
    if (path.empty()) return {};
    auto loaded = HostsFile::load(path);
    // A missing file is an empty table (glibc); reload_if_changed() then
    // has no path to watch, so the file is not picked up if created later.
    auto table = std::make_shared<HostsFile>(loaded ? std::move(*loaded) : HostsFile());
    return [table](std::string_view name, std::uint16_t type) -> std::optional<std::vector<Rdata>> {
        table->reload_if_changed();
        auto records = table->records(name, type);
        if (records.empty()) return std::nullopt;
        return records;
    };
}

}  // namespace pants::dns::detail
