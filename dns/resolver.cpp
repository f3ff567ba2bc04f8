// Resolver: hosts file, search list, cache and shared lookups, over the
// Lookup/Exchange machinery; the public query, resolve and send_message.
#include <pants/dns/resolver.hpp>

#include <algorithm>

#include "resolver_await.hpp"
#include "resolver_core.hpp"
#include "resolver_deadline.hpp"

namespace pants::dns {
namespace detail {

ResolverCore::ResolverCore(Engine& engine_, Config config_, HostsLookup hosts)
    : engine(engine_), config(std::move(config_)), schedule(engine_), udp_pool(engine_), answers(engine_), hosts_(std::move(hosts)) {}

ResolverCore::~ResolverCore() { idle_timer_.cancel(); }

namespace {

/// One query walking its search list: each candidate name in turn until
/// one has records (resolv.conf(5); glibc's res_nsearch).
struct Search {
    std::weak_ptr<ResolverCore> core;
    std::vector<std::string> names;
    std::size_t next = 0;
    std::uint16_t type = 0;
    QueryOptions options;
    AnswerRecipient done;
    std::optional<Answer> nodata;  // a name that exists without records of this type
    Answer last;

    static void step(const std::shared_ptr<Search>& self) {
        auto core = self->core.lock();
        if (!core) return self->done(Answer{});
        const std::string& name = self->names[self->next++];
        core->lookup(name, self->type, self->options, [self](Answer answer) {
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

namespace {
/// An OPT record without options (RFC 6891 6.1.2): root owner (1 byte),
/// TYPE, CLASS (the payload size), TTL, RDLENGTH.
constexpr std::size_t kEmptyOptSize = 1 + 2 + 2 + 4 + 2;

Answer status_only(Status status) {
    Answer answer;
    answer.status = status;
    return answer;
}
}  // namespace

void ResolverCore::query(std::string_view name, std::uint16_t type, const QueryOptions& options, AnswerRecipient done) {
    if (options.timeout) {
        done = bounded(engine, options.timeout, std::function<void(Answer)>(std::move(done)),
                       [](const std::function<void(Answer)>& expired) { expired(status_only(DNS_TIMEOUT)); });
    }
    if (hosts_ && options.use_hosts && options.klass == IN && (type == A || type == AAAA || type == PTR)) {
        if (auto records = hosts_(name, type)) {
            Answer answer;
            answer.status = DNS_OK;
            answer.rdata = std::move(*records);
            return answers.push(std::move(done), std::move(answer));
        }
    }
    // RFC 6761 6.3: localhost names never go to a server, hosts file or not.
    if (auto local = localhost_answer(name, type, options.klass))
        return answers.push(std::move(done), std::move(*local));
    // An absolute name is its only candidate (search_candidates): no search
    // to walk, and a single candidate's answer is the search's answer.
    if (name.size() > 1 && name.back() == '.') return lookup(name, type, options, std::move(done));
    auto search = std::make_shared<Search>();
    search->core = weak_from_this();
    search->names = search_candidates(name, config.search, config.ndots);
    search->type = type;
    search->options = options;
    search->done = std::move(done);
    Search::step(search);
}

void ResolverCore::lookup(std::string_view fqdn, std::uint16_t type, const QueryOptions& options,
                          AnswerRecipient done) {
    // A name that cannot be encoded (empty label, over 255 bytes).
    WireName wire;
    if (name_to_wire(fqdn, wire) != WireError::ok)
        return answers.push(std::move(done), status_only(DNS_FORMATERROR));
    // One key, hashed once, for the cache, the join and the new entry.
    cache_key(wire, type, options.klass, probe_.key);
    probe_.tcp = options.tcp;
    const bool use_cache = config.cache && options.use_cache;
    if (use_cache) {
        if (auto hit = cache.find(probe_.key)) return answers.push(std::move(done), std::move(*hit));
    }
    if (auto joined = pending_.find(probe_); joined != pending_.end()) {
        joined->second.more.push_back(std::move(done));  // share the request in flight
        joined->second.store = joined->second.store || use_cache;
        return;
    }
    const auto node = add_pending();
    MessageBytes query;
    write_query(query, 0, wire, type, options.klass, true, config.edns_udp_size);
    // write_query puts the OPT record (no options) last, alone in the
    // additional section: the Lookup can cut it off for the EDNS fallback.
    const std::size_t edns_opt_size = config.edns_udp_size != 0 ? kEmptyOptSize : 0;
    Engine::Duration per_try = config.timeout;
    if (options.timeout) per_try = std::min<Engine::Duration>(per_try, *options.timeout);
    Pending& pending = node->second;
    pending.store = use_cache;
    pending.first = std::move(done);
    // The key lives in its map node, which stays put until settled()
    // takes it out: the callback holds a pointer (small enough for
    // std::function to keep without allocating), not a copy.
    const PendingKey* settle_key = &node->first;
    // resolv.conf(5) "rotate": each lookup starts one server further on.
    const std::size_t rotate_by = config.rotate ? rotation_++ : 0;
    pending.lookup.emplace(
        engine, udp_pool, schedule, config.servers, rotate_by, config.attempts, per_try, query.view(),
        &wire, type, options.klass, /*fresh_ids=*/true,
        [this, settle_key](Status status, const Result<Reply>& reply) { settled(*settle_key, status, reply); },
        options.tcp, edns_opt_size);
    pending.lookup->start();
}

// A node for probe_: a spare one when there is one, else a new one.
ResolverCore::PendingMap::iterator ResolverCore::add_pending() {
    if (spare_.empty()) return pending_.try_emplace(probe_).first;
    auto node = std::move(spare_.back());
    spare_.pop_back();
    node.key() = probe_;
    return pending_.insert(std::move(node)).position;
}

// `key` may be the map node's own key, and `reply` lives in the Lookup:
// neither is used once the node is taken out.
void ResolverCore::settled(const PendingKey& key, Status status, const Result<Reply>& reply) {
    auto keep = shared_from_this();  // a waiter may destroy the Resolver
    auto it = pending_.find(key);
    if (it == pending_.end()) return;
    Answer answer;
    answer.status = status;
    if (reply) {
        Pending& pending = it->second;
        std::uint32_t cache_ttl = 0;
        answer = answer_from_reply(*reply, pending.lookup->question_name(), pending.lookup->question_type(), cache_ttl);
        answer.status = status;
        const CacheKey& cache_as = it->first.key;
        if (pending.store && (status == DNS_OK || status == DNS_NAMEERROR)) cache.store(cache_as, answer, cache_ttl);
        // RFC 2308 7.1: a server failure may be cached for at most five
        // minutes, against the query and the server. Only when every server
        // failed (so the entry holds for each of them), and only a reply
        // that echoes the question (one without proves nothing about it).
        if (pending.store && status == DNS_SERVERFAILURE && reply->layout.counts[0] != 0 &&
            pending.lookup->every_server_failed())
            cache.store(cache_as, answer, config.servfail_ttl);
    }
    // The node goes to the spares (or is freed); either way its Lookup,
    // which is calling us and touches nothing after (Lookup::settle), is
    // destroyed.
    auto node = pending_.extract(it);
    AnswerRecipient first = std::move(node.mapped().first);
    std::vector<AnswerRecipient> more = std::move(node.mapped().more);
    node.mapped().lookup.reset();
    if (spare_.size() < kSpareNodes) spare_.push_back(std::move(node));
    if (pending_.empty() && !idle_timer_.active()) {
        idle_timer_ = engine.defer(kIdleFree, [this] {
            if (pending_.empty()) spare_.clear();  // else the next lull re-arms
        });
    }
    // Each waiter gets its own copy; the last one takes the original. A
    // callback that throws goes to the engine's error handler and the
    // others still get their answer (a callback may also destroy this
    // resolver: only locals from here on).
    Engine& eng = engine;
    auto give = [&eng](auto& callback, auto&& a) {
        try {
            callback(std::forward<decltype(a)>(a));
        } catch (...) {
            eng.report(std::current_exception());
        }
    };
    if (more.empty()) return give(first, std::move(answer));
    give(first, answer);
    for (std::size_t i = 0; i < more.size(); ++i) give(more[i], i + 1 == more.size() ? std::move(answer) : answer);
}

void ResolverCore::send_message(std::vector<std::uint8_t> message, const QueryOptions& options,
                                Resolver::MessageCallback done) {
    done = bounded(engine, options.timeout, std::move(done), [](const Resolver::MessageCallback& expired) {
        expired(DNS_TIMEOUT, unexpected(make_error_code(DNS_TIMEOUT)));
    });
    auto parsed = decode(message);
    if (!parsed || message.size() < 12) {
        engine.callback([done = std::move(done)] {
            done(DNS_FORMATERROR, unexpected(make_error_code(DNS_FORMATERROR)));
        });
        return;
    }
    // The first server only.
    // Replies must echo its one question, if it has one (decode() made
    // its name, so it converts).
    const bool asked = parsed->questions.size() == 1;
    WireName question;
    if (asked) (void)name_to_wire(parsed->questions[0].name, question);
    const std::span<const Address> first(config.servers.data(), std::min<std::size_t>(config.servers.size(), 1));
    const std::uint64_t id = next_raw_++;
    Raw& raw = raw_[id];
    raw.done = std::move(done);
    Engine::Duration per_try = config.timeout;
    if (options.timeout) per_try = std::min<Engine::Duration>(per_try, *options.timeout);
    raw.lookup.emplace(engine, udp_pool, schedule, first, 0, config.attempts, per_try, message,
                                          asked ? &question : nullptr, asked ? parsed->questions[0].type : 0,
                                          asked ? parsed->questions[0].klass : 0, false, [this, id](Status status, const Result<Reply>& reply) {
                                              auto keep = shared_from_this();
                                              auto it = raw_.find(id);
                                              if (it == raw_.end()) return;
                                              // The caller gets the whole message: decoded
                                              // now, from bytes scan_reply() accepted, while
                                              // the Lookup (which holds them) lives.
                                              Result<Message> message = reply ? reply->message() : unexpected(reply.error());
                                              // Destroys the Lookup calling us (see settled).
                                              Resolver::MessageCallback done = std::move(it->second.done);
                                              raw_.erase(it);
                                              done(status, std::move(message));
                                          },
                                          options.tcp);
    raw.lookup->start();
}

void ResolverCore::shutdown() {
    // Every caller hears back, on a later turn, after the sockets are shut.
    auto pending = std::move(pending_);
    pending_.clear();
    auto raw = std::move(raw_);
    raw_.clear();
    spare_.clear();
    idle_timer_.cancel();
    for (auto& [key, p] : pending) {
        p.lookup.reset();
        engine.callback([waiter = std::move(p.first)]() mutable { waiter(status_only(DNS_TIMEOUT)); });
        for (auto& waiter : p.more)
            engine.callback([waiter = std::move(waiter)]() mutable { waiter(status_only(DNS_TIMEOUT)); });
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

void Resolver::query(std::string_view name, QueryCallback callback) { query(name, A, {}, std::move(callback)); }

void Resolver::query(std::string_view name, std::uint16_t type, QueryCallback callback) {
    query(name, type, {}, std::move(callback));
}

void Resolver::query(std::string_view name, std::uint16_t type, const QueryOptions& options, QueryCallback callback) {
    core_->query(name, type, options, detail::AnswerRecipient(std::move(callback)));
}

Task<Answer> Resolver::resolve(std::string name, std::uint16_t type, QueryOptions options) {
    auto core = core_;  // the Resolver may go while we wait; the core answers DNS_TIMEOUT then
    // A named awaiter, not a temporary in the co_await expression: GCC 12
    // mishandles temporaries with non-trivial destructors there.
    detail::CallbackAwaiter<Answer> awaiter(core->engine, Answer{}, [&](auto deliver) {
        core->query(name, type, options, std::move(deliver));
    });
    Answer answer = co_await awaiter;
    co_return answer;
}

void Resolver::send_message(std::vector<std::uint8_t> message, MessageCallback callback) {
    core_->send_message(std::move(message), {}, std::move(callback));
}

void Resolver::send_message(std::vector<std::uint8_t> message, const QueryOptions& options, MessageCallback callback) {
    core_->send_message(std::move(message), options, std::move(callback));
}

Task<Result<Message>> Resolver::send_message(std::vector<std::uint8_t> message, QueryOptions options) {
    auto core = core_;
    detail::CallbackAwaiter<Result<Message>> awaiter(
        core->engine, unexpected(make_error_code(DNS_TIMEOUT)), [&](auto deliver) {
            core->send_message(std::move(message), options, [deliver = std::move(deliver)](Status status, Result<Message> reply) {
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
