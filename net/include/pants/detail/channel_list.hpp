// pants/detail/channel_list.hpp: the channels a server keeps, linked
// through the channels themselves.
//
// A Server must know its open connections (shutdown, for_each_connection,
// freeing the ones it owns once closed). Keeping the links in each
// channel's I/O state costs no allocation per connection and makes
// adding and removing O(1).
#pragma once

#include <cstddef>

namespace pants::detail {

class ChannelIo;

/// A doubly linked list of ChannelIo. The channel tells the list once,
/// when it finishes (closed and notified, or abandoned by its owner):
/// it is unlinked first, then finished() runs.
class ChannelList {
public:
    ChannelList() noexcept = default;
    ChannelList(const ChannelList&) = delete;
    ChannelList& operator=(const ChannelList&) = delete;

    /// Links `io` at the end; `owns_owner`: the list's keeper frees the
    /// channel's owner once it finishes.
    void add(ChannelIo& io, bool owns_owner) noexcept;
    /// Unlinks every channel (finished() is not called) and hands each to
    /// `drop(io, owns_owner)`.
    template <class F>
    void clear(F&& drop) {
        while (ChannelIo* io = head_) drop(*io, unlink(*io));
    }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    ChannelIo* front() const noexcept { return head_; }
    static ChannelIo* next(const ChannelIo& io) noexcept;

    /// Called by a linked channel when it finishes (see ChannelIo::finished()).
    void channel_finished(ChannelIo& io) noexcept;

protected:
    ~ChannelList() = default;
    /// `io` finished and is no longer linked; `owns_owner` as given to add().
    virtual void finished(ChannelIo& io, bool owns_owner) noexcept = 0;

private:
    /// Removes `io`; returns its owns_owner.
    bool unlink(ChannelIo& io) noexcept;

    ChannelIo* head_ = nullptr;
    ChannelIo* tail_ = nullptr;
    std::size_t size_ = 0;
};

/// A channel's place in a ChannelList (kept inside the channel).
struct ChannelLink {
    ChannelList* list = nullptr;
    ChannelIo* prev = nullptr;
    ChannelIo* next = nullptr;
};

}  // namespace pants::detail
