#include <pants/datagram.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "datagram_io.hpp"
#include "socket.hpp"

namespace pants {

Datagram::Datagram(Engine& engine) : engine_(&engine), io_(new detail::DatagramIo(engine, this)) {}

Datagram::~Datagram() { io_->abandon(); }

Result<void> Datagram::listen(const Address& address) { return io_->listen(address); }
Result<void> Datagram::connect(const Address& address) { return io_->connect(address); }
void Datagram::write(std::string_view data, const Address& to) { io_->queue(data, &to); }
void Datagram::write(std::string_view data) { io_->queue(data, nullptr); }
void Datagram::end() { io_->end(); }
void Datagram::close() { io_->close(); }
Result<void> Datagram::set_broadcast(bool on) { return io_->set_broadcast(on); }

bool Datagram::closing() const noexcept { return io_->closing; }
bool Datagram::closed() const noexcept { return io_->finished; }
Result<Address> Datagram::local_address() const { return detail::local_address(io_->fd); }
std::optional<Address> Datagram::remote_address() const { return io_->last; }
std::size_t Datagram::pending_writes() const noexcept { return io_->pending_writes(); }
int Datagram::fd() const noexcept { return io_->fd; }

void Datagram::on_read(std::string_view, const Address&) {}
void Datagram::on_write() {}
void Datagram::on_close() {}
void Datagram::on_read_error(std::error_code e) { on_error(e); }
void Datagram::on_write_error(std::error_code e) { on_error(e); }
void Datagram::on_error(std::error_code) {}

Datagram::ReceiveAwaiter Datagram::receive() { return ReceiveAwaiter(*this); }

Datagram::SendAwaiter Datagram::send_to(std::string_view data, const Address& to) {
    return SendAwaiter(*this, io_->queue(data, &to));
}

Datagram::SendAwaiter Datagram::send(std::string_view data) {
    return SendAwaiter(*this, io_->queue(data, nullptr));
}

void Datagram::callbacks() { io_->set_pull(false); }

// --- awaiters ----------------------------------------------------------------

bool Datagram::ReceiveAwaiter::await_ready() {
    io_->set_pull(true);
    return io_->try_read(*this);
}

bool Datagram::ReceiveAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    waiter_ = h;
    cancel_ = cancel;
    if (cancel_ && cancel_->requested()) {
        result_ = unexpected(errno_code(ECANCELED));
        return false;
    }
    io_->wait_read(*this);
    if (cancel_) cancel_->on_request(&ReceiveAwaiter::on_cancel, this);
    return true;
}

void Datagram::ReceiveAwaiter::on_cancel(void* self) noexcept {
    auto* r = static_cast<ReceiveAwaiter*>(self);
    r->io_->cancel_read(*r);
}

bool Datagram::SendAwaiter::await_ready() noexcept { return io_->try_send(*this); }

bool Datagram::SendAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    waiter_ = h;
    cancel_ = cancel;
    if (!io_->wait_send(*this)) return false;
    if (cancel_) {
        if (cancel_->requested())
            io_->cancel_send(*this);
        else
            cancel_->on_request(&SendAwaiter::on_cancel, this);
    }
    return true;
}

void Datagram::SendAwaiter::on_cancel(void* self) noexcept {
    auto* w = static_cast<SendAwaiter*>(self);
    w->io_->cancel_send(*w);
}

// --- one-off sends -------------------------------------------------------------

Result<void> sendto(std::string_view data, const Address& address) {
    auto fd = detail::open_socket(address.family(), SOCK_DGRAM);
    if (!fd) return unexpected(fd.error());
    ssize_t n = ::sendto(*fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL, address.data(), address.size());
    int err = errno;
    ::close(*fd);
    if (n < 0) return fail(err);
    return ok();
}

}  // namespace pants
