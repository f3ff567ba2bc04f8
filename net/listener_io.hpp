// net/listener_io.hpp: the I/O state behind a Server's listening socket.
//
// A ChannelIo (see channel_io.hpp) whose one operation is the multishot
// accept. Each accepted socket goes to the owning Server; for Server<> the
// Server hands the Stream it made back here, to wait for co_await accept().
// When the process runs out of descriptors (EMFILE) it backs off and
// accepts again later instead of spinning; an error that concerns the
// listener itself stops it.
#pragma once

#include <deque>
#include <memory>

#include <pants/server.hpp>

#include "channel_io.hpp"

namespace pants::detail {

class ListenerIo final : public OwnedChannelIo<ServerBase> {
public:
    /// Takes the listening socket `fd` and starts accepting.
    ListenerIo(Engine& engine, ServerBase* owner, int fd);
    ~ListenerIo() override;


    /// A stream made for Server<>: it waits here for accept().
    void queue_accepted(std::unique_ptr<Stream> stream);
    /// The oldest stream waiting for accept(), or null.
    std::unique_ptr<Stream> take_accepted();
    bool has_accepted() const noexcept { return !accepted_.empty(); }

    void flush() override {}

private:
    static void on_accepted(Operation& op, const Completion& c);
    void arm();

    // ChannelIo.
    bool busy() const noexcept override { return accept_op_.in_flight; }
    void cancel_operations() override;
    void drop_output() override;
    void begin_end() override { close(); }
    void report(Report report, std::error_code ec) override;

    struct Op : Operation {
        Op(Handler h, ListenerIo* l) : Operation(h), io(l) {}
        ListenerIo* io;
    };
    Op accept_op_{&ListenerIo::on_accepted, this};
    Timer backoff_;
    std::deque<std::unique_ptr<Stream>> accepted_;
};

}  // namespace pants::detail
