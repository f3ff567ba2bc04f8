// libFuzzer target for the DNS wire codec.
//
// Feeds arbitrary bytes to decode(); whatever decodes is printed (every
// record, and the whole message, to exercise the presentation code), then
// re-encoded and decoded again: the second decode must succeed and equal
// the first, and encoding must be stable. Any mismatch aborts.
// Build and run: fuzz/run.sh SECONDS fuzz_decode
#include <pants/dns/message.hpp>

#include <cstdio>
#include <cstdlib>

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_decode: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pants::dns;
    auto message = decode(std::span(data, size));
    if (!message) {
        if (message.error().category() != wire_category()) fail("decode failed outside the wire category");
        return 0;
    }
    std::size_t printed = 0;
    for (const auto* section : {&message->answers, &message->authority, &message->additional})
        for (const auto& rr : *section) printed += to_string(rr).size();
    for (const auto& q : message->questions) printed += to_string(q).size();
    printed += to_string(*message).size();
    if (printed == 0) fail("nothing printed");

    auto wire = encode(*message);
    if (!wire) {
        // Our compression may be weaker than the input's (we never compress
        // into RDATA of types RFC 3597 forbids), so a huge input can grow.
        if (wire.error() == WireError::message_too_long) return 0;
        std::fprintf(stderr, "encode: %s\n", wire.error().message().c_str());
        fail("a decoded message does not encode");
    }
    auto again = decode(*wire);
    if (!again) {
        std::fprintf(stderr, "decode: %s\n", again.error().message().c_str());
        fail("an encoded message does not decode");
    }
    if (!(*again == *message)) fail("decode(encode(m)) != m");
    auto wire2 = encode(*again);
    if (!wire2 || *wire2 != *wire) fail("encoding is not stable");
    return 0;
}
