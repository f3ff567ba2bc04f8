// The epoll backend's receive_from: datagrams in batches.
//
// One recvmmsg takes up to kDatagramBatch datagrams (one recvmsg each
// would cost a system call per datagram), each into its own buffer of the
// datagram pool, with its sender in that buffer's tail: the room io_uring's
// header and name take there, so that both backends cut a datagram at the
// same size, and the sender lives as long as the buffer. Then each goes to
// the op, in order, as io_uring's completions would: those taken before a
// handler cancels the op still reach it, as CQEs already posted do. A
// handler may run a nested turn: if that turn reaches the same fd, it hands
// out what is left of the batch before it receives again, so datagrams from
// one socket are never reordered. An op that gives control room (UDP_GRO)
// gets each message's segment size.
#include "epoll_backend.hpp"

#include <algorithm>
#include <cassert>

#include <pants/detail/udp_gro.hpp>

namespace pants::detail {

char* EpollBackend::sender_of(std::uint16_t id) const noexcept {
    return dgram_pool_->at(id) + dgram_pool_->size() - sizeof(sockaddr_storage);
}

// Returns how many datagrams went to the op; 0 when this fd's queue stops
// for now (EAGAIN: no longer readable; no free buffer: starved; an error:
// the op ended).
int EpollBackend::receive_datagrams(int fd, Operation& op, int budget) {
    for (DatagramBatch* b = batches_; b; b = b->outer)
        if (b->fd == fd && b->next < b->count) return hand_out(*b);
    if (!dgram_pool_) dgram_pool_ = std::make_unique<BufferPool>(kDatagramBufferCount, kDatagramBufferSize);
    BufferPool& pool = *dgram_pool_;
    static_assert(kDatagramBufferSize > 4 * sizeof(std::uint32_t) + sizeof(sockaddr_storage));
    const std::size_t room = pool.size() - std::max(datagram_overhead(*op.msg), sizeof(sockaddr_storage));
    DatagramBatch batch;
    iovec iov[kDatagramBatch];
    mmsghdr msgs[kDatagramBatch];
    alignas(cmsghdr) unsigned char control[kDatagramBatch][kDatagramControl];
    const std::size_t control_size = std::min<std::size_t>(op.msg->msg_controllen, kDatagramControl);
    const int wanted = std::min(budget, kDatagramBatch);
    int taken = 0;
    while (taken < wanted && pool.take(batch.ids[taken])) {
        iov[taken] = iovec{pool.at(batch.ids[taken]), room};
        msghdr& h = msgs[taken].msg_hdr;
        h = msghdr{};
        h.msg_name = sender_of(batch.ids[taken]);
        h.msg_namelen = sizeof(sockaddr_storage);
        h.msg_iov = &iov[taken];
        h.msg_iovlen = 1;
        if (control_size) {
            h.msg_control = control[taken];
            h.msg_controllen = control_size;
        }
        ++taken;
    }
    if (taken == 0) {
        starved_datagrams_.push_back(fd);
        return 0;
    }
    const int n = int(::recvmmsg(fd, msgs, unsigned(taken), MSG_DONTWAIT, nullptr));
    const int err = errno;
    for (int i = std::max(n, 0); i < taken; ++i) pool.give(batch.ids[i]);
    if (n < 0) {
        if (err == EAGAIN || err == EWOULDBLOCK) {
            state(fd).readable = false;  // parked until the next edge
            return 0;
        }
        state(fd).readers.pop();
        end_batches(op);
        dispatch(op, Completion{-err, false, nullptr, 0});
        return 0;
    }
    batch.fd = fd;
    batch.op = &op;
    batch.count = n;
    for (int i = 0; i < n; ++i) {
        const msghdr& h = msgs[i].msg_hdr;
        batch.lengths[i] = msgs[i].msg_len;
        batch.name_sizes[i] = std::min<socklen_t>(h.msg_namelen, sizeof(sockaddr_storage));
        batch.truncated[i] = received_cut(h.msg_flags, control_size != 0);
        batch.segment_sizes[i] = gro_segment_size(h);
    }
    batch.outer = batches_;
    batches_ = &batch;
    hand_out(batch);  // dispatch() catches what handlers throw
    batches_ = batch.outer;
    return n;
}

// Hands the batch's datagrams not yet handed out to its op, in order.
int EpollBackend::hand_out(DatagramBatch& batch) {
    int handed = 0;
    while (batch.next < batch.count) {
        const int i = batch.next++;  // before the handler: a nested turn goes on from the next
        const std::uint16_t id = batch.ids[i];
        // end_batches() hands out a batch's rest before it clears its op.
        assert(batch.op);
        Operation& op = *batch.op;
        const DatagramCompletion c{{int(batch.lengths[i]), true, dgram_pool_->at(id), std::uint16_t(id | kDatagramBufferTag)},
                                   reinterpret_cast<const sockaddr*>(sender_of(id)), batch.name_sizes[i],
                                   batch.truncated[i], batch.segment_sizes[i]};
        dispatch(op, c);
        recycle(c.buffer_id);  // the handler has returned: the buffer is ours again
        ++handed;
    }
    return handed;  // at least one: only a batch with some left is handed out
}

// op's last completion is next (a cancel, a close, an error): what its
// batches still hold goes to it first, as io_uring's CQEs posted before a
// cancel come before its ECANCELED; then no batch touches it again (its
// owner may free it).
void EpollBackend::end_batches(Operation& op) {
    for (DatagramBatch* b = batches_; b; b = b->outer) {
        if (b->op != &op) continue;
        hand_out(*b);
        b->op = nullptr;
    }
}

}  // namespace pants::detail
