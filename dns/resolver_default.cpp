// The default resolver, Pants' module-level functions, and the blocking
// forms for scripts and tests.
#include <optional>
#include <stdexcept>

#include <pants/dns/resolver.hpp>

namespace pants::dns {

Resolver& default_resolver() {
    // Built after Engine::instance() (its constructor asks for it), so
    // destroyed before it at exit.
    static Resolver resolver(Engine::instance());
    return resolver;
}

void query(std::string_view name, Resolver::QueryCallback callback) { default_resolver().query(name, std::move(callback)); }
void query(std::string_view name, std::uint16_t type, Resolver::QueryCallback callback) {
    default_resolver().query(name, type, std::move(callback));
}
void query(std::string_view name, std::uint16_t type, const QueryOptions& options, Resolver::QueryCallback callback) {
    default_resolver().query(name, type, options, std::move(callback));
}
Task<Answer> resolve(std::string name, std::uint16_t type, QueryOptions options) {
    return default_resolver().resolve(std::move(name), type, std::move(options));
}
void send_message(std::vector<std::uint8_t> message, Resolver::MessageCallback callback) {
    default_resolver().send_message(std::move(message), std::move(callback));
}
void send_message(std::vector<std::uint8_t> message, const QueryOptions& options, Resolver::MessageCallback callback) {
    default_resolver().send_message(std::move(message), options, std::move(callback));
}
Task<Result<Message>> send_message(std::vector<std::uint8_t> message, QueryOptions options) {
    return default_resolver().send_message(std::move(message), std::move(options));
}
void gethostbyname(std::string_view name, Resolver::HostCallback callback) {
    default_resolver().gethostbyname(name, std::move(callback));
}
Task<Result<std::string>> gethostbyname(std::string name) { return default_resolver().gethostbyname(std::move(name)); }
void gethostbyname_ex(std::string_view name, Resolver::HostEntryCallback callback) {
    default_resolver().gethostbyname_ex(name, std::move(callback));
}
Task<Result<HostEntry>> gethostbyname_ex(std::string name) {
    return default_resolver().gethostbyname_ex(std::move(name));
}
void gethostbyaddr(std::string_view address, Resolver::HostEntryCallback callback) {
    default_resolver().gethostbyaddr(address, std::move(callback));
}
Task<Result<HostEntry>> gethostbyaddr(std::string address) { return default_resolver().gethostbyaddr(std::move(address)); }

namespace sync {

namespace {
/// Refuses to run the loop from inside one of its own turns: a callback
/// that blocked there would re-enter the loop and run other callbacks (and
/// itself, through loop() timers) under its own feet.
void refuse_reentry(const Resolver& resolver, const char* function) {
    if (!resolver.engine().in_turn()) return;
    throw std::logic_error(std::string("pants::dns::sync::") + function +
                           " called from inside a callback or coroutine of the engine it would run; "
                           "use the callback or co_await form there");
}

/// Runs the resolver's engine, one turn at a time, until `slot` is filled.
/// Every operation ends by its own timeouts, so this loop ends too.
template <class T>
T wait(Resolver& resolver, std::optional<T>& slot) {
    while (!slot) resolver.engine().poll(std::chrono::milliseconds(100));
    return std::move(*slot);
}

template <class T>
Result<T> as_result(Status status, T value) {
    if (status != DNS_OK) return unexpected(make_error_code(status));
    return value;
}
}  // namespace

Answer query(Resolver& resolver, std::string_view name, std::uint16_t type, const QueryOptions& options) {
    refuse_reentry(resolver, "query");
    std::optional<Answer> slot;
    resolver.query(name, type, options, [&](Status s, std::string cname, std::uint32_t ttl, std::vector<Rdata> rdata) {
        Answer answer;
        answer.status = s;
        answer.cname = std::move(cname);
        answer.ttl = ttl;
        answer.rdata = std::move(rdata);
        slot = std::move(answer);
    });
    return wait(resolver, slot);
}

Result<Message> send_message(Resolver& resolver, std::vector<std::uint8_t> message, const QueryOptions& options) {
    refuse_reentry(resolver, "send_message");
    std::optional<Result<Message>> slot;
    resolver.send_message(std::move(message), options, [&](Status s, Result<Message> reply) {
        if (reply || s == DNS_OK)
            slot = std::move(reply);
        else
            slot = unexpected(make_error_code(s));
    });
    return wait(resolver, slot);
}

Result<std::string> gethostbyname(Resolver& resolver, std::string_view name) {
    refuse_reentry(resolver, "gethostbyname");
    std::optional<Result<std::string>> slot;
    resolver.gethostbyname(name, [&](Status s, std::string address) { slot = as_result(s, std::move(address)); });
    return wait(resolver, slot);
}

Result<HostEntry> gethostbyname_ex(Resolver& resolver, std::string_view name) {
    refuse_reentry(resolver, "gethostbyname_ex");
    std::optional<Result<HostEntry>> slot;
    resolver.gethostbyname_ex(name, [&](Status s, HostEntry entry) { slot = as_result(s, std::move(entry)); });
    return wait(resolver, slot);
}

Result<HostEntry> gethostbyaddr(Resolver& resolver, std::string_view address) {
    refuse_reentry(resolver, "gethostbyaddr");
    std::optional<Result<HostEntry>> slot;
    resolver.gethostbyaddr(address, [&](Status s, HostEntry entry) { slot = as_result(s, std::move(entry)); });
    return wait(resolver, slot);
}

Answer query(std::string_view name, std::uint16_t type, const QueryOptions& options) {
    return query(default_resolver(), name, type, options);
}
Result<Message> send_message(std::vector<std::uint8_t> message, const QueryOptions& options) {
    return send_message(default_resolver(), std::move(message), options);
}
Result<std::string> gethostbyname(std::string_view name) { return gethostbyname(default_resolver(), name); }
Result<HostEntry> gethostbyname_ex(std::string_view name) { return gethostbyname_ex(default_resolver(), name); }
Result<HostEntry> gethostbyaddr(std::string_view address) { return gethostbyaddr(default_resolver(), address); }

}  // namespace sync
}  // namespace pants::dns
