// tests/net/net_serve_test.cpp — net::serve(): one task per connection, the
// max_connections bound, handler failures (logged, connection closed, server
// goes on), stopping by cancel (handlers cancelled and unwound) and by closing
// the listener, and backing off on EMFILE without spinning.
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <ringlet/net.hpp>
#include <ringlet/ringlet.hpp>

#include "net_helpers.hpp"
#include "ringlet_test.hpp"

using namespace std::chrono_literals;
using namespace nettest;
using ringlet::net::TcpListener;
using ringlet::net::TcpStream;

namespace {

// CaptureStderr that is always released, even when an ASSERT returns early.
class StderrCapture {
public:
    StderrCapture() { testing::internal::CaptureStderr(); }
    ~StderrCapture() {
        if (!taken_) (void)testing::internal::GetCapturedStderr();
    }
    std::string take() {
        taken_ = true;
        return testing::internal::GetCapturedStderr();
    }

private:
    bool taken_ = false;
};

struct Counted {
    int* destroyed;
    ~Counted() { ++*destroyed; }
};

double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void echo_handler(TcpStream s) { s.write_all(read_to_eof(s)); }

std::string roundtrip(std::uint16_t port, const std::string& msg) {
    auto c = TcpStream::connect("127.0.0.1", port);
    c.write_all(msg);
    c.shutdown_write();
    return read_to_eof(c);
}

}  // namespace

RINGLET_TEST(ServeTest, OneTaskPerConnection) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    constexpr int n = 6;
    std::vector<ringlet::TaskId> ids;
    ringlet::Event all_in;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(l, [&](TcpStream s) {
            ids.push_back(ringlet::current_task());
            if (ids.size() == n) all_in.set();
            all_in.wait();  // every handler is alive at once
            s.write_all("ok");
        });
    });
    ringlet::Group clients;
    int ok = 0;
    for (int i = 0; i < n; ++i) {
        clients.spawn([&] {
            auto c = TcpStream::connect("127.0.0.1", l.port());
            if (read_to_eof(c) == "ok") ++ok;
        });
    }
    EXPECT_TRUE(clients.join(30s));
    EXPECT_EQ(ok, n);
    ASSERT_EQ(ids.size(), static_cast<std::size_t>(n));
    const std::set<ringlet::TaskId> distinct(ids.begin(), ids.end());
    EXPECT_EQ(distinct.size(), ids.size());
    EXPECT_EQ(distinct.count(server.id()), 0u);
    EXPECT_EQ(distinct.count(ringlet::current_task()), 0u);
    server.cancel();
    server.join();
}

RINGLET_TEST(ServeTest, MaxConnectionsIsNeverExceeded) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    constexpr int bound = 3, n = 10;
    int active = 0, peak = 0, started = 0;
    ringlet::Event full, gate;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(
            l,
            [&](TcpStream s) {
                ++started;
                peak = std::max(peak, ++active);
                if (active == bound) full.set();
                gate.wait();
                --active;
                s.write_all("served");
            },
            bound);
    });
    ringlet::Group clients;
    int served = 0;
    for (int i = 0; i < n; ++i) {
        clients.spawn([&] {
            auto c = TcpStream::connect("127.0.0.1", l.port());
            if (read_to_eof(c) == "served") ++served;
        });
    }
    ASSERT_TRUE(full.wait(30s));
    // Every client has connected (the kernel completed the handshakes), yet
    // no further handler may start while `bound` are running.
    settle(20);
    ringlet::sleep(50ms);  // a chance for a wrong extra accept to show up
    EXPECT_EQ(started, bound);
    EXPECT_EQ(active, bound);
    gate.set();  // the waiting clients are served later
    EXPECT_TRUE(clients.join(30s));
    EXPECT_EQ(served, n);
    EXPECT_EQ(started, n);
    EXPECT_LE(peak, bound);
    EXPECT_EQ(peak, bound);
    server.cancel();
    server.join();
    EXPECT_TRUE(server.cancelled());
}

RINGLET_TEST(ServeTest, HandlerExceptionClosesItsConnectionIsLoggedAndServingGoesOn) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    StderrCapture capture;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(l, [](TcpStream s) {
            const std::string req = read_exactly(s, 4);
            if (req == "boom") throw std::runtime_error("handler failure 4242");
            s.write_all("fine:" + req);
        });
    });
    {
        auto c = TcpStream::connect("127.0.0.1", l.port());
        c.write_all("boom");
        EXPECT_EQ(read_to_eof(c), "");  // the failed handler's connection is closed
    }
    EXPECT_EQ(roundtrip(l.port(), "good"), "fine:good");
    EXPECT_EQ(roundtrip(l.port(), "more"), "fine:more");
    server.cancel();
    server.join();
    const std::string log = capture.take();
    EXPECT_NE(log.find("handler failure 4242"), std::string::npos) << log;
    EXPECT_NE(log.find("serve"), std::string::npos) << log;
    EXPECT_TRUE(server.cancelled());
}

RINGLET_TEST(ServeTest, FailingHandlerReleasesItsSlot) {
    // With max_connections 1, a handler that throws must give its slot back
    // or the server would never accept again.
    auto l = TcpListener::bind("127.0.0.1", 0);
    StderrCapture capture;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(
            l,
            [](TcpStream s) {
                const std::string req = read_exactly(s, 4);
                if (req == "boom") throw std::runtime_error("slot test failure");
                s.write_all("fine");
            },
            1);
    });
    for (int i = 0; i < 3; ++i) {
        auto c = TcpStream::connect("127.0.0.1", l.port());
        c.write_all("boom");
        EXPECT_EQ(read_to_eof(c), "");
    }
    EXPECT_EQ(roundtrip(l.port(), "good"), "fine");
    server.cancel();
    server.join();
    const std::string log = capture.take();
    EXPECT_NE(log.find("slot test failure"), std::string::npos) << log;
}

RINGLET_TEST(ServeTest, HandlerIoErrorIsLoggedAndServingGoesOn) {
    // A handler whose peer resets: the IoError ends only that connection.
    auto l = TcpListener::bind("127.0.0.1", 0);
    StderrCapture capture;
    auto server = ringlet::spawn([&] { ringlet::net::serve(l, echo_handler); });
    {
        auto c = TcpStream::connect("127.0.0.1", l.port());
        c.write_all("partial");
        set_linger_zero(c.socket().fd());
        ::close(c.socket().release());  // RST: the handler's read fails
    }
    EXPECT_EQ(roundtrip(l.port(), "after reset"), "after reset");
    server.cancel();
    server.join();
    EXPECT_TRUE(server.cancelled());
    (void)capture.take();
}

RINGLET_TEST(ServeTest, CancelStopsServingAndUnwindsHandlers) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    constexpr int n = 4;
    int destroyed = 0, running = 0;
    ringlet::Event all_in;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(l, [&](TcpStream s) {
            Counted guard{&destroyed};
            if (++running == n) all_in.set();
            char b;
            s.read(&b, 1);  // the clients never send: blocked here
            ADD_FAILURE() << "a handler's read returned";
        });
    });
    std::vector<TcpStream> clients;
    for (int i = 0; i < n; ++i) clients.push_back(TcpStream::connect("127.0.0.1", l.port()));
    ASSERT_TRUE(all_in.wait(30s));
    settle();
    EXPECT_FALSE(server.done());
    server.cancel();
    ASSERT_TRUE(server.join(30s));
    EXPECT_TRUE(server.cancelled());
    EXPECT_FALSE(server.failed());
    EXPECT_EQ(destroyed, n);  // every handler unwound before serve() returned
    for (auto& c : clients) EXPECT_EQ(read_to_eof(c), "");  // and closed its stream
    // The listener is the caller's: still open and usable.
    EXPECT_TRUE(l.is_open());
    auto c = TcpStream::connect("127.0.0.1", l.port());
    auto s = l.accept();
    EXPECT_EQ(s.peer_address(), c.local_address());
}

RINGLET_TEST(ServeTest, CancelWhileWaitingForAFreeSlot) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    int destroyed = 0;
    ringlet::Event in;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(
            l,
            [&](TcpStream s) {
                Counted guard{&destroyed};
                in.set();
                char b;
                s.read(&b, 1);
            },
            1);
    });
    auto c1 = TcpStream::connect("127.0.0.1", l.port());
    auto c2 = TcpStream::connect("127.0.0.1", l.port());  // waits for the slot
    ASSERT_TRUE(in.wait(30s));
    settle();
    server.cancel();
    ASSERT_TRUE(server.join(30s));
    EXPECT_TRUE(server.cancelled());
    EXPECT_EQ(destroyed, 1);
}

RINGLET_TEST(ServeTest, ClosingTheListenerMakesServeReturn) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    auto server = ringlet::spawn([&] { ringlet::net::serve(l, echo_handler); });
    EXPECT_EQ(roundtrip(l.port(), "before"), "before");
    settle();  // serve is back in accept()
    auto closer = ringlet::spawn([&] { l.close(); });
    closer.get();
    ASSERT_TRUE(server.join(10s)) << "serve() did not return after its listener was closed";
    EXPECT_FALSE(server.failed());
    EXPECT_FALSE(server.cancelled());
    EXPECT_NO_THROW(server.get());
}

RINGLET_TEST(ServeTest, ClosedListenerWaitsForRunningHandlers) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    ringlet::Event in;
    bool handler_finished = false;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(l, [&](TcpStream s) {
            in.set();
            s.write_all(read_to_eof(s));
            handler_finished = true;
        });
    });
    auto c = TcpStream::connect("127.0.0.1", l.port());
    ASSERT_TRUE(in.wait(30s));
    l.close();
    settle(20);
    EXPECT_FALSE(server.done()) << "serve() returned while a handler was still running";
    c.write_all("in flight");
    c.shutdown_write();
    EXPECT_EQ(read_to_eof(c), "in flight");
    ASSERT_TRUE(server.join(10s));
    EXPECT_TRUE(handler_finished);
    EXPECT_NO_THROW(server.get());
}

RINGLET_TEST(ServeTest, BacksOffOnEmfileWithoutSpinningAndRecovers) {
#if defined(__SANITIZE_ADDRESS__)
    // The sanitizer runtimes need descriptors of their own (UBSan's vptr check
    // probes memory through a pipe) and report false errors without them.
    GTEST_SKIP() << "no descriptors are left for the sanitizer runtime under EMFILE";
#endif
    auto l = TcpListener::bind("127.0.0.1", 0);

    // Client sockets made now: connecting later needs no new descriptor.
    constexpr int n_clients = 3;
    std::vector<int> raw;
    for (int i = 0; i < n_clients; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        raw.push_back(fd);
    }
    StderrCapture capture;
    NofileGuard limit;
    // Lower the soft limit a little above the highest open fd and plug every
    // free slot below it with ballast: from now on no descriptor can be
    // created, and closing the ballast frees at least a few. (Done before
    // serve() starts: an io_uring accept already in flight keeps the limit it
    // was submitted under.)
    ASSERT_TRUE(limit.set_soft(static_cast<rlim_t>(highest_fd() + 1 + 2 * n_clients)));
    std::vector<int> ballast;
    for (;;) {
        const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ASSERT_EQ(errno, EMFILE);
            break;
        }
        ballast.push_back(fd);
    }
    ASSERT_GE(ballast.size(), static_cast<std::size_t>(2 * n_clients));
    auto server = ringlet::spawn([&] { ringlet::net::serve(l, echo_handler); });
    const auto addr = ringlet::net::SocketAddress::ip("127.0.0.1", l.port());
    for (int fd : raw) {
        const int rc = ::connect(fd, addr.get(), addr.size());
        ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
    }

    // Over the waiting period the server must keep running and back off,
    // not spin: few context switches and little CPU.
    const auto switches0 = ringlet::stats().context_switches;
    const double cpu0 = cpu_seconds();
    ringlet::sleep(400ms);
    const auto switches = ringlet::stats().context_switches - switches0;
    const double cpu = cpu_seconds() - cpu0;
    EXPECT_FALSE(server.done());
    EXPECT_LT(switches, 200u) << "serve() spun on EMFILE";
    EXPECT_LT(cpu, 0.04) << "serve() burned " << cpu << " s of CPU in 0.4 s on EMFILE";

    // Free descriptors: the queued clients are served (within the back-off).
    for (int fd : ballast) ::close(fd);
    ballast.clear();
    ringlet::Group clients;
    int served = 0;
    for (int i = 0; i < n_clients; ++i) {
        clients.spawn([&, i] {
            TcpStream c{ringlet::net::Socket(raw[static_cast<std::size_t>(i)])};
            const std::string msg = "client " + std::to_string(i);
            c.write_all(msg);
            c.shutdown_write();
            if (read_to_eof(c) == msg) ++served;
        });
    }
    EXPECT_TRUE(clients.join(20s));
    EXPECT_EQ(served, n_clients);
    limit.restore();
    EXPECT_EQ(roundtrip(l.port(), "after restore"), "after restore");
    EXPECT_FALSE(server.done());
    server.cancel();
    server.join();
    EXPECT_TRUE(server.cancelled());

    const std::string log = capture.take();
    EXPECT_NE(log.find("accept"), std::string::npos) << log;
    EXPECT_NE(log.find("Too many open files"), std::string::npos) << log;
    EXPECT_NE(log.find("retrying in"), std::string::npos) << log;
    // The back-off doubles: a handful of log lines, not one per attempt.
    std::size_t lines = 0;
    for (std::size_t at = log.find("retrying in"); at != std::string::npos;
         at = log.find("retrying in", at + 1)) {
        ++lines;
    }
    EXPECT_GE(lines, 2u);
    EXPECT_LT(lines, 30u) << log;
}
