// ServerBase::shutdown: stop accepting, end every connection, wait for them
// (up to a deadline), then report. See net/server_shutdown.hpp.
#include <pants/server.hpp>

#include "listener_io.hpp"
#include "server_shutdown.hpp"
#include "stream_io.hpp"

namespace pants {

void ServerBase::shutdown(Engine::Duration deadline, std::function<void()> done) {
    begin_shutdown(deadline);
    if (done) shutdown_->done.push_back(std::move(done));
    if (shutdown_->finished) {
        // Already over: still call back on a later turn, never inside this call.
        shutdown_->finished = false;
        maybe_finish_shutdown();
    }
}

ServerBase::ShutdownAwaiter ServerBase::shutdown(Engine::Duration deadline) {
    begin_shutdown(deadline);
    return ShutdownAwaiter(this);
}

bool ServerBase::shutting_down() const noexcept { return shutdown_ && !shutdown_->finished; }

void ServerBase::begin_shutdown(Engine::Duration deadline) {
    const auto until = detail::deadline_after<Engine::Clock>(Engine::Clock::now(), deadline);
    if (shutdown_ && !shutdown_->finished) {
        // Asked again (a second Ctrl-C): the earlier deadline wins.
        if (until < shutdown_->until) arm_shutdown_deadline(until);
        return;
    }
    if (!shutdown_) shutdown_ = std::make_unique<detail::ServerShutdown>(*engine_);
    shutdown_->finished = false;
    if (listener_) listener_->close();
    // Every connection sends what it has queued, then closes.
    for_each_connection([](Stream& s) { s.end(); });
    arm_shutdown_deadline(until);
    maybe_finish_shutdown();
}

void ServerBase::arm_shutdown_deadline(Engine::Clock::time_point until) {
    shutdown_->until = until;
    shutdown_->deadline.cancel();
    const auto left = until - Engine::Clock::now();
    shutdown_->deadline = engine_->defer(left, [this] {
        // What has not finished by now (a peer that never reads) is cut off.
        std::vector<Stream*> left_open;
        for (detail::ChannelIo* io = connections_.front(); io; io = detail::ChannelList::next(*io))
            left_open.push_back(&stream_of(*io));
        for (Stream* s : left_open) s->close();
    });
}

void ServerBase::maybe_finish_shutdown() {
    if (!shutdown_ || shutdown_->finished || !connections_.empty() || shutdown_->finishing.active()) return;
    // On the next turn: the last connection's on_close may still be on the
    // stack, and a callback may destroy this server.
    shutdown_->finishing = engine_->callback([this] {
        if (!connections_.empty()) return;  // a connection arrived meanwhile (listen() again)
        shutdown_->finished = true;
        shutdown_->deadline.cancel();
        auto done = std::move(shutdown_->done);
        shutdown_->done.clear();
        // From here on, a callback or a resumed coroutine may destroy this
        // server: touch only locals.
        Engine& engine = *engine_;
        shutdown_->waiters.resume_all();
        for (auto& f : done) {
            try {
                f();
            } catch (...) {
                engine.report(std::current_exception());
            }
        }
    });
}

bool ServerBase::ShutdownAwaiter::await_ready() const noexcept {
    return !server_->shutdown_ || server_->shutdown_->finished;
}

bool ServerBase::ShutdownAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    return wait(server_->shutdown_->waiters, h, cancel);
}

Result<void> ServerBase::ShutdownAwaiter::await_resume() const noexcept {
    if (error()) return unexpected(error());
    return ok();
}

}  // namespace pants
