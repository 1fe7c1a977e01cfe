// tests/redis/redis_server.hpp — a redis-server of the test's own.
//
// RedisServer starts `redis-server --port P --save '' --appendonly no --dir
// TMP` on a free loopback port in a fresh temporary directory, waits for its
// "Ready to accept connections" line, and kills it when destroyed. Tests call
// REDIS_SERVER_OR_SKIP(server) so that a machine without redis-server reports
// the test as skipped (with the reason), never as passed. Use inside a task.
#pragma once

#include <filesystem>
#include <gtest/gtest.h>
#include <optional>
#include <signal.h>
#include <stdlib.h>
#include <string>
#include <unistd.h>
#include <vector>

#include <ringlet/ipc/subprocess.hpp>
#include <ringlet/redis/client.hpp>
#include <ringlet/redis/errors.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/time.hpp>

namespace ringlet::test {

class RedisServer {
  public:
    RedisServer() = default;
    RedisServer(const RedisServer&) = delete;
    ~RedisServer() {
        stop();
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    // Starts the server with `extra` arguments (e.g. {"--requirepass", "pw"}).
    // False (and error() says why) if it cannot start.
    bool start(std::vector<std::string> extra = {}) {
        extra_ = std::move(extra);
        if (dir_.empty()) {
            char tmpl[] = "/tmp/ringlet-redis-XXXXXX";
            if (::mkdtemp(tmpl) == nullptr) return fail("mkdtemp failed");
            dir_ = tmpl;
        }
        if (port_ == 0) {
            auto probe = net::TcpListener::bind("127.0.0.1", 0);
            port_ = probe.port();
        }
        return launch();
    }

    // SIGKILLs the server (no shutdown, no save) and waits for it to die.
    void kill() {
        if (proc_) {
            proc_->kill();
            proc_->wait();
            proc_.reset();
        }
    }
    // Starts it again on the same port and directory.
    bool restart() {
        kill();
        return launch();
    }
    void stop() {
        if (proc_) {
            try {
                proc_->send_signal(SIGKILL);
                proc_->wait();
            } catch (...) {
            }
            proc_.reset();
        }
    }

    std::uint16_t port() const noexcept { return port_; }
    const std::string& dir() const noexcept { return dir_; }
    const std::string& error() const noexcept { return error_; }
    std::string unix_path() const { return dir_ + "/redis.sock"; }

  private:
    bool fail(std::string why) {
        error_ = std::move(why);
        return false;
    }

    bool launch() {
        std::vector<std::string> argv = {"redis-server",
                                         "--port",
                                         std::to_string(port_),
                                         "--bind",
                                         "127.0.0.1",
                                         "--save",
                                         "",
                                         "--dir",
                                         dir_,
                                         "--unixsocket",
                                         unix_path(),
                                         "--unixsocketperm",
                                         "700"};
        bool aof_given = false;
        for (const auto& a : extra_) aof_given = aof_given || a == "--appendonly";
        if (!aof_given) argv.insert(argv.end(), {"--appendonly", "no"});
        argv.insert(argv.end(), extra_.begin(), extra_.end());
        ipc::SubprocessOptions opts;
        opts.stdout_mode = ipc::Stdio::pipe;
        opts.stderr_to_stdout = true;
        try {
            proc_.emplace(argv, opts);
        } catch (const std::exception& e) {
            return fail(std::string("redis-server cannot start: ") + e.what());
        }
        // Wait for the readiness line (a pipe read, not a sleep).
        std::string log;
        char buf[4096];
        try {
            Timeout deadline(std::chrono::seconds(20));
            while (log.find("Ready to accept connections") == std::string::npos) {
                const std::size_t n = proc_->stdout_stream().read(buf, sizeof buf);
                if (n == 0) {
                    proc_->wait();
                    proc_.reset();
                    return fail("redis-server exited at start-up: " + log);
                }
                log.append(buf, n);
            }
            // With an AOF the server accepts connections while it still loads
            // the data, answering LOADING; the client's PING waits that out
            // (NOAUTH and the like mean ready too).
            try {
                (void)redis::Client::connect("127.0.0.1", port_).ping();
            } catch (const redis::Error&) {
            }
        } catch (const std::exception& e) {
            stop();
            return fail(std::string("redis-server did not become ready: ") + e.what() + "\n" + log);
        }
        return true;
    }

    std::vector<std::string> extra_;
    std::optional<ipc::Subprocess> proc_;
    std::string dir_;
    std::string error_;
    std::uint16_t port_ = 0;
};

}  // namespace ringlet::test

#define REDIS_SERVER_OR_SKIP(server, ...)                                   \
    do {                                                                    \
        if (!(server).start(__VA_ARGS__)) GTEST_SKIP() << (server).error(); \
    } while (0)
