#include <pants/datagram.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "datagram_io.hpp"
#include "socket.hpp"

namespace pants {

Datagram::Datagram(Engine& engine) : engine_(&engine), io_(new detail::DatagramIo(engine, this)) {}

Datagram::~Datagram() { io_->abandon(); }

Result<void> Datagram::listen(const Address& address) { return listen(address, ListenOptions{}); }
Result<void> Datagram::listen(const Address& address, const ListenOptions& options) {
    return io_->listen(address, detail::wants_reuse_port(options));
}
Result<void> Datagram::connect(const Address& address) { return io_->connect(address); }
Result<void> Datagram::assign(int fd) { return io_->assign(fd); }
bool Datagram::listening() const noexcept { return io_->listening && !io_->closing(); }
void Datagram::write(std::string_view data, const Address& to) { io_->queue(data, &to); }
void Datagram::write(std::string_view data) { io_->queue(data, nullptr); }
void Datagram::end() { io_->end(); }
void Datagram::close() { io_->close(); }
Result<void> Datagram::set_broadcast(bool on) { return io_->set_broadcast(on); }

bool Datagram::closing() const noexcept { return io_->closing(); }
bool Datagram::closed() const noexcept { return io_->closed(); }
Result<Address> Datagram::local_address() const { return detail::local_address(io_->fd); }
std::optional<Address> Datagram::remote_address() const { return io_->last; }
std::size_t Datagram::pending_writes() const noexcept { return io_->pending_writes(); }
int Datagram::fd() const noexcept { return io_->fd; }

void Datagram::on_read(std::string_view, const Address&) {}
void Datagram::on_write() {}
void Datagram::on_listen() {}
void Datagram::on_close() {}
void Datagram::on_read_error(std::error_code e) { on_error(e); }
void Datagram::on_send_error(std::error_code e, const Address&) { on_write_error(e); }
void Datagram::on_write_error(std::error_code e) { on_error(e); }
void Datagram::on_error(std::error_code) {}

Datagram::ReceiveAwaiter Datagram::receive() { return ReceiveAwaiter(*io_); }

Datagram::SendAwaiter Datagram::send_to(std::string_view data, const Address& to) {
    return SendAwaiter(*io_, io_->queue(data, &to));
}

Datagram::SendAwaiter Datagram::send(std::string_view data) {
    return SendAwaiter(*io_, io_->queue(data, nullptr));
}

void Datagram::callbacks() { io_->set_pull(false); }

// --- awaiters ----------------------------------------------------------------

bool Datagram::ReceiveAwaiter::await_ready() {
    io_->set_pull(true);
    return io_->try_read(*this);
}

bool Datagram::ReceiveAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    if (!wait(io_->readers, h, cancel)) return false;
    io_->wait_read();
    return true;
}

bool Datagram::SendAwaiter::await_ready() noexcept { return io_->try_send(*this); }

bool Datagram::SendAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    if (!io_->has_datagram(seq_)) {
        gone_ = true;
        return false;
    }
    if (cancel && cancel->requested()) io_->drop_datagram(seq_);
    return wait(io_->writers, h, cancel, &SendAwaiter::on_cancel);
}

bool Datagram::SendAwaiter::on_cancel(detail::Waiter& self) noexcept {
    auto& w = static_cast<SendAwaiter&>(self);
    w.io_->drop_datagram(w.seq_);
    return true;  // and resume with ECANCELED on the next turn
}

Result<void> Datagram::SendAwaiter::await_resume() const noexcept {
    if (error()) return unexpected(error());
    if (seq_ == 0 || gone_) return unexpected(make_error_code(NetError::closed));
    return ok();
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
