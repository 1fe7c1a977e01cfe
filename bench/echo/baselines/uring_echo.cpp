// bench/echo/baselines/uring_echo.cpp — hand-written single-thread liburing echo server.
//
// The second baseline of DESIGN.md's echo budget ("at least ... a
// hand-written liburing server"). No ringlet: one ring, a callback-free
// state machine per connection, as liburing's own examples do it, plus what
// a careful engineer adds:
//   - the strongest ring flags the kernel takes (SINGLE_ISSUER + DEFER_TASKRUN,
//     else COOP_TASKRUN) and a registered ring fd;
//   - multishot accept where the kernel has it (re-armed single accepts
//     otherwise);
//   - one recv SQE per idle connection; on its completion a send SQE of what
//     arrived (short sends requeue the rest), on the send's completion the
//     next recv;
//   - every SQE prepared in a loop turn goes to the kernel in the single
//     io_uring_submit_and_wait() that also waits for the next completions,
//     and completions are reaped in batches.
// TCP_NODELAY on every connection, as ringlet's echo_server sets it.
//
//   uring_echo [--port P]        # listens on 127.0.0.1:P (default 7002)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <liburing.h>

namespace {

constexpr std::size_t buffer_size = 64 * 1024;
constexpr std::uint64_t accept_tag = 1;  // connection pointers are 8-aligned, tags fit below

enum Op : std::uint64_t { op_recv = 2, op_send = 4 };

struct alignas(8) Connection {
    int fd;
    std::size_t sent = 0, length = 0;
    char buf[buffer_size];
};

io_uring ring;
bool multishot_accept = true;
int listener = -1;

[[noreturn]] void die(const char* what, int err) {
    std::fprintf(stderr, "uring_echo: %s: %s\n", what, std::strerror(err));
    std::exit(1);
}

io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    while (s == nullptr) {  // the SQ is full: hand it to the kernel now
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    return s;
}

void arm_accept() {
    io_uring_sqe* s = sqe();
    if (multishot_accept) {
        io_uring_prep_multishot_accept(s, listener, nullptr, nullptr, SOCK_CLOEXEC);
    } else {
        io_uring_prep_accept(s, listener, nullptr, nullptr, SOCK_CLOEXEC);
    }
    io_uring_sqe_set_data64(s, accept_tag);
}

void arm_recv(Connection* c) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv(s, c->fd, c->buf, buffer_size, 0);
    io_uring_sqe_set_data64(s, reinterpret_cast<std::uint64_t>(c) | op_recv);
}

void arm_send(Connection* c) {
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, c->fd, c->buf + c->sent, c->length - c->sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, reinterpret_cast<std::uint64_t>(c) | op_send);
}

void close_connection(Connection* c) {
    ::close(c->fd);
    delete c;
}

void on_completion(const io_uring_cqe* cqe) {
    const std::uint64_t data = cqe->user_data;
    if (data == accept_tag) {
        if (cqe->res >= 0) {
            const int one = 1;
            ::setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto* c = new Connection;  // buf left uninitialised on purpose
            c->fd = cqe->res;
            arm_recv(c);
        } else if (cqe->res == -EINVAL && multishot_accept) {
            multishot_accept = false;  // an older kernel: fall back to single accepts
        }
        if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
        return;
    }
    auto* c = reinterpret_cast<Connection*>(data & ~std::uint64_t{7});
    if (data & op_recv) {
        if (cqe->res <= 0) {  // EOF or error
            close_connection(c);
            return;
        }
        c->sent = 0;
        c->length = static_cast<std::size_t>(cqe->res);
        arm_send(c);
    } else {
        if (cqe->res < 0) {
            close_connection(c);
            return;
        }
        c->sent += static_cast<std::size_t>(cqe->res);
        if (c->sent < c->length) {
            arm_send(c);  // short send: requeue the rest
        } else {
            arm_recv(c);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    unsigned short port = 7002;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = static_cast<unsigned short>(std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: uring_echo [--port P]\n");
            return 2;
        }
    }
    static constexpr unsigned flag_sets[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int res = -EINVAL;
    for (unsigned flags : flag_sets) {
        res = io_uring_queue_init(4096, &ring, flags);
        if (res != -EINVAL) break;
    }
    if (res < 0) die("io_uring_queue_init", -res);
    io_uring_register_ring_fd(&ring);

    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) die("socket", errno);
    const int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind", errno);
    if (::listen(listener, 1024) != 0) die("listen", errno);
    std::printf("uring_echo: listening on 127.0.0.1:%u\n", port);
    std::fflush(stdout);

    arm_accept();
    for (;;) {
        res = io_uring_submit_and_wait(&ring, 1);
        if (res < 0 && res != -EINTR && res != -EAGAIN && res != -EBUSY) {
            die("io_uring_submit_and_wait", -res);
        }
        io_uring_cqe* cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            on_completion(cqe);
            ++seen;
        }
        io_uring_cq_advance(&ring, seen);
    }
}
