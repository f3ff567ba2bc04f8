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

#include <pants/address.hpp>

// 8 bytes of the union must hold the long address's pointer.
static_assert(sizeof(sockaddr_in6) >= sizeof(void*));

namespace pants::detail {

class SavedAddress {
public:
    SavedAddress() noexcept = default;
    SavedAddress(const SavedAddress&) = delete;
    SavedAddress& operator=(const SavedAddress&) = delete;
    ~SavedAddress() { drop_long(); }

    bool empty() const noexcept { return size_ == 0; }
    void set(const Address& a) {
        if (a.size() <= sizeof(sockaddr_in6)) {
            drop_long();
            std::memcpy(&ip_, a.data(), a.size());
            size_ = a.size();
        } else {
            auto* copy = new Address(a);
            drop_long();
            std::memcpy(&ip_, &copy, sizeof copy);
            size_ = kLong;
        }
    }
    Address get() const noexcept { return is_long() ? *long_address() : Address::from_sockaddr(data(), size_); }
    const sockaddr* data() const noexcept {
        return is_long() ? long_address()->data() : reinterpret_cast<const sockaddr*>(&ip_);
    }
    socklen_t size() const noexcept { return is_long() ? long_address()->size() : size_; }

private:
    // An address that does not fit (a Unix socket path) lives on the heap;
    // ip_'s first bytes then hold the pointer. It is copied in and out
    // rather than kept as a union member, whose 8-byte alignment would
    // pad this class from 32 bytes to 40.
    static constexpr socklen_t kLong = ~socklen_t(0);  // size_ when ip_ holds that pointer
    bool is_long() const noexcept { return size_ == kLong; }
    Address* long_address() const noexcept {
        Address* p;
        std::memcpy(&p, &ip_, sizeof p);
        return p;
    }
    void drop_long() noexcept {
        if (is_long()) delete long_address();
        size_ = 0;
    }

    union {
        sockaddr_in v4;
        sockaddr_in6 v6;
    } ip_{};
    socklen_t size_ = 0;  // bytes of ip_ in use, or kLong
};

}  // namespace pants::detail
