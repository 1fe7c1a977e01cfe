// tests/net/net_wait_test.cpp — net::wait_readable / wait_writable on foreign
// fds (pipes, sockets the test made with plain syscalls): readiness, the
// call's own timeout (false), an enclosing Timeout scope (TimeoutError),
// cancellation, zero timeouts, hang-up, bad fds, many tasks waiting on many
// fds at once, and plain threads.
#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <poll.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <sys/socket.h>

#include <ringlet/blocking.hpp>
#include <ringlet/net/wait.hpp>
#include <ringlet/ringlet.hpp>

#include "net_helpers.hpp"
#include "ringlet_test.hpp"

using namespace std::chrono_literals;
using ringlet::net::wait_readable;
using ringlet::net::wait_writable;

namespace {

struct Pipe {
    int r = -1, w = -1;
    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
        r = fds[0];
        w = fds[1];
    }
    ~Pipe() {
        if (r >= 0) ::close(r);
        if (w >= 0) ::close(w);
    }
    void put(char c = 'x') const { ASSERT_EQ(::write(w, &c, 1), 1); }
};

}  // namespace

RINGLET_TEST(NetWaitTest, ReadableOnceAnotherTaskWrites) {
    Pipe p;
    std::atomic<bool> woke{false};
    auto waiter = ringlet::spawn([&] {
        const bool ready = wait_readable(p.r);
        woke = true;
        return ready;
    });
    ringlet::yield();
    EXPECT_FALSE(woke);  // nothing to read yet: it still waits
    p.put();
    EXPECT_TRUE(waiter.get());
    char c;
    EXPECT_EQ(::read(p.r, &c, 1), 1);  // the fd itself was not read
}

RINGLET_TEST(NetWaitTest, OwnTimeoutReturnsFalse) {
    Pipe p;
    EXPECT_FALSE(wait_readable(p.r, 20ms));
    p.put();
    EXPECT_TRUE(wait_readable(p.r, 20ms));
}

RINGLET_TEST(NetWaitTest, EnclosingTimeoutScopeThrows) {
    Pipe p;
    ringlet::Timeout limit(20ms);
    try {
        wait_readable(p.r);
        FAIL() << "wait_readable returned with nothing to read";
    } catch (const ringlet::TimeoutError& e) {
        EXPECT_EQ(e.scope(), &limit);
    }
}

RINGLET_TEST(NetWaitTest, ZeroTimeoutChecksWithoutWaiting) {
    Pipe p;
    EXPECT_FALSE(wait_readable(p.r, 0s));
    EXPECT_TRUE(wait_writable(p.w, 0s));
    p.put();
    EXPECT_TRUE(wait_readable(p.r, 0s));
}

RINGLET_TEST(NetWaitTest, WritableWhenThereIsRoomAndAfterTheReaderDrains) {
    Pipe p;
    EXPECT_TRUE(wait_writable(p.w));
    // Fill the pipe: then it is not writable until the reader drains it.
    ::fcntl(p.w, F_SETPIPE_SZ, 4096);
    std::vector<char> chunk(4096, 'y');
    while (::write(p.w, chunk.data(), chunk.size()) > 0) {
    }
    EXPECT_FALSE(wait_writable(p.w, 20ms));
    auto drainer = ringlet::spawn([&] {
        std::vector<char> buf(65536);
        while (::read(p.r, buf.data(), buf.size()) > 0) {
        }
    });
    EXPECT_TRUE(wait_writable(p.w, 5s));
    drainer.join();
}

RINGLET_TEST(NetWaitTest, CancelWhileWaitingWithdrawsTheWait) {
    Pipe p;
    auto waiter = ringlet::spawn([&] { wait_readable(p.r); });
    ringlet::yield();
    waiter.cancel();
    EXPECT_TRUE(waiter.join(5s));
    EXPECT_TRUE(waiter.cancelled());
    // The fd is fine and can be waited on again (on epoll: the slot was freed).
    p.put();
    EXPECT_TRUE(wait_readable(p.r, 5s));
}

RINGLET_TEST(NetWaitTest, HangUpCountsAsReady) {
    Pipe p;
    auto waiter = ringlet::spawn([&] { return wait_readable(p.r, 5s); });
    ringlet::yield();
    ::close(p.w);
    p.w = -1;
    EXPECT_TRUE(waiter.get());
    char c;
    EXPECT_EQ(::read(p.r, &c, 1), 0);  // EOF is what the caller's read sees
}

RINGLET_TEST(NetWaitTest, SocketPeerCloseWakesAReader) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    auto waiter = ringlet::spawn([&] { return wait_readable(sv[0], 5s); });
    ringlet::yield();
    ::close(sv[1]);
    EXPECT_TRUE(waiter.get());
    ::close(sv[0]);
}

RINGLET_TEST(NetWaitTest, BadFdIsAnIoError) {
    EXPECT_THROW(wait_readable(-1), ringlet::IoError);
    Pipe p;
    const int fd = ::dup(p.r);
    ::close(fd);
    try {
        wait_readable(fd, 1s);
        FAIL() << "waiting on a closed fd succeeded";
    } catch (const ringlet::IoError& e) {
        EXPECT_EQ(e.code(), std::errc::bad_file_descriptor) << e.what();
    }
}

RINGLET_TEST(NetWaitTest, ManyTasksOnManyFds) {
    constexpr int n = 200;
    std::vector<std::unique_ptr<Pipe>> pipes;
    for (int i = 0; i < n; ++i) pipes.push_back(std::make_unique<Pipe>());
    ringlet::Group g;
    std::atomic<int> ready{0};
    for (int i = 0; i < n; ++i) {
        g.spawn([&, i] {
            if (wait_readable(pipes[static_cast<std::size_t>(i)]->r, 10s)) ++ready;
        });
    }
    ringlet::yield();
    for (int i = n - 1; i >= 0; --i) pipes[static_cast<std::size_t>(i)]->put();
    g.join();
    EXPECT_EQ(ready, n);
}

RINGLET_TEST(NetWaitTest, AReaderAndAWriterOnOneSocket) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    auto reader = ringlet::spawn([&] { return wait_readable(sv[0], 5s); });
    auto writer = ringlet::spawn([&] { return wait_writable(sv[0], 5s); });
    EXPECT_TRUE(writer.get());
    char c = 'z';
    ASSERT_EQ(::write(sv[1], &c, 1), 1);
    EXPECT_TRUE(reader.get());
    ::close(sv[0]);
    ::close(sv[1]);
}

TEST(NetWaitThreadTest, PlainThreadBlocksInPoll) {
    Pipe p;
    EXPECT_FALSE(wait_readable(p.r, 10ms));
    std::thread t([&] { p.put(); });
    EXPECT_TRUE(wait_readable(p.r, 10s));
    t.join();
    EXPECT_TRUE(wait_writable(p.w));
}
