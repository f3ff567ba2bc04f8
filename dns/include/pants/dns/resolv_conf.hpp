// pants/dns/resolv_conf.hpp: the resolver configuration, /etc/resolv.conf.
//
// ResolvConf is what resolv.conf(5) says a stub resolver should do: which
// servers to ask, which search list to apply, and the `options` that tune
// it. A plain value, filled by parse() or load(); the defaults are those of
// a missing or empty file.
//
// Parsing follows resolv.conf(5) (glibc):
//   nameserver IP      IPv4 or IPv6 (with "%zone"), port 53; at most MAXNS
//                      (3), later ones ignored; 127.0.0.1 when none.
//   domain NAME        the search list becomes {NAME}.
//   search NAME...     the search list; `domain` and `search` are exclusive:
//                      the last of them wins.
//   options ...        ndots:n (capped at 15), timeout:n seconds (capped at
//                      30), attempts:n (capped at 5), rotate; several
//                      `options` lines add up, a later value wins; unknown
//                      options (edns0, inet6, trust-ad, ...) are ignored.
// A '#' or ';' starts a comment that runs to the end of the line (glibc
// only honours them in the first column; neither can occur in a value).
// Unknown keywords (sortlist, ...) and malformed values are ignored. The
// LOCALDOMAIN and RES_OPTIONS environment variables and the domain taken
// from gethostname() when the file names none are not applied.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <pants/address.hpp>
#include <pants/result.hpp>

namespace pants::dns {

/// The resolver configuration of resolv.conf(5).
struct ResolvConf {
    /// Where the system's configuration lives.
    static constexpr const char* default_path = "/etc/resolv.conf";
    /// resolv.conf(5)'s limits (glibc's MAXNS, RES_MAXNDOTS, RES_MAXRETRANS, RES_MAXRETRY).
    static constexpr std::size_t max_nameservers = 3;
    static constexpr int max_ndots = 15;
    static constexpr int max_timeout_seconds = 30;
    static constexpr int max_attempts = 5;

    /// Servers to ask, in order, port 53; never empty after parse()/load().
    std::vector<Address> nameservers;
    /// Domains appended to names with fewer than `ndots` dots, in order.
    std::vector<std::string> search;
    /// A name with at least this many dots is tried as is first.
    int ndots = 1;
    /// How long to wait for one server before the next (at least 1 s).
    std::chrono::milliseconds timeout{5000};
    /// Rounds over the server list before giving up (at least 1).
    int attempts = 2;
    /// Spread queries over the servers round-robin instead of first-first.
    bool rotate = false;

    /// Parses resolv.conf text (see the header comment).
    static ResolvConf parse(std::string_view text);

    /// Reads and parses the file at `path`; an errno error_code when it
    /// cannot be read. A missing file means the defaults (glibc): a caller
    /// that wants that behaviour uses `parse("")` on ENOENT.
    static Result<ResolvConf> load(const std::string& path);
};

}  // namespace pants::dns
