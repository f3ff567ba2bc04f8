// The io_uring ring and the thread that runs it: enabling the ring on that
// thread's first turn, with its fd registered in that thread's table, and
// refusing turns on any other. Part of UringBackend (uring_backend.hpp).
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>

#include "uring_backend.hpp"

namespace pants::detail {

void UringBackend::enable() {
    if (!(setup_flags_ & IORING_SETUP_R_DISABLED)) return;
    // Debian's liburing 2.3 declares io_uring_enable_rings but does not export
    // it: register directly.
    if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0)
        throw std::system_error(errno, std::generic_category(), "pants: enabling the io_uring ring");
    setup_flags_ &= ~unsigned(IORING_SETUP_R_DISABLED);
    // SINGLE_ISSUER came with R_DISABLED: this thread is the only one that
    // will ever enter the ring, so put its fd in this thread's table of
    // registered rings (5.18): io_uring_enter then skips the fd lookup,
    // about 60 of 500 ns per enter (measured: a loop of NOP submit-and-
    // waits, kernel 6.18). liburing passes the registered index from then
    // on, and so does submit_and_wait_one(). No slot free: the plain fd.
    if (io_uring_register_ring_fd(&ring_) == 1) enter_flags_ |= IORING_ENTER_REGISTERED_RING;
}

void UringBackend::adopt_thread() {
    // A turn on another thread than the one the ring is bound to
    // (SINGLE_ISSUER): the kernel would refuse it (EEXIST). Say so before
    // anything here changes, so that the ring still belongs to its thread.
    if (!can_turn_here()) check_enter_failed(-EEXIST);
    enable();
    turn_thread_ = this_thread_tag();
}

std::uint64_t UringBackend::next_thread_tag() noexcept {
    static std::atomic<std::uint64_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
}


}  // namespace pants::detail
