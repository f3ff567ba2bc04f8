// backend_probe: builds two Engines with the default options and prints
// the backends they picked ("epoll,epoll"). tests/test_engine.cpp runs it in
// a fresh process with PANTS_BACKEND=auto and PANTS_URING_SETUP_FAIL=1, so
// that whatever the fallback says on stderr is this process's first word.
#include <pants/engine.hpp>

#include <cstdio>
#include <string>

int main() {
    std::string names;
    {
        pants::Engine a;
        pants::Engine b;  // the fallback says so once per process
        names = std::string(a.backend_name()) + "," + std::string(b.backend_name());
    }
    std::printf("%s\n", names.c_str());
}
