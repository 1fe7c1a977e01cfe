// tests/hooks/servers.hpp — real servers for the hooks suites, started by the test.
//
// Each server runs from a new temporary directory on a free port and is
// stopped (and its directory removed) by the destructor. A server that cannot
// be found or started throws ServerUnavailable with the reason, which the
// test turns into GTEST_SKIP: a missing server is reported, never passed.
// Everything here runs on the test's own thread before or after run(), so
// every call is libc's own.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

namespace hookstest {

struct ServerUnavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A port on 127.0.0.1 that was free a moment ago (bound to 0, then released).
inline std::uint16_t free_tcp_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd);
        throw ServerUnavailable("no free port on 127.0.0.1");
    }
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    ::close(fd);
    return ntohs(sa.sin_port);
}

inline bool tcp_accepts(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    return ok;
}

class TempDir {
  public:
    explicit TempDir(const char* prefix) {
        std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) throw ServerUnavailable("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

// A child process (argv[0] is a path), killed and reaped by the destructor.
class Child {
  public:
    explicit Child(std::vector<std::string> argv, const std::string& log) {
        pid_ = ::fork();
        if (pid_ < 0) throw ServerUnavailable("fork failed");
        if (pid_ == 0) {
            const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (out >= 0) {
                ::dup2(out, STDOUT_FILENO);
                ::dup2(out, STDERR_FILENO);
            }
            std::vector<char*> args;
            for (auto& a : argv) args.push_back(a.data());
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status;
            ::waitpid(pid_, &status, 0);
        }
    }
    bool alive() {
        int status;
        return ::waitpid(pid_, &status, WNOHANG) == 0;
    }

  private:
    pid_t pid_ = -1;
};

// Waits (on this plain thread) until `port` accepts, or throws.
inline void wait_for_port(std::uint16_t port, Child& child, const char* what) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    auto delay = std::chrono::milliseconds(2);
    while (!tcp_accepts(port)) {
        if (!child.alive()) throw ServerUnavailable(std::string(what) + " exited at start");
        if (std::chrono::steady_clock::now() > give_up) {
            throw ServerUnavailable(std::string(what) + " did not listen within 20 s");
        }
        std::this_thread::sleep_for(delay);  // a plain thread: the real sleep
        delay = std::min(delay * 2, std::chrono::milliseconds(100));
    }
}

// redis-server --port P --save '' --appendonly no --dir TMP
class TempRedis {
  public:
    TempRedis() : dir_("hooks-redis") {
        const std::string bin = "/usr/bin/redis-server";
        if (::access(bin.c_str(), X_OK) != 0)
            throw ServerUnavailable("redis-server is not installed");
        port_ = free_tcp_port();
        child_ = std::make_unique<Child>(
            std::vector<std::string>{bin, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", dir_.path(),
                                     "--daemonize", "no", "--maxclients", "1000"},
            dir_.path() + "/redis.log");
        wait_for_port(port_, *child_, "redis-server");
    }
    std::uint16_t port() const { return port_; }

  private:
    TempDir dir_;
    std::uint16_t port_ = 0;
    std::unique_ptr<Child> child_;
};

// examples/net/http_hello on a free port (its path comes from meson).
class HttpHello {
  public:
    HttpHello() : dir_("hooks-http") {
        const char* bin = std::getenv("HOOKS_HTTP_HELLO");
        if (bin == nullptr || ::access(bin, X_OK) != 0) {
            throw ServerUnavailable("HOOKS_HTTP_HELLO does not name the http_hello example");
        }
        port_ = free_tcp_port();
        child_ = std::make_unique<Child>(
            std::vector<std::string>{bin, "--host", "127.0.0.1", "--port", std::to_string(port_)},
            dir_.path() + "/http.log");
        wait_for_port(port_, *child_, "http_hello");
    }
    std::uint16_t port() const { return port_; }

  private:
    TempDir dir_;
    std::uint16_t port_ = 0;
    std::unique_ptr<Child> child_;
};

// PostgreSQL: initdb and pg_ctl as the postgres user into a temporary
// directory, listening only on a Unix socket there.
class TempPostgres {
  public:
    TempPostgres() : dir_("hooks-pg") {
        bin_ = "/usr/lib/postgresql/15/bin";
        if (::access((bin_ + "/pg_ctl").c_str(), X_OK) != 0) {
            bin_.clear();
            std::error_code ec;
            for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
                const std::string b = e.path().string() + "/bin";
                if (::access((b + "/pg_ctl").c_str(), X_OK) == 0 && b > bin_) bin_ = b;
            }
        }
        if (bin_.empty()) throw ServerUnavailable("PostgreSQL is not installed");
        as_ = ::geteuid() == 0 ? "runuser -u postgres -- " : "";  // postgres refuses root
        if (!as_.empty() && std::system(("chown postgres: '" + dir_.path() + "'").c_str()) != 0) {
            throw ServerUnavailable("cannot chown the data directory to postgres");
        }
        run(bin_ + "/initdb -D '" + dir_.path() + "/data' -A trust -U postgres >'" + dir_.path() +
                "/initdb.log' 2>&1",
            "initdb");
        run(bin_ + "/pg_ctl -D '" + dir_.path() + "/data' -l '" + dir_.path() +
                "/server.log' -w -o \"-k " + dir_.path() +
                " -c listen_addresses='' -c max_connections=80\" start >/dev/null 2>&1",
            "pg_ctl start");
        started_ = true;
    }
    ~TempPostgres() {
        if (started_) {
            std::system((as_ + bin_ + "/pg_ctl -D '" + dir_.path() +
                         "/data' -m immediate -w stop >/dev/null 2>&1")
                            .c_str());
        }
    }
    std::string conninfo() const {
        return "host=" + dir_.path() + " dbname=postgres user=postgres";
    }

  private:
    void run(const std::string& cmd, const char* what) {
        if (std::system((as_ + cmd).c_str()) != 0) {
            throw ServerUnavailable(std::string(what) + " failed (see " + dir_.path() + ")");
        }
    }
    TempDir dir_;
    std::string bin_, as_;
    bool started_ = false;
};

}  // namespace hookstest
