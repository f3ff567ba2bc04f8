// write_file over TLS (issue 11): the file is read in chunks from the
// range's offset, encrypted, and sent through the stream's one send queue,
// in order with the writes around it; on_write follows once all is sent;
// a file that cannot be read fails that stream only; and a peer that
// stops reading stops the file reading, so memory stays bounded. Our own
// client and `openssl s_client` are the receivers.
#include "tls_fixtures.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

// Live heap bytes of this test program (operator new only: OpenSSL's own
// allocations use malloc and are not counted). Each block carries its size
// in a header so that delete can subtract it.
namespace test {
inline std::atomic<long long> live_bytes{0};
inline std::atomic<long long> peak_bytes{0};
}  // namespace test

namespace {
constexpr std::size_t kHeader = alignof(std::max_align_t);
}

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
    auto* p = static_cast<char*>(std::malloc(n + kHeader));
    if (!p) throw std::bad_alloc();
    *reinterpret_cast<std::size_t*>(p) = n;
    const long long live = test::live_bytes += (long long)n;
    long long peak = test::peak_bytes.load();
    while (live > peak && !test::peak_bytes.compare_exchange_weak(peak, live)) {
    }
    return p + kHeader;
}
void operator delete(void* p) noexcept {
    if (!p) return;
    char* block = static_cast<char*>(p) - kHeader;
    test::live_bytes -= (long long)*reinterpret_cast<std::size_t*>(block);
    std::free(block);
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }

using namespace test;
using pants::Engine;

namespace {

constexpr std::size_t kFileBytes = (3u << 20) + 12345;  // a few MiB, not a multiple of a chunk
constexpr pants::FileRange kRange{.offset = 4097, .size = (3u << 20) - 777};

std::string expected_range(const std::string& file, pants::FileRange r) {
    return file.substr(std::size_t(r.offset), std::size_t(r.size));
}

/// Sends "head:", the range of `path`, ":tail"; ends when `end_after`.
struct FileSender : pants::Connection {
    static inline std::string path;
    static inline pants::FileRange range;
    static inline bool end_after = false;
    static inline int writes_drained = 0;
    static inline std::size_t pending_at_drain = 1;
    static inline std::vector<std::string> events;
    static inline std::error_code error;
    static void reset(std::string p, pants::FileRange r, bool end) {
        path = std::move(p);
        range = r;
        end_after = end;
        writes_drained = 0;
        pending_at_drain = 1;
        events.clear();
        error = {};
    }
    void on_connect() override {
        write("head:");
        REQUIRE(write_file(path, range));
        write(":tail");
        if (end_after) end();
    }
    void on_write() override {
        ++writes_drained;
        pending_at_drain = pending_write_bytes();
    }
    void on_error(std::error_code e) override {
        error = e;
        events.push_back("error");
    }
    void on_close() override { events.push_back("close"); }
};

/// `openssl s_client` whose stdout (the bytes it received) goes to `out`;
/// it exits when our server ends the connection (close_notify).
Child openssl_client_to_file(const Pki& pki, std::uint16_t port, const std::string& out, const char* version) {
    return Child({"sh", "-c",
                  "openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -CAfile '" + pki.ca.cert_file +
                      "' -servername localhost -verify_hostname localhost -verify_return_error -quiet " + version +
                      " > '" + out + "'"});
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("write_file over TLS sends a file range byte for byte to our client, then on_write") {
    Engine engine;
    Pki pki;
    const std::string file = pattern(kFileBytes, 7);
    FileSender::reset(pki.dir.write("data.bin", file), kRange, false);
    pants::Server<FileSender> server(engine);
    server.set_tls(pki.server_context());
    REQUIRE(server.listen(loopback()));
    TlsRecorder client(engine);
    client.connect("localhost", server.local_address()->port(), pki.client_context());
    const std::string want = "head:" + expected_range(file, kRange) + ":tail";
    run_until(engine, [&] { return client.got.size() >= want.size(); });
    CHECK(client.got.size() == want.size());
    CHECK(client.got == want);
    // The stream's one on_write comes after the whole file went out.
    run_until(engine, [&] { return FileSender::writes_drained > 0; });
    CHECK(FileSender::writes_drained == 1);
    CHECK(FileSender::pending_at_drain == 0);
    client.end();
    run_until(engine, [&] { return client.closes == 1 && FileSender::events == std::vector<std::string>{"close"}; });
    CHECK(!client.error);
}

TEST_CASE("openssl s_client receives a write_file over TLS byte for byte (TLS 1.3 and 1.2)") {
    for (const char* version : {"-tls1_3", "-tls1_2"}) {
        CAPTURE(version);
        Engine engine;
        Pki pki;
        const std::string file = pattern(kFileBytes, 11);
        const int fds_before = count_fds();
        FileSender::reset(pki.dir.write("data.bin", file), kRange, true);
        {
            pants::Server<FileSender> server(engine);
            server.set_tls(pki.server_context());
            REQUIRE(server.listen(loopback()));
            const std::string out = (pki.dir.path / "received.bin").string();
            Child client = openssl_client_to_file(pki, server.local_address()->port(), out, version);
            run_until(engine, [&] { return !client.drain(); });  // s_client exited
            run_until(engine, [&] { return FileSender::events == std::vector<std::string>{"close"}; });
            const std::string got = read_file(out);
            CHECK(got.size() == kRange.size + 10);
            CHECK(got == "head:" + expected_range(file, kRange) + ":tail");
            CHECK(!FileSender::error);
        }
        // write_file(path) opened the file; it was closed once sent (and
        // the sockets once the engine has run their closes).
        run_until(engine, [&] { return count_fds() <= fds_before; });
        CHECK(count_fds() == fds_before);
    }
}

TEST_CASE("a coroutine's write after write_file over TLS waits under high_water and follows the file") {
    Engine engine;
    Pki pki;
    const std::string file = pattern(kFileBytes, 3);
    const std::string path = pki.dir.write("data.bin", file);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    std::size_t pending_after_write = 0;
    pants::Server server(
        [&](pants::Stream& s) -> pants::Task<> {
            REQUIRE(s.write_file(fd, {.offset = 100}));
            // Resumes once what is queued (the file's unread rest counts)
            // is under high_water, as on a plain stream.
            if (!co_await s.write("trailer")) co_return;
            pending_after_write = s.pending_write_bytes();
            s.end();
        },
        engine);
    server.set_tls(pki.server_context());
    REQUIRE(server.listen(loopback()));
    TlsRecorder client(engine);
    client.connect("localhost", server.local_address()->port(), pki.client_context());
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(!client.error);  // a clean end: close_notify after the trailer
    CHECK(client.got == file.substr(100) + "trailer");
    CHECK(pending_after_write <= client.high_water);
    ::close(fd);
}

namespace {

/// Fails with a file it cannot read: a directory, or a descriptor closed
/// before the read.
struct BadFileSender : pants::Connection {
    static inline int kind = 0;  // 0: a directory, 1: a closed descriptor
    static inline std::string dir;
    static inline std::vector<std::string> events;
    static inline std::error_code error;
    static inline bool inside_write_file = false;
    static inline bool reported_inside = false;
    void on_connect() override {
        int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        if (kind == 1) ::close(fd);
        inside_write_file = true;
        CHECK(write_file(fd, {.size = 100000}));  // the read comes later: it fails then
        inside_write_file = false;
        if (kind == 0) ::close(fd);
    }
    void on_write_error(std::error_code e) override {
        reported_inside |= inside_write_file;
        error = e;
        events.push_back("write_error");
    }
    void on_close() override { events.push_back("close"); }
};

}  // namespace

TEST_CASE("a write_file over TLS that cannot be read fails that stream only") {
    for (int kind : {0, 1}) {
        CAPTURE(kind);
        Engine engine;
        Pki pki;
        BadFileSender::kind = kind;
        BadFileSender::dir = pki.dir.path.string();
        BadFileSender::events.clear();
        BadFileSender::error = {};
        BadFileSender::reported_inside = false;
        pants::Server<BadFileSender> bad(engine);
        bad.set_tls(pki.server_context());
        REQUIRE(bad.listen(loopback()));
        // Another TLS connection on the same engine goes on.
        pants::Server echo(
            [](pants::Stream& s) -> pants::Task<> {
                while (auto line = co_await s.read_until("\n")) {
                    std::string back(*line);
                    back += '\n';
                    if (!co_await s.write(back)) break;
                }
            },
            engine);
        echo.set_tls(pki.server_context());
        REQUIRE(echo.listen(loopback()));
        TlsRecorder other(engine);
        other.read_delimiter = "\n";
        other.connect("localhost", echo.local_address()->port(), pki.client_context());
        other.write("before\n");
        run_until(engine, [&] { return other.frames.size() == 1; });

        TlsRecorder victim(engine);
        victim.connect("localhost", bad.local_address()->port(), pki.client_context());
        run_until(engine, [&] { return BadFileSender::events.size() == 2 && victim.closes == 1; });
        CHECK(BadFileSender::events == std::vector<std::string>{"write_error", "close"});
        CHECK(BadFileSender::error == (kind == 0 ? std::errc::is_a_directory : std::errc::bad_file_descriptor));
        CHECK(!BadFileSender::reported_inside);  // never inside the user's call
        CHECK(victim.got.empty());               // nothing of the file was sent

        other.write("after\n");
        run_until(engine, [&] { return other.frames.size() == 2; });
        CHECK(other.frames == std::vector<std::string>{"before", "after"});
        CHECK(other.closes == 0);
        other.end();
        run_until(engine, [&] { return other.closes == 1; });
        CHECK(!other.error);
    }
}

TEST_CASE("write_file over TLS goes on with high_water 0 (one chunk at a time)") {
    Engine engine;
    Pki pki;
    const std::string file = pattern(300000, 9);
    const std::string path = pki.dir.write("data.bin", file);
    pants::Server server(
        [&](pants::Stream& s) -> pants::Task<> {
            s.high_water = 0;
            s.low_water = 0;
            REQUIRE(s.write_file(path));
            // The stream (and its high_water) lives until the client has it all.
            co_await s.read_until("\n");
        },
        engine);
    server.set_tls(pki.server_context());
    REQUIRE(server.listen(loopback()));
    TlsRecorder client(engine);
    client.connect("localhost", server.local_address()->port(), pki.client_context());
    run_until(engine, [&] { return client.got.size() >= file.size(); });
    client.write("done\n");
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(!client.error);
    CHECK(client.got == file);
}

TEST_CASE("a coroutine sees a write_file read error over TLS from its next co_await write") {
    Engine engine;
    Pki pki;
    std::error_code seen;
    bool handler_done = false;
    pants::Server server(
        [&](pants::Stream& s) -> pants::Task<> {
            int fd = ::open(pki.dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            REQUIRE(fd >= 0);
            CHECK(s.write_file(fd, {.size = 100}));
            auto r = co_await s.write("never sent");
            ::close(fd);
            if (!r) seen = r.error();
            handler_done = true;
        },
        engine);
    server.set_tls(pki.server_context());
    REQUIRE(server.listen(loopback()));
    TlsRecorder client(engine);
    client.connect("localhost", server.local_address()->port(), pki.client_context());
    run_until(engine, [&] { return handler_done && client.closes == 1; });
    CHECK(seen == std::errc::is_a_directory);
    CHECK(client.got.empty());
}

namespace {

constexpr std::size_t kBigFileBytes = std::size_t(32) << 20;

/// Counts and checks what arrives, pausing once for a while after 1 MiB.
struct SlowReader : TlsRecorder {
    using TlsRecorder::TlsRecorder;
    const std::string* file = nullptr;
    std::size_t received = 0;
    bool intact = true;
    bool paused_once = false;
    pants::Timer resume;
    void on_read(std::string_view d) override {
        intact &= file->compare(received, d.size(), d) == 0;
        received += d.size();
        if (!paused_once && received >= (1u << 20)) {
            // A peer that stops reading: the server's queue fills and the
            // kernel's buffers with it; then it reads on.
            paused_once = true;
            pause_reading();
            resume = engine().defer(std::chrono::milliseconds(300), [this] { resume_reading(); });
        }
    }
};

struct BigFileSender : pants::Connection {
    static inline std::string path;
    static inline long long live_at_start = 0;
    void on_connect() override {
        live_at_start = live_bytes.load();
        peak_bytes = live_at_start;
        REQUIRE(write_file(path));
    }
};

}  // namespace

TEST_CASE("a peer that stops reading a write_file over TLS leaves memory bounded") {
    Engine engine;
    Pki pki;
    const std::string file = pattern(kBigFileBytes, 5);
    BigFileSender::path = pki.dir.write("big.bin", file);
    pants::Server<BigFileSender> server(engine);
    server.set_tls(pki.server_context());
    REQUIRE(server.listen(loopback()));
    SlowReader client(engine);
    client.file = &file;
    client.connect("localhost", server.local_address()->port(), pki.client_context());
    run_until(engine, [&] { return client.received == file.size(); });
    CHECK(client.intact);
    CHECK(client.paused_once);
    const long long grew = peak_bytes.load() - BigFileSender::live_at_start;
    MESSAGE("heap grew by at most " << grew << " bytes while sending a " << file.size() << " byte file (high_water "
                                    << client.high_water << ")");
    // The server's send queue (high_water plus one chunk's records) and the
    // client's input buffer; reading the file ahead of the peer would be
    // the whole 32 MiB.
    CHECK(grew < (long long)(3 * client.high_water));
    client.end();
    run_until(engine, [&] { return client.closes == 1; });
}
