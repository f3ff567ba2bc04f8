// Shared by the network suites: a client that records what happens to it,
// and a deadline-bounded way to run an engine.
#pragma once

#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <string>
#include <vector>

namespace test {

using namespace std::chrono_literals;

/// Runs `engine` until `done()`; fails the test if 20 s pass first.
template <class F>
void run_until(pants::Engine& engine, F done) {
    REQUIRE(engine.run_until(done, std::chrono::seconds(20)));
}

/// A client stream that records every callback.
struct Recorder : pants::Client {
    using pants::Client::Client;
    std::string got;
    std::vector<std::string> frames;
    std::vector<std::string> events;
    std::error_code error;
    int closes = 0;
    int writes_drained = 0;
    void on_connect() override { events.push_back("connect"); }
    void on_read(std::string_view d) override {
        got += d;
        frames.emplace_back(d);
    }
    void on_write() override { ++writes_drained; }
    void on_close() override {
        ++closes;
        events.push_back("close");
    }
    void on_connect_error(std::error_code e) override {
        error = e;
        events.push_back("connect_error");
    }
    void on_read_error(std::error_code e) override {
        error = e;
        events.push_back("read_error");
    }
    void on_write_error(std::error_code e) override {
        error = e;
        events.push_back("write_error");
    }
    void on_overflow_error(std::error_code e) override {
        error = e;
        events.push_back("overflow_error");
    }
};

/// The address a test server listens on: loopback, port 0.
inline pants::Address loopback() { return pants::Address::loopback_v4(0); }

/// A pattern of n bytes that shows misordering and loss.
inline std::string pattern(std::size_t n, unsigned seed = 1) {
    std::string s(n, '\0');
    unsigned x = seed;
    for (auto& c : s) {
        x = x * 1103515245u + 12345u;
        c = char(x >> 16);
    }
    return s;
}

}  // namespace test
