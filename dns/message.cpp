// DNS messages to and from the wire: RFC 1035 4.1 (header, question,
// resource records), RFC 6891 6.1 (the OPT pseudo-record).
#include <pants/dns/message.hpp>

#include <pants/dns/detail/rdata_codec.hpp>

namespace pants::dns {

namespace {

using detail::WireReader;
using detail::WireWriter;

tl::unexpected<std::error_code> failure(WireError e) { return tl::unexpected(make_error_code(e)); }

#define PANTS_DNS_TRY(expr)                                        \
    do {                                                           \
        if (WireError e_ = (expr); e_ != WireError::ok) return e_; \
    } while (0)

// RFC 6891 6.1.2: OPTION-CODE, OPTION-LENGTH, OPTION-DATA, repeated.
WireError parse_edns(std::uint16_t udp_size, std::uint32_t ttl, WireReader in, Edns& edns,
                     std::uint8_t& extended_rcode) {
    edns.udp_size = udp_size;
    // RFC 6891 6.1.3: TTL = EXTENDED-RCODE(8) VERSION(8) DO(1) Z(15).
    extended_rcode = static_cast<std::uint8_t>(ttl >> 24);
    edns.version = static_cast<std::uint8_t>(ttl >> 16);
    edns.dnssec_ok = (ttl & 0x8000) != 0;
    edns.flags = static_cast<std::uint16_t>(ttl & 0x7FFF);
    while (!in.at_end()) {
        EdnsOption option;
        std::uint16_t length = 0;
        std::span<const std::uint8_t> data;
        if (in.u16(option.code) != WireError::ok || in.u16(length) != WireError::ok ||
            in.bytes(length, data) != WireError::ok)
            return WireError::bad_edns;
        option.data.assign(data.begin(), data.end());
        edns.options.push_back(std::move(option));
    }
    return WireError::ok;
}

enum class Section { answer, authority, additional };

WireError parse_record(WireReader& in, Section section, Message& message, std::uint8_t& extended_rcode) {
    ResourceRecord rr;
    std::uint16_t rdlength = 0;
    WireReader rdata(std::span<const std::uint8_t>{});
    PANTS_DNS_TRY(in.name(rr.name));
    PANTS_DNS_TRY(in.u16(rr.type));
    PANTS_DNS_TRY(in.u16(rr.klass));
    PANTS_DNS_TRY(in.u32(rr.ttl));
    PANTS_DNS_TRY(in.u16(rdlength));
    PANTS_DNS_TRY(in.sub(rdlength, rdata));
    if (rr.type == OPT) {
        // RFC 6891 6.1.1: at most one OPT, in the additional section, owned
        // by the root; anything else makes the message malformed.
        if (section != Section::additional || message.edns || rr.name != ".") return WireError::bad_edns;
        message.edns.emplace();
        return parse_edns(rr.klass, rr.ttl, rdata, *message.edns, extended_rcode);
    }
    PANTS_DNS_TRY(detail::decode_rdata(rr.type, rr.klass, rdata, rr.data));
    auto& records = section == Section::answer      ? message.answers
                    : section == Section::authority ? message.authority
                                                    : message.additional;
    records.push_back(std::move(rr));
    return WireError::ok;
}

WireError parse_body(WireReader& in, const std::uint16_t (&counts)[4], Message& message,
                     std::uint8_t& extended_rcode) {
    // RFC 1035 4.1.2. The counts are not trusted: each entry is read (and
    // bounds-checked) before it is stored, nothing is reserved up front.
    for (std::uint16_t i = 0; i < counts[0]; ++i) {
        Question q;
        PANTS_DNS_TRY(in.name(q.name));
        PANTS_DNS_TRY(in.u16(q.type));
        PANTS_DNS_TRY(in.u16(q.klass));
        message.questions.push_back(std::move(q));
    }
    // RFC 1035 4.1.3.
    const Section sections[] = {Section::answer, Section::authority, Section::additional};
    for (int s = 0; s < 3; ++s)
        for (std::uint16_t i = 0; i < counts[s + 1]; ++i)
            PANTS_DNS_TRY(parse_record(in, sections[s], message, extended_rcode));
    return WireError::ok;
}

WireError write_record(WireWriter& w, const ResourceRecord& rr) {
    PANTS_DNS_TRY(w.name(rr.name, true));
    w.u16(rr.type);
    w.u16(rr.klass);
    w.u32(rr.ttl);
    return detail::encode_rdata(rr.type, rr.data, w);
}

}  // namespace

Result<Message> decode(std::span<const std::uint8_t> bytes) {
    WireReader in(bytes);
    Message message;
    std::uint16_t flags = 0;
    std::uint16_t counts[4] = {};
    if (in.header(message.id, flags, counts) != WireError::ok) return failure(WireError::truncated);
    message.qr = (flags & 0x8000) != 0;
    message.opcode = static_cast<std::uint8_t>(flags >> 11 & 0xF);
    message.aa = (flags & 0x0400) != 0;
    message.tc = (flags & 0x0200) != 0;
    message.rd = (flags & 0x0100) != 0;
    message.ra = (flags & 0x0080) != 0;
    message.z = (flags & 0x0040) != 0;
    message.ad = (flags & 0x0020) != 0;  // RFC 4035 3.2.3
    message.cd = (flags & 0x0010) != 0;
    message.rcode = flags & 0xF;

    std::uint8_t extended_rcode = 0;
    const WireError e = parse_body(in, counts, message, extended_rcode);
    // RFC 2181 9: a truncated (TC) reply may stop mid-way; keep what came
    // whole so the caller sees the header and knows to retry over TCP.
    if (e != WireError::ok && !(e == WireError::truncated && message.tc)) return failure(e);
    message.rcode = static_cast<std::uint16_t>(message.rcode | extended_rcode << 4);
    return message;
}

Result<std::vector<std::uint8_t>> encode(const Message& message) {
    if (message.rcode > 0xFFF || (message.rcode > 0xF && !message.edns)) return failure(WireError::bad_rcode);
    const std::size_t counts[4] = {message.questions.size(), message.answers.size(), message.authority.size(),
                                   message.additional.size() + (message.edns ? 1 : 0)};
    WireWriter w;
    w.reserve(512);  // RFC 1035 4.2.1: most messages fit a classic UDP payload
    w.u16(message.id);
    w.u16(static_cast<std::uint16_t>(
        (message.qr ? 0x8000 : 0) | (message.opcode & 0xF) << 11 | (message.aa ? 0x0400 : 0) |
        (message.tc ? 0x0200 : 0) | (message.rd ? 0x0100 : 0) | (message.ra ? 0x0080 : 0) |
        (message.z ? 0x0040 : 0) | (message.ad ? 0x0020 : 0) | (message.cd ? 0x0010 : 0) | (message.rcode & 0xF)));
    for (auto count : counts) {
        if (count > 0xFFFF) return failure(WireError::message_too_long);
        w.u16(static_cast<std::uint16_t>(count));
    }
    for (const auto& q : message.questions) {
        if (auto e = w.name(q.name, true); e != WireError::ok) return failure(e);
        w.u16(q.type);
        w.u16(q.klass);
    }
    for (const auto* section : {&message.answers, &message.authority, &message.additional})
        for (const auto& rr : *section)
            if (auto e = write_record(w, rr); e != WireError::ok) return failure(e);
    if (message.edns) {
        // RFC 6891 6.1.2 and 6.1.3.
        const Edns& edns = *message.edns;
        w.u8(0);  // root owner
        w.u16(OPT);
        w.u16(edns.udp_size);
        w.u32(static_cast<std::uint32_t>(message.rcode >> 4) << 24 | static_cast<std::uint32_t>(edns.version) << 16 |
              (edns.dnssec_ok ? 0x8000u : 0u) | (edns.flags & 0x7FFFu));
        std::size_t length = 0;
        for (const auto& option : edns.options) length += 4 + option.data.size();
        if (length > 0xFFFF) return failure(WireError::bad_edns);
        w.u16(static_cast<std::uint16_t>(length));
        for (const auto& option : edns.options) {
            if (option.data.size() > 0xFFFF) return failure(WireError::bad_edns);
            w.u16(option.code);
            w.u16(static_cast<std::uint16_t>(option.data.size()));
            w.bytes(option.data);
        }
    }
    if (w.size() > 0xFFFF) return failure(WireError::message_too_long);
    return w.take();
}

Result<std::vector<std::uint8_t>> encode_query(std::uint16_t id, std::string_view name, std::uint16_t type,
                                               bool recursion_desired, std::uint16_t edns_udp_size,
                                               std::uint16_t klass) {
    // The bytes encode() makes of a Message with this one question (and an
    // empty OPT record), written directly: a query's only name has nothing
    // to be compressed against.
    detail::WireName wire;
    if (auto e = detail::name_to_wire(name, wire); e != WireError::ok) return failure(e);
    detail::MessageBytes query;
    detail::write_query(query, id, wire, type, klass, recursion_desired, edns_udp_size);
    return std::vector<std::uint8_t>(query.view().begin(), query.view().end());
}

}  // namespace pants::dns
