// pants/dns/detail/rdata_codec.hpp: RDATA to and from the wire.
//
// Internal to pants::dns: message.cpp calls these for each record.
#pragma once

#include <cstdint>

#include <pants/dns/detail/wire_reader.hpp>
#include <pants/dns/detail/wire_writer.hpp>
#include <pants/dns/rdata.hpp>

namespace pants::dns::detail {

/// Parses the RDATA in `in` (a reader over exactly RDLENGTH bytes) as the
/// given type: typed when the codec knows the type, Raw otherwise.
[[nodiscard]] WireError decode_rdata(std::uint16_t type, std::uint16_t klass, WireReader in, Rdata& out);

/// Checks the RDATA in `in` as decode_rdata() does (the same verdict for
/// any bytes), building nothing for the types a resolver meets in every
/// reply (A, AAAA, NS, CNAME, PTR, DNAME, SOA).
[[nodiscard]] WireError check_rdata(std::uint16_t type, std::uint16_t klass, WireReader in);

/// Writes RDLENGTH and the RDATA of `data` for a record of the given type.
[[nodiscard]] WireError encode_rdata(std::uint16_t type, const Rdata& data, WireWriter& out);

}  // namespace pants::dns::detail
