// net/server_shutdown.hpp: the state of a Server's graceful shutdown.
//
// shutdown() stops the listener and end()s every connection; the server
// then waits until every connection has gone (each after its on_close), or
// until the deadline, when it close()s the ones left and waits for those.
// Then it calls the callbacks and resumes the coroutines waiting, on a
// later turn than the last close.
#pragma once

#include <functional>
#include <vector>

#include <pants/detail/waiter.hpp>
#include <pants/engine.hpp>

namespace pants::detail {

struct ServerShutdown {
    explicit ServerShutdown(Engine& engine) : waiters(engine) {}
    ~ServerShutdown() {
        deadline.cancel();
        finishing.cancel();
    }

    std::vector<std::function<void()>> done;  // shutdown(deadline, done)
    WaitList waiters;                         // co_await shutdown(deadline)
    Timer deadline;
    Timer finishing;  // the callbacks, on the turn after the last connection went
    Engine::Clock::time_point until{};
    bool finished = false;
};

}  // namespace pants::detail
