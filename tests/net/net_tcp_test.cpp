// tests/net/net_tcp_test.cpp — TcpListener, TcpStream, SocketAddress and
// resolve(): binding (port 0, IPv6, dual stack, reuse_port, backlog), accept,
// connect by name and address, EOF and half-close, read_exact, write_all of
// large buffers, options, and every failure mode (refused, timeout, reset,
// broken pipe without SIGPIPE), 1000 concurrent connections, plain threads.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/blocking.hpp>
#include <ringlet/net.hpp>
#include <ringlet/ringlet.hpp>

#include "net_helpers.hpp"
#include "ringlet_test.hpp"

using namespace std::chrono_literals;
using namespace nettest;
using ringlet::IoError;
using ringlet::net::SocketAddress;
using ringlet::net::TcpListener;
using ringlet::net::TcpStream;

// ---------------------------------------------------------------- addresses

TEST(SocketAddressTest, Ipv4Literal) {
    const SocketAddress a = SocketAddress::ip("127.0.0.1", 8080);
    EXPECT_EQ(a.family(), AF_INET);
    EXPECT_EQ(a.port(), 8080);
    EXPECT_EQ(a.host(), "127.0.0.1");
    EXPECT_EQ(a.to_string(), "127.0.0.1:8080");
    EXPECT_EQ(a.size(), sizeof(sockaddr_in));
    EXPECT_EQ(a, SocketAddress::ip("127.0.0.1", 8080));
    EXPECT_FALSE(a == SocketAddress::ip("127.0.0.1", 8081));
}

TEST(SocketAddressTest, Ipv6LiteralWithAndWithoutBrackets) {
    const SocketAddress a = SocketAddress::ip("::1", 443);
    EXPECT_EQ(a.family(), AF_INET6);
    EXPECT_EQ(a.port(), 443);
    EXPECT_EQ(a.host(), "::1");
    EXPECT_EQ(a.to_string(), "[::1]:443");
    EXPECT_EQ(a, SocketAddress::ip("[::1]", 443));
}

TEST(SocketAddressTest, EmptyIsAnyIpv4) {
    const SocketAddress a = SocketAddress::ip("", 1);
    EXPECT_EQ(a.family(), AF_INET);
    EXPECT_EQ(a.host(), "0.0.0.0");
    EXPECT_EQ(a, SocketAddress::ip("0.0.0.0", 1));
}

TEST(SocketAddressTest, NonNumericIsUsageError) {
    EXPECT_THROW(SocketAddress::ip("localhost", 1), ringlet::UsageError);
    EXPECT_THROW(SocketAddress::ip("1.2.3", 1), ringlet::UsageError);
    EXPECT_THROW(SocketAddress::ip("::g", 1), ringlet::UsageError);
}

TEST(SocketAddressTest, FromRoundTrips) {
    const SocketAddress a = SocketAddress::ip("::1", 9);
    const SocketAddress b = SocketAddress::from(a.get(), a.size());
    EXPECT_EQ(a, b);
    EXPECT_EQ(b.to_string(), "[::1]:9");
}

TEST(SocketAddressTest, UnixPathAndAbstract) {
    const SocketAddress p = SocketAddress::unix_path("/tmp/some.sock");
    EXPECT_EQ(p.family(), AF_UNIX);
    EXPECT_EQ(p.port(), 0);
    EXPECT_EQ(p.host(), "/tmp/some.sock");
    EXPECT_EQ(p.to_string(), "/tmp/some.sock");
    const SocketAddress a = SocketAddress::unix_path("@abstract-name");
    EXPECT_EQ(a.family(), AF_UNIX);
    EXPECT_EQ(a.to_string(), "@abstract-name");
    EXPECT_FALSE(a == SocketAddress::unix_path("/abstract-name"));
}

TEST(SocketAddressTest, UnixPathTooLongOrEmptyIsUsageError) {
    EXPECT_THROW(SocketAddress::unix_path(std::string(108, 'x')), ringlet::UsageError);
    EXPECT_THROW(SocketAddress::unix_path(""), ringlet::UsageError);
    EXPECT_NO_THROW(SocketAddress::unix_path(std::string(107, 'x')));
}

// ------------------------------------------------------------------ Socket

RINGLET_TEST(SocketTest, OpenSetOptionBindListen) {
    auto s = ringlet::net::Socket::open(AF_INET, SOCK_STREAM);
    ASSERT_TRUE(s.is_open());
    EXPECT_TRUE(::fcntl(s.fd(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(s.fd(), F_GETFD) & FD_CLOEXEC);
    s.set_option(SOL_SOCKET, SO_REUSEADDR, 1);
    EXPECT_EQ(get_int_option(s.fd(), SOL_SOCKET, SO_REUSEADDR), 1);
    s.bind(SocketAddress::ip("127.0.0.1", 0));
    const auto local = s.local_address();
    EXPECT_EQ(local.host(), "127.0.0.1");
    EXPECT_NE(local.port(), 0);
    s.listen(8);
    // A plain connect reaches it; wrap the accepted fd in a TcpStream.
    auto c = TcpStream::connect(local);
    const int fd = ::accept4(s.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ASSERT_GE(fd, 0);
    TcpStream server{ringlet::net::Socket(fd)};
    c.write_all("wrapped");
    c.shutdown_write();
    EXPECT_EQ(read_to_eof(server), "wrapped");
}

RINGLET_TEST(SocketTest, Errors) {
    EXPECT_EQ(io_errno([] { ringlet::net::Socket::open(12345, SOCK_STREAM); }), EAFNOSUPPORT);
    auto s = ringlet::net::Socket::open(AF_INET, SOCK_STREAM);
    EXPECT_EQ(io_errno([&] { s.peer_address(); }), ENOTCONN);
    EXPECT_EQ(io_errno([&] { s.set_option(SOL_SOCKET, 987654, 1); }), ENOPROTOOPT);
    auto taken = TcpListener::bind("127.0.0.1", 0);
    try {
        s.bind(taken.local_address());
        ADD_FAILURE() << "bind to a port in use succeeded";
    } catch (const IoError& e) {
        EXPECT_EQ(e.code(), std::errc::address_in_use);
        // The message names the operation and the address.
        EXPECT_NE(std::string(e.what()).find(taken.local_address().to_string()), std::string::npos)
            << e.what();
    }
}

RINGLET_TEST(SocketTest, ReleaseGivesUpOwnership) {
    auto s = ringlet::net::Socket::open(AF_INET, SOCK_DGRAM);
    const int fd = s.fd();
    const int released = s.release();
    EXPECT_EQ(released, fd);
    EXPECT_FALSE(s.is_open());
    EXPECT_EQ(s.fd(), -1);
    EXPECT_NO_THROW(s.close());
    EXPECT_EQ(::fcntl(released, F_GETFD) >= 0, true);  // still open: ours now
    ::close(released);
}

RINGLET_TEST(SocketTest, MoveAssignmentClosesTheOldSocket) {
    const int before = open_fd_count();
    auto a = ringlet::net::Socket::open(AF_INET, SOCK_DGRAM);
    auto b = ringlet::net::Socket::open(AF_INET, SOCK_DGRAM);
    const int fd_b = b.fd();
    a = std::move(b);
    EXPECT_EQ(a.fd(), fd_b);
    EXPECT_FALSE(b.is_open());
    EXPECT_EQ(open_fd_count(), before + 1);
    a.close();
    EXPECT_EQ(open_fd_count(), before);
}

// ------------------------------------------------------------------ resolve

RINGLET_TEST(ResolveTest, NumericV4AndV6NeedNoLookup) {
    // A Timeout scope that has already expired throws at any suspension
    // point: a numeric host must resolve without one (no lookup, no thread).
    std::vector<SocketAddress> v4, v6;
    {
        ringlet::Timeout expired(0ns);
        v4 = ringlet::net::resolve("127.0.0.1", 80);
        v6 = ringlet::net::resolve("::1", 81);
    }
    ASSERT_EQ(v4.size(), 1u);
    EXPECT_EQ(v4[0], SocketAddress::ip("127.0.0.1", 80));
    ASSERT_EQ(v6.size(), 1u);
    EXPECT_EQ(v6[0].family(), AF_INET6);
    EXPECT_EQ(v6[0].port(), 81);
    EXPECT_EQ(v6[0].host(), "::1");
}

RINGLET_TEST(ResolveTest, LocalhostGivesLoopbackWithPort) {
    const auto addrs = ringlet::net::resolve("localhost", 4321);
    ASSERT_FALSE(addrs.empty());
    for (const SocketAddress& a : addrs) {
        EXPECT_EQ(a.port(), 4321) << a.to_string();
        EXPECT_TRUE(a.host() == "127.0.0.1" || a.host() == "::1") << a.to_string();
    }
}

RINGLET_TEST(ResolveTest, UnknownNameIsIoError) {
    try {
        ringlet::net::resolve("no-such-host.invalid", 80);
        ADD_FAILURE() << "resolve of an .invalid name succeeded";
    } catch (const IoError& e) {
        EXPECT_NE(e.code().value(), 0);
        EXPECT_NE(std::string(e.what()).find("no-such-host.invalid"), std::string::npos)
            << e.what();
    }
}

TEST(ResolveThreadTest, WorksFromAPlainThread) {
    // No scheduler on this thread: the lookup blocks the thread.
    const auto addrs = ringlet::net::resolve("localhost", 7);
    ASSERT_FALSE(addrs.empty());
    EXPECT_EQ(addrs[0].port(), 7);
}

// -------------------------------------------------------------------- bind

RINGLET_TEST(TcpListenerTest, PortZeroPicksAFreePort) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    EXPECT_TRUE(l.is_open());
    EXPECT_GE(l.fd(), 0);
    EXPECT_NE(l.port(), 0);
    EXPECT_EQ(l.local_address(), SocketAddress::ip("127.0.0.1", l.port()));
    auto l2 = TcpListener::bind("127.0.0.1", 0);
    EXPECT_NE(l2.port(), l.port());
}

RINGLET_TEST(TcpListenerTest, EmptyHostIsAllIpv4) {
    auto l = TcpListener::bind("", 0);
    EXPECT_EQ(l.local_address().family(), AF_INET);
    EXPECT_EQ(l.local_address().host(), "0.0.0.0");
    auto c = TcpStream::connect("127.0.0.1", l.port());
    auto s = l.accept();
    c.write_all("x");
    EXPECT_EQ(read_exactly(s, 1), "x");
}

RINGLET_TEST(TcpListenerTest, BindByName) {
    auto l = TcpListener::bind("localhost", 0);
    const auto host = l.local_address().host();
    EXPECT_TRUE(host == "127.0.0.1" || host == "::1") << host;
    auto c = TcpStream::connect("localhost", l.port());
    auto s = l.accept();
    EXPECT_EQ(s.peer_address(), c.local_address());
}

RINGLET_TEST(TcpListenerTest, Ipv6Loopback) {
    if (!have_ipv6()) GTEST_SKIP() << "no IPv6 loopback on this host";
    auto l = TcpListener::bind("::1", 0);
    EXPECT_EQ(l.local_address().family(), AF_INET6);
    EXPECT_EQ(l.local_address().host(), "::1");
    auto c = TcpStream::connect("::1", l.port());
    auto s = l.accept();
    EXPECT_EQ(c.peer_address(), SocketAddress::ip("::1", l.port()));
    EXPECT_EQ(s.peer_address(), c.local_address());
    c.write_all("v6");
    EXPECT_EQ(read_exactly(s, 2), "v6");
}

RINGLET_TEST(TcpListenerTest, Ipv6AnyIsDualStack) {
    if (!have_ipv6()) GTEST_SKIP() << "no IPv6 on this host";
    auto l = TcpListener::bind("::", 0);
    EXPECT_EQ(l.local_address().family(), AF_INET6);
    // An IPv4 client reaches the IPv6 wildcard listener (V6ONLY off)...
    auto c4 = TcpStream::connect("127.0.0.1", l.port());
    auto s4 = l.accept();
    EXPECT_EQ(s4.peer_address().family(), AF_INET6);
    EXPECT_EQ(s4.peer_address().host(), "::ffff:127.0.0.1");
    EXPECT_EQ(s4.peer_address().port(), c4.local_address().port());
    // ...and so does an IPv6 one.
    auto c6 = TcpStream::connect("::1", l.port());
    auto s6 = l.accept();
    EXPECT_EQ(s6.peer_address().host(), "::1");
    c4.write_all("4");
    c6.write_all("6");
    EXPECT_EQ(read_exactly(s4, 1), "4");
    EXPECT_EQ(read_exactly(s6, 1), "6");
}

RINGLET_TEST(TcpListenerTest, SecondBindWithoutReusePortIsAddrInUse) {
    auto first = TcpListener::bind("127.0.0.1", 0);
    try {
        auto second = TcpListener::bind("127.0.0.1", first.port());
        ADD_FAILURE() << "second bind to port " << first.port() << " succeeded";
    } catch (const IoError& e) {
        EXPECT_EQ(e.code(), std::errc::address_in_use) << e.what();
        const std::system_error& as_system = e;  // IoError is a std::system_error
        EXPECT_NE(std::string(as_system.what()).find("bind"), std::string::npos) << e.what();
    }
}

RINGLET_TEST(TcpListenerTest, ReusePortLetsTwoListenersShareAPort) {
    auto a = TcpListener::bind("127.0.0.1", 0, 1024, /*reuse_port=*/true);
    auto b = TcpListener::bind("127.0.0.1", a.port(), 1024, /*reuse_port=*/true);
    EXPECT_EQ(a.port(), b.port());
    // Both accept: the kernel spreads connections; accept them all from
    // whichever listener got them.
    constexpr int n = 32;
    std::vector<TcpStream> clients;
    for (int i = 0; i < n; ++i) clients.push_back(TcpStream::connect("127.0.0.1", a.port()));
    int got_a = 0, got_b = 0;
    auto ta = ringlet::spawn([&] {
        for (;;) {
            auto s = a.accept();
            ++got_a;
        }
    });
    auto tb = ringlet::spawn([&] {
        for (;;) {
            auto s = b.accept();
            ++got_b;
        }
    });
    EXPECT_TRUE(yield_until([&] { return got_a + got_b == n; }));
    ta.cancel();
    tb.cancel();
    ta.join();
    tb.join();
    EXPECT_EQ(got_a + got_b, n);
    // A third listener without reuse_port is refused.
    EXPECT_EQ(io_errno([&] { TcpListener::bind("127.0.0.1", a.port()); }), EADDRINUSE);
}

RINGLET_TEST(TcpListenerTest, BacklogLimitsPendingConnections) {
    // With backlog 1 Linux queues at most 2 connections; later connects hang.
    auto l = TcpListener::bind("127.0.0.1", 0, /*backlog=*/1);
    std::vector<TcpStream> queued;
    bool hung = false;
    for (int i = 0; i < 8 && !hung; ++i) {
        try {
            queued.push_back(TcpStream::connect("127.0.0.1", l.port(), 300ms));
        } catch (const ringlet::TimeoutError&) {
            hung = true;
        }
    }
    EXPECT_TRUE(hung);
    EXPECT_GE(queued.size(), 1u);
    EXPECT_LE(queued.size(), 2u);
    // The queued ones are accepted normally.
    for (auto& c : queued) {
        auto s = l.accept();
        EXPECT_EQ(s.peer_address(), c.local_address());
    }
}

RINGLET_TEST(TcpListenerTest, AcceptAndAddresses) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    auto c = TcpStream::connect(SocketAddress::ip("127.0.0.1", l.port()));
    auto s = l.accept();
    EXPECT_TRUE(c.is_open());
    EXPECT_TRUE(s.is_open());
    EXPECT_EQ(c.peer_address(), l.local_address());
    EXPECT_EQ(s.local_address(), l.local_address());
    EXPECT_EQ(s.peer_address(), c.local_address());
    EXPECT_EQ(c.local_address().host(), "127.0.0.1");
    EXPECT_NE(c.local_address().port(), 0);
    // Accepted sockets are non-blocking and close-on-exec like every other.
    EXPECT_TRUE(::fcntl(s.socket().fd(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(s.socket().fd(), F_GETFD) & FD_CLOEXEC);
    EXPECT_TRUE(::fcntl(c.socket().fd(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(c.socket().fd(), F_GETFD) & FD_CLOEXEC);
    EXPECT_TRUE(::fcntl(l.fd(), F_GETFD) & FD_CLOEXEC);
}

RINGLET_TEST(TcpListenerTest, AcceptWaitsForALaterConnect) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    ringlet::Event accepting;
    auto server = ringlet::spawn([&] {
        accepting.set();
        auto s = l.accept();
        return read_to_eof(s);
    });
    accepting.wait();
    settle();
    EXPECT_FALSE(server.done());
    auto c = TcpStream::connect("127.0.0.1", l.port());
    c.write_all("late");
    c.close();
    EXPECT_EQ(server.get(), "late");
}

RINGLET_TEST(TcpListenerTest, CloseReleasesConnectionsNobodyAccepted) {
    // Connections that reached the listener (or were accepted ahead of time
    // by the backend) but never handed to accept() are closed with it.
    auto l = TcpListener::bind("127.0.0.1", 0);
    {
        auto c = TcpStream::connect("127.0.0.1", l.port());
        auto s = l.accept();
    }
    const int with_listener = open_fd_count();
    std::vector<TcpStream> clients;
    for (int i = 0; i < 10; ++i) clients.push_back(TcpStream::connect("127.0.0.1", l.port()));
    settle(20);
    l.close();
    // The peers see their connections end.
    for (auto& c : clients) {
        char b;
        const int err = io_errno([&] { EXPECT_EQ(c.read(&b, 1), 0u); });
        EXPECT_TRUE(err == 0 || err == ECONNRESET) << err;
    }
    clients.clear();
    EXPECT_EQ(open_fd_count(), with_listener - 1);
}

RINGLET_TEST(TcpListenerTest, CloseIsIdempotent) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    const auto port = l.port();
    l.close();
    EXPECT_FALSE(l.is_open());
    EXPECT_EQ(l.fd(), -1);
    l.close();
    // The port is free again.
    auto again = TcpListener::bind("127.0.0.1", port);
    EXPECT_EQ(again.port(), port);
}

// ------------------------------------------------------------------ connect

RINGLET_TEST(TcpConnectTest, ByNameLocalhost) {
    // Listening on IPv4 only: if "localhost" also resolves to ::1, connect
    // must fall through to the address that accepts.
    auto l = TcpListener::bind("127.0.0.1", 0);
    auto c = TcpStream::connect("localhost", l.port());
    auto s = l.accept();
    EXPECT_EQ(c.peer_address(), SocketAddress::ip("127.0.0.1", l.port()));
    c.write_all("by name");
    c.shutdown_write();
    EXPECT_EQ(read_to_eof(s), "by name");
}

RINGLET_TEST(TcpConnectTest, BySocketAddress) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    auto c = TcpStream::connect(l.local_address());
    auto s = l.accept();
    s.write_all("hi");
    EXPECT_EQ(read_exactly(c, 2), "hi");
}

RINGLET_TEST(TcpConnectTest, RefusedIsIoErrorEconnrefused) {
    const auto port = closed_port();
    try {
        TcpStream::connect("127.0.0.1", port);
        ADD_FAILURE() << "connect to a closed port succeeded";
    } catch (const std::system_error& e) {  // IoError is a std::system_error
        EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
        EXPECT_NE(dynamic_cast<const IoError*>(&e), nullptr);
        EXPECT_NE(std::string(e.what()).find("connect"), std::string::npos) << e.what();
    }
    EXPECT_EQ(io_errno([&] { TcpStream::connect(SocketAddress::ip("127.0.0.1", port)); }),
              ECONNREFUSED);
    EXPECT_EQ(io_errno([&] { TcpStream::connect("localhost", port); }), ECONNREFUSED);
}

RINGLET_TEST(TcpConnectTest, RefusedDoesNotLeakFds) {
    const auto port = closed_port();
    const int before = open_fd_count();
    for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(io_errno([&] { TcpStream::connect("127.0.0.1", port); }), ECONNREFUSED);
    }
    EXPECT_EQ(open_fd_count(), before);
}

RINGLET_TEST(TcpConnectTest, TimeoutToABlackhole) {
    Blackhole hole;
    if (!hole.fill()) GTEST_SKIP() << "could not fill a backlog-0 accept queue";
    const auto t0 = Clock::now();
    EXPECT_THROW(TcpStream::connect(hole.address(), 200ms), ringlet::TimeoutError);
    const auto elapsed = Clock::now() - t0;
    EXPECT_GE(elapsed, 190ms);
    EXPECT_LT(elapsed, 10s);
    // By name too, with the deadline covering resolution and connect.
    const auto t1 = Clock::now();
    EXPECT_THROW(TcpStream::connect("127.0.0.1", hole.listener.port(), 200ms),
                 ringlet::TimeoutError);
    EXPECT_LT(Clock::now() - t1, 10s);
}

RINGLET_TEST(TcpConnectTest, EnclosingTimeoutScopeNamesItself) {
    Blackhole hole;
    if (!hole.fill()) GTEST_SKIP() << "could not fill a backlog-0 accept queue";
    const auto t0 = Clock::now();
    ringlet::Timeout scope(150ms);
    try {
        TcpStream::connect(hole.address());
        ADD_FAILURE() << "connect to a blackhole succeeded";
    } catch (const ringlet::TimeoutError& e) {
        EXPECT_EQ(e.scope(), &scope);
        EXPECT_TRUE(scope.expired());
    }
    EXPECT_LT(Clock::now() - t0, 10s);
}

RINGLET_TEST(TcpConnectTest, BlackholeConnectDoesNotLeakFds) {
    Blackhole hole;
    if (!hole.fill()) GTEST_SKIP() << "could not fill a backlog-0 accept queue";
    const int before = open_fd_count();
    for (int i = 0; i < 3; ++i) {
        EXPECT_THROW(TcpStream::connect(hole.address(), 20ms), ringlet::TimeoutError);
    }
    EXPECT_EQ(open_fd_count(), before);
}

// --------------------------------------------------------- read and write

RINGLET_TEST(TcpStreamTest, DefaultIsClosed) {
    TcpStream s;
    EXPECT_FALSE(s.is_open());
    EXPECT_NO_THROW(s.close());
}

RINGLET_TEST(TcpStreamTest, ReadReturnsWhatIsAvailable) {
    auto p = tcp_pair();
    p.client.write_all("abc");
    char buf[64];
    const std::size_t n = p.server.read(buf, sizeof buf);  // the void* overload
    ASSERT_GE(n, 1u);
    ASSERT_LE(n, 3u);
    std::string got(buf, n);
    if (n < 3) got += read_exactly(p.server, 3 - n);
    EXPECT_EQ(got, "abc");
}

RINGLET_TEST(TcpStreamTest, WriteReturnsBytesWritten) {
    auto p = tcp_pair();
    const std::string msg = pattern(1000, 1);
    const std::size_t n = p.client.write(bytes(msg));
    EXPECT_GT(n, 0u);
    EXPECT_LE(n, msg.size());
    EXPECT_EQ(read_exactly(p.server, n), msg.substr(0, n));
}

RINGLET_TEST(TcpStreamTest, EmptyWriteAllIsANoop) {
    auto p = tcp_pair();
    p.client.write_all(std::string_view{});
    p.client.write_all("z");
    EXPECT_EQ(read_exactly(p.server, 1), "z");
}

RINGLET_TEST(TcpStreamTest, ReadZeroAtEofAfterShutdownWriteAndHalfCloseStillWorks) {
    auto p = tcp_pair();
    p.client.write_all("request");
    p.client.shutdown_write();
    EXPECT_EQ(read_to_eof(p.server), "request");
    char b[8];
    EXPECT_EQ(p.server.read(b, sizeof b), 0u);  // EOF stays EOF
    // The other direction is still open.
    p.server.write_all("response");
    p.server.shutdown_write();
    EXPECT_EQ(read_to_eof(p.client), "response");
}

RINGLET_TEST(TcpStreamTest, ReadExact) {
    auto p = tcp_pair();
    auto writer = ringlet::spawn([&] {
        // Dribble the bytes in small pieces: read_exact must stitch them.
        const std::string msg = pattern(10000, 2);
        for (std::size_t i = 0; i < msg.size(); i += 777) {
            p.client.write_all(std::string_view(msg).substr(i, 777));
            ringlet::yield();
        }
    });
    EXPECT_EQ(read_exactly(p.server, 10000), pattern(10000, 2));
    writer.get();
}

RINGLET_TEST(TcpStreamTest, ReadExactAtEarlyEofIsEnodata) {
    auto p = tcp_pair();
    p.client.write_all("abc");
    p.client.shutdown_write();
    std::string buf(10, '\0');
    try {
        p.server.read_exact(wbytes(buf));
        ADD_FAILURE() << "read_exact succeeded with only 3 bytes before EOF";
    } catch (const IoError& e) {
        EXPECT_EQ(e.code().value(), ENODATA) << e.what();
        EXPECT_NE(std::string(e.what()).find("3 of 10"), std::string::npos) << e.what();
    }
    EXPECT_EQ(buf.substr(0, 3), "abc");
}

RINGLET_TEST(TcpStreamTest, WriteAllEightMiBToASlowReader) {
    auto p = tcp_pair();
    const int small = 16 * 1024;  // small buffers: the writer must block many times
    ::setsockopt(p.server.socket().fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ::setsockopt(p.client.socket().fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    const std::string data = pattern(8 << 20, 3);
    auto reader = ringlet::spawn([&] {
        std::string got;
        got.reserve(data.size());
        std::string buf(1500, '\0');
        int reads = 0;
        for (;;) {
            const std::size_t n = p.server.read(wbytes(buf));
            if (n == 0) break;
            got.append(buf.data(), n);
            if (++reads % 16 == 0) ringlet::yield();  // slow: let the writer pile up
        }
        return got;
    });
    p.client.write_all(bytes(data));
    p.client.shutdown_write();
    const std::string got = reader.get();
    ASSERT_EQ(got.size(), data.size());
    EXPECT_EQ(fnv1a(got), fnv1a(data));
    EXPECT_TRUE(got == data);
}

RINGLET_TEST(TcpStreamTest, BothDirectionsAtOnce) {
    // Two tasks per side: one writes 1 MiB while the other reads the peer's 1 MiB.
    auto p = tcp_pair();
    const std::string a = pattern(1 << 20, 4), b = pattern(1 << 20, 5);
    auto wa = ringlet::spawn([&] {
        p.client.write_all(bytes(a));
        p.client.shutdown_write();
    });
    auto wb = ringlet::spawn([&] {
        p.server.write_all(bytes(b));
        p.server.shutdown_write();
    });
    auto ra = ringlet::spawn([&] { return read_to_eof(p.server); });
    const std::string got_b = read_to_eof(p.client);
    EXPECT_TRUE(ra.get() == a);
    EXPECT_TRUE(got_b == b);
    wa.get();
    wb.get();
}

RINGLET_TEST(TcpStreamTest, SetNodelay) {
    auto p = tcp_pair();
    const int fd = p.client.socket().fd();
    p.client.set_nodelay();
    EXPECT_EQ(get_int_option(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    p.client.set_nodelay(false);
    EXPECT_EQ(get_int_option(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    p.client.set_nodelay(true);
    EXPECT_EQ(get_int_option(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    p.client.write_all("n");
    EXPECT_EQ(read_exactly(p.server, 1), "n");
}

RINGLET_TEST(TcpStreamTest, CloseGivesPeerEofAndIsIdempotent) {
    auto p = tcp_pair();
    p.client.write_all("last words");
    p.client.close();
    EXPECT_FALSE(p.client.is_open());
    EXPECT_NO_THROW(p.client.close());
    EXPECT_EQ(read_to_eof(p.server), "last words");
}

RINGLET_TEST(TcpStreamTest, DestructorCloses) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    TcpStream s;
    {
        auto c = TcpStream::connect("127.0.0.1", l.port());
        s = l.accept();
        c.write_all("bye");
    }
    EXPECT_EQ(read_to_eof(s), "bye");
}

// Regression: Socket::close() calls shutdown(SHUT_RDWR) before close(2),
// which tears down the connection for every other holder of the socket (a
// dup'd fd, a forked child, an fd passed over SCM_RIGHTS), not just this one.
RINGLET_TEST(TcpStreamTest, CloseOnlyReleasesThisDescriptor) {
    auto p = tcp_pair();
    const int other = ::dup(p.client.socket().fd());  // as a forked child would hold it
    ASSERT_GE(other, 0);
    p.client.close();
    const char msg[] = "still connected";
    EXPECT_EQ(::send(other, msg, sizeof msg - 1, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof msg - 1))
        << std::strerror(errno);
    ::close(other);
    EXPECT_EQ(read_to_eof(p.server), "still connected");
}

// Regression: with SO_LINGER {1, 0} a close must abort the connection (RST);
// the shutdown() inside Socket::close() sends a FIN first, so the peer reads a
// clean EOF instead of ECONNRESET.
RINGLET_TEST(TcpStreamTest, CloseWithLingerZeroResetsThePeer) {
    auto p = tcp_pair();
    set_linger_zero(p.client.socket().fd());
    p.client.close();
    char b[4];
    EXPECT_EQ(io_errno([&] { p.server.read(b, sizeof b); }), ECONNRESET);
}

RINGLET_TEST(TcpStreamTest, MoveTransfersOwnership) {
    auto p = tcp_pair();
    TcpStream moved(std::move(p.client));
    EXPECT_FALSE(p.client.is_open());
    EXPECT_TRUE(moved.is_open());
    TcpStream assigned;
    assigned = std::move(moved);
    EXPECT_FALSE(moved.is_open());
    assigned.write_all("m");
    EXPECT_EQ(read_exactly(p.server, 1), "m");
}

RINGLET_TEST(TcpStreamTest, IoOnAClosedStreamIsEbadf) {
    auto p = tcp_pair();
    p.client.close();
    char b[4];
    EXPECT_EQ(io_errno([&] { p.client.read(b, sizeof b); }), EBADF);
    EXPECT_EQ(io_errno([&] { p.client.write_all("x"); }), EBADF);
    EXPECT_EQ(io_errno([&] { p.client.shutdown_write(); }), EBADF);
}

// --------------------------------------------------------- failure modes

RINGLET_TEST(TcpFailureTest, PeerResetIsEconnreset) {
    auto p = tcp_pair();
    // SO_LINGER 0 then close(2): the kernel sends RST, not FIN. (The raw
    // close: Stream::close() shuts the socket down first, which sends FIN.)
    set_linger_zero(p.client.socket().fd());
    ::close(p.client.socket().release());
    char b[16];
    try {
        const std::size_t n = p.server.read(b, sizeof b);
        ADD_FAILURE() << "read after a reset returned " << n;
    } catch (const IoError& e) {
        EXPECT_EQ(e.code(), std::errc::connection_reset) << e.what();
    }
}

RINGLET_TEST(TcpFailureTest, PeerResetWakesABlockedReader) {
    auto p = tcp_pair();
    ringlet::Event reading;
    auto reader = ringlet::spawn([&] {
        char b[16];
        reading.set();
        return io_errno([&] { p.server.read(b, sizeof b); });
    });
    reading.wait();
    settle();
    set_linger_zero(p.client.socket().fd());
    ::close(p.client.socket().release());
    EXPECT_TRUE(reader.join(10s));
    EXPECT_EQ(reader.get(), ECONNRESET);
}

RINGLET_TEST(TcpFailureTest, WriteToClosedPeerIsEpipeNotSigpipe) {
    // No SIGPIPE handler is installed: if a write raised SIGPIPE, the test
    // process would die here.
    auto p = tcp_pair();
    p.server.close();
    const std::string chunk(64 * 1024, 'w');
    int err = 0;
    for (int i = 0; i < 1000 && err == 0; ++i) {
        err = io_errno([&] { p.client.write_all(chunk); });
    }
    EXPECT_TRUE(err == EPIPE || err == ECONNRESET) << "errno " << err;
    // And again, now that the connection is known dead.
    const int again = io_errno([&] { p.client.write_all(chunk); });
    EXPECT_TRUE(again == EPIPE || again == ECONNRESET) << "errno " << again;
}

RINGLET_TEST(TcpFailureTest, WriteAfterOwnShutdownIsEpipe) {
    auto p = tcp_pair();
    p.client.shutdown_write();
    EXPECT_EQ(io_errno([&] { p.client.write_all("late"); }), EPIPE);
}

RINGLET_TEST(TcpFailureTest, BlockedWriterSeesPeerClose) {
    auto p = tcp_pair();
    fill_send_buffer(p.client, p.server);
    ringlet::Event writing;
    auto writer = ringlet::spawn([&] {
        const std::string big(1 << 20, 'b');
        writing.set();
        return io_errno([&] { p.client.write_all(big); });
    });
    writing.wait();
    settle();
    EXPECT_FALSE(writer.done());
    set_linger_zero(p.server.socket().fd());
    ::close(p.server.socket().release());
    ASSERT_TRUE(writer.join(10s));
    const int err = writer.get();
    EXPECT_TRUE(err == EPIPE || err == ECONNRESET) << "errno " << err;
}

// ---------------------------------------------------------- many at once

RINGLET_TEST(TcpScaleTest, ThousandConcurrentConnectionsToAnEchoServer) {
    if (raise_nofile() < 2200) GTEST_SKIP() << "RLIMIT_NOFILE hard limit below 2200";
    constexpr int n = 1000;
    auto l = TcpListener::bind("127.0.0.1", 0, 1024);
    auto server = ringlet::spawn([&] {
        ringlet::net::serve(l, [](TcpStream s) {
            std::string buf(4096, '\0');
            for (;;) {
                const std::size_t got = s.read(wbytes(buf));
                if (got == 0) return;
                s.write_all(std::string_view(buf.data(), got));
            }
        });
    });
    std::atomic<int> ok{0};
    std::vector<std::string> errors;
    ringlet::Group clients;
    for (int i = 0; i < n; ++i) {
        clients.spawn([&, i] {
            try {
                auto c = TcpStream::connect("127.0.0.1", l.port());
                // Sizes from 1 byte to ~12 KiB, each connection its own bytes.
                const std::string msg = pattern(1 + (static_cast<std::size_t>(i) * 37) % 12000,
                                                1000 + static_cast<std::uint64_t>(i));
                c.write_all(bytes(msg));
                c.shutdown_write();
                const std::string back = read_to_eof(c);
                if (back == msg) {
                    ++ok;
                } else {
                    errors.push_back("client " + std::to_string(i) + ": echo differs (" +
                                     std::to_string(back.size()) + " of " +
                                     std::to_string(msg.size()) + " bytes)");
                }
            } catch (const std::exception& e) {
                errors.push_back("client " + std::to_string(i) + ": " + e.what());
            }
        });
    }
    EXPECT_TRUE(clients.join(120s));
    EXPECT_EQ(ok.load(), n);
    for (std::size_t i = 0; i < errors.size() && i < 10; ++i) ADD_FAILURE() << errors[i];
    server.cancel();
    server.join();
    EXPECT_TRUE(server.cancelled());
}

// ---------------------------------------------------------- plain threads

RINGLET_TEST(TcpThreadTest, PlainThreadClientAgainstATaskServer) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    const std::uint16_t port = l.port();
    auto server = ringlet::spawn([&] {
        auto s = l.accept();
        std::string req = read_to_eof(s);
        std::reverse(req.begin(), req.end());
        s.write_all(req);
    });
    ringlet::Event thread_done;
    std::string reply, thread_error;
    std::thread client([&] {
        try {
            // No scheduler here: every call blocks the thread.
            auto c = TcpStream::connect("localhost", port);
            c.set_nodelay();
            const std::string msg = pattern(200000, 6);
            c.write_all(bytes(msg));
            c.shutdown_write();
            reply = read_to_eof(c);
            std::string expect = msg;
            std::reverse(expect.begin(), expect.end());
            if (reply != expect) thread_error = "reply differs";
        } catch (const std::exception& e) {
            thread_error = e.what();
        }
        thread_done.set();
    });
    EXPECT_TRUE(thread_done.wait(60s));  // suspends this task: the server runs
    client.join();
    EXPECT_EQ(thread_error, "");
    EXPECT_EQ(reply.size(), 200000u);
    server.get();
}

RINGLET_TEST(TcpThreadTest, PlainThreadServerAgainstATaskClient) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    std::string thread_error;
    ringlet::Event thread_done;
    std::thread server([&] {
        try {
            auto s = l.accept();  // blocks the thread
            const std::string req = read_exactly(s, 5);
            s.write_all(req + "!");
            s.close();
        } catch (const std::exception& e) {
            thread_error = e.what();
        }
        thread_done.set();
    });
    auto c = TcpStream::connect("127.0.0.1", l.port());
    c.write_all("hello");
    EXPECT_EQ(read_to_eof(c), "hello!");
    EXPECT_TRUE(thread_done.wait(60s));
    server.join();
    EXPECT_EQ(thread_error, "");
}

TEST(TcpPlainThreadTest, ConnectTimeoutAndRefusedWithoutAScheduler) {
    const auto port = closed_port();
    EXPECT_EQ(io_errno([&] { TcpStream::connect("127.0.0.1", port); }), ECONNREFUSED);
    Blackhole hole;
    if (!hole.fill()) GTEST_SKIP() << "could not fill a backlog-0 accept queue";
    const auto t0 = Clock::now();
    EXPECT_THROW(TcpStream::connect(hole.address(), 150ms), ringlet::TimeoutError);
    EXPECT_GE(Clock::now() - t0, 140ms);
    EXPECT_LT(Clock::now() - t0, 10s);
}

TEST(TcpPlainThreadTest, EchoBetweenTwoPlainThreads) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    std::thread server([&] {
        auto s = l.accept();
        s.write_all(read_to_eof(s));
    });
    auto c = TcpStream::connect("127.0.0.1", l.port());
    const std::string msg = pattern(3 << 20, 7);  // larger than the socket buffers
    std::thread writer([&] {
        c.write_all(bytes(msg));
        c.shutdown_write();
    });
    const std::string back = read_to_eof(c);
    writer.join();
    server.join();
    EXPECT_TRUE(back == msg);
}
