// tests/net/net_serve_options_test.cpp — net::serve() with ServeOptions:
// finished connection tasks are released at once (no new accept needed),
// first-byte and idle timeouts (a silent connection, a silent keep-alive
// client, a client that stops reading), a slowloris that cannot starve a real
// client, the startup limits (hard limit drops, pressure deadline, a handler
// that establishes itself) and, at EMFILE, the oldest startup closed to make
// room for the new connection.
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

#include <sys/resource.h>
#include <sys/socket.h>

#include <ringlet/net.hpp>
#include <ringlet/ringlet.hpp>

#include "net_helpers.hpp"
#include "ringlet_test.hpp"

using namespace std::chrono_literals;
using namespace nettest;
using ringlet::net::ServeConnection;
using ringlet::net::ServeOptions;
using ringlet::net::TcpListener;
using ringlet::net::TcpStream;

namespace {

// Echoes every read until EOF; counts the handlers that saw EOF and ended.
struct EchoUntilEof {
    int* ended;
    void operator()(TcpStream s) const {
        std::string buf(4096, '\0');
        for (;;) {
            const std::size_t n = s.read(wbytes(buf));
            if (n == 0) break;
            s.write_all(std::string_view(buf.data(), n));
        }
        ++*ended;
    }
};

// One request/answer on a fresh connection: "ping" -> "ping".
bool echo_once(std::uint16_t port, std::string_view msg = "ping") {
    auto c = TcpStream::connect("127.0.0.1", port);
    c.write_all(msg);
    return read_exactly(c, msg.size()) == msg;
}

// True once the server has closed `c` (EOF or a reset).
bool closed_by_server(TcpStream& c) {
    std::string buf(64, '\0');
    try {
        for (;;) {
            if (c.read(wbytes(buf)) == 0) return true;
        }
    } catch (const ringlet::IoError&) {
        return true;
    }
}

}  // namespace

// Regression: serve() kept the tasks of finished connections until the next
// accept (10 000 echo connections held 190-214 MB until one more came).
RINGLET_TEST(ServeOptionsTest, FinishedConnectionTasksAreReleasedWithoutANewAccept) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    int ended = 0;
    auto server = ringlet::spawn([&] { ringlet::net::serve(l, EchoUntilEof{&ended}); });
    ASSERT_TRUE(echo_once(l.port()));  // the server task and its stack exist now
    while (ended < 1) ringlet::yield();
    const std::size_t baseline = ringlet::stats().stacks_in_use;
    constexpr int n = 200;
    for (int i = 0; i < n; ++i) ASSERT_TRUE(echo_once(l.port()));
    // Every handler has seen EOF; let their tasks finish (no accept happens).
    for (int i = 0; i < 1000 && (ended < n + 1 || ringlet::stats().stacks_in_use > baseline); ++i) {
        ringlet::yield();
    }
    EXPECT_EQ(ended, n + 1);
    EXPECT_LE(ringlet::stats().stacks_in_use, baseline)
        << "finished connection tasks are still held by serve()";
    server.cancel();
    server.join();
}

RINGLET_TEST(ServeOptionsTest, OldMaxConnectionsOverloadStillBounds) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    int running = 0, peak = 0;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(
            l,
            [&](TcpStream s) {
                peak = std::max(peak, ++running);
                s.write_all(read_to_eof(s));
                --running;
            },
            std::size_t{2});
    });
    ringlet::Group clients;
    int ok = 0;
    for (int i = 0; i < 6; ++i) {
        clients.spawn([&] {
            auto c = TcpStream::connect("127.0.0.1", l.port());
            c.write_all("x");
            c.shutdown_write();
            ok += read_to_eof(c) == "x";
        });
    }
    ASSERT_TRUE(clients.join(30s));
    EXPECT_EQ(ok, 6);
    EXPECT_LE(peak, 2);
    server.cancel();
    server.join();
}

RINGLET_TEST(ServeOptionsTest, FirstByteTimeoutClosesASilentConnectionWithoutTheHandler) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    int handlers = 0, ended = 0;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(
            l,
            [&](TcpStream s) {
                ++handlers;
                EchoUntilEof{&ended}(std::move(s));
            },
            ServeOptions{.first_byte_timeout = 100ms});
    });
    auto silent = TcpStream::connect("127.0.0.1", l.port());
    EXPECT_TRUE(closed_by_server(silent));
    EXPECT_EQ(handlers, 0) << "the handler ran for a connection that sent nothing";
    EXPECT_TRUE(echo_once(l.port()));  // one that speaks is served
    EXPECT_EQ(handlers, 1);
    server.cancel();
    server.join();
}

RINGLET_TEST(ServeOptionsTest, IdleTimeoutEndsASilentKeepAliveConnection) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    int ended = 0;
    auto server = ringlet::spawn(
        [&] { ringlet::net::serve(l, EchoUntilEof{&ended}, ServeOptions{.idle_timeout = 100ms}); });
    auto c = TcpStream::connect("127.0.0.1", l.port());
    c.write_all("one");
    EXPECT_EQ(read_exactly(c, 3), "one");
    c.write_all("two");  // activity keeps it open
    EXPECT_EQ(read_exactly(c, 3), "two");
    // Then silence: the handler's read sees EOF, it ends, the client sees EOF.
    EXPECT_TRUE(closed_by_server(c));
    while (ended < 1) ringlet::yield();
    EXPECT_EQ(ended, 1);
    server.cancel();
    server.join();
}

RINGLET_TEST(ServeOptionsTest, IdleTimeoutEndsAHandlerBlockedWritingToAClientThatStopsReading) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    bool write_failed = false;
    ringlet::Event done;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(
            l,
            [&](TcpStream s) {
                const std::string chunk(64 * 1024, 'z');
                try {
                    for (;;) s.write_all(chunk);
                } catch (const ringlet::IoError&) {
                    write_failed = true;  // EPIPE once serve shut the stream down
                }
                done.set();
            },
            ServeOptions{.idle_timeout = 100ms});
    });
    auto c = TcpStream::connect("127.0.0.1", l.port());  // never reads
    ASSERT_TRUE(done.wait(30s));
    EXPECT_TRUE(write_failed);
    server.cancel();
    server.join();
}

RINGLET_TEST(ServeOptionsTest, IdleTimeoutCancelsAHandlerThatIgnoresTheShutdown) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    bool cancelled = false;
    ringlet::Event done;
    ringlet::Event never;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(
            l,
            [&](TcpStream) {
                try {
                    never.wait();  // not on the socket: the shutdown cannot reach it
                } catch (const ringlet::Cancelled&) {
                    cancelled = true;
                    done.set();
                    throw;
                }
            },
            ServeOptions{.idle_timeout = 50ms});
    });
    auto c = TcpStream::connect("127.0.0.1", l.port());
    ASSERT_TRUE(done.wait(30s));
    EXPECT_TRUE(cancelled);
    EXPECT_FALSE(server.done());
    server.cancel();
    server.join();
}

// A slowloris: connections that send nothing, or one byte and then nothing
// for longer than the idle timeout, fill every connection slot; a real
// client still gets its answer because the timeouts recycle the slots.
RINGLET_TEST(ServeOptionsTest, SlowlorisCannotStarveARealClient) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    int ended = 0;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(
            l, EchoUntilEof{&ended},
            ServeOptions{.max_connections = 8, .first_byte_timeout = 200ms, .idle_timeout = 200ms});
    });
    std::vector<TcpStream> attackers;
    for (int i = 0; i < 40; ++i) {
        attackers.push_back(TcpStream::connect("127.0.0.1", l.port()));
        if (i % 2 == 0) attackers.back().write_all("G");  // one byte, then silence
    }
    ringlet::Timeout hang_guard(60s);  // a starved client fails instead of hanging
    EXPECT_TRUE(echo_once(l.port(), "real client"));
    server.cancel();
    server.join();
}

RINGLET_TEST(ServeOptionsTest, StartupsOverTheHardLimitAreDroppedAtOnce) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    int handlers = 0;
    ringlet::Event release;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(
            l,
            [&](TcpStream s, ServeConnection& conn) {
                ++handlers;
                std::string b(1, '\0');
                if (s.read(wbytes(b)) == 0) return;  // a startup until it says "E"
                if (b == "E") {
                    conn.established();
                    s.write_all("welcome");
                }
                release.wait();
            },
            ServeOptions{.startups_soft = 3, .startups_hard = 3});
    });
    std::vector<TcpStream> idle;
    for (int i = 0; i < 3; ++i) idle.push_back(TcpStream::connect("127.0.0.1", l.port()));
    while (handlers < 3) ringlet::yield();
    auto dropped = TcpStream::connect("127.0.0.1", l.port());
    EXPECT_TRUE(closed_by_server(dropped));
    EXPECT_EQ(handlers, 3);
    // A startup that establishes itself makes room for the next one.
    idle[0].write_all("E");
    EXPECT_EQ(read_exactly(idle[0], 7), "welcome");
    auto next = TcpStream::connect("127.0.0.1", l.port());
    next.write_all("E");
    EXPECT_EQ(read_exactly(next, 7), "welcome");
    release.set();
    server.cancel();
    server.join();
}

RINGLET_TEST(ServeOptionsTest, StartupTimeoutAndPressureTimeoutCloseIdleStartups) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    int saw_eof = 0;
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(
            l,
            [&](TcpStream s, ServeConnection& conn) {
                std::string b(1, '\0');
                if (s.read(wbytes(b)) == 0) {
                    saw_eof += conn.timed_out();
                    return;
                }
                conn.established();
                s.write_all(b);
                (void)read_to_eof(s);
            },
            // No startup deadline below the soft limit; over it, 50 ms.
            ServeOptions{
                .startups_soft = 2, .startups_hard = 1000, .pressure_startup_timeout = 50ms});
    });
    // Three idle startups, one over the soft limit: the oldest is closed,
    // which ends the pressure (the other two keep the normal deadline).
    std::vector<TcpStream> idle;
    for (int i = 0; i < 3; ++i) idle.push_back(TcpStream::connect("127.0.0.1", l.port()));
    EXPECT_TRUE(closed_by_server(idle[0]));
    while (saw_eof < 1) ringlet::yield();
    EXPECT_EQ(saw_eof, 1);
    auto good = TcpStream::connect("127.0.0.1", l.port());
    good.write_all("!");
    EXPECT_EQ(read_exactly(good, 1), "!");
    server.cancel();
    server.join();

    // startup_timeout alone, with no limits.
    auto l2 = TcpListener::bind("127.0.0.1", 0);
    auto server2 = ringlet::spawn([&] {
        ringlet::net::serve(
            l2, [&](TcpStream s, ServeConnection&) { (void)read_to_eof(s); },
            ServeOptions{.startup_timeout = 50ms});
    });
    auto c2 = TcpStream::connect("127.0.0.1", l2.port());
    EXPECT_TRUE(closed_by_server(c2));
    server2.cancel();
    server2.join();
}

RINGLET_TEST(ServeOptionsTest, AtEmfileTheOldestStartupMakesRoomForTheNewConnection) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "no descriptors are left for the sanitizer runtime under EMFILE";
#endif
    auto l = TcpListener::bind("127.0.0.1", 0);
    // Client sockets made now: connecting later needs no new descriptor.
    constexpr int n_idle = 4;
    std::vector<int> raw;
    for (int i = 0; i < n_idle + 1; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        raw.push_back(fd);
    }
    int served = 0, shed = 0;
    NofileGuard limit;
    // Room for exactly n_idle accepted sockets, then EMFILE.
    ASSERT_TRUE(limit.set_soft(static_cast<rlim_t>(highest_fd() + 1 + n_idle)));
    std::vector<int> ballast;
    for (;;) {
        const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) break;
        ballast.push_back(fd);
    }
    for (std::size_t i = 0; i < static_cast<std::size_t>(n_idle) && !ballast.empty(); ++i) {
        ::close(ballast.back());
        ballast.pop_back();
    }
    testing::internal::CaptureStderr();
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(
            l,
            [&](TcpStream s, ServeConnection& conn) {
                std::string b(1, '\0');
                if (s.read(wbytes(b)) == 0) {
                    shed += conn.timed_out();
                    return;
                }
                conn.established();
                s.write_all(b);
                ++served;
            },
            ServeOptions{});  // no limits: only the EMFILE rule
    });
    const auto addr = ringlet::net::SocketAddress::ip("127.0.0.1", l.port());
    std::vector<TcpStream> idle;
    for (int i = 0; i < n_idle; ++i) {
        const int rc = ::connect(raw[static_cast<std::size_t>(i)], addr.get(), addr.size());
        ASSERT_TRUE(rc == 0 || errno == EINPROGRESS);
        idle.emplace_back(ringlet::net::Socket(raw[static_cast<std::size_t>(i)]));
    }
    TcpStream good{ringlet::net::Socket(raw.back())};
    {
        ringlet::Timeout hang_guard(30s);
        const int rc = ::connect(raw.back(), addr.get(), addr.size());
        ASSERT_TRUE(rc == 0 || errno == EINPROGRESS);
        good.write_all("g");
        EXPECT_EQ(read_exactly(good, 1), "g");
        EXPECT_TRUE(closed_by_server(idle[0])) << "the oldest startup was not the one closed";
    }
    EXPECT_EQ(served, 1);
    while (shed < 1) ringlet::yield();
    EXPECT_GE(shed, 1);
    for (int fd : ballast) ::close(fd);
    limit.restore();
    server.cancel();
    server.join();
    (void)testing::internal::GetCapturedStderr();
}
