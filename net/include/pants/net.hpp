// pants/net.hpp: channels: addresses, streams, servers, clients.
#pragma once

#include <pants/address.hpp>
#include <pants/client.hpp>
#include <pants/datagram.hpp>
#include <pants/net_error.hpp>
#include <pants/read_delimiter.hpp>
#include <pants/server.hpp>
#include <pants/stream.hpp>
#include <pants/tls.hpp>
