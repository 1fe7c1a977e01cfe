// tests/net/net_unix_test.cpp — Unix-domain streams: path and abstract
// listeners, accept/connect, stale and foreign files at the path, removal on
// close, socketpair, serve() over a UnixListener, errors, plain threads.
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/net.hpp>
#include <ringlet/ringlet.hpp>

#include "net_helpers.hpp"
#include "ringlet_test.hpp"

using namespace std::chrono_literals;
using namespace nettest;
using ringlet::IoError;
using ringlet::net::SocketAddress;
using ringlet::net::UnixListener;
using ringlet::net::UnixStream;

namespace {

bool is_socket_file(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::string abstract_name(const char* what) {
    return "@ringlet-net-test-" + std::to_string(::getpid()) + "-" + what;
}

// Leaves a socket file at `path` whose server is gone (bound, never unlinked).
void make_stale_socket(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    const SocketAddress a = SocketAddress::unix_path(path);
    ASSERT_EQ(::bind(fd, a.get(), a.size()), 0) << std::strerror(errno);
    ASSERT_EQ(::listen(fd, 1), 0);
    ::close(fd);
}

}  // namespace

RINGLET_TEST(UnixTest, PathListenerAcceptConnect) {
    TempDir dir;
    const std::string path = dir.file("s.sock");
    auto l = UnixListener::bind(path);
    EXPECT_EQ(l.path(), path);
    EXPECT_GE(l.fd(), 0);
    EXPECT_TRUE(is_socket_file(path));
    auto c = UnixStream::connect(path);
    auto s = l.accept();
    EXPECT_EQ(c.peer_address().to_string(), path);
    EXPECT_EQ(s.local_address().to_string(), path);
    EXPECT_EQ(c.peer_address().family(), AF_UNIX);
    c.write_all("to server");
    c.shutdown_write();
    EXPECT_EQ(read_to_eof(s), "to server");
    s.write_all("to client");  // half-close: the other way still works
    s.close();
    EXPECT_EQ(read_to_eof(c), "to client");
}

RINGLET_TEST(UnixTest, AbstractListenerCreatesNoFile) {
    const std::string name = abstract_name("abstract");
    auto l = UnixListener::bind(name);
    EXPECT_EQ(l.path(), name);
    EXPECT_FALSE(exists(name));
    EXPECT_FALSE(exists(name.substr(1)));
    auto c = UnixStream::connect(name);
    auto s = l.accept();
    EXPECT_EQ(s.local_address().to_string(), name);
    s.write_all(pattern(100000, 1));
    s.shutdown_write();
    EXPECT_TRUE(read_to_eof(c) == pattern(100000, 1));
}

RINGLET_TEST(UnixTest, AbstractNameInUseIsAddrInUse) {
    const std::string name = abstract_name("in-use");
    auto l = UnixListener::bind(name);
    try {
        auto l2 = UnixListener::bind(name);
        ADD_FAILURE() << "second bind of a live abstract name succeeded";
    } catch (const IoError& e) {
        EXPECT_EQ(e.code(), std::errc::address_in_use) << e.what();
    }
    // The failed bind did not disturb the first listener.
    auto c = UnixStream::connect(name);
    auto s = l.accept();
    c.write_all("still here");
    c.close();
    EXPECT_EQ(read_to_eof(s), "still here");
}

RINGLET_TEST(UnixTest, AbstractNameIsFreeAfterClose) {
    const std::string name = abstract_name("reuse");
    auto l = UnixListener::bind(name);
    l.close();
    EXPECT_EQ(l.fd(), -1);
    EXPECT_EQ(io_errno([&] { UnixStream::connect(name); }), ECONNREFUSED);
    auto again = UnixListener::bind(name);
    auto c = UnixStream::connect(name);
    auto s = again.accept();
    EXPECT_TRUE(s.is_open());
}

RINGLET_TEST(UnixTest, StaleSocketFileIsReplacedOnBind) {
    TempDir dir;
    const std::string path = dir.file("stale.sock");
    make_stale_socket(path);
    ASSERT_TRUE(is_socket_file(path));
    EXPECT_EQ(io_errno([&] { UnixStream::connect(path); }), ECONNREFUSED);
    auto l = UnixListener::bind(path);
    auto c = UnixStream::connect(path);
    auto s = l.accept();
    c.write_all("fresh");
    c.close();
    EXPECT_EQ(read_to_eof(s), "fresh");
}

RINGLET_TEST(UnixTest, ForeignFileAtThePathIsNotRemoved) {
    TempDir dir;
    const std::string path = dir.file("regular");
    ringlet::write_file(path, "precious");
    EXPECT_EQ(io_errno([&] { UnixListener::bind(path); }), EADDRINUSE);
    EXPECT_EQ(ringlet::read_file(path), "precious");
}

RINGLET_TEST(UnixTest, CloseRemovesTheSocketFile) {
    TempDir dir;
    const std::string path = dir.file("c.sock");
    auto l = UnixListener::bind(path);
    ASSERT_TRUE(is_socket_file(path));
    l.close();
    EXPECT_FALSE(exists(path));
    EXPECT_NO_THROW(l.close());  // idempotent
    EXPECT_EQ(io_errno([&] { UnixStream::connect(path); }), ENOENT);
}

RINGLET_TEST(UnixTest, DestructorRemovesTheSocketFile) {
    TempDir dir;
    const std::string path = dir.file("d.sock");
    { auto l = UnixListener::bind(path); }
    EXPECT_FALSE(exists(path));
}

RINGLET_TEST(UnixTest, MoveAssignmentClosesTheOldListener) {
    TempDir dir;
    const std::string a = dir.file("a.sock"), b = dir.file("b.sock");
    auto la = UnixListener::bind(a);
    auto lb = UnixListener::bind(b);
    la = std::move(lb);
    EXPECT_FALSE(exists(a));      // the old listener was closed and its file removed
    EXPECT_TRUE(is_socket_file(b));
    EXPECT_EQ(la.path(), b);
    UnixListener moved(std::move(la));
    auto c = UnixStream::connect(b);
    auto s = moved.accept();
    EXPECT_TRUE(s.is_open());
    moved.close();
    EXPECT_FALSE(exists(b));
}

RINGLET_TEST(UnixTest, ConnectToMissingPathIsEnoent) {
    TempDir dir;
    try {
        UnixStream::connect(dir.file("missing.sock"));
        ADD_FAILURE() << "connect to a missing path succeeded";
    } catch (const IoError& e) {
        EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory) << e.what();
    }
}

RINGLET_TEST(UnixTest, ConnectToAbstractNameWithoutListenerIsRefused) {
    EXPECT_EQ(io_errno([&] { UnixStream::connect(abstract_name("nobody")); }), ECONNREFUSED);
}

RINGLET_TEST(UnixTest, TooLongPathIsUsageError) {
    const std::string long_path = "/tmp/" + std::string(200, 'p');
    EXPECT_THROW(UnixListener::bind(long_path), ringlet::UsageError);
    EXPECT_THROW(UnixStream::connect(long_path), ringlet::UsageError);
    EXPECT_THROW(UnixListener::bind("@" + std::string(120, 'a')), ringlet::UsageError);
    EXPECT_THROW(UnixStream::connect(""), ringlet::UsageError);
}

RINGLET_TEST(UnixTest, PairTalksBothWays) {
    auto [a, b] = UnixStream::pair();
    EXPECT_TRUE(a.is_open());
    EXPECT_TRUE(b.is_open());
    a.write_all("ping");
    EXPECT_EQ(read_exactly(b, 4), "ping");
    b.write_all("pong");
    EXPECT_EQ(read_exactly(a, 4), "pong");
    a.shutdown_write();
    char x;
    EXPECT_EQ(b.read(&x, 1), 0u);
    b.write_all("after");  // b -> a still open
    b.close();
    EXPECT_EQ(read_to_eof(a), "after");
}

RINGLET_TEST(UnixTest, PairLargeTransferBetweenTasks) {
    auto [a, b] = UnixStream::pair();
    const std::string data = pattern(4 << 20, 2);
    auto writer = ringlet::spawn([&, &a = a] {
        a.write_all(bytes(data));
        a.close();
    });
    EXPECT_TRUE(read_to_eof(b) == data);
    writer.get();
}

RINGLET_TEST(UnixTest, PairWithAPlainThread) {
    auto [mine, theirs] = UnixStream::pair();
    ringlet::Event done;
    std::thread t([&, &theirs = theirs] {
        // The thread uppercases lines until EOF.
        std::string all = read_to_eof(theirs);
        for (char& ch : all) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        theirs.write_all(all);
        theirs.close();
        done.set();
    });
    mine.write_all("hello thread");
    mine.shutdown_write();
    EXPECT_EQ(read_to_eof(mine), "HELLO THREAD");
    EXPECT_TRUE(done.wait(30s));
    t.join();
}

RINGLET_TEST(UnixTest, PeerClosingWithUnreadDataIsEconnreset) {
    // Linux: closing a Unix stream socket with unread data resets the peer.
    auto [a, b] = UnixStream::pair();
    b.write_all("never read by a");
    a.close();
    char c;
    EXPECT_EQ(io_errno([&, &b = b] { b.read(&c, 1); }), ECONNRESET);
}

RINGLET_TEST(UnixTest, PeerCloseWithoutUnreadDataIsEof) {
    auto [a, b] = UnixStream::pair();
    a.write_all("x");
    a.close();
    EXPECT_EQ(read_to_eof(b), "x");
}

RINGLET_TEST(UnixTest, ServeOverAUnixListener) {
    TempDir dir;
    const std::string path = dir.file("serve.sock");
    auto l = UnixListener::bind(path);
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(l, [](UnixStream s) {
            const std::string req = read_to_eof(s);
            s.write_all("echo:" + req);
        });
    });
    for (int i = 0; i < 20; ++i) {
        auto c = UnixStream::connect(path);
        c.write_all(std::to_string(i));
        c.shutdown_write();
        EXPECT_EQ(read_to_eof(c), "echo:" + std::to_string(i));
    }
    server.cancel();
    server.join();
    EXPECT_TRUE(server.cancelled());
}

namespace {
double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
}  // namespace

// A Unix listener with backlog 0 whose queue is full: a non-blocking
// connect() then fails with EAGAIN while the socket polls writable (POLLOUT |
// POLLHUP), so "wait for readiness, retry" cannot wait. A watchdog thread
// accepts one queued connection after a few seconds, so that a connect that
// never returns becomes a test failure instead of a hang.
class FullUnixBacklog {
public:
    explicit FullUnixBacklog(const std::string& name) : listener_(UnixListener::bind(name, 0)) {
        const SocketAddress addr = SocketAddress::unix_path(name);
        for (int i = 0; i < 64; ++i) {
            const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) break;
            if (::connect(fd, addr.get(), addr.size()) != 0) {
                full_ = errno == EAGAIN;
                ::close(fd);
                break;
            }
            queued_.push_back(fd);
        }
        const int listen_fd = listener_.fd();
        watchdog_ = std::thread([this, listen_fd] {
            for (int i = 0; i < 500 && !finished_; ++i) std::this_thread::sleep_for(10ms);
            if (finished_) return;
            fired_ = true;
            const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0) ::close(fd);
        });
    }
    ~FullUnixBacklog() {
        finish();
        for (int fd : queued_) ::close(fd);
    }
    bool full() const { return full_ && !queued_.empty(); }
    // Stops the watchdog; true if it had to unblock a connect.
    bool finish() {
        finished_ = true;
        if (watchdog_.joinable()) watchdog_.join();
        return fired_;
    }

private:
    UnixListener listener_;
    std::vector<int> queued_;
    bool full_ = false;
    std::atomic<bool> finished_{false}, fired_{false};
    std::thread watchdog_;
};

// Regression: connect() to a full Unix backlog spins instead of waiting (both
// backends), and on io_uring it ignores its deadline altogether: in
// UringBackend::perform the connect (-EAGAIN) and the POLLOUT poll both
// complete before their cancel can, so submit_and_wait() returns their result
// instead of -ETIMEDOUT and the EAGAIN/poll retry loop never ends.
RINGLET_TEST(UnixTest, ConnectToAFullBacklogHonoursItsDeadlineWithoutSpinning) {
    const std::string name = abstract_name("full");
    FullUnixBacklog backlog(name);
    ASSERT_TRUE(backlog.full());
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    bool timed_out = false;
    try {
        UnixStream::connect(name, 300ms);
    } catch (const ringlet::TimeoutError&) {
        timed_out = true;
    }
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    const bool watchdog_fired = backlog.finish();
    EXPECT_TRUE(timed_out) << "connect returned after " << wall << " s";
    EXPECT_FALSE(watchdog_fired) << "connect ignored its 300 ms deadline; it only ended after "
                                 << wall << " s when a queued connection was accepted";
    EXPECT_GE(wall, 0.29);
    // Waiting costs next to no CPU; a retry loop burns whatever share of a
    // core it gets (on a loaded machine that may be well under 100%).
    EXPECT_LT(cpu, 0.1 * wall) << "connect spun: " << cpu << " s CPU over " << wall << " s";
}

// Regression: the same retry loop also swallows a cancel on io_uring (each
// round re-arms the pending cancel, and the next round's ops again complete
// before their cancel).
RINGLET_TEST(UnixTest, CancelAConnectToAFullBacklog) {
    const std::string name = abstract_name("full-cancel");
    FullUnixBacklog backlog(name);
    ASSERT_TRUE(backlog.full());
    ringlet::Event connecting;
    auto t = ringlet::spawn([&] {
        connecting.set();
        UnixStream::connect(name);
    });
    ASSERT_TRUE(connecting.wait(10s));
    settle();
    t.cancel();
    const bool ended_in_time = t.join(1s);
    const bool ended = t.join(10s);  // the watchdog frees a slot after 5 s
    const bool watchdog_fired = backlog.finish();
    EXPECT_TRUE(ended_in_time) << "a cancelled connect did not return";
    EXPECT_FALSE(watchdog_fired) << "the cancel was ignored until a queued connection was accepted";
    ASSERT_TRUE(ended);
    if (!watchdog_fired) {
        EXPECT_TRUE(t.cancelled());
    }
}

TEST(UnixPlainThreadTest, ListenerAndClientWithoutAScheduler) {
    TempDir dir;
    const std::string path = dir.file("plain.sock");
    auto l = UnixListener::bind(path);
    std::thread server([&] {
        auto s = l.accept();
        s.write_all(read_to_eof(s) + "/ok");
    });
    auto c = UnixStream::connect(path);
    c.write_all("plain");
    c.shutdown_write();
    EXPECT_EQ(read_to_eof(c), "plain/ok");
    server.join();
}
