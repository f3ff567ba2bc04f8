// Resolver: hosts file, search list, cache and shared lookups, over the
// Lookup/Exchange machinery; the public query, resolve and send_message.
#include <pants/dns/resolver.hpp>

#include "resolver_await.hpp"
#include "resolver_core.hpp"

namespace pants::dns {
namespace detail {

ResolverCore::ResolverCore(Engine& engine_, Config config_, HostsLookup hosts)
    : engine(engine_), config(std::move(config_)), udp_pool(engine_), hosts_(std::move(hosts)) {}

ResolverCore::~ResolverCore() = default;

namespace {

/// One query walking its search list: each candidate name in turn until
/// one has records (resolv.conf(5); glibc's res_nsearch).
struct Search {
    std::weak_ptr<ResolverCore> core;
    std::vector<std::string> names;
    std::size_t next = 0;
    std::uint16_t type = 0;
    ResolverCore::AnswerFn done;
    std::optional<Answer> nodata;  // a name that exists without records of this type
    Answer last;

    static void step(const std::shared_ptr<Search>& self) {
        auto core = self->core.lock();
        if (!core) return self->done(Answer{});
        const std::string& name = self->names[self->next++];
        core->lookup(name, self->type, [self](Answer answer) {
            // NXDOMAIN and NODATA move on to the next candidate; anything
            // else (records, a failing server, a timeout) ends the search.
            const bool negative = answer.status == DNS_NAMEERROR || (answer.status == DNS_OK && answer.rdata.empty());
            if (!negative) return self->done(std::move(answer));
            if (answer.status == DNS_OK && !self->nodata) self->nodata = answer;
            self->last = std::move(answer);
            if (self->next < self->names.size()) return step(self);
            self->done(self->nodata ? std::move(*self->nodata) : std::move(self->last));
        });
    }
};

}  // namespace

void ResolverCore::query(std::string_view name, std::uint16_t type, AnswerFn done) {
    if (hosts_ && (type == A || type == AAAA || type == PTR)) {
        if (auto records = hosts_(name, type)) {
            Answer answer{DNS_OK, {}, 0, std::move(*records)};
            engine.callback([done = std::move(done), answer = std::move(answer)]() mutable { done(std::move(answer)); });
            return;
        }
    }
    auto search = std::make_shared<Search>();
    search->core = weak_from_this();
    search->names = search_candidates(name, config.search, config.ndots);
    search->type = type;
    search->done = std::move(done);
    Search::step(search);
}

void ResolverCore::lookup(const std::string& fqdn, std::uint16_t type, AnswerFn done) {
    std::string key = cache_key(fqdn, type);
    if (config.cache) {
        if (auto hit = cache.find(key)) {
            engine.callback([done = std::move(done), answer = std::move(*hit)]() mutable { done(std::move(answer)); });
            return;
        }
    }
    if (auto it = pending_.find(key); it != pending_.end()) {
        it->second.waiters.push_back(std::move(done));  // share the request in flight
        return;
    }
    auto query = encode_query(0, fqdn, type, true, config.edns_udp_size);
    if (!query) {
        // A name that cannot be encoded (empty label, over 255 bytes).
        engine.callback([done = std::move(done)] { done(Answer{DNS_FORMATERROR, {}, 0, {}}); });
        return;
    }
    Pending& pending = pending_[key];
    pending.fqdn = fqdn;
    pending.type = type;
    pending.waiters.push_back(std::move(done));
    pending.lookup = std::make_unique<Lookup>(
        engine, udp_pool, server_order(), config.attempts, config.timeout, std::move(*query), Question{fqdn, type, IN}, true,
        [this, key](Status status, Result<Message> reply) { settled(key, status, std::move(reply)); });
    pending.lookup->start();
}

void ResolverCore::settled(const std::string& key, Status status, Result<Message> reply) {
    auto keep = shared_from_this();  // a waiter may destroy the Resolver
    auto it = pending_.find(key);
    if (it == pending_.end()) return;
    Pending pending = std::move(it->second);
    pending_.erase(it);
    Answer answer;
    answer.status = status;
    if (reply) {
        std::uint32_t cache_ttl = 0;
        answer = answer_from_reply(*reply, pending.fqdn, pending.type, cache_ttl);
        answer.status = status;
        if (config.cache && (status == DNS_OK || status == DNS_NAMEERROR)) cache.store(key, answer, cache_ttl);
    }
    for (auto& waiter : pending.waiters) waiter(answer);
}

void ResolverCore::send_message(std::vector<std::uint8_t> message, Resolver::MessageCallback done) {
    auto parsed = decode(message);
    if (!parsed || message.size() < 12) {
        engine.callback([done = std::move(done)] {
            done(DNS_FORMATERROR, unexpected(make_error_code(DNS_FORMATERROR)));
        });
        return;
    }
    std::optional<Question> question;
    if (parsed->questions.size() == 1) question = parsed->questions.front();
    std::vector<Address> first;
    if (!config.servers.empty()) first.push_back(config.servers.front());
    const std::uint64_t id = next_raw_++;
    Raw& raw = raw_[id];
    raw.done = std::move(done);
    raw.lookup = std::make_unique<Lookup>(engine, udp_pool, std::move(first), config.attempts, config.timeout, std::move(message),
                                          std::move(question), false, [this, id](Status status, Result<Message> reply) {
                                              auto keep = shared_from_this();
                                              auto it = raw_.find(id);
                                              if (it == raw_.end()) return;
                                              Raw r = std::move(it->second);
                                              raw_.erase(it);
                                              r.done(status, std::move(reply));
                                          });
    raw.lookup->start();
}

std::vector<Address> ResolverCore::server_order() {
    std::vector<Address> order = config.servers;
    if (config.rotate && order.size() > 1) {
        std::rotate(order.begin(), order.begin() + std::ptrdiff_t(rotation_ % order.size()), order.end());
        ++rotation_;
    }
    return order;
}

void ResolverCore::shutdown() {
    // Every caller hears back, on a later turn, after the sockets are shut.
    auto pending = std::move(pending_);
    pending_.clear();
    auto raw = std::move(raw_);
    raw_.clear();
    for (auto& [key, p] : pending) {
        p.lookup.reset();
        for (auto& waiter : p.waiters)
            engine.callback([waiter = std::move(waiter)] { waiter(Answer{DNS_TIMEOUT, {}, 0, {}}); });
    }
    for (auto& [id, r] : raw) {
        r.lookup.reset();
        engine.callback([done = std::move(r.done)] { done(DNS_TIMEOUT, unexpected(make_error_code(DNS_TIMEOUT))); });
    }
    udp_pool.close_all();
}

}  // namespace detail

// --- Resolver ------------------------------------------------------------------

Resolver::Resolver(Engine& engine) : Resolver(Options{}, engine) {}

Resolver::Resolver(Options options, Engine& engine)
    : core_(std::make_shared<detail::ResolverCore>(engine, detail::load_config(options),
                                                   detail::load_hosts(options.hosts_path))) {}

namespace {
Resolver::Options explicit_servers(std::vector<Address> servers) {
    Resolver::Options options;
    options.servers = std::move(servers);
    options.resolv_conf_path.clear();
    options.hosts_path.clear();
    return options;
}
}  // namespace

Resolver::Resolver(std::vector<Address> servers, Engine& engine) : Resolver(explicit_servers(std::move(servers)), engine) {}

Resolver::~Resolver() { core_->shutdown(); }

void Resolver::query(std::string_view name, std::uint16_t type, QueryCallback callback) {
    core_->query(name, type, [callback = std::move(callback)](Answer a) {
        callback(a.status, std::move(a.cname), a.ttl, std::move(a.rdata));
    });
}

Task<Answer> Resolver::resolve(std::string name, std::uint16_t type) {
    auto core = core_;  // the Resolver may go while we wait; the core answers DNS_TIMEOUT then
    // A named awaiter, not a temporary in the co_await expression: GCC 12
    // mishandles temporaries with non-trivial destructors there.
    detail::CallbackAwaiter<Answer> awaiter(core->engine, Answer{}, [&](auto deliver) {
        core->query(name, type, std::move(deliver));
    });
    Answer answer = co_await awaiter;
    co_return answer;
}

void Resolver::send_message(std::vector<std::uint8_t> message, MessageCallback callback) {
    core_->send_message(std::move(message), std::move(callback));
}

Task<Result<Message>> Resolver::send_message(std::vector<std::uint8_t> message) {
    auto core = core_;
    detail::CallbackAwaiter<Result<Message>> awaiter(
        core->engine, unexpected(make_error_code(DNS_TIMEOUT)), [&](auto deliver) {
            core->send_message(std::move(message), [deliver = std::move(deliver)](Status status, Result<Message> reply) {
                if (reply || status == DNS_OK)
                    deliver(std::move(reply));
                else
                    deliver(unexpected(make_error_code(status)));
            });
        });
    Result<Message> reply = co_await awaiter;
    co_return reply;
}

const std::vector<Address>& Resolver::servers() const noexcept { return core_->config.servers; }
const std::vector<std::string>& Resolver::search() const noexcept { return core_->config.search; }
void Resolver::clear_cache() { core_->cache.clear(); }
Engine& Resolver::engine() const noexcept { return core_->engine; }

}  // namespace pants::dns
