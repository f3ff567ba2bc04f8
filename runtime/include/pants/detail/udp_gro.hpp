// pants/detail/udp_gro.hpp: reading a received datagram's UDP_GRO control
// message, for both backends' receive_from and a recvmsg of the Datagram.
#pragma once

#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

namespace pants::detail {

/// The segment size a UDP_GRO control message in msg's control data gives
/// (udp(7): a coalesced payload of datagrams of that size, the last maybe
/// shorter), or 0 when there is none: the payload is one datagram.
inline std::uint16_t gro_segment_size(const msghdr& msg) noexcept {
    if (msg.msg_controllen < sizeof(cmsghdr)) return 0;
    for (const cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(const_cast<msghdr*>(&msg), const_cast<cmsghdr*>(cm))) {
        if (cm->cmsg_level != SOL_UDP || cm->cmsg_type != UDP_GRO || cm->cmsg_len < CMSG_LEN(sizeof(int))) continue;
        int size = 0;
        std::memcpy(&size, CMSG_DATA(cm), sizeof size);
        return size > 0 && size <= 0xffff ? std::uint16_t(size) : 0;
    }
    return 0;
}

/// A received payload cannot be taken whole: its bytes were cut to fit
/// (MSG_TRUNC), or control room was given and its control data was cut
/// (MSG_CTRUNC: the segment size may be what was lost).
inline bool received_cut(int flags, bool control_given) noexcept {
    return (flags & MSG_TRUNC) || (control_given && (flags & MSG_CTRUNC));
}

}  // namespace pants::detail
