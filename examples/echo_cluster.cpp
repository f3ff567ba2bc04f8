// echo_cluster: the classic echo server, served by every core.
//
// One engine per CPU this process may use (or as many as the first
// argument says), each on its own thread with its own listening socket on
// port 4000: SO_REUSEPORT, on by default inside a cluster, lets the kernel
// spread the connections across them. The Echo class is the one of
// examples/echo.cpp, unchanged. Ctrl-C or SIGTERM stops every engine.
//
//   build-release/examples/echo_cluster &   then   telnet localhost 4000
#include <pants/pants.hpp>

#include <cstdlib>

class Echo : public pants::Connection {
    void on_read(std::string_view data) override { write(data); }
};

int main(int argc, char** argv) {
    pants::Cluster::Options options;
    if (argc > 1) options.engines = unsigned(std::atoi(argv[1]));
    pants::Cluster cluster(options);
    cluster.run([](pants::Engine& engine) {
        auto server = std::make_unique<pants::Server<Echo>>(engine);
        server->listen(4000);
        return server;  // kept until this engine stops
    });
}
