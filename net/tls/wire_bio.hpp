// net/tls/wire_bio.hpp: the BIO between OpenSSL and a StreamIo.
//
// OpenSSL reads ciphertext from `input` (a view of the engine's provided
// buffer, set for the length of one receive; when it runs dry OpenSSL is
// told to retry, and keeps a partial record in its own buffer) and writes
// each record it makes straight into the stream's batched send
// (StreamIo::send_wire). A memory BIO without a second copy either way.
#pragma once

#include <string_view>

#include <openssl/bio.h>

namespace pants::detail {

class StreamIo;

struct WireEnds {
    StreamIo* io = nullptr;
    std::string_view input;
};

/// A BIO over `ends` (which must outlive it).
BIO* new_wire_bio(WireEnds& ends);

}  // namespace pants::detail
