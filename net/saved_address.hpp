// net/saved_address.hpp: an Address a channel keeps, in little memory.
//
// A stream remembers its peer's address (the kernel forgets a peer that
// reset) and its own (asked for in on_close, after the socket is gone).
// An Address is a sockaddr_storage (136 bytes); an IPv4 or IPv6 one fits
// in 28, so only a longer one (a Unix socket path) goes to the heap, and
// an idle connection stays small.
#pragma once

#include <netinet/in.h>

#include <cstring>
#include <memory>

#include <pants/address.hpp>

namespace pants::detail {

class SavedAddress {
public:
    bool empty() const noexcept { return size_ == 0 && !long_; }
    void set(const Address& a) {
        if (a.size() <= sizeof ip_) {
            std::memcpy(&ip_, a.data(), a.size());
            size_ = a.size();
            long_.reset();
        } else {
            long_ = std::make_unique<Address>(a);
            size_ = 0;
        }
    }
    Address get() const noexcept { return long_ ? *long_ : Address::from_sockaddr(data(), size_); }
    /// Stable while this is not set again (a connect's destination).
    const sockaddr* data() const noexcept {
        return long_ ? long_->data() : reinterpret_cast<const sockaddr*>(&ip_);
    }
    socklen_t size() const noexcept { return long_ ? long_->size() : size_; }

private:
    union {
        sockaddr_in v4;
        sockaddr_in6 v6;
    } ip_{};
    socklen_t size_ = 0;             // bytes of ip_ in use; 0 when long_ holds it
    std::unique_ptr<Address> long_;  // one that does not fit in ip_
};

}  // namespace pants::detail
