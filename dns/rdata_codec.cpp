// RDATA to and from the wire, one parser per type, each citing its RFC.
#include <pants/dns/detail/rdata_codec.hpp>

#include <pants/dns/types.hpp>

namespace pants::dns::detail {

namespace {

// Parsing stops at the first failure, which the caller gets.
#define PANTS_DNS_TRY(expr)                          \
    do {                                             \
        if (WireError e_ = (expr); e_ != WireError::ok) return e_; \
    } while (0)

std::vector<std::uint8_t> to_vector(std::span<const std::uint8_t> s) { return {s.begin(), s.end()}; }

// A WKS bit map covers ports 0..65535 at most: 8192 bytes (as BIND checks).
constexpr std::size_t kMaxWksBitmap = 65536 / 8;

// RDATA that is one domain name in a struct's `name`.
template <class T>
WireError parse_name(WireReader& in, Rdata& out) {
    T r;
    PANTS_DNS_TRY(in.name(r.name));
    out = std::move(r);
    return WireError::ok;
}

WireError parse_typed(std::uint16_t type, WireReader& in, Rdata& out) {
    switch (type) {
    case A: {  // RFC 1035 3.4.1
        rdata::A r;
        std::span<const std::uint8_t> b;
        PANTS_DNS_TRY(in.bytes(4, b));
        std::copy(b.begin(), b.end(), r.address.begin());
        out = r;
        return WireError::ok;
    }
    case AAAA: {  // RFC 3596 2.2
        rdata::AAAA r;
        std::span<const std::uint8_t> b;
        PANTS_DNS_TRY(in.bytes(16, b));
        std::copy(b.begin(), b.end(), r.address.begin());
        out = r;
        return WireError::ok;
    }
    case NS: {  // RFC 1035 3.3.11
        rdata::NS r;
        PANTS_DNS_TRY(in.name(r.name));
        out = std::move(r);
        return WireError::ok;
    }
    case CNAME: {  // RFC 1035 3.3.1
        rdata::CNAME r;
        PANTS_DNS_TRY(in.name(r.name));
        out = std::move(r);
        return WireError::ok;
    }
    case DNAME: {  // RFC 6672 2.1
        rdata::DNAME r;
        PANTS_DNS_TRY(in.name(r.name));
        out = std::move(r);
        return WireError::ok;
    }
    case PTR: {  // RFC 1035 3.3.12
        rdata::PTR r;
        PANTS_DNS_TRY(in.name(r.name));
        out = std::move(r);
        return WireError::ok;
    }
    case MX: {  // RFC 1035 3.3.9
        rdata::MX r;
        PANTS_DNS_TRY(in.u16(r.preference));
        PANTS_DNS_TRY(in.name(r.exchange));
        out = std::move(r);
        return WireError::ok;
    }
    case SOA: {  // RFC 1035 3.3.13
        rdata::SOA r;
        PANTS_DNS_TRY(in.name(r.mname));
        PANTS_DNS_TRY(in.name(r.rname));
        PANTS_DNS_TRY(in.u32(r.serial));
        PANTS_DNS_TRY(in.u32(r.refresh));
        PANTS_DNS_TRY(in.u32(r.retry));
        PANTS_DNS_TRY(in.u32(r.expire));
        PANTS_DNS_TRY(in.u32(r.minimum));
        out = std::move(r);
        return WireError::ok;
    }
    case SRV: {  // RFC 2782
        rdata::SRV r;
        PANTS_DNS_TRY(in.u16(r.priority));
        PANTS_DNS_TRY(in.u16(r.weight));
        PANTS_DNS_TRY(in.u16(r.port));
        PANTS_DNS_TRY(in.name(r.target));
        out = std::move(r);
        return WireError::ok;
    }
    case TXT: {  // RFC 1035 3.3.14: one or more character-strings
        rdata::TXT r;
        if (in.at_end()) return WireError::bad_rdata;
        while (!in.at_end()) {
            std::string s;
            PANTS_DNS_TRY(in.character_string(s));
            r.strings.push_back(std::move(s));
        }
        out = std::move(r);
        return WireError::ok;
    }
    case HINFO: {  // RFC 1035 3.3.2
        rdata::HINFO r;
        PANTS_DNS_TRY(in.character_string(r.cpu));
        PANTS_DNS_TRY(in.character_string(r.os));
        out = std::move(r);
        return WireError::ok;
    }
    case MINFO: {  // RFC 1035 3.3.7
        rdata::MINFO r;
        PANTS_DNS_TRY(in.name(r.rmailbx));
        PANTS_DNS_TRY(in.name(r.emailbx));
        out = std::move(r);
        return WireError::ok;
    }
    case RP: {  // RFC 1183 2.2
        rdata::RP r;
        PANTS_DNS_TRY(in.name(r.mbox));
        PANTS_DNS_TRY(in.name(r.txt));
        out = std::move(r);
        return WireError::ok;
    }
    case AFSDB: {  // RFC 1183 1
        rdata::AFSDB r;
        PANTS_DNS_TRY(in.u16(r.subtype));
        PANTS_DNS_TRY(in.name(r.hostname));
        out = std::move(r);
        return WireError::ok;
    }
    case NAPTR: {  // RFC 3403 4.1
        rdata::NAPTR r;
        PANTS_DNS_TRY(in.u16(r.order));
        PANTS_DNS_TRY(in.u16(r.preference));
        PANTS_DNS_TRY(in.character_string(r.flags));
        PANTS_DNS_TRY(in.character_string(r.services));
        PANTS_DNS_TRY(in.character_string(r.regexp));
        PANTS_DNS_TRY(in.name(r.replacement));
        out = std::move(r);
        return WireError::ok;
    }
    case CAA: {  // RFC 8659 4.1: flags, tag length (>= 1), tag, value
        rdata::CAA r;
        PANTS_DNS_TRY(in.u8(r.flags));
        PANTS_DNS_TRY(in.character_string(r.tag));
        if (r.tag.empty()) return WireError::bad_rdata;
        auto value = in.rest();
        r.value.assign(reinterpret_cast<const char*>(value.data()), value.size());
        out = std::move(r);
        return WireError::ok;
    }
    case DS: {  // RFC 4034 5.1
        rdata::DS r;
        PANTS_DNS_TRY(in.u16(r.key_tag));
        PANTS_DNS_TRY(in.u8(r.algorithm));
        PANTS_DNS_TRY(in.u8(r.digest_type));
        r.digest = to_vector(in.rest());
        out = std::move(r);
        return WireError::ok;
    }
    case DNSKEY: {  // RFC 4034 2.1
        rdata::DNSKEY r;
        PANTS_DNS_TRY(in.u16(r.flags));
        PANTS_DNS_TRY(in.u8(r.protocol));
        PANTS_DNS_TRY(in.u8(r.algorithm));
        r.public_key = to_vector(in.rest());
        out = std::move(r);
        return WireError::ok;
    }
    // RFC 1035 3.3.4-3.3.8: the obsolete and experimental mail types, a
    // domain name each.
    case MB: return parse_name<rdata::MB>(in, out);
    case MD: return parse_name<rdata::MD>(in, out);
    case MF: return parse_name<rdata::MF>(in, out);
    case MG: return parse_name<rdata::MG>(in, out);
    case MR: return parse_name<rdata::MR>(in, out);
    case WKS: {  // RFC 1035 3.4.2: address, protocol, bit map of ports
        rdata::WKS r;
        std::span<const std::uint8_t> b;
        PANTS_DNS_TRY(in.bytes(4, b));
        std::copy(b.begin(), b.end(), r.address.begin());
        PANTS_DNS_TRY(in.u8(r.protocol));
        r.bitmap = to_vector(in.rest());
        if (r.bitmap.size() > kMaxWksBitmap) return WireError::bad_rdata;
        out = std::move(r);
        return WireError::ok;
    }
    default:
        out = rdata::Raw{to_vector(in.rest())};
        return WireError::ok;
    }
}

WireError name(WireWriter& w, const std::string& n, bool compress) { return w.name(n, compress); }

// RFC 3597 4: only the RFC 1035 types may have their RDATA names
// compressed; compress=true below marks those.
struct Encoder {
    WireWriter& w;
    WireError operator()(const rdata::Raw& r) {
        w.bytes(r.bytes);
        return WireError::ok;
    }
    WireError operator()(const rdata::A& r) {
        w.bytes(r.address);
        return WireError::ok;
    }
    WireError operator()(const rdata::AAAA& r) {
        w.bytes(r.address);
        return WireError::ok;
    }
    WireError operator()(const rdata::NS& r) { return name(w, r.name, true); }
    WireError operator()(const rdata::CNAME& r) { return name(w, r.name, true); }
    WireError operator()(const rdata::DNAME& r) { return name(w, r.name, false); }
    WireError operator()(const rdata::PTR& r) { return name(w, r.name, true); }
    WireError operator()(const rdata::MX& r) {
        w.u16(r.preference);
        return name(w, r.exchange, true);
    }
    WireError operator()(const rdata::SOA& r) {
        PANTS_DNS_TRY(name(w, r.mname, true));
        PANTS_DNS_TRY(name(w, r.rname, true));
        for (auto v : {r.serial, r.refresh, r.retry, r.expire, r.minimum}) w.u32(v);
        return WireError::ok;
    }
    WireError operator()(const rdata::SRV& r) {
        w.u16(r.priority);
        w.u16(r.weight);
        w.u16(r.port);
        return name(w, r.target, false);  // RFC 2782: no compression
    }
    WireError operator()(const rdata::TXT& r) {
        if (r.strings.empty()) return WireError::bad_rdata;
        for (const auto& s : r.strings) PANTS_DNS_TRY(w.character_string(s));
        return WireError::ok;
    }
    WireError operator()(const rdata::HINFO& r) {
        PANTS_DNS_TRY(w.character_string(r.cpu));
        return w.character_string(r.os);
    }
    WireError operator()(const rdata::MINFO& r) {
        PANTS_DNS_TRY(name(w, r.rmailbx, true));
        return name(w, r.emailbx, true);
    }
    WireError operator()(const rdata::RP& r) {
        PANTS_DNS_TRY(name(w, r.mbox, false));
        return name(w, r.txt, false);
    }
    WireError operator()(const rdata::AFSDB& r) {
        w.u16(r.subtype);
        return name(w, r.hostname, false);
    }
    WireError operator()(const rdata::NAPTR& r) {
        w.u16(r.order);
        w.u16(r.preference);
        PANTS_DNS_TRY(w.character_string(r.flags));
        PANTS_DNS_TRY(w.character_string(r.services));
        PANTS_DNS_TRY(w.character_string(r.regexp));
        return name(w, r.replacement, false);  // RFC 3403 4.1: no compression
    }
    WireError operator()(const rdata::CAA& r) {
        if (r.tag.empty()) return WireError::bad_rdata;
        w.u8(r.flags);
        PANTS_DNS_TRY(w.character_string(r.tag));
        w.bytes(std::span(reinterpret_cast<const std::uint8_t*>(r.value.data()), r.value.size()));
        return WireError::ok;
    }
    WireError operator()(const rdata::DS& r) {
        w.u16(r.key_tag);
        w.u8(r.algorithm);
        w.u8(r.digest_type);
        w.bytes(r.digest);
        return WireError::ok;
    }
    WireError operator()(const rdata::DNSKEY& r) {
        w.u16(r.flags);
        w.u8(r.protocol);
        w.u8(r.algorithm);
        w.bytes(r.public_key);
        return WireError::ok;
    }
    WireError operator()(const rdata::MB& r) { return name(w, r.name, true); }
    WireError operator()(const rdata::MD& r) { return name(w, r.name, true); }
    WireError operator()(const rdata::MF& r) { return name(w, r.name, true); }
    WireError operator()(const rdata::MG& r) { return name(w, r.name, true); }
    WireError operator()(const rdata::MR& r) { return name(w, r.name, true); }
    WireError operator()(const rdata::WKS& r) {
        if (r.bitmap.size() > kMaxWksBitmap) return WireError::bad_rdata;
        w.bytes(r.address);
        w.u8(r.protocol);
        w.bytes(r.bitmap);
        return WireError::ok;
    }
};

}  // namespace

namespace {
// A, AAAA and WKS are Internet-specific (RFC 1035 3.4): elsewhere (CH A
// is a Chaosnet address) keep the bytes, as for a type we do not know.
std::uint16_t typed_as(std::uint16_t type, std::uint16_t klass) {
    return (type == A || type == AAAA || type == WKS) && klass != IN ? 0 : type;
}

// The verdict on one RDATA once its parser returned `e` with `in` where it
// stopped: inside an RDATA, running out of bytes means RDLENGTH is too
// short, and bytes left over mean it is too long.
WireError rdata_verdict(WireError e, const WireReader& in) {
    if (e == WireError::truncated) return WireError::rdata_length_mismatch;
    if (e != WireError::ok) return e;
    return in.at_end() ? WireError::ok : WireError::rdata_length_mismatch;
}
}  // namespace

WireError decode_rdata(std::uint16_t type, std::uint16_t klass, WireReader in, Rdata& out) {
    return rdata_verdict(parse_typed(typed_as(type, klass), in, out), in);
}

WireError check_rdata(std::uint16_t type, std::uint16_t klass, WireReader in) {
    // The types a resolver reads from every reply, checked without building
    // them; the same rules as parse_typed, whose verdict the rest get.
    switch (typed_as(type, klass)) {
    case 0:  // RFC 3597: any bytes
        return WireError::ok;
    case A:  // RFC 1035 3.4.1
        return rdata_verdict(in.skip(4), in);
    case AAAA:  // RFC 3596 2.2
        return rdata_verdict(in.skip(16), in);
    case NS:     // RFC 1035 3.3.11
    case CNAME:  // RFC 1035 3.3.1
    case PTR:    // RFC 1035 3.3.12
    case DNAME:  // RFC 6672 2.1
        return rdata_verdict(in.skip_name(), in);
    case SOA: {  // RFC 1035 3.3.13: MNAME, RNAME, five 32-bit fields
        WireError e = in.skip_name();
        if (e == WireError::ok) e = in.skip_name();
        if (e == WireError::ok) e = in.skip(20);
        return rdata_verdict(e, in);
    }
    default: {
        Rdata scratch;
        return decode_rdata(type, klass, in, scratch);
    }
    }
}

WireError encode_rdata(std::uint16_t type, const Rdata& data, WireWriter& out) {
    const std::uint16_t expected = rdata_type(data);
    if (expected != 0 && expected != type) return WireError::rdata_type_mismatch;
    const std::size_t length_at = out.size();
    out.u16(0);
    PANTS_DNS_TRY(std::visit(Encoder{out}, data));
    const std::size_t length = out.size() - length_at - 2;
    if (length > 0xFFFF) return WireError::bad_rdata;
    out.patch_u16(length_at, static_cast<std::uint16_t>(length));
    return WireError::ok;
}

}  // namespace pants::dns::detail

namespace pants::dns {

std::uint16_t rdata_type(const Rdata& data) noexcept {
    static constexpr std::uint16_t types[] = {0,   A,     AAAA,  NS, CNAME, DNAME, PTR, MX, SOA, SRV, TXT, HINFO, MINFO,
                                              RP,  AFSDB, NAPTR, CAA, DS, DNSKEY, MB, MD, MF, MG, MR, WKS};
    static_assert(std::size(types) == std::variant_size_v<Rdata>);
    return types[data.index()];
}

}  // namespace pants::dns
