// pants/dns/detail/config_file.hpp: what the hosts and resolv.conf parsers
// share: reading a small text file whole, splitting lines into fields, and
// the identity of a file (to notice it changed).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include <pants/result.hpp>

namespace pants::dns::detail {

/// What stat(2) says about a file, enough to notice a rewrite, a rename
/// over it or an edit in place: device, inode, size and mtime (ns).
struct FileStamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec mtime{};
    bool exists = false;

    friend bool operator==(const FileStamp& a, const FileStamp& b) noexcept {
        return a.exists == b.exists && a.device == b.device && a.inode == b.inode && a.size == b.size &&
               a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec;
    }
};

/// The stamp of `path`; exists == false when stat fails for any reason.
FileStamp stamp_of(const std::string& path) noexcept;

/// The whole content of a (small, local) file, and its stamp taken from
/// the open descriptor, so the two agree. Errors are errno codes of
/// open/read (ENOENT, EACCES, ...). Blocking: configuration files are read
/// once at start-up and when they change, as every resolver does.
Result<std::string> read_text_file(const std::string& path, FileStamp* stamp = nullptr);

/// The fields of one line: split on the characters of `separators`
/// (blanks and tabs by default), cut at the first character of
/// `comment_chars` (a comment runs to the end of the line).
std::vector<std::string_view> split_fields(std::string_view line, std::string_view comment_chars,
                                           std::string_view separators = " \t");

/// Calls f(line) for each line of text, without its '\n' (or "\r\n").
template <class F>
void for_each_line(std::string_view text, F&& f) {
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        f(line);
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
}

}  // namespace pants::dns::detail
