#include "wire_bio.hpp"

#include <algorithm>
#include <cstring>

#include "../stream_io.hpp"

namespace pants::detail {

namespace {

WireEnds& ends_of(BIO* b) { return *static_cast<WireEnds*>(BIO_get_data(b)); }

int wire_read(BIO* b, char* out, int size) {
    BIO_clear_retry_flags(b);
    std::string_view& in = ends_of(b).input;
    if (in.empty()) {
        BIO_set_retry_read(b);  // OpenSSL's WANT_READ: the next receive goes on
        return -1;
    }
    const std::size_t n = std::min(in.size(), std::size_t(size > 0 ? size : 0));
    std::memcpy(out, in.data(), n);
    in.remove_prefix(n);
    return int(n);
}

int wire_write(BIO* b, const char* data, int size) {
    BIO_clear_retry_flags(b);
    if (size > 0) ends_of(b).io->send_wire(std::string_view(data, std::size_t(size)));
    return size;
}

long wire_ctrl(BIO* b, int cmd, long, void*) {
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;  // records join the send queue as they are made
    case BIO_CTRL_PENDING:
        return long(ends_of(b).input.size());
    default:
        return 0;
    }
}

int wire_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}

const BIO_METHOD* wire_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pants stream");
        BIO_meth_set_read(m, wire_read);
        BIO_meth_set_write(m, wire_write);
        BIO_meth_set_ctrl(m, wire_ctrl);
        BIO_meth_set_create(m, wire_create);
        return m;
    }();
    return method;
}

}  // namespace

BIO* new_wire_bio(WireEnds& ends) {
    BIO* b = BIO_new(wire_method());
    if (b) BIO_set_data(b, &ends);
    return b;
}

}  // namespace pants::detail
