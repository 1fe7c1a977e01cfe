// tests/hooks/hooks_semantics_test.cpp — libc semantics of the hooked calls.
//
// Each test makes plain libc calls (read, write, connect, poll, nanosleep...)
// from tasks of one thread, with ringlet-hooks linked in. Cooperation is
// shown without timing: one task waits in a blocking call while another, on
// the same thread, runs and releases it; were the call not cooperative, the
// second task could never run and the test would hang (meson's timeout).
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <string>
#include <thread>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <ringlet/hooks.hpp>
#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

struct Pair {
    int a = -1, b = -1;
    Pair(int type = SOCK_STREAM) {
        int sv[2];
        EXPECT_EQ(::socketpair(AF_UNIX, type, 0, sv), 0);
        a = sv[0];
        b = sv[1];
    }
    ~Pair() {
        if (a >= 0) ::close(a);
        if (b >= 0) ::close(b);
    }
};

struct Pipe {
    int r = -1, w = -1;
    Pipe() {
        int p[2];
        EXPECT_EQ(::pipe(p), 0);
        r = p[0];
        w = p[1];
    }
    ~Pipe() {
        if (r >= 0) ::close(r);
        if (w >= 0) ::close(w);
    }
};

// A TCP listener on 127.0.0.1 with an ephemeral port (blocking, as a C library makes it).
int tcp_listener(std::uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
    return fd;
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    return sa;
}

// Fills the send buffer of a (blocking) socket with non-blocking sends.
std::size_t fill(int fd) {
    std::string chunk(65536, 'x');
    std::size_t total = 0;
    for (;;) {
        const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (n <= 0) break;
        total += static_cast<std::size_t>(n);
    }
    return total;
}

// Runs until every task that is ready has had its turn and parked again.
void let_others_run() {
    for (int i = 0; i < 4; ++i) ringlet::yield();
}

}  // namespace

RINGLET_TEST(HooksTest, InstalledInsideRun) { EXPECT_TRUE(ringlet::hooks_installed()); }

RINGLET_TEST(HooksTest, BlockingReadSuspendsOnlyItsTask) {
    Pair p;
    std::string got(5, '\0');
    auto reader = ringlet::spawn([&] { return ::read(p.a, got.data(), got.size()); });
    let_others_run();  // the reader now waits inside read()
    EXPECT_FALSE(reader.done());
    ASSERT_EQ(::write(p.b, "hello", 5), 5);
    EXPECT_EQ(reader.get(), 5);
    EXPECT_EQ(got, "hello");
}

RINGLET_TEST(HooksTest, BlockingFdStaysBlockingInTheCallersView) {
    Pair p;
    char c = 0;
    auto reader = ringlet::spawn([&] { return ::recv(p.a, &c, 1, 0); });
    let_others_run();
    EXPECT_EQ(::fcntl(p.a, F_GETFL) & O_NONBLOCK, 0);  // while the reader waits cooperatively
    ASSERT_EQ(::send(p.b, "z", 1, 0), 1);
    EXPECT_EQ(reader.get(), 1);
    EXPECT_EQ(c, 'z');
    EXPECT_EQ(::fcntl(p.a, F_GETFL) & O_NONBLOCK, 0);
}

RINGLET_TEST(HooksTest, CallersOwnNonblockGetsEagain) {
    Pair p;
    char c;
    ASSERT_EQ(::fcntl(p.a, F_SETFL, ::fcntl(p.a, F_GETFL) | O_NONBLOCK), 0);
    errno = 0;
    EXPECT_EQ(::read(p.a, &c, 1), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(::recv(p.a, &c, 1, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
    // FIONBIO is the same flag, seen the same way.
    int off = 0;
    ASSERT_EQ(::ioctl(p.a, FIONBIO, &off), 0);
    EXPECT_EQ(::fcntl(p.a, F_GETFL) & O_NONBLOCK, 0);
    int on = 1;
    ASSERT_EQ(::ioctl(p.b, FIONBIO, &on), 0);
    EXPECT_NE(::fcntl(p.b, F_GETFL) & O_NONBLOCK, 0);
    fill(p.b);
    EXPECT_EQ(::write(p.b, "x", 1), -1);
    EXPECT_EQ(errno, EAGAIN);
    // A pipe with O_NONBLOCK, and accept on a non-blocking listener.
    Pipe q;
    ASSERT_EQ(::fcntl(q.r, F_SETFL, O_NONBLOCK), 0);
    EXPECT_EQ(::read(q.r, &c, 1), -1);
    EXPECT_EQ(errno, EAGAIN);
    std::uint16_t port;
    const int l = tcp_listener(port);
    ASSERT_EQ(::fcntl(l, F_SETFL, O_NONBLOCK), 0);
    EXPECT_EQ(::accept(l, nullptr, nullptr), -1);
    EXPECT_EQ(errno, EAGAIN);
    ::close(l);
}

RINGLET_TEST(HooksTest, ErrnoAndReturnValuesAsLibcDocuments) {
    char c;
    EXPECT_EQ(::read(-1, &c, 1), -1);
    EXPECT_EQ(errno, EBADF);
    Pipe q;
    EXPECT_EQ(::recv(q.r, &c, 1, 0), -1);
    EXPECT_EQ(errno, ENOTSOCK);
    {  // EOF
        Pair p;
        ::close(p.b);
        p.b = -1;
        EXPECT_EQ(::read(p.a, &c, 1), 0);
    }
    {  // EPIPE (SIGPIPE ignored for the test)
        struct sigaction ign {
        }, old{};
        ign.sa_handler = SIG_IGN;
        ::sigaction(SIGPIPE, &ign, &old);
        Pair p;
        ::close(p.b);
        p.b = -1;
        EXPECT_EQ(::write(p.a, "x", 1), -1);
        EXPECT_EQ(errno, EPIPE);
        ::sigaction(SIGPIPE, &old, nullptr);
    }
    {  // ECONNREFUSED from a blocking connect, EINVAL from accept on a non-listener
        std::uint16_t port;
        const int l = tcp_listener(port);
        ::close(l);
        const int s = ::socket(AF_INET, SOCK_STREAM, 0);
        const sockaddr_in sa = loopback(port);
        EXPECT_EQ(::connect(s, reinterpret_cast<const sockaddr*>(&sa), sizeof sa), -1);
        EXPECT_EQ(errno, ECONNREFUSED);
        EXPECT_EQ(::accept(s, nullptr, nullptr), -1);
        EXPECT_EQ(errno, EINVAL);
        ::close(s);
    }
    timespec bad{0, 2'000'000'000};
    EXPECT_EQ(::nanosleep(&bad, nullptr), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(::clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, nullptr), EINVAL);
}

RINGLET_TEST(HooksTest, ConnectAcceptAndLargeTransferOverBlockingTcp) {
    std::uint16_t port;
    const int l = tcp_listener(port);
    const std::string payload(4 << 20, 'p');  // far more than a socket buffer
    auto server = ringlet::spawn([&] {
        const int c = ::accept(l, nullptr, nullptr);
        EXPECT_GE(c, 0);
        EXPECT_EQ(::fcntl(c, F_GETFL) & O_NONBLOCK, 0);
        // One blocking write sends everything, however long the peer takes.
        const ssize_t n = ::write(c, payload.data(), payload.size());
        ::close(c);
        return n;
    });
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in sa = loopback(port);
    ASSERT_EQ(::connect(s, reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0);
    std::string got(payload.size(), '\0');
    // MSG_WAITALL: one recv until all has come.
    EXPECT_EQ(::recv(s, got.data(), got.size(), MSG_WAITALL), ssize_t(got.size()));
    EXPECT_EQ(server.get(), ssize_t(payload.size()));
    EXPECT_TRUE(got == payload);
    ::close(s);
    ::close(l);
}

RINGLET_TEST(HooksTest, VectorAndMessageForms) {
    Pair p;
    char x[3] = {'a', 'b', 'c'}, y[2] = {'d', 'e'};
    iovec out[2] = {{x, 3}, {y, 2}};
    auto reader = ringlet::spawn([&] {
        char r1[2], r2[3];
        iovec in[2] = {{r1, 2}, {r2, 3}};
        const ssize_t n = ::readv(p.a, in, 2);
        return std::string(r1, 2) + std::string(r2, 3) + std::to_string(n);
    });
    let_others_run();
    EXPECT_EQ(::writev(p.b, out, 2), 5);
    EXPECT_EQ(reader.get(), "abcde5");
    // recvmsg / sendmsg, recvfrom / sendto on a datagram pair
    Pair d(SOCK_DGRAM);
    auto r = ringlet::spawn([&] {
        char buf[16];
        iovec iov{buf, sizeof buf};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        const ssize_t n = ::recvmsg(d.a, &m, 0);
        return std::string(buf, n > 0 ? std::size_t(n) : 0);
    });
    let_others_run();
    iovec iov{const_cast<char*>("dgram"), 5};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    EXPECT_EQ(::sendmsg(d.b, &m, 0), 5);
    EXPECT_EQ(r.get(), "dgram");
    auto r2 = ringlet::spawn([&] {
        char buf[8];
        return ::recvfrom(d.a, buf, sizeof buf, 0, nullptr, nullptr);
    });
    let_others_run();
    EXPECT_EQ(::sendto(d.b, "12345678", 8, 0, nullptr, 0), 8);
    EXPECT_EQ(r2.get(), 8);
}

RINGLET_TEST(HooksTest, SoRcvtimeoEndsABlockingReadWithEagain) {
    Pair p;
    timeval tv{0, 30'000};
    ASSERT_EQ(::setsockopt(p.a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    int others_ran = 0;
    auto ticker = ringlet::spawn([&] {
        for (;;) {
            ++others_ran;
            ringlet::sleep(1ms);
        }
    });
    char c;
    errno = 0;
    EXPECT_EQ(::read(p.a, &c, 1), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_GT(others_ran, 0);  // the thread was not blocked meanwhile
    ticker.cancel();
    ticker.join();
}

RINGLET_TEST(HooksTest, SoSndtimeoEndsABlockingWriteWithWhatWasSent) {
    Pair p;
    timeval tv{0, 30'000};
    ASSERT_EQ(::setsockopt(p.a, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    fill(p.a);
    errno = 0;
    EXPECT_EQ(::write(p.a, "x", 1), -1);
    EXPECT_EQ(errno, EAGAIN);
}

RINGLET_TEST(HooksTest, CloseWakesABlockedTaskWithEbadfAndItsBufferStaysUntouched) {
    Pair p;
    char buf[8] = {};
    auto reader = ringlet::spawn([&] {
        const ssize_t n = ::read(p.a, buf, sizeof buf);
        return std::make_pair(n, errno);
    });
    let_others_run();
    ASSERT_FALSE(reader.done());
    const int fd = p.a;
    p.a = ::dup(fd);            // the socket outlives the closed number, so data can still come
    ASSERT_EQ(::close(fd), 0);  // returns once the reader's call has ended
    EXPECT_TRUE(reader.done());
    const auto [n, err] = reader.get();
    EXPECT_EQ(n, -1);
    EXPECT_EQ(err, EBADF);
    // The peer writes now: the data reaches the socket, never the reader's buffer.
    ASSERT_EQ(::write(p.b, "late", 4), 4);
    let_others_run();
    for (char c : buf) EXPECT_EQ(c, 0);
    char late[4];
    EXPECT_EQ(::read(p.a, late, 4), 4);
    EXPECT_EQ(std::string(late, 4), "late");
}

RINGLET_TEST(HooksTest, CancelInsideHookedCallReturnsEintrThenThrowsAtNextSuspensionPoint) {
    Pair p;
    int first_errno = 0, second_errno = 0;
    ssize_t first = 0, second = 0;
    bool reached_suspension_point = false;
    auto t = ringlet::spawn([&] {
        char c;
        first = ::read(p.a, &c, 1);
        first_errno = errno;
        // A C library that retries on EINTR gets a final error, not a spin.
        second = ::read(p.a, &c, 1);
        second_errno = errno;
        reached_suspension_point = true;
        ringlet::yield();  // throws Cancelled
        ADD_FAILURE() << "Cancelled was not thrown at the next suspension point";
    });
    let_others_run();
    t.cancel();
    t.join();
    EXPECT_EQ(first, -1);
    EXPECT_EQ(first_errno, EINTR);
    EXPECT_EQ(second, -1);
    EXPECT_EQ(second_errno, ECANCELED);
    EXPECT_TRUE(reached_suspension_point);
    EXPECT_TRUE(t.cancelled());
}

RINGLET_TEST(HooksTest, TimeoutInsideHookedCallsReturnsErrnoThenThrows) {
    Pair p;
    int read_errno = 0, poll_errno = 0, sleep_errno = 0;
    bool threw = false;
    try {
        ringlet::Timeout scope(20ms);
        char c;
        EXPECT_EQ(::read(p.a, &c, 1), -1);
        read_errno = errno;
        pollfd pf{p.a, POLLIN, 0};
        EXPECT_EQ(::poll(&pf, 1, -1), -1);
        poll_errno = errno;
        EXPECT_EQ(::usleep(1'000'000), -1);
        sleep_errno = errno;
        ringlet::yield();
    } catch (const ringlet::TimeoutError&) {
        threw = true;
    }
    EXPECT_EQ(read_errno, ETIMEDOUT);
    EXPECT_EQ(poll_errno, ETIMEDOUT);  // a retry after the first interrupt: final
    EXPECT_EQ(sleep_errno, ETIMEDOUT);
    EXPECT_TRUE(threw);
    // A fresh Timeout: the first interrupted poll reports EINTR.
    try {
        ringlet::Timeout scope(10ms);
        pollfd pf{p.a, POLLIN, 0};
        EXPECT_EQ(::poll(&pf, 1, 5000), -1);
        EXPECT_EQ(errno, EINTR);
    } catch (const ringlet::TimeoutError&) {
    }
}

RINGLET_TEST(HooksTest, SleepsSuspendOnlyTheirTaskAndReportTimeLeftWhenCancelled) {
    timespec rem{};
    int err = 0;
    auto t = ringlet::spawn([&] {
        timespec req{30, 0};
        const int res = ::nanosleep(&req, &rem);
        err = errno;
        return res;
    });
    let_others_run();
    EXPECT_FALSE(t.done());
    t.cancel();
    t.join();
    EXPECT_EQ(err, EINTR);
    EXPECT_GT(rem.tv_sec, 20);

    unsigned left = 0;
    auto s = ringlet::spawn([&] { left = ::sleep(30); });
    let_others_run();
    s.cancel();
    s.join();
    EXPECT_GT(left, 20u);

    int cn = -1;
    auto c = ringlet::spawn([&] {
        timespec req{30, 0};
        cn = ::clock_nanosleep(CLOCK_MONOTONIC, 0, &req, nullptr);
    });
    let_others_run();
    c.cancel();
    c.join();
    EXPECT_EQ(cn, EINTR);  // clock_nanosleep returns the error itself

    // std::this_thread::sleep_for is nanosleep: eight sleepers share the thread.
    std::vector<ringlet::Task<void>> sleepers;
    int woke = 0;
    for (int i = 0; i < 8; ++i) {
        sleepers.push_back(ringlet::spawn([&] {
            std::this_thread::sleep_for(200ms);
            ++woke;
        }));
    }
    let_others_run();
    EXPECT_EQ(woke, 0);  // all eight are inside sleep_for at once
    for (auto& t2 : sleepers) t2.join();
    EXPECT_EQ(woke, 8);
}

RINGLET_TEST(HooksTest, PollSelectAndEpollWaitWaitCooperatively) {
    Pipe a, b;
    auto poller = ringlet::spawn([&] {
        pollfd fds[2] = {{a.r, POLLIN, 0}, {b.r, POLLIN, 0}};
        const int n = ::poll(fds, 2, -1);
        return std::make_pair(n, fds[1].revents);
    });
    let_others_run();
    EXPECT_FALSE(poller.done());
    ASSERT_EQ(::write(b.w, "1", 1), 1);
    const auto [n, rev] = poller.get();
    EXPECT_EQ(n, 1);
    EXPECT_TRUE(rev & POLLIN);

    auto selector = ringlet::spawn([&] {
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(a.r, &rs);
        const int m = ::select(a.r + 1, &rs, nullptr, nullptr, nullptr);
        return m == 1 && FD_ISSET(a.r, &rs);
    });
    let_others_run();
    EXPECT_FALSE(selector.done());
    ASSERT_EQ(::write(a.w, "2", 1), 1);
    EXPECT_TRUE(selector.get());

    Pipe c;
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = 42;
    ASSERT_EQ(::epoll_ctl(ep, EPOLL_CTL_ADD, c.r, &ev), 0);
    auto waiter = ringlet::spawn([&] {
        epoll_event out{};
        const int k = ::epoll_wait(ep, &out, 1, -1);
        return k == 1 ? out.data.u32 : 0u;
    });
    let_others_run();
    EXPECT_FALSE(waiter.done());
    ASSERT_EQ(::write(c.w, "3", 1), 1);
    EXPECT_EQ(waiter.get(), 42u);
    // Timeouts: nothing ready, each returns 0.
    pollfd idle{c.w, 0, 0};
    EXPECT_EQ(::poll(&idle, 1, 5), 0);
    epoll_event out{};
    ::epoll_ctl(ep, EPOLL_CTL_DEL, c.r, nullptr);
    EXPECT_EQ(::epoll_wait(ep, &out, 1, 5), 0);
    timeval tv{0, 5000};
    fd_set rs;
    FD_ZERO(&rs);
    Pipe d;
    FD_SET(d.r, &rs);
    EXPECT_EQ(::select(d.r + 1, &rs, nullptr, nullptr, &tv), 0);
    ::close(ep);
}

RINGLET_TEST(HooksTest, PipeReadWaitsForTheWriterTask) {
    Pipe q;
    auto reader = ringlet::spawn([&] {
        char buf[4];
        return ::read(q.r, buf, sizeof buf);
    });
    let_others_run();
    EXPECT_FALSE(reader.done());
    ASSERT_EQ(::write(q.w, "abcd", 4), 4);
    EXPECT_EQ(reader.get(), 4);
}

// Outside a task (a plain thread, or before run()) each call is libc's own.
TEST(HooksPlainThreadTest, CallsAreTheRealOnes) {
    Pair p;
    std::thread writer([&] {
        timespec ts{0, 1'000'000};
        ::nanosleep(&ts, nullptr);  // the real sleep: there is no task here
        ::write(p.b, "w", 1);
    });
    char c = 0;
    EXPECT_EQ(::read(p.a, &c, 1), 1);  // blocks this (plain) thread until the write
    EXPECT_EQ(c, 'w');
    writer.join();
    timeval tv{0, 10'000};
    ::setsockopt(p.a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    // The kernel's own SO_RCVTIMEO. (A thread that ran an io_uring may see
    // EINTR from leftover task work, as any program would: retry then.)
    ssize_t n;
    do {
        n = ::read(p.a, &c, 1);
    } while (n < 0 && errno == EINTR);
    EXPECT_EQ(n, -1);
    EXPECT_EQ(errno, EAGAIN);
}

RINGLET_TEST(HooksTest, ForkAndExecBehaveAsWithoutHooks) {
    Pipe out;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // The child holds a copy of the parent's scheduler: its calls must be
        // the real ones (a blocking sleep, a write), never the parent's ring.
        timespec ts{0, 1'000'000};
        if (::nanosleep(&ts, nullptr) != 0) ::_exit(2);
        ::dup2(out.w, STDOUT_FILENO);
        ::execl("/bin/echo", "echo", "from-exec", static_cast<char*>(nullptr));
        ::_exit(3);
    }
    ::close(out.w);
    out.w = -1;
    std::string got;
    char buf[64];
    for (;;) {
        const ssize_t n = ::read(out.r, buf, sizeof buf);  // cooperative in the parent
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(got, "from-exec\n");
}
