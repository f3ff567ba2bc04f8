// resolv.conf(5): keywords nameserver, domain, search, options.
#include <pants/dns/resolv_conf.hpp>

#include <algorithm>
#include <charconv>

#include <pants/dns/detail/config_file.hpp>

namespace pants::dns {

namespace {

// The non-negative number after "name:" in an option, or -1 when it is
// missing or not a number (the option is then ignored).
int option_value(std::string_view option, std::string_view name) {
    const std::string_view text = option.substr(name.size());
    int value = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 0) return -1;
    return value;
}

void apply_option(ResolvConf& conf, std::string_view option) {
    // resolv.conf(5): "The value for this option is silently capped to 15/30/5".
    if (option.starts_with("ndots:")) {
        if (const int n = option_value(option, "ndots:"); n >= 0) conf.ndots = std::min(n, ResolvConf::max_ndots);
    } else if (option.starts_with("timeout:")) {
        // 0 would mean "no time to answer at all": take 1 s, as c-ares does.
        if (const int n = option_value(option, "timeout:"); n >= 0)
            conf.timeout = std::chrono::seconds(std::clamp(n, 1, ResolvConf::max_timeout_seconds));
    } else if (option.starts_with("attempts:")) {
        if (const int n = option_value(option, "attempts:"); n >= 0)
            conf.attempts = std::clamp(n, 1, ResolvConf::max_attempts);
    } else if (option == "rotate") {
        conf.rotate = true;
    }
}

}  // namespace

ResolvConf ResolvConf::parse(std::string_view text) {
    ResolvConf conf;
    detail::for_each_line(text, [&](std::string_view line) {
        const auto fields = detail::split_fields(line, "#;");
        if (fields.size() < 2) return;  // blank, comment, or a keyword without value
        const std::string_view keyword = fields[0];
        if (keyword == "nameserver") {
            if (conf.nameservers.size() >= max_nameservers) return;
            // IPv4 dotted quad, or IPv6 with an optional "%zone"; an address
            // that does not parse is skipped, as glibc does.
            if (auto a = Address::from_ip(fields[1], 53)) conf.nameservers.push_back(*a);
        } else if (keyword == "domain") {
            conf.search.assign(1, std::string(fields[1]));
        } else if (keyword == "search") {
            conf.search.clear();
            for (std::size_t i = 1; i < fields.size(); ++i) conf.search.emplace_back(fields[i]);
        } else if (keyword == "options") {
            for (std::size_t i = 1; i < fields.size(); ++i) apply_option(conf, fields[i]);
        }
    });
    // resolv.conf(5): "If no nameserver entries are present, the default is
    // to use the name server on the local machine."
    if (conf.nameservers.empty()) conf.nameservers.push_back(Address::loopback_v4(53));
    return conf;
}

Result<ResolvConf> ResolvConf::load(const std::string& path) {
    auto text = detail::read_text_file(path);
    if (!text) return unexpected(text.error());
    return parse(*text);
}

}  // namespace pants::dns
