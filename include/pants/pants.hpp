// pants/pants.hpp: everything Pants offers, in one include.
//
//   pants/runtime.hpp  Engine, Task, timers, when_all / when_any, Result
//   pants/net.hpp      Address, Stream, Server, Connection, Client, Datagram
//   pants/dns.hpp      the asynchronous resolver
#pragma once

#include <pants/runtime.hpp>
#include <pants/net.hpp>
#include <pants/dns.hpp>
