// pants/dns.hpp: the asynchronous DNS resolver and its wire codec.
//
//   pants/dns/resolver.hpp     Resolver, query/resolve, gethostby*, sync::
//   pants/dns/address_order.hpp  sort_destinations (RFC 6724)
//   pants/dns/message.hpp      Message, encode_query/encode/decode
//   pants/dns/rdata.hpp        typed RDATA
//   pants/dns/types.hpp        Status, types, classes
//   pants/dns/hosts_file.hpp   /etc/hosts
//   pants/dns/resolv_conf.hpp  /etc/resolv.conf
#pragma once

#include <pants/dns/address_order.hpp>
#include <pants/dns/hosts_file.hpp>
#include <pants/dns/message.hpp>
#include <pants/dns/name.hpp>
#include <pants/dns/rdata.hpp>
#include <pants/dns/resolv_conf.hpp>
#include <pants/dns/resolver.hpp>
#include <pants/dns/types.hpp>
