// net/channel_io.hpp: the lifecycle every channel's I/O state shares.
//
// A ChannelIo (StreamIo, DatagramIo, ListenerIo) owns one socket and the
// operations in flight on it, and outlives its owner (the Stream, Datagram
// or Server) until the kernel has given back every operation and every
// Waiter has been resumed (DESIGN.md, Channel lifecycle). Its phase only
// moves forward:
//
//   idle -> open -> ending -> lingering -> closing -> notifying -> closed
//     \______________\__________\______________^
//
// end() flushes queued output first (a stream then lingers: it shuts down
// its side and drains until the peer closes); close() drops queued output
// and cancels everything; the socket is closed once nothing is in flight,
// and on_close runs on a later turn, exactly once. abandon() is the owner's
// destructor: a pending end() still completes, anything else closes, and
// the state frees itself when done. Whatever user code throws goes to the
// engine's error handler, and the channel goes on as if it had returned.
#pragma once

#include <cstdint>
#include <system_error>

#include <pants/detail/channel_list.hpp>
#include <pants/detail/waiter.hpp>
#include <pants/engine.hpp>
#include <pants/net_error.hpp>

namespace pants::detail {

class ChannelIo : public TurnFlush {
public:
    enum class Phase : std::uint8_t { idle, open, ending, lingering, closing, notifying, closed };
    /// Which of the owner's error callbacks an error goes to.
    enum class Report : std::uint8_t { connect, read, write, overflow, other };

    ChannelIo(const ChannelIo&) = delete;
    ChannelIo& operator=(const ChannelIo&) = delete;

    Engine& engine;
    /// The engine's backend (asked of the engine: one reference less in
    /// every channel).
    Backend& backend() const noexcept { return engine.backend(); }
    int fd = -1;
    bool list_owns_owner = false;  // see ChannelList::add (here: it packs beside fd)
    std::error_code error;  // why it closed, if it failed
    WaitList readers{engine};
    WaitList writers{engine};
    /// The list that keeps this channel (a Server's connections), told
    /// once when the channel finishes.
    ChannelLink link;

    Phase phase() const noexcept { return phase_; }
    /// end() or close() was called, or it failed (or its engine is gone).
    bool closing() const noexcept { return phase_ >= Phase::ending || detached_; }
    /// Its Engine was destroyed first: nothing more happens on it.
    bool detached() const noexcept { return detached_; }
    /// on_close is running or has run.
    bool closed() const noexcept { return phase_ >= Phase::notifying; }
    /// Why operations now fail: the error, else NetError::closed.
    std::error_code close_error() const noexcept { return error ? error : make_error_code(NetError::closed); }

    /// Closes once queued output has been sent.
    void end();
    /// Closes now: queued output is dropped, operations are cancelled.
    void close();
    /// The owner is being destroyed: finish a pending end(), else close;
    /// free this once nothing is in flight.
    void abandon();

protected:
    explicit ChannelIo(Engine& engine) noexcept : engine(engine) { engine.attach(*this); }
    virtual ~ChannelIo();

    // EngineClient.
    void engine_stopping() noexcept override { close(); }
    void engine_gone() noexcept override;

    /// Moves to `next`; a backward or impossible move is a bug (asserted).
    void set_phase(Phase next) noexcept;
    /// Once nothing is in flight after close(): closes the socket and
    /// schedules on_close.
    void maybe_finish();
    /// Records `ec` as the channel's error, reports it now, and closes.
    void fail(std::error_code ec, Report report);
    /// The same, but the report comes on a later turn, just before
    /// on_close (for failures found inside a user's call).
    void fail_later(std::error_code ec, Report report);
    /// Runs user code: what it throws goes to the engine's error handler.
    template <class F>
    void call(F&& f) noexcept {
        try {
            f();
        } catch (...) {
            engine.report(std::current_exception());
        }
    }

    // What each kind of channel adds.
    /// Operations still in flight (the socket stays open until none are).
    virtual bool busy() const noexcept = 0;
    virtual void cancel_operations() = 0;
    /// Drops queued output that is not in flight.
    virtual void drop_output() = 0;
    /// end(): send what is queued, then close (or linger).
    virtual void begin_end() = 0;
    virtual bool has_owner() const noexcept = 0;
    virtual void forget_owner() noexcept = 0;
    /// Calls the owner's error callback for `report`.
    virtual void report(Report report, std::error_code ec) = 0;
    /// Calls the owner's on_close.
    virtual void report_closed() = 0;
    /// Just before the socket is closed (a stream keeps its addresses).
    virtual void before_close() noexcept {}
    /// The error a waiting reader gets at the close.
    virtual std::error_code reader_close_error() const noexcept { return close_error(); }

private:
    void notify_closed();
    /// Tells the list that keeps this channel, once.
    void leave_list() noexcept {
        if (link.list) link.list->channel_finished(*this);
    }

    Phase phase_ = Phase::idle;
    bool finish_scheduled_ = false;
    Report late_report_ = Report::other;
    bool has_late_report_ = false;
    bool detached_ = false;
};

/// A ChannelIo with its owner (Stream, Datagram, ServerBase): null once
/// the owner was destroyed.
template <class Owner>
class OwnedChannelIo : public ChannelIo {
public:
    Owner* owner;

protected:
    OwnedChannelIo(Engine& engine, Owner* o) noexcept : ChannelIo(engine), owner(o) {}
    bool has_owner() const noexcept final { return owner != nullptr; }
    void forget_owner() noexcept final { owner = nullptr; }
    void report_closed() final { owner->on_close(); }
};

}  // namespace pants::detail
