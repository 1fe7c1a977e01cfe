// examples/dist/dist_common.hpp — command-line options shared by the
// examples/dist programs, and a connect that waits for the server to come up.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <ringlet/redis.hpp>
#include <ringlet/time.hpp>

namespace dist {

struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string unix_path;  // --unix PATH: a Unix socket instead of host:port
    std::string password;
    std::string queue = "squares";
    int tasks = 10;
    int concurrency = 8;
    bool smoke = false;
};

// Parses the common flags; returns false (after printing usage) on a bad one.
inline bool parse(int argc, char** argv, Options& o, const char* program) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const bool v = i + 1 < argc;
        if (a == "--smoke")
            o.smoke = true;
        else if (a == "--host" && v)
            o.host = argv[++i];
        else if (a == "--port" && v)
            o.port = static_cast<std::uint16_t>(std::strtoul(argv[++i], nullptr, 10));
        else if (a == "--unix" && v)
            o.unix_path = argv[++i];
        else if (a == "--password" && v)
            o.password = argv[++i];
        else if (a == "--queue" && v)
            o.queue = argv[++i];
        else if (a == "--tasks" && v)
            o.tasks = std::atoi(argv[++i]);
        else if (a == "--concurrency" && v)
            o.concurrency = std::atoi(argv[++i]);
        else {
            std::fprintf(stderr,
                         "usage: %s [--host H] [--port P | --unix PATH] [--password PW] "
                         "[--queue NAME] [--tasks N] [--concurrency N] [--smoke]\n",
                         program);
            return false;
        }
    }
    return true;
}

// Connects, retrying with backoff for up to 10 s while the server is not up
// yet (a worker may start before Redis does).
inline ringlet::redis::Client connect(const Options& o) {
    using namespace std::chrono_literals;
    ringlet::redis::Endpoint where = o.unix_path.empty()
                                         ? ringlet::redis::Endpoint::tcp(o.host, o.port)
                                         : ringlet::redis::Endpoint::unix_socket(o.unix_path);
    ringlet::redis::ClientOptions co;
    co.password = o.password;
    ringlet::Duration backoff = 10ms;
    for (int attempt = 0;; ++attempt) {
        try {
            return ringlet::redis::Client::connect(where, co);
        } catch (const ringlet::redis::ConnectionError&) {
            if (attempt == 40) throw;
        }
        ringlet::sleep(backoff);
        backoff = std::min<ringlet::Duration>(backoff * 2, 500ms);
    }
}

}  // namespace dist
