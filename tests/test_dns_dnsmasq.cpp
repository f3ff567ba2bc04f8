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

}  // TEST_SUITE
