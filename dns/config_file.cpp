// Reading and splitting the resolver's configuration files.
#include <pants/dns/detail/config_file.hpp>

#include <algorithm>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pants::dns::detail {

namespace {

FileStamp stamp_from(const struct stat& st) noexcept {
    FileStamp s;
    s.device = st.st_dev;
    s.inode = st.st_ino;
    s.size = st.st_size;
    s.mtime = st.st_mtim;
    s.exists = true;
    return s;
}

}  // namespace

FileStamp stamp_of(const std::string& path) noexcept {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    return stamp_from(st);
}

Result<std::string> read_text_file(const std::string& path, FileStamp* stamp) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        return fail(err);
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        return fail(EISDIR);
    }
    std::string text;
    char chunk[4096];
    for (;;) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            return fail(err);
        }
        if (n == 0) break;
        text.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (stamp) *stamp = stamp_from(st);
    return text;
}

std::vector<std::string_view> split_fields(std::string_view line, std::string_view comment_chars,
                                           std::string_view separators) {
    if (const std::size_t c = line.find_first_of(comment_chars); c != std::string_view::npos)
        line = line.substr(0, c);
    std::vector<std::string_view> fields;
    std::size_t i = 0;
    while (i < line.size()) {
        i = line.find_first_not_of(separators, i);
        if (i == std::string_view::npos) break;
        const std::size_t end = std::min(line.find_first_of(separators, i), line.size());
        fields.push_back(line.substr(i, end - i));
        i = end;
    }
    return fields;
}

}  // namespace pants::dns::detail
