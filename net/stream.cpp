#include <pants/stream.hpp>

#include <pants/tls.hpp>

#include <fcntl.h>
#include <unistd.h>

#include "socket.hpp"
#include "stream_io.hpp"

namespace pants {

namespace {

class NetCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "pants.net"; }
    std::string message(int c) const override {
        switch (NetError(c)) {
        case NetError::end_of_stream:
            return "end of stream";
        case NetError::buffer_overflow:
            return "frame larger than buffer_size";
        case NetError::closed:
            return "channel closed";
        case NetError::write_buffer_full:
            return "write queue above max_write_buffer";
        }
        return "unknown network error";
    }
};

}  // namespace

const std::error_category& net_category() noexcept {
    static const NetCategory category;
    return category;
}

Stream::Stream(Engine& engine) : io_(new detail::StreamIo(engine, this, -1)) {}

Stream::Stream(Engine& engine, int fd) : Stream(engine, detail::AcceptedSocket{fd}) {
    if (fd < 0) return;  // nothing adopted: an unconnected stream
    // The epoll backend tries each call first and parks on EAGAIN: a
    // blocking socket would stall the loop.
    if (int flags = ::fcntl(fd, F_GETFL); flags >= 0 && !(flags & O_NONBLOCK)) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    io_->start_adopted();
}

Stream::Stream(Engine& engine, detail::AcceptedSocket accepted)
    : io_(new detail::StreamIo(engine, this, accepted.fd)) {
    if (detail::is_tcp(accepted.fd)) detail::set_nodelay(accepted.fd, true);
}

Stream::~Stream() { io_->abandon(); }

Stream::ConnectAwaiter Stream::connect(const Address& address) { return ConnectAwaiter(*io_, io_->connect(address)); }

void Stream::queue_write(std::string_view data) { io_->write(data); }

Result<void> Stream::write_file(int fd, FileRange range) { return io_->write_file(fd, range.offset, range.size, false); }

Result<void> Stream::write_file(const std::string& path, FileRange range) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(errno);
    auto r = io_->write_file(fd, range.offset, range.size, true);
    if (!r) ::close(fd);
    return r;
}

void Stream::end() { io_->end(); }
void Stream::close() { io_->close(); }
void Stream::pause_reading() { io_->pause_reading(); }
void Stream::resume_reading() { io_->resume_reading(); }
bool Stream::reading_paused() const noexcept { return io_->reading_paused(); }
Engine& Stream::engine() const noexcept { return io_->engine; }
bool Stream::connected() const noexcept { return io_->connected && !io_->closing(); }
bool Stream::connecting() const noexcept { return io_->connecting() && !io_->closing(); }
bool Stream::closing() const noexcept { return io_->closing(); }
bool Stream::closed() const noexcept { return io_->closed(); }
int Stream::fd() const noexcept { return io_->fd; }
std::size_t Stream::pending_write_bytes() const noexcept { return io_->out_bytes(); }

Result<Address> Stream::local_address() const { return io_->local_address(); }
Result<Address> Stream::remote_address() const { return io_->remote_address(); }
Result<void> Stream::set_nodelay(bool on) { return detail::set_nodelay(io_->fd, on); }
Result<void> Stream::set_keepalive(bool on, std::chrono::seconds idle) {
    return detail::set_keepalive(io_->fd, on, int(idle.count()));
}

void Stream::on_read(std::string_view) {}
void Stream::on_write() {}
void Stream::on_connect() {}
void Stream::on_close() {}
void Stream::on_connect_error(std::error_code e) { on_error(e); }
void Stream::on_read_error(std::error_code e) { on_error(e); }
void Stream::on_write_error(std::error_code e) { on_error(e); }
void Stream::on_overflow_error(std::error_code e) { on_error(e); }
void Stream::on_error(std::error_code) {}
void Stream::on_tls_handshake() {}
void Stream::on_tls_error(std::error_code e) { on_error(e); }

Stream::ReadOnceAwaiter Stream::read_exactly(std::size_t n) { return ReadOnceAwaiter(*io_, ReadDelimiter(n)); }
Stream::ReadOnceAwaiter Stream::read_until(std::string_view d) { return ReadOnceAwaiter(*io_, ReadDelimiter(d)); }
void Stream::callbacks() { io_->set_pull(false); }

const tls::Session* Stream::tls() const noexcept { return dynamic_cast<const tls::Session*>(io_->transform()); }
Stream::HandshakeAwaiter Stream::handshake() { return HandshakeAwaiter(*io_); }

// --- awaiters ----------------------------------------------------------------
// Each is a detail::Waiter on the I/O state: it unlinks itself when its
// frame dies, and a cancel resumes it on a later turn.

bool Stream::ReadAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    // Most reads (every one in an echo) find nothing new and wait, which
    // takes no call; the rest is a tail call, so no frame either way.
    if (io_->wait_read_at_once(*this, h, cancel)) return true;
    return suspend_general(h, cancel);
}

[[gnu::noinline]] bool Stream::ReadAwaiter::suspend_general(std::coroutine_handle<> h, detail::CancelState* cancel) {
    io_->set_pull(true);
    if (io_->try_read(*this)) return false;  // a frame, an error or the end: no wait
    if (!wait(io_->readers, h, cancel)) return false;
    io_->wait_read();
    return true;
}

bool Stream::WriteAwaiter::ready() noexcept {
    if (io_->closing()) return true;
    open_ = io_->out_bytes() <= io_->high_water();
    return open_;
}

bool Stream::WriteAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    return wait(io_->writers, h, cancel);
}

Result<void> Stream::WriteAwaiter::result() const noexcept {
    if (failed()) return unexpected(error());
    if (io_->closing()) return unexpected(io_->close_error());
    return ok();
}

bool Stream::ConnectAwaiter::await_ready() const noexcept { return !result_ || io_->connected; }

bool Stream::ConnectAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    if (io_->closing()) {  // it failed before we got here
        result_ = unexpected(io_->close_error());
        return false;
    }
    if (cancel && cancel->requested()) io_->close();  // as a cancel that came while waiting
    return wait(io_->connectors(), h, cancel, &ConnectAwaiter::on_cancel);
}

bool Stream::HandshakeAwaiter::await_ready() noexcept {
    if (!io_->transform()) {
        result_ = unexpected(std::make_error_code(std::errc::invalid_argument));  // start_tls() first
        return true;
    }
    if (io_->closing() && !io_->transform()->established()) {
        result_ = unexpected(io_->close_error());
        return true;
    }
    return io_->transform()->established();
}

bool Stream::HandshakeAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    return wait(io_->handshakers(), h, cancel);
}

bool Stream::ConnectAwaiter::on_cancel(detail::Waiter& self) noexcept {
    // Cancelling a connect closes the stream; the connect's completion
    // then resumes this with NetError::closed.
    static_cast<ConnectAwaiter&>(self).io_->close();
    return false;
}

}  // namespace pants
