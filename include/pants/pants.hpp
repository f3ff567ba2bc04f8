// pants/pants.hpp: everything Pants offers, in one include.
//
//   pants/runtime.hpp  Engine, Task, timers, when_all / when_any, Result
//   pants/net.hpp      Address, Stream, Server, Connection, Datagram
//   pants/dns.hpp      the asynchronous resolver
//   pants/client.hpp   Client: a Stream that connects by host name
#pragma once

#include <pants/runtime.hpp>
#include <pants/net.hpp>
#include <pants/dns.hpp>
#include <pants/client.hpp>
