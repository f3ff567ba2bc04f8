// pants-dig: a small dig built on pants::dns, as Pants' dig-like tool.
//
//   pants-dig NAME [TYPE] [@SERVER[:PORT]] [+time=S] [+tries=N]
//                                            ask a server, print the reply as dig does
//   pants-dig -x ADDRESS [@SERVER[:PORT]]    reverse lookup (PTR of in-addr.arpa / ip6.arpa)
//   pants-dig --servers                      the servers the default resolver asks
//   pants-dig --hosts                        the entries of /etc/hosts
//
// TYPE is any type name dig knows ("MX", "aaaa", "TYPE65280"; default A).
// SERVER is an IP literal, with a port as "127.0.0.1:5353" or
// "[::1]:5353" (default port 53); without it, the servers of
// /etc/resolv.conf are asked in order. +time=S (seconds per try) and
// +tries=N (rounds over the servers) override resolv.conf's timeout and
// attempts, as dig's options of the same names. The query goes through
// Resolver::send_message: no hosts file, no cache, no search list, but the
// resolver's timeouts, retries and TCP fallback on a truncated reply.
//
// Try it against a local dnsmasq:
//   dnsmasq --no-daemon --port=5353 --host-record=host.test,192.0.2.10 &
//   pants-dig host.test A @127.0.0.1:5353
//
// Exit status as dig's: 0 when a reply came (whatever its RCODE), 1 on a
// usage error, 9 when no usable reply came (timed out, malformed replies
// only, or no socket could be used: the line starting ";;" says which), 10
// when pants-dig itself could not run (no event loop: descriptors or memory
// exhausted). It never ends with an uncaught exception.
#include <pants/dns/hosts_file.hpp>
#include <pants/dns/message.hpp>
#include <pants/dns/name.hpp>
#include <pants/dns/resolver.hpp>

#include <netinet/in.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <random>
#include <stdexcept>
#include <utility>
#include <string>
#include <vector>

namespace dns = pants::dns;

namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: pants-dig NAME [TYPE] [@SERVER[:PORT]] [+time=S] [+tries=N]\n"
                 "       pants-dig -x ADDRESS [@SERVER[:PORT]] [+time=S] [+tries=N]\n"
                 "       pants-dig --servers | --hosts\n");
    return 1;
}

// "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]", "[fe80::1%eth0]:5353".
std::optional<pants::Address> parse_server(std::string_view text) {
    if (auto a = pants::Address::parse(text)) return *a;
    if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (auto a = pants::Address::from_ip(text, 53)) return *a;
    return std::nullopt;
}

// The in-addr.arpa / ip6.arpa name of an IP literal, or nullopt.
std::optional<std::string> reverse_of(std::string_view ip) {
    auto a = pants::Address::from_ip(ip, 0);
    if (!a) return std::nullopt;
    if (a->is_ipv4()) {
        std::array<std::uint8_t, 4> bytes{};
        std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in*>(a->data())->sin_addr, 4);
        return dns::reverse_name(bytes);
    }
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in6*>(a->data())->sin6_addr, 16);
    return dns::reverse_name(bytes);
}

int print_servers() {
    pants::Engine engine;
    dns::Resolver resolver(engine);
    for (const auto& s : resolver.servers()) std::printf("%s\n", s.to_string().c_str());
    return 0;
}

int print_hosts() {
    auto hosts = dns::HostsFile::load(dns::HostsFile::default_path);
    if (!hosts) {
        std::fprintf(stderr, "pants-dig: %s: %s\n", dns::HostsFile::default_path, hosts.error().message().c_str());
        return 1;
    }
    for (const auto& record : hosts->all()) {
        std::string line = record.address.host();
        for (const auto& name : record.names) line += "\t" + name;
        std::printf("%s\n", line.c_str());
    }
    return 0;
}

std::string server_list(const std::vector<pants::Address>& servers) {
    std::string out;
    for (const auto& s : servers) out += (out.empty() ? "" : ", ") + s.to_string();
    return out;
}

/// What the command line asks of the resolver.
struct Settings {
    std::optional<pants::Address> server;
    std::optional<int> seconds;  // +time=S
    std::optional<int> tries;    // +tries=N
};

/// The N of "+name=N" when `arg` is that option with a number in 1..max.
std::optional<int> option_value(std::string_view arg, std::string_view name, int max) {
    if (!arg.starts_with(name)) return std::nullopt;
    int value = 0;
    const auto digits = arg.substr(name.size());
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size() || value < 1 || value > max) return std::nullopt;
    return value;
}

int ask(const Settings& settings, const std::vector<std::uint8_t>& query);

int dig(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    if (args.size() == 1 && args[0] == "--servers") return print_servers();
    if (args.size() == 1 && args[0] == "--hosts") return print_hosts();

    Settings settings;
    auto& server = settings.server;
    std::vector<std::string> words;
    bool reverse = false;
    for (const auto arg : args) {
        if (arg == "-h" || arg == "--help") return usage() - 1;
        if (arg == "-x") {
            reverse = true;
        } else if (arg.starts_with("@")) {
            server = parse_server(arg.substr(1));
            if (!server) {
                std::fprintf(stderr, "pants-dig: bad server '%.*s' (an IP address, optionally with :PORT)\n",
                             static_cast<int>(arg.size() - 1), arg.data() + 1);
                return 1;
            }
        } else if (arg.starts_with("+time=") || arg.starts_with("+tries=")) {
            auto& slot = arg.starts_with("+time=") ? settings.seconds : settings.tries;
            slot = arg.starts_with("+time=") ? option_value(arg, "+time=", 300) : option_value(arg, "+tries=", 10);
            if (!slot) {
                std::fprintf(stderr, "pants-dig: bad option '%.*s'\n", static_cast<int>(arg.size()), arg.data());
                return 1;
            }
        } else {
            words.emplace_back(arg);
        }
    }
    if (words.empty() || words.size() > (reverse ? 1u : 2u)) return usage();

    std::string name = words[0];
    std::uint16_t type = dns::A;
    if (reverse) {
        auto r = reverse_of(name);
        if (!r) {
            std::fprintf(stderr, "pants-dig: -x needs an IP address, not '%s'\n", name.c_str());
            return 1;
        }
        name = *r;
        type = dns::PTR;
    } else if (words.size() == 2) {
        auto t = dns::type_from_string(words[1]);
        if (!t) {
            std::fprintf(stderr, "pants-dig: unknown type '%s'\n", words[1].c_str());
            return 1;
        }
        type = *t;
    }

    std::random_device random;
    auto query = dns::encode_query(static_cast<std::uint16_t>(random()), name, type);
    if (!query) {
        std::fprintf(stderr, "pants-dig: cannot ask for '%s': %s\n", name.c_str(), query.error().message().c_str());
        return 1;
    }

    std::printf("; <<>> pants-dig <<>> %s %s\n", name.c_str(), dns::type_to_string(type).c_str());
    std::fflush(stdout);
    return ask(settings, *query);
}


int ask(const Settings& settings, const std::vector<std::uint8_t>& query) {
    pants::Engine engine;
    dns::Resolver::Options options;
    options.hosts_path.clear();  // send_message never looks there
    if (settings.server) {
        options.servers = {*settings.server};
        options.resolv_conf_path.clear();
    }
    if (settings.seconds) options.timeout = std::chrono::seconds(*settings.seconds);
    if (settings.tries) options.attempts = *settings.tries;
    auto resolver = std::make_unique<dns::Resolver>(options, engine);

    // The callback form: it gives the status and, when no reply came, the
    // error that says why (the socket's errno, the reason a reply was
    // malformed), which the sync form folds into the status.
    const auto started = std::chrono::steady_clock::now();
    std::optional<std::pair<dns::Status, pants::Result<dns::Message>>> outcome;
    resolver->send_message(query, [&](dns::Status status, pants::Result<dns::Message> reply) {
        outcome.emplace(status, std::move(reply));
    });
    while (!outcome) engine.poll(std::chrono::milliseconds(100));
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    auto& [status, reply] = *outcome;

    if (!reply) {
        const std::string servers = server_list(resolver->servers());
        const std::string why = reply.error().message();
        switch (status) {
        case dns::DNS_FORMATERROR:
            std::printf(";; malformed reply from %s: %s\n", servers.c_str(), why.c_str());
            break;
        case dns::DNS_NETWORKERROR:
            std::printf(";; communications error to %s: %s\n", servers.c_str(), why.c_str());
            break;
        case dns::DNS_TIMEOUT:
            // As dig: a refusal is a communications error, silence a timeout.
            if (reply.error() != dns::make_error_code(dns::DNS_TIMEOUT))
                std::printf(";; communications error to %s: %s\n;; no servers could be reached\n", servers.c_str(),
                            why.c_str());
            else
                std::printf(";; connection timed out; no servers could be reached (%s)\n",
                            servers.empty() ? "none configured" : servers.c_str());
            break;
        default:
            std::printf(";; no reply from %s: %s\n", servers.c_str(), why.c_str());
            break;
        }
        return 9;
    }
    std::printf(";; Got answer:\n%s\n", dns::to_string(*reply).c_str());
    std::printf(";; Query time: %lld msec\n", static_cast<long long>(elapsed.count()));
    std::printf(";; SERVER: %s\n", server_list(resolver->servers()).c_str());
    const std::time_t now = std::time(nullptr);
    char when[64];
    std::strftime(when, sizeof when, "%a %b %d %H:%M:%S %Z %Y", std::localtime(&now));
    std::printf(";; WHEN: %s\n", when);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return dig(argc, argv);
    } catch (const std::exception& e) {
        // The Engine (or a resolver) could not be set up: at `ulimit -n 4`
        // there is no descriptor left for the event loop itself.
        std::fflush(stdout);
        std::printf(";; pants-dig could not run: %s\n", e.what());
        std::fprintf(stderr, "pants-dig: %s\n", e.what());
        return 10;
    }
}
