// tests/net/net_udp_test.cpp — UdpSocket: bind (port 0, IPv4, IPv6, errors),
// send_to / recv_from between sockets, the sender's address, datagram
// boundaries, truncation to the buffer, waiting for a datagram, plain threads.
#include <netinet/in.h>
#include <sys/socket.h>

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
using ringlet::net::UdpSocket;

namespace {

std::pair<std::string, SocketAddress> recv_string(UdpSocket& s, std::size_t cap = 65536) {
    std::string buf(cap, '\0');
    auto [n, from] = s.recv_from(wbytes(buf));
    buf.resize(n);
    return {buf, from};
}

}  // namespace

RINGLET_TEST(UdpTest, BindPortZeroPicksAPort) {
    auto s = UdpSocket::bind("127.0.0.1", 0);
    EXPECT_NE(s.port(), 0);
    EXPECT_EQ(s.local_address(), SocketAddress::ip("127.0.0.1", s.port()));
    auto any = UdpSocket::bind("", 0);
    EXPECT_EQ(any.local_address().host(), "0.0.0.0");
    EXPECT_NE(any.port(), 0);
}

RINGLET_TEST(UdpTest, SendToRecvFromWithSenderAddress) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    auto b = UdpSocket::bind("127.0.0.1", 0);
    EXPECT_EQ(a.send_to("hello b", b.local_address()), 7u);
    auto [msg, from] = recv_string(b);
    EXPECT_EQ(msg, "hello b");
    EXPECT_EQ(from, a.local_address());
    EXPECT_EQ(from.to_string(), "127.0.0.1:" + std::to_string(a.port()));
    // Reply to whoever sent it.
    b.send_to("hello a", from);
    auto [reply, from_b] = recv_string(a);
    EXPECT_EQ(reply, "hello a");
    EXPECT_EQ(from_b, b.local_address());
}

RINGLET_TEST(UdpTest, DatagramBoundariesArePreserved) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    auto b = UdpSocket::bind("127.0.0.1", 0);
    const std::vector<std::string> msgs = {"one", "", "three", pattern(1400, 1), "five"};
    for (const auto& m : msgs) EXPECT_EQ(a.send_to(m, b.local_address()), m.size());
    for (const auto& m : msgs) EXPECT_EQ(recv_string(b).first, m);
}

RINGLET_TEST(UdpTest, LargeDatagram) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    auto b = UdpSocket::bind("127.0.0.1", 0);
    const std::string big = pattern(60000, 2);
    EXPECT_EQ(a.send_to(bytes(big), b.local_address()), big.size());
    EXPECT_TRUE(recv_string(b).first == big);
}

RINGLET_TEST(UdpTest, TruncatesToTheBufferAndDropsTheRest) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    auto b = UdpSocket::bind("127.0.0.1", 0);
    const std::string first = pattern(100, 3);
    a.send_to(first, b.local_address());
    a.send_to("second", b.local_address());
    std::string small(10, '\0');
    auto [n, from] = b.recv_from(wbytes(small));
    EXPECT_EQ(n, 10u);
    EXPECT_EQ(small, first.substr(0, 10));
    EXPECT_EQ(from, a.local_address());
    // The rest of the first datagram is gone: the next read is the second.
    EXPECT_EQ(recv_string(b).first, "second");
}

RINGLET_TEST(UdpTest, Ipv6) {
    if (!have_ipv6()) GTEST_SKIP() << "no IPv6 loopback on this host";
    auto a = UdpSocket::bind("::1", 0);
    auto b = UdpSocket::bind("::1", 0);
    EXPECT_EQ(a.local_address().family(), AF_INET6);
    EXPECT_NE(a.port(), 0);
    a.send_to("over v6", b.local_address());
    auto [msg, from] = recv_string(b);
    EXPECT_EQ(msg, "over v6");
    EXPECT_EQ(from.family(), AF_INET6);
    EXPECT_EQ(from.host(), "::1");
    EXPECT_EQ(from.port(), a.port());
    EXPECT_EQ(from.to_string(), "[::1]:" + std::to_string(a.port()));
}

RINGLET_TEST(UdpTest, RecvFromWaitsForADatagram) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    auto b = UdpSocket::bind("127.0.0.1", 0);
    ringlet::Event receiving;
    auto receiver = ringlet::spawn([&] {
        receiving.set();
        return recv_string(b).first;
    });
    receiving.wait();
    settle();
    EXPECT_FALSE(receiver.done());
    a.send_to("late", b.local_address());
    EXPECT_EQ(receiver.get(), "late");
}

RINGLET_TEST(UdpTest, ManyDatagramsBetweenTasks) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    auto b = UdpSocket::bind("127.0.0.1", 0);
    constexpr int n = 200;
    // Ping-pong so no datagram can be dropped for lack of buffer space.
    auto echo = ringlet::spawn([&] {
        for (int i = 0; i < n; ++i) {
            auto [msg, from] = recv_string(b);
            b.send_to(msg, from);
        }
    });
    for (int i = 0; i < n; ++i) {
        const std::string m = pattern(1 + static_cast<std::size_t>(i) * 7, static_cast<std::uint64_t>(i));
        a.send_to(m, b.local_address());
        auto [back, from] = recv_string(a);
        ASSERT_EQ(back, m) << "datagram " << i;
        ASSERT_EQ(from, b.local_address());
    }
    echo.get();
}

RINGLET_TEST(UdpTest, BindErrors) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    EXPECT_EQ(io_errno([&] { UdpSocket::bind("127.0.0.1", a.port()); }), EADDRINUSE);
    EXPECT_THROW(UdpSocket::bind("localhost", 0), ringlet::UsageError);  // numeric only
    EXPECT_THROW(UdpSocket::bind("not an ip", 0), ringlet::UsageError);
}

RINGLET_TEST(UdpTest, SendToAnAddressOfTheWrongFamilyIsIoError) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    const int err = io_errno([&] { a.send_to("x", SocketAddress::unix_path("/nonexistent")); });
    EXPECT_NE(err, 0);
}

RINGLET_TEST(UdpTest, CloseThenIoIsEbadf) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    auto b = UdpSocket::bind("127.0.0.1", 0);
    const auto to = b.local_address();
    a.close();
    EXPECT_NO_THROW(a.close());
    EXPECT_EQ(io_errno([&] { a.send_to("x", to); }), EBADF);
    std::string buf(8, '\0');
    EXPECT_EQ(io_errno([&] { a.recv_from(wbytes(buf)); }), EBADF);
}

TEST(UdpPlainThreadTest, SendAndReceiveWithoutAScheduler) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    auto b = UdpSocket::bind("127.0.0.1", 0);
    std::thread receiver([&] {
        auto [msg, from] = recv_string(b);  // blocks this thread until it arrives
        b.send_to("ack:" + msg, from);
    });
    a.send_to("plain", b.local_address());
    auto [reply, from] = recv_string(a);
    EXPECT_EQ(reply, "ack:plain");
    EXPECT_EQ(from, b.local_address());
    receiver.join();
}
