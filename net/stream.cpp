#include <pants/stream.hpp>

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
        }
        return "unknown network error";
    }
};

}  // namespace

const std::error_category& net_category() noexcept {
    static const NetCategory category;
    return category;
}

Stream::Stream(Engine& engine) : engine_(&engine), io_(new detail::StreamIo(engine, this, -1)) {}

Stream::Stream(Engine& engine, int fd) : engine_(&engine), io_(new detail::StreamIo(engine, this, fd)) {
    if (detail::is_tcp(fd)) detail::set_nodelay(fd, true);
}

Stream::~Stream() { io_->abandon(); }

Stream::ConnectAwaiter Stream::connect(const Address& address) { return ConnectAwaiter(*this, io_->connect(address)); }

Stream::WriteAwaiter Stream::write(std::string_view data) {
    io_->write(data);
    return WriteAwaiter(*this);
}

Result<void> Stream::write_file(int fd, std::uint64_t offset, std::uint64_t nbytes) {
    return io_->write_file(fd, offset, nbytes, false);
}

Result<void> Stream::write_file(const std::string& path, std::uint64_t offset, std::uint64_t nbytes) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(errno);
    auto r = io_->write_file(fd, offset, nbytes, true);
    if (!r) ::close(fd);
    return r;
}

void Stream::end() { io_->end(); }
void Stream::close() { io_->close(); }
bool Stream::connected() const noexcept { return io_->connected && !io_->closing; }
bool Stream::closing() const noexcept { return io_->closing; }
bool Stream::closed() const noexcept { return io_->finished; }
int Stream::fd() const noexcept { return io_->fd; }
std::size_t Stream::pending_write_bytes() const noexcept { return io_->out_bytes; }

Result<Address> Stream::local_address() const { return detail::local_address(io_->fd); }
Result<Address> Stream::remote_address() const { return detail::remote_address(io_->fd); }
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

Stream::ReadAwaiter Stream::read() { return ReadAwaiter(*this, std::nullopt); }
Stream::ReadAwaiter Stream::read_exactly(std::size_t n) { return ReadAwaiter(*this, ReadDelimiter(n)); }
Stream::ReadAwaiter Stream::read_until(std::string_view d) { return ReadAwaiter(*this, ReadDelimiter(d)); }
void Stream::callbacks() { io_->set_pull(false); }

// --- awaiters ----------------------------------------------------------------
// Each unregisters in its destructor: a coroutine frame destroyed while it
// waits must leave no pointer to itself behind.

Stream::ReadAwaiter::~ReadAwaiter() { stream_.io_->drop_waiter(*this); }
Stream::WriteAwaiter::~WriteAwaiter() { stream_->io_->drop_waiter(*this); }
Stream::ConnectAwaiter::~ConnectAwaiter() {
    if (stream_.io_->connect_waiter == this) stream_.io_->connect_waiter = nullptr;
}

bool Stream::ReadAwaiter::await_ready() {
    stream_.io_->set_pull(true);
    return stream_.io_->try_read(*this);
}

bool Stream::ReadAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    waiter_ = h;
    cancel_ = cancel;
    if (cancel_ && cancel_->requested()) {
        result_ = unexpected(errno_code(ECANCELED));
        return false;
    }
    stream_.io_->wait_read(*this);
    if (cancel_) cancel_->on_request(&ReadAwaiter::on_cancel, this);
    return true;
}

void Stream::ReadAwaiter::on_cancel(void* self) noexcept {
    auto* r = static_cast<ReadAwaiter*>(self);
    r->stream_.io_->cancel_read(*r);
}

bool Stream::WriteAwaiter::await_ready() const noexcept {
    auto& io = *stream_->io_;
    return io.closing || io.finished || io.out_bytes <= stream_->high_water;
}

bool Stream::WriteAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    waiter_ = h;
    cancel_ = cancel;
    if (cancel_ && cancel_->requested()) {
        cancelled_ = true;
        return false;
    }
    next_ = stream_->io_->writers;
    stream_->io_->writers = this;
    if (cancel_) cancel_->on_request(&WriteAwaiter::on_cancel, this);
    return true;
}

void Stream::WriteAwaiter::on_cancel(void* self) noexcept {
    auto* w = static_cast<WriteAwaiter*>(self);
    auto& io = *w->stream_->io_;
    for (WriteAwaiter** p = &io.writers; *p; p = &(*p)->next_) {
        if (*p != w) continue;
        *p = w->next_;
        w->cancelled_ = true;
        io.engine.callback([w] { w->waiter_.resume(); });
        return;
    }
}

Result<void> Stream::WriteAwaiter::await_resume() const noexcept {
    if (cancelled_) return fail(ECANCELED);
    auto& io = *stream_->io_;
    if (io.error) return unexpected(io.error);
    if (io.closing || io.finished) return unexpected(make_error_code(NetError::closed));
    return ok();
}

bool Stream::ConnectAwaiter::await_ready() const noexcept { return !result_ || stream_.io_->connected; }

bool Stream::ConnectAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    if (stream_.io_->closing) {  // it failed before we got here
        result_ = unexpected(stream_.io_->error ? stream_.io_->error : make_error_code(NetError::closed));
        return false;
    }
    waiter_ = h;
    cancel_ = cancel;
    stream_.io_->connect_waiter = this;
    if (cancel_) {
        if (cancel_->requested()) {
            stream_.io_->close();
        } else {
            cancel_->on_request(&ConnectAwaiter::on_cancel, this);
        }
    }
    return true;
}

void Stream::ConnectAwaiter::on_cancel(void* self) noexcept {
    static_cast<ConnectAwaiter*>(self)->stream_.io_->close();
}

}  // namespace pants
