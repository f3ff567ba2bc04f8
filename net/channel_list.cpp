#include <pants/detail/channel_list.hpp>

#include "channel_io.hpp"

namespace pants::detail {

void ChannelList::add(ChannelIo& io, bool owns_owner) noexcept {
    io.link.list = this;
    io.link.prev = tail_;
    io.link.next = nullptr;
    io.list_owns_owner = owns_owner;
    (tail_ ? tail_->link.next : head_) = &io;
    tail_ = &io;
    ++size_;
}

ChannelIo* ChannelList::next(const ChannelIo& io) noexcept { return io.link.next; }

bool ChannelList::unlink(ChannelIo& io) noexcept {
    (io.link.prev ? io.link.prev->link.next : head_) = io.link.next;
    (io.link.next ? io.link.next->link.prev : tail_) = io.link.prev;
    io.link = {};
    --size_;
    return io.list_owns_owner;
}

void ChannelList::channel_finished(ChannelIo& io) noexcept { finished(io, unlink(io)); }

}  // namespace pants::detail
