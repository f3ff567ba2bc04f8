// pants/dns/hosts_file.hpp: the static host table, /etc/hosts (hosts(5)).
//
// A HostsFile is the parsed content of a hosts file: one Record per valid
// line, "IP canonical_name [aliases...]", with an index by name (ASCII
// case-insensitive, a trailing dot ignored) and by address. The resolver
// answers A, AAAA and PTR queries from it before asking any server.
//
// Parsing follows hosts(5) as glibc reads it: fields are separated by
// white space (blanks, tabs, and '\r', '\v', '\f' as isspace()); '#' starts a comment that runs to the end of the line;
// the address is an IPv4 dotted quad or an IPv6 literal, optionally with a
// zone ("fe80::1%eth0", by interface name or number); lines whose address
// does not parse, or that have no name, are skipped; names that are not
// valid domain names are skipped. A name listed on several lines gets the
// addresses of all of them, in file order, without duplicates (glibc >= 2.26,
// "multi on").
//
// A HostsFile is a plain value: not thread-safe, owned by whoever uses it
// (normally one Resolver, on its engine's thread). load() and
// reload_if_changed() read the file with blocking calls: it is a small
// local file, read at start-up and when it changes, as every resolver does.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <pants/address.hpp>
#include <pants/dns/detail/config_file.hpp>
#include <pants/dns/rdata.hpp>
#include <pants/result.hpp>

namespace pants::dns {

/// A parsed hosts file, with lookups by name and by address.
class HostsFile {
public:
    /// Where the system's table lives.
    static constexpr const char* default_path = "/etc/hosts";

    /// reload_if_changed() looks at the file at most this often.
    static constexpr std::chrono::seconds recheck_interval{1};

    /// One valid line: the address (port 0; IPv6 keeps its zone) and its
    /// names as written, canonical name first.
    struct Record {
        Address address;
        std::vector<std::string> names;
    };

    /// What gethostbyname_ex needs about one name.
    struct Entry {
        std::string canonical;             ///< first name of the first line naming it
        std::vector<std::string> aliases;  ///< the other names of those lines, file order, no duplicates
        std::vector<Address> v4;           ///< IPv4 addresses (port 0), file order
        std::vector<Address> v6;           ///< IPv6 addresses (port 0, zone kept), file order
    };

    /// An empty table (no path: reload_if_changed() is always false).
    HostsFile() = default;

    /// Reads and parses the file at `path`; an errno error_code when it
    /// cannot be read (ENOENT, EACCES, EISDIR, ...). A resolver treats a
    /// missing file as an empty table, as glibc does.
    static Result<HostsFile> load(std::string path);

    /// A table for `path` that cannot fail: the file's entries, or an empty
    /// table when it cannot be read now (missing, EACCES). Either way
    /// reload_if_changed() watches `path`, so a file created or fixed later
    /// is picked up. What a resolver wants for /etc/hosts.
    static HostsFile watch(std::string path);

    /// Parses hosts-file text (no file behind it).
    static HostsFile parse(std::string_view text);

    /// The addresses of `name` for `type` A (IPv4) or AAAA (IPv6), port 0,
    /// in file order; empty for another type or an unknown name.
    std::vector<Address> addresses(std::string_view name, std::uint16_t type) const;

    /// The name of `address` (its port and zone are ignored): the first
    /// name of the first line with that address; nullopt when none.
    std::optional<std::string> name_for(const Address& address) const;

    /// Everything known about `name` (a canonical name or an alias);
    /// nullopt when no line names it.
    std::optional<Entry> entry(std::string_view name) const;

    /// The answer to a query, as a resolver builds it: rdata::A for A,
    /// rdata::AAAA for AAAA (zones dropped), rdata::PTR (absolute name, with
    /// the trailing dot) for a PTR query on an in-addr.arpa / ip6.arpa name.
    /// Empty when the table does not answer: unknown name, other types.
    std::vector<Rdata> records(std::string_view name, std::uint16_t type) const;

    /// Every valid line, in file order (for `pants-dig --hosts`).
    const std::vector<Record>& all() const noexcept { return records_; }

    /// The file this table was loaded from; empty after parse().
    const std::string& path() const noexcept { return path_; }

    /// Re-reads the file when it changed since the last (re)load: another
    /// inode (a rename over it), size or mtime. Only a stat(2), and at most
    /// once per recheck_interval: calls sooner than that after the last
    /// look return false without touching the file, so a resolver may call
    /// it before every hosts lookup. `now` is for tests. Returns true when
    /// the table was replaced; a file that disappeared gives an empty table;
    /// a file that exists but cannot be read keeps the old table (and is
    /// retried on the next look).
    bool reload_if_changed(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

private:
    void add_line(std::string_view line);
    // Indices into records_ of the lines naming `key` (a lowercased name
    // without its trailing dot); nullptr when none.
    const std::vector<std::size_t>* lines_of(std::string_view name) const;

    std::vector<Record> records_;
    std::unordered_map<std::string, std::vector<std::size_t>> by_name_;
    // Lowercased reverse name ("1.0.0.127.in-addr.arpa") -> first line.
    std::unordered_map<std::string, std::size_t> by_reverse_;
    std::string path_;
    detail::FileStamp stamp_;
    std::chrono::steady_clock::time_point last_check_{};
};

}  // namespace pants::dns
