// tests/net/net_helpers.hpp — small tools shared by the IO-layer suites:
// byte/string conversions, deterministic payloads, fd accounting, rlimit
// guards, a connected TCP pair, a listener that never completes a connect
// (the "blackhole"), and filling a socket's send buffer so that a write blocks.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <ringlet/errors.hpp>
#include <ringlet/net.hpp>
#include <ringlet/stats.hpp>
#include <ringlet/task.hpp>
#include <ringlet/time.hpp>

namespace nettest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline std::span<const std::byte> bytes(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}
inline std::span<std::byte> wbytes(std::string& s) {
    return std::as_writable_bytes(std::span(s.data(), s.size()));
}

// Deterministic pseudo-random payload (xorshift), different per `seed`.
inline std::string pattern(std::size_t n, std::uint64_t seed) {
    std::string out(n, '\0');
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    for (std::size_t i = 0; i < n; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = static_cast<char>(x >> 24);
    }
    return out;
}

// FNV-1a over bytes, to compare large transfers cheaply in messages.
inline std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

// Reads until EOF.
inline std::string read_to_eof(ringlet::net::Stream& s, std::size_t chunk = 64 * 1024) {
    std::string out;
    std::string buf(chunk, '\0');
    for (;;) {
        const std::size_t n = s.read(wbytes(buf));
        if (n == 0) return out;
        out.append(buf.data(), n);
    }
}

inline std::string read_exactly(ringlet::net::Stream& s, std::size_t n) {
    std::string out(n, '\0');
    s.read_exact(wbytes(out));
    return out;
}

// Yields until pred() holds; false if it never did within `limit`.
template <class Pred>
bool yield_until(Pred pred, Clock::duration limit = std::chrono::seconds(10)) {
    const auto deadline = Clock::now() + limit;
    while (!pred()) {
        if (Clock::now() > deadline) return false;
        ringlet::yield();
    }
    return true;
}

// Lets the scheduler run a few full loop turns so that queued submissions
// reach the kernel. Correctness never depends on it.
inline void settle(int turns = 5) {
    for (int i = 0; i < turns; ++i) ringlet::yield();
}

// Number of open fds of this process.
inline int open_fd_count() {
    int n = 0;
    DIR* d = ::opendir("/proc/self/fd");
    if (d == nullptr) return -1;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    return n - 1;  // the directory's own fd
}

// Highest open fd number of this process (excluding the one used to list).
inline int highest_fd() {
    int hi = -1;
    DIR* d = ::opendir("/proc/self/fd");
    if (d == nullptr) return -1;
    const int own = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        const int fd = std::atoi(e->d_name);
        if (fd != own && fd > hi) hi = fd;
    }
    ::closedir(d);
    return hi;
}

// Restores RLIMIT_NOFILE on destruction.
class NofileGuard {
public:
    NofileGuard() { ::getrlimit(RLIMIT_NOFILE, &saved_); }
    ~NofileGuard() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
    NofileGuard(const NofileGuard&) = delete;
    NofileGuard& operator=(const NofileGuard&) = delete;
    const rlimit& saved() const { return saved_; }
    bool set_soft(rlim_t soft) {
        rlimit r = saved_;
        r.rlim_cur = soft;
        return ::setrlimit(RLIMIT_NOFILE, &r) == 0;
    }
    void restore() { ::setrlimit(RLIMIT_NOFILE, &saved_); }

private:
    rlimit saved_{};
};

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the hard limit.
inline rlim_t raise_nofile() {
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
    return r.rlim_max;
}

inline int get_int_option(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    if (::getsockopt(fd, level, name, &v, &len) != 0) return -1;
    return v;
}

// A connected TCP pair over loopback: `client` from connect, `server` from accept.
struct TcpPair {
    ringlet::net::TcpListener listener;
    ringlet::net::TcpStream client;
    ringlet::net::TcpStream server;
};

inline TcpPair tcp_pair(std::string_view host = "127.0.0.1") {
    TcpPair p;
    p.listener = ringlet::net::TcpListener::bind(host, 0);
    p.client = ringlet::net::TcpStream::connect(host, p.listener.port());
    p.server = p.listener.accept();
    return p;
}

// Shrinks the buffers of `writer` (send) and `reader` (receive) and writes
// bytes `fill` into `writer` without blocking until the kernel refuses more.
// Returns how many bytes were queued; a later write on `writer` blocks until
// the reader drains.
inline std::size_t fill_send_buffer(ringlet::net::Stream& writer, ringlet::net::Stream& reader,
                                    char fill = 'F') {
    const int small = 4096;
    ::setsockopt(writer.socket().fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(reader.socket().fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    std::string chunk(4096, fill);
    std::size_t total = 0;
    // Loopback may accept a little more after a short pause (window updates):
    // keep pushing until several consecutive attempts are refused.
    int refused = 0;
    while (refused < 3) {
        const ssize_t n = ::send(writer.socket().fd(), chunk.data(), chunk.size(),
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            total += static_cast<std::size_t>(n);
            refused = 0;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
        ++refused;
        ringlet::yield();
    }
    return total;
}

// A TCP listener that never completes another connection: backlog 0 and its
// accept queue filled by connections nobody accepts, so the kernel drops new
// SYNs and connect() hangs until its deadline.
struct Blackhole {
    ringlet::net::TcpListener listener;
    std::vector<ringlet::net::TcpStream> fillers;

    // Returns false if the queue could not be filled (then the test skips).
    bool fill() {
        listener = ringlet::net::TcpListener::bind("127.0.0.1", 0, /*backlog=*/0);
        for (int i = 0; i < 16; ++i) {
            try {
                fillers.push_back(ringlet::net::TcpStream::connect(address(), 300ms));
            } catch (const ringlet::TimeoutError&) {
                return true;  // this connect hung: the queue is full
            } catch (const ringlet::IoError&) {
                return false;
            }
        }
        return false;
    }
    ringlet::net::SocketAddress address() const {
        return ringlet::net::SocketAddress::ip("127.0.0.1", listener.port());
    }
};

// A free loopback port with nothing listening (bound, then closed).
inline std::uint16_t closed_port() {
    auto l = ringlet::net::TcpListener::bind("127.0.0.1", 0);
    const std::uint16_t port = l.port();
    l.close();
    return port;
}

// Sets SO_LINGER {on, 0}: close() then sends RST instead of FIN.
inline void set_linger_zero(int fd) {
    linger lg{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

// True if this host can bind IPv6 loopback.
inline bool have_ipv6() {
    const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

// Which backend this scheduler uses ("io_uring" or "epoll").
inline std::string backend() { return ringlet::stats().backend; }

// Runs `f` and returns the errno of the IoError it throws (0 if none).
template <class F>
int io_errno(F&& f) {
    try {
        f();
    } catch (const ringlet::IoError& e) {
        return e.code().value();
    }
    return 0;
}

// A unique temporary directory, removed (with its entries) on destruction.
class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/ringlet-net-XXXXXX";
        if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
    }
    ~TempDir() {
        if (path_.empty()) return;
        if (DIR* d = ::opendir(path_.c_str())) {
            while (dirent* e = ::readdir(d)) {
                if (e->d_name[0] == '.') continue;
                ::unlink((path_ + "/" + e->d_name).c_str());
            }
            ::closedir(d);
        }
        ::rmdir(path_.c_str());
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

private:
    std::string path_;
};

}  // namespace nettest
