// The Resolver against a real DNS server: the test starts its own dnsmasq
// on a free loopback port, authoritative for the zone "test" with records
// of every type the codec parses and dnsmasq can serve, asks it through a
// Resolver, and compares each answer with what `dig +short` prints for the
// same question to the same server.
//
// Needs /usr/sbin/dnsmasq (Debian: dnsmasq-base) and dig (bind9-dnsutils);
// without them the suite fails and says so, it does not skip: CI installs
// both (scripts/deps.sh, PANTS_TEST_PACKAGES).
#include <doctest/doctest.h>

#include <pants/dns/resolver.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace pants::dns;
using namespace std::chrono_literals;

namespace {

// PANTS_DNSMASQ overrides the path (to try another build, or to see the
// message when it is missing).
const char* dnsmasq_path() {
    const char* env = std::getenv("PANTS_DNSMASQ");
    return env && *env ? env : "/usr/sbin/dnsmasq";
}

// The records of tests/fixtures/dns/capture.py that have a query below.
const std::vector<std::string> kRecords = {
    "--auth-server=ns.test,127.0.0.1",
    "--auth-zone=test,192.0.2.0/24,2001:db8::/64",
    "--auth-soa=2024010101,hostmaster.test,3600,600,86400",
    "--host-record=host.test,192.0.2.10,2001:db8::10",
    "--cname=www.test,host.test",
    "--mx-host=test,mail.test,10",
    "--txt-record=txt.test,v=spf1 -all,second",
    "--srv-host=_sip._udp.test,sip.test,5060,10,5",
    "--naptr-record=naptr.test,100,10,S,SIP+D2U,,_sip._udp.test",
    "--caa-record=caa.test,0,issue,letsencrypt.org",
};

// A UDP and TCP port free on 127.0.0.1 right now: the kernel picks one for
// a UDP socket (port 0), and a TCP bind on the same number must succeed too
// (dnsmasq listens on both). Another process may still take it before
// dnsmasq binds; Dnsmasq::start retries on a new port in that case.
std::uint16_t free_port() {
    for (int tries = 0; tries < 50; ++tries) {
        const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(udp >= 0);
        REQUIRE(tcp >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        REQUIRE(::bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::getsockname(udp, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        const bool tcp_free = ::bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(tcp);
        ::close(udp);
        if (tcp_free) return ntohs(addr.sin_port);
    }
    FAIL("no free port on 127.0.0.1");
    return 0;
}

// One blocking UDP query with a short receive timeout: true when any reply
// with our id came back. Used only to wait for dnsmasq to be ready.
bool answers(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    auto query = encode_query(0x7e57, "host.test", A);
    bool ok = false;
    if (query && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::send(fd, query->data(), query->size(), 0) == static_cast<ssize_t>(query->size())) {
        pollfd p{fd, POLLIN, 0};
        std::uint8_t reply[512];
        if (::poll(&p, 1, 100) == 1) {
            const ssize_t n = ::recv(fd, reply, sizeof reply, 0);
            ok = n >= 2 && reply[0] == 0x7e && reply[1] == 0x57;
        }
    }
    // Refused at once (not listening yet): back off a little instead of
    // spinning on fork-fresh dnsmasq.
    if (!ok) ::poll(nullptr, 0, 10);
    ::close(fd);
    return ok;
}

// A dnsmasq child process, serving kRecords on 127.0.0.1:port(), killed
// and reaped when this object dies (whatever way the test ends). Its stderr
// goes to a temporary file, shown when it fails to start.
class Dnsmasq {
public:
    Dnsmasq() {
        REQUIRE_MESSAGE(::access(dnsmasq_path(), X_OK) == 0,
                        std::string(dnsmasq_path()) << " is missing: install the Debian package dnsmasq-base "
                                    "(scripts/deps.sh lists it among the test packages)");
        char log[] = "/tmp/pants-dnsmasq-XXXXXX";
        const int fd = ::mkstemp(log);
        REQUIRE(fd >= 0);
        ::close(fd);
        log_ = log;
        // A port may be taken between free_port() and dnsmasq's bind: retry.
        for (int tries = 0; tries < 5 && !started_; ++tries) start();
        REQUIRE_MESSAGE(started_, "dnsmasq did not start:\n" << read_log());
    }
    ~Dnsmasq() {
        stop();
        ::unlink(log_.c_str());
    }
    Dnsmasq(const Dnsmasq&) = delete;
    Dnsmasq& operator=(const Dnsmasq&) = delete;

    std::uint16_t port() const { return port_; }
    pants::Address address() const { return pants::Address::loopback_v4(port_); }

private:
    void start() {
        port_ = free_port();
        std::vector<std::string> args = {dnsmasq_path(), "--no-daemon", "--no-resolv", "--no-hosts",
                                         "--port=" + std::to_string(port_), "--listen-address=127.0.0.1",
                                         "--bind-interfaces", "--pid-file="};
        args.insert(args.end(), kRecords.begin(), kRecords.end());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);

        const pid_t parent = ::getpid();
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            // Die with the test process, even if it is killed outright.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            const int out = ::open(log_.c_str(), O_WRONLY | O_TRUNC);
            if (out >= 0) {
                ::dup2(out, 1);
                ::dup2(out, 2);
            }
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        // Ready when it answers; gone when it exited (port taken, bad flag).
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            if (answers(port_)) {
                started_ = true;
                return;
            }
        }
        stop();
    }

    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    std::string read_log() const {
        std::ifstream in(log_);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

    std::string log_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
    bool started_ = false;
};

// What `dig +short` prints for NAME TYPE from 127.0.0.1:port, one line a
// record (CNAMEs of the chain included, as dig prints them).
std::vector<std::string> dig_short(std::uint16_t port, const std::string& name, const std::string& type) {
    REQUIRE_MESSAGE(::system("command -v dig >/dev/null 2>&1") == 0,
                    "dig is missing: install the Debian package bind9-dnsutils "
                    "(scripts/deps.sh lists it among the test packages)");
    const std::string command = "dig @127.0.0.1 -p " + std::to_string(port) + " +short +tries=1 +time=5 +nocookie '" +
                                name + "' " + type + " 2>&1";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    REQUIRE(pipe != nullptr);
    std::vector<std::string> lines;
    std::string line;
    for (int c; (c = std::fgetc(pipe.get())) != EOF;) {
        if (c == '\n') {
            if (!line.empty()) lines.push_back(line);
            line.clear();
        } else {
            line += static_cast<char>(c);
        }
    }
    if (!line.empty()) lines.push_back(line);
    return lines;
}

// The answer as dig +short would print it: the CNAME target first (one
// link here), then each record in presentation format.
std::vector<std::string> short_lines(const Answer& answer) {
    std::vector<std::string> lines;
    if (!answer.cname.empty()) lines.push_back(answer.cname);
    for (const auto& r : answer.rdata) lines.push_back(to_string(r));
    return lines;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

// The server and a Resolver that asks only it (no hosts file, no search
// list), on a private Engine.
struct Fixture {
    Dnsmasq server;
    pants::Engine engine;
    Resolver resolver{std::vector<pants::Address>{server.address()}, engine};
};

// Asks `name type` through the Resolver and through dig, and requires the
// same records.
void check_same_as_dig(Fixture& f, const std::string& name, const std::string& type_name) {
    CAPTURE(name);
    CAPTURE(type_name);
    const auto type = type_from_string(type_name);
    REQUIRE(type);
    const Answer answer = sync::query(f.resolver, name, *type);
    REQUIRE(answer.status == DNS_OK);
    CHECK(!answer.rdata.empty());
    for (const auto& r : answer.rdata) CHECK(rdata_type(r) == *type);
    CHECK(sorted(short_lines(answer)) == sorted(dig_short(f.server.port(), name, type_name)));
}


// --- pants-dig, the tool, against the same dnsmasq and dig ---------------------

// PANTS_DIG overrides where pants-dig is; by default it is built beside the
// tests: <build>/dns/tools/pants-dig next to <build>/tests/test_dns_dnsmasq.
std::string pants_dig_path() {
    const char* env = std::getenv("PANTS_DIG");
    if (env && *env) return env;
    return (std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path() / "dns" / "tools" / "pants-dig")
        .string();
}

struct Run {
    int exit_code = -1;  // -1: killed by a signal (an uncaught exception aborts)
    std::string output;  // stdout and stderr
};

// Runs a shell command, bounded by `timeout` (coreutils), and collects
// what it prints.
Run run(const std::string& command) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(("timeout 30 " + command + " 2>&1").c_str(), "r"), nullptr);
    REQUIRE(pipe != nullptr);
    Run r;
    for (int c; (c = std::fgetc(pipe.get())) != EOF;) r.output += static_cast<char>(c);
    const int status = ::pclose(pipe.release());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// The lines of `text` between a line starting with `header` and the next
// empty line, each with its whitespace runs made one space.
std::vector<std::string> section(const std::string& text, const std::string& header) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    bool inside = header.empty();
    for (std::string line; std::getline(in, line);) {
        if (!inside) {
            inside = line.rfind(header, 0) == 0;
            continue;
        }
        if (line.empty()) break;
        std::istringstream words(line);
        std::string word, joined;
        while (words >> word) joined += (joined.empty() ? "" : " ") + word;
        lines.push_back(joined);
    }
    return lines;
}

// A UDP "server" in a child process that answers every datagram with the
// query's id followed by bytes that are no DNS message.
class GarbageServer {
public:
    GarbageServer() {
        const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        port_ = ntohs(addr.sin_port);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            for (;;) {
                std::uint8_t buf[1500];
                sockaddr_storage from{};
                socklen_t from_len = sizeof from;
                const ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
                if (n < 2) continue;
                const std::uint8_t junk[] = {buf[0], buf[1], 0x81, 0x80, 'g', 'a', 'r', 'b', 'a', 'g', 'e'};
                ::sendto(fd, junk, sizeof junk, 0, reinterpret_cast<sockaddr*>(&from), from_len);
            }
        }
        ::close(fd);
    }
    ~GarbageServer() {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    GarbageServer(const GarbageServer&) = delete;
    GarbageServer& operator=(const GarbageServer&) = delete;
    std::uint16_t port() const { return port_; }

private:
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};
}  // namespace

TEST_SUITE("dns_dnsmasq") {

TEST_CASE("the resolver answers each record type as dig does from the same dnsmasq") {
    Fixture f;
    check_same_as_dig(f, "host.test", "A");
    check_same_as_dig(f, "host.test", "AAAA");
    check_same_as_dig(f, "test", "MX");
    check_same_as_dig(f, "txt.test", "TXT");
    check_same_as_dig(f, "_sip._udp.test", "SRV");
    check_same_as_dig(f, "10.2.0.192.in-addr.arpa", "PTR");
    check_same_as_dig(f, "naptr.test", "NAPTR");
    check_same_as_dig(f, "caa.test", "CAA");
    check_same_as_dig(f, "test", "SOA");
}

TEST_CASE("a CNAME is followed and reported as the canonical name, as dig shows the chain") {
    Fixture f;
    const Answer answer = sync::query(f.resolver, "www.test", A);
    REQUIRE(answer.status == DNS_OK);
    CHECK(answer.cname == "host.test.");
    CHECK(answer.rdata == std::vector<Rdata>{rdata::A{{192, 0, 2, 10}}});
    CHECK(short_lines(answer) == dig_short(f.server.port(), "www.test", "A"));
    check_same_as_dig(f, "www.test", "CNAME");
}

TEST_CASE("typed RDATA from dnsmasq holds the configured values") {
    Fixture f;
    CHECK(sync::query(f.resolver, "test", MX).rdata == std::vector<Rdata>{rdata::MX{10, "mail.test."}});
    CHECK(sync::query(f.resolver, "txt.test", TXT).rdata ==
          std::vector<Rdata>{rdata::TXT{{"v=spf1 -all", "second"}}});
    CHECK(sync::query(f.resolver, "_sip._udp.test", SRV).rdata ==
          std::vector<Rdata>{rdata::SRV{10, 5, 5060, "sip.test."}});
    CHECK(sync::query(f.resolver, "naptr.test", NAPTR).rdata ==
          std::vector<Rdata>{rdata::NAPTR{100, 10, "S", "SIP+D2U", "", "_sip._udp.test."}});
    CHECK(sync::query(f.resolver, "caa.test", CAA).rdata ==
          std::vector<Rdata>{rdata::CAA{0, "issue", "letsencrypt.org"}});
    const Answer soa = sync::query(f.resolver, "test", SOA);
    REQUIRE(soa.rdata.size() == 1);
    const auto* s = std::get_if<rdata::SOA>(&soa.rdata[0]);
    REQUIRE(s);
    CHECK(s->mname == "ns.test.");
    CHECK(s->rname == "hostmaster.test.");
    CHECK(s->serial == 2024010101);
}

TEST_CASE("a name dnsmasq does not have is DNS_NAMEERROR, and dig prints nothing") {
    Fixture f;
    const Answer answer = sync::query(f.resolver, "nx.test", A);
    CHECK(answer.status == DNS_NAMEERROR);
    CHECK(answer.rdata.empty());
    CHECK(dig_short(f.server.port(), "nx.test", "A").empty());
}

TEST_CASE("gethostbyname and gethostbyaddr go through dnsmasq") {
    Fixture f;
    CHECK(sync::gethostbyname(f.resolver, "host.test") == std::string("192.0.2.10"));
    const auto entry = sync::gethostbyaddr(f.resolver, "192.0.2.10");
    REQUIRE(entry);
    CHECK(entry->name == "host.test");
}

TEST_CASE("send_message to dnsmasq gives the whole reply with its sections") {
    Fixture f;
    auto query = encode_query(0x1234, "host.test", A);
    REQUIRE(query);
    const auto reply = sync::send_message(f.resolver, *query);
    REQUIRE(reply);
    CHECK(reply->qr);
    CHECK(reply->aa);
    CHECK(reply->rcode == 0);
    REQUIRE(reply->questions.size() == 1);
    CHECK(reply->questions[0].name == "host.test.");
    REQUIRE(reply->answers.size() == 1);
    CHECK(reply->answers[0].data == Rdata{rdata::A{{192, 0, 2, 10}}});
}


TEST_CASE("pants-dig prints the same answer section and status as dig from the same dnsmasq") {
    Dnsmasq server;
    const std::string at = "@127.0.0.1:" + std::to_string(server.port());
    const std::string dig = "dig @127.0.0.1 -p " + std::to_string(server.port()) + " +tries=1 +time=5 +nocookie ";
    for (const auto& [name, type] : std::vector<std::pair<std::string, std::string>>{
             {"host.test", "A"}, {"host.test", "AAAA"}, {"www.test", "A"}, {"test", "MX"}, {"txt.test", "TXT"},
             {"_sip._udp.test", "SRV"}, {"naptr.test", "NAPTR"}, {"caa.test", "CAA"}, {"test", "SOA"}}) {
        CAPTURE(name);
        CAPTURE(type);
        const Run ours = run(pants_dig_path() + " " + name + " " + type + " " + at);
        const Run theirs = run(dig + "+noall +answer " + name + " " + type);
        CHECK(ours.exit_code == 0);
        CHECK(theirs.exit_code == 0);
        const auto answer = section(ours.output, ";; ANSWER SECTION:");
        CHECK(!answer.empty());
        CHECK(answer == section(theirs.output, ""));
    }
    // -x and a name that does not exist, by status line.
    const Run reverse = run(pants_dig_path() + " -x 192.0.2.10 " + at);
    CHECK(section(reverse.output, ";; ANSWER SECTION:") ==
          section(run(dig + "+noall +answer -x 192.0.2.10").output, ""));
    const Run missing = run(pants_dig_path() + " nx.test A " + at);
    CHECK(missing.exit_code == 0);  // a reply came, whatever its RCODE (as dig)
    CHECK(missing.output.find("status: NXDOMAIN") != std::string::npos);
    CHECK(run(dig + "nx.test A").output.find("status: NXDOMAIN") != std::string::npos);
}

TEST_CASE("pants-dig says a server sent malformed replies, not that it timed out") {
    GarbageServer garbage;
    const Run r = run(pants_dig_path() + " host.test A @127.0.0.1:" + std::to_string(garbage.port()) +
                      " +time=1 +tries=1");
    CAPTURE(r.output);
    CHECK(r.exit_code == 9);
    CHECK(r.output.find(";; malformed reply from 127.0.0.1:" + std::to_string(garbage.port())) != std::string::npos);
    CHECK(r.output.find("timed out") == std::string::npos);
}

TEST_CASE("pants-dig with almost no descriptors says why instead of dying of an uncaught exception") {
    // At 4 the event loop itself cannot be set up; at 5 it can, but the
    // query's socket cannot. Neither may end in abort(). Under UBSan the
    // sanitizer's own memory probe needs a pipe, which it cannot get here
    // either: it then reports a false "invalid vptr", which must not stop
    // the program (halt_on_error=0), and LeakSanitizer cannot start its
    // check at exit (detect_leaks=0). Neither has an effect on a build
    // without the sanitizers.
    for (int limit : {4, 5}) {
        CAPTURE(limit);
        const Run r = run("env UBSAN_OPTIONS=halt_on_error=0 ASAN_OPTIONS=detect_leaks=0 sh -c 'ulimit -n " +
                          std::to_string(limit) +
                          " && exec " + pants_dig_path() + " host.test A @127.0.0.1:9 +time=1 +tries=1'");
        CAPTURE(r.output);
        CHECK(r.exit_code >= 9);  // 9: no reply, 10: could not run; -1 would be a signal
        CHECK(r.exit_code <= 10);
        CHECK(r.output.find("Too many open files") != std::string::npos);
        CHECK(r.output.find("terminate called") == std::string::npos);
        CHECK(r.output.find("timed out") == std::string::npos);
    }
}

}  // TEST_SUITE
