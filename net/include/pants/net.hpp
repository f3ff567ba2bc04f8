// pants/net.hpp: channels: addresses, streams, servers, datagrams.
// Client (connect by host name) needs DNS too: pants/client.hpp.
#pragma once

#include <pants/address.hpp>
#include <pants/datagram.hpp>
#include <pants/frame_error.hpp>
#include <pants/listen_fds.hpp>
#include <pants/listen_options.hpp>
#include <pants/shared_acceptor.hpp>
#include <pants/net_error.hpp>
#include <pants/packed.hpp>
#include <pants/read_delimiter.hpp>
#include <pants/server.hpp>
#include <pants/stream.hpp>
