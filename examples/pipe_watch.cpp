// pipe_watch: a descriptor Pants did not open, on the loop. Reads lines from
// stdin (a terminal or a pipe) with Engine::watch(), while a timer ticks
// beside it: the loop never blocks on the read.
//
//   build-release/examples/pipe_watch            (type lines, Ctrl-D ends)
//   (echo one; sleep 1; echo two) | build-release/examples/pipe_watch
#include <pants/pants.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

int main() {
    pants::Engine& engine = pants::Engine::instance();
    // Watches are edge-triggered: read until EAGAIN, which needs O_NONBLOCK.
    ::fcntl(STDIN_FILENO, F_SETFL, ::fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);

    int lines = 0;
    std::string pending;  // a line not yet ended
    pants::Timer tick = engine.cycle(500ms, [&] { std::printf("(%d lines so far)\n", lines); });
    pants::FdWatch input;
    try {
        input = engine.watch(STDIN_FILENO, pants::FdEvents::readable, [&](pants::FdEvents) {
            char buf[4096];
            ssize_t n;
            while ((n = ::read(STDIN_FILENO, buf, sizeof buf)) > 0) {
                pending.append(buf, std::size_t(n));
                for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1))
                    std::printf("line %d: %s\n", ++lines, pending.substr(0, nl).c_str());
            }
            if (n == 0) {  // end of input: stop watching, and stop the loop
                input.cancel();
                tick.cancel();
                engine.stop();
            }
        });
    } catch (const std::system_error& e) {
        // A regular file (`< file`) is never "not ready": read it directly.
        std::fprintf(stderr, "pipe_watch: %s\n", e.what());
        return 1;
    }
    engine.start();
    std::printf("%d lines\n", lines);
}
