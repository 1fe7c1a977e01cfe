// bench/echo/baselines/epoll_echo.cpp — hand-written single-thread epoll echo server.
//
// The baseline ringlet's echo server must match (DESIGN.md, performance
// budget: "TCP echo on loopback: at least the throughput of a hand-written
// single-thread epoll server"). Written the way a careful engineer writes one
// by hand, with no library: non-blocking sockets, level-triggered epoll, one
// read per readiness event into a per-connection buffer and an immediate
// write back; output the kernel does not take at once is kept and flushed on
// EPOLLOUT, and reading pauses meanwhile (back-pressure). TCP_NODELAY, as
// ringlet's echo_server sets it.
//
//   epoll_echo [--port P]        # listens on 127.0.0.1:P (default 7001)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace {

constexpr std::size_t buffer_size = 64 * 1024;

struct Connection {
    int fd;
    std::size_t pending_begin = 0, pending_end = 0;  // unsent bytes in buf
    char buf[buffer_size];
};

[[noreturn]] void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

int listen_on(unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
    if (::listen(fd, 1024) != 0) die("listen");
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned short port = 7001;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = static_cast<unsigned short>(std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: epoll_echo [--port P]\n");
            return 2;
        }
    }
    std::signal(SIGPIPE, SIG_IGN);
    const int listener = listen_on(port);
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // null = the listener
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) != 0) die("epoll_ctl");
    std::printf("epoll_echo: listening on 127.0.0.1:%u\n", port);
    std::fflush(stdout);

    auto close_conn = [&](Connection* c) {
        ::close(c->fd);  // also removes it from the epoll set
        delete c;
    };
    // Sends what is pending; returns false if the connection died.
    auto flush = [&](Connection* c) -> bool {
        while (c->pending_begin < c->pending_end) {
            const ssize_t n = ::send(c->fd, c->buf + c->pending_begin,
                                     c->pending_end - c->pending_begin, MSG_NOSIGNAL);
            if (n > 0) {
                c->pending_begin += static_cast<std::size_t>(n);
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else if (n < 0 && errno == EAGAIN) {
                return true;
            } else {
                return false;
            }
        }
        c->pending_begin = c->pending_end = 0;
        return true;
    };

    std::vector<epoll_event> events(1024);
    for (;;) {
        const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            auto* c = static_cast<Connection*>(events[i].data.ptr);
            if (c == nullptr) {  // accept everything that is waiting
                for (;;) {
                    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED) continue;
                        break;  // EAGAIN, or EMFILE: try again on the next event
                    }
                    const int one = 1;
                    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    auto* conn = new Connection;  // buf left uninitialised on purpose
                    conn->fd = fd;
                    epoll_event cev{};
                    cev.events = EPOLLIN | EPOLLRDHUP;
                    cev.data.ptr = conn;
                    if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) != 0) close_conn(conn);
                }
                continue;
            }
            const std::uint32_t what = events[i].events;
            if (what & EPOLLOUT) {  // output had backed up: finish it, then read again
                if (!flush(c)) {
                    close_conn(c);
                    continue;
                }
                if (c->pending_end == 0) {
                    epoll_event cev{};
                    cev.events = EPOLLIN | EPOLLRDHUP;
                    cev.data.ptr = c;
                    ::epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
                }
                continue;
            }
            if (what & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                const ssize_t r = ::recv(c->fd, c->buf, buffer_size, 0);
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (r <= 0) {  // EOF or error
                    close_conn(c);
                    continue;
                }
                c->pending_begin = 0;
                c->pending_end = static_cast<std::size_t>(r);
                if (!flush(c)) {
                    close_conn(c);
                    continue;
                }
                if (c->pending_end != 0) {  // the kernel took only part: wait for room
                    epoll_event cev{};
                    cev.events = EPOLLOUT;
                    cev.data.ptr = c;
                    ::epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
                }
            }
        }
    }
}
