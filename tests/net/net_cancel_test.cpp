// tests/net/net_cancel_test.cpp — Cancelled and TimeoutError on every
// blocking socket call (accept, read, write, connect, recv_from): each ends
// the call promptly, loses no data, leaves the kernel done with the caller's
// buffer, and leaves the socket usable and closable. Also: closing a socket
// from another task wakes the task blocked on it.
#include <sys/socket.h>
#include <unistd.h>

#include <array>
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
using ringlet::Cancelled;
using ringlet::TimeoutError;
using ringlet::net::SocketAddress;
using ringlet::net::TcpListener;
using ringlet::net::TcpStream;
using ringlet::net::UdpSocket;

namespace {

struct Counted {
    int* destroyed;
    ~Counted() { ++*destroyed; }
};

// Spawns `body` (which blocks in the call under test), waits until it is
// parked there, cancels it, and checks that it ended cancelled with its
// destructors run.
template <class Body>
void cancel_blocked(Body body) {
    int destroyed = 0;
    bool returned = false;
    ringlet::Event entering;
    auto t = ringlet::spawn([&] {
        Counted guard{&destroyed};
        entering.set();
        body();
        returned = true;
    });
    ASSERT_TRUE(entering.wait(10s));
    settle();  // the call is now in the kernel (or queued for it)
    ASSERT_FALSE(t.done()) << "the call under test did not block";
    const auto t0 = Clock::now();
    t.cancel();
    ASSERT_TRUE(t.join(10s)) << "a cancelled call did not return";
    EXPECT_LT(Clock::now() - t0, 5s);
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(t.failed());
    EXPECT_FALSE(returned);
    EXPECT_EQ(destroyed, 1);
    EXPECT_THROW(t.get(), Cancelled);
}

}  // namespace

// ------------------------------------------------------------------ accept

RINGLET_TEST(CancelTest, Accept) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    cancel_blocked([&] { l.accept(); });
    // The listener still works.
    auto c = TcpStream::connect("127.0.0.1", l.port());
    auto s = l.accept();
    EXPECT_EQ(s.peer_address(), c.local_address());
    l.close();
}

RINGLET_TEST(CancelTest, AcceptManyTimesLeaksNothing) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    const int before = open_fd_count();
    for (int i = 0; i < 50; ++i) {
        auto t = ringlet::spawn([&] { l.accept(); });
        ringlet::yield();
        if (i % 2) settle();
        t.cancel();
        ASSERT_TRUE(t.join(10s));
        EXPECT_TRUE(t.cancelled());
    }
    EXPECT_EQ(open_fd_count(), before);
    auto c = TcpStream::connect("127.0.0.1", l.port());
    auto s = l.accept();
    EXPECT_TRUE(s.is_open());
}

RINGLET_TEST(TimeoutTest, Accept) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    const auto t0 = Clock::now();
    ringlet::Timeout scope(50ms);
    try {
        l.accept();
        ADD_FAILURE() << "accept returned with no client";
    } catch (const TimeoutError& e) {
        EXPECT_EQ(e.scope(), &scope);
    }
    EXPECT_GE(Clock::now() - t0, 49ms);
    EXPECT_LT(Clock::now() - t0, 5s);
}

RINGLET_TEST(TimeoutTest, AcceptThenTheListenerStillWorks) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    EXPECT_THROW(ringlet::with_timeout(20ms, [&] { return l.accept(); }), TimeoutError);
    auto c = TcpStream::connect("127.0.0.1", l.port());
    auto s = ringlet::with_timeout(10s, [&] { return l.accept(); });
    c.write_all("x");
    EXPECT_EQ(read_exactly(s, 1), "x");
}

// -------------------------------------------------------------------- read

RINGLET_TEST(CancelTest, ReadLosesNoData) {
    auto p = tcp_pair();
    cancel_blocked([&] {
        std::array<char, 64> buf;
        p.server.read(buf.data(), buf.size());
    });
    // Nothing was consumed by the cancelled read: later data arrives whole.
    p.client.write_all("after cancel");
    p.client.shutdown_write();
    EXPECT_EQ(read_to_eof(p.server), "after cancel");
}

RINGLET_TEST(CancelTest, ReadThenCloseTheSocket) {
    auto p = tcp_pair();
    cancel_blocked([&] {
        char b[8];
        p.server.read(b, sizeof b);
    });
    EXPECT_NO_THROW(p.server.close());
    EXPECT_EQ(read_to_eof(p.client), "");
}

RINGLET_TEST(CancelTest, ReadExactKeepsWhatItRead) {
    // read_exact may have consumed a prefix before the cancel: that prefix
    // is in the caller's buffer, the rest is still in the socket.
    auto p = tcp_pair();
    std::string buf(10, '\0');
    auto t = ringlet::spawn([&] { p.server.read_exact(wbytes(buf)); });
    p.client.write_all("abcd");
    ASSERT_TRUE(yield_until([&] { return buf.substr(0, 4) == "abcd"; }));
    settle();
    t.cancel();
    ASSERT_TRUE(t.join(10s));
    EXPECT_TRUE(t.cancelled());
    p.client.write_all("efghij");
    p.client.shutdown_write();
    EXPECT_EQ(buf.substr(0, 4) + read_to_eof(p.server), "abcdefghij");
}

RINGLET_TEST(TimeoutTest, ReadKernelDoesNotWriteTheBufferAfterwards) {
    auto p = tcp_pair();
    std::array<unsigned char, 256> buf;  // on this task's stack
    buf.fill(0);
    const auto t0 = Clock::now();
    try {
        ringlet::Timeout scope(50ms);
        p.server.read(buf.data(), buf.size());
        ADD_FAILURE() << "read returned with nothing sent";
    } catch (const TimeoutError&) {
    }
    EXPECT_GE(Clock::now() - t0, 49ms);
    EXPECT_LT(Clock::now() - t0, 5s);
    // The read is over: the kernel must not deliver into `buf` any more.
    buf.fill(0xA5);
    const std::string payload = pattern(200, 9);
    p.client.write_all(payload);
    settle(20);
    ringlet::sleep(20ms);  // time for a stray in-kernel receive to land
    for (std::size_t i = 0; i < buf.size(); ++i) {
        ASSERT_EQ(buf[i], 0xA5) << "byte " << i << " of the timed-out read's buffer changed";
    }
    // And no byte was lost: a later read gets all of it.
    EXPECT_EQ(read_exactly(p.server, payload.size()), payload);
}

RINGLET_TEST(TimeoutTest, ReadReturnsDataThatArrivesInTime) {
    auto p = tcp_pair();
    auto writer = ringlet::spawn([&] {
        ringlet::yield();
        p.client.write_all("in time");
    });
    std::string got;
    {
        ringlet::Timeout scope(10s);
        got = read_exactly(p.server, 7);
    }
    EXPECT_EQ(got, "in time");
    writer.get();
}

RINGLET_TEST(TimeoutTest, NestedScopesReportTheEarliest) {
    auto p = tcp_pair();
    ringlet::Timeout outer(10s);
    ringlet::Timeout inner(30ms);
    try {
        char b;
        p.server.read(&b, 1);
        ADD_FAILURE() << "read returned";
    } catch (const TimeoutError& e) {
        EXPECT_EQ(e.scope(), &inner);
        EXPECT_TRUE(inner.expired());
        EXPECT_FALSE(outer.expired());
    }
}

// ------------------------------------------------------------------- write

RINGLET_TEST(CancelTest, WriteOnAFullSocketThenStreamStaysConsistent) {
    auto p = tcp_pair();
    const std::size_t filled = fill_send_buffer(p.client, p.server, 'F');
    ASSERT_GT(filled, 0u);
    const std::string blocked(1 << 20, 'A');
    cancel_blocked([&] { p.client.write_all(blocked); });
    // The socket is still usable: what the reader gets is the fill, then a
    // prefix of the cancelled write (maybe empty), then the marker.
    auto reader = ringlet::spawn([&] { return read_to_eof(p.server); });
    p.client.write_all("END");
    p.client.shutdown_write();
    const std::string got = reader.get();
    ASSERT_GE(got.size(), filled + 3);
    EXPECT_EQ(got.find_first_not_of('F'), filled);
    const std::size_t a_end = got.find_first_not_of('A', filled);
    ASSERT_NE(a_end, std::string::npos);
    EXPECT_LT(a_end - filled, blocked.size());
    EXPECT_EQ(got.substr(a_end), "END");
}

RINGLET_TEST(TimeoutTest, WriteOnAFullSocket) {
    auto p = tcp_pair();
    fill_send_buffer(p.client, p.server);
    const std::string big(1 << 20, 'A');
    const auto t0 = Clock::now();
    EXPECT_THROW(ringlet::with_timeout(50ms, [&] { p.client.write_all(big); }), TimeoutError);
    EXPECT_GE(Clock::now() - t0, 49ms);
    EXPECT_LT(Clock::now() - t0, 5s);
    // Still usable: drain and write again.
    auto drain = ringlet::spawn([&] { return read_to_eof(p.server).size(); });
    p.client.write_all("tail");
    p.client.shutdown_write();
    EXPECT_GT(drain.get(), 4u);
}

// ----------------------------------------------------------------- connect

RINGLET_TEST(CancelTest, ConnectToABlackhole) {
    Blackhole hole;
    if (!hole.fill()) GTEST_SKIP() << "could not fill a backlog-0 accept queue";
    const int before = open_fd_count();
    cancel_blocked([&] { TcpStream::connect(hole.address()); });
    EXPECT_EQ(open_fd_count(), before);  // the half-open socket was closed
    // The listener is still closable, and the queued connections fine.
    EXPECT_NO_THROW(hole.listener.close());
}

RINGLET_TEST(CancelTest, ConnectByNameToABlackhole) {
    Blackhole hole;
    if (!hole.fill()) GTEST_SKIP() << "could not fill a backlog-0 accept queue";
    cancel_blocked([&] { TcpStream::connect("127.0.0.1", hole.listener.port()); });
}

RINGLET_TEST(TimeoutTest, ConnectScopeAroundABlackhole) {
    Blackhole hole;
    if (!hole.fill()) GTEST_SKIP() << "could not fill a backlog-0 accept queue";
    const auto t0 = Clock::now();
    EXPECT_THROW(ringlet::with_timeout(100ms, [&] { return TcpStream::connect(hole.address()); }),
                 TimeoutError);
    EXPECT_GE(Clock::now() - t0, 99ms);
    EXPECT_LT(Clock::now() - t0, 5s);
}

RINGLET_TEST(TimeoutTest, ConnectOwnTimeoutShorterThanTheScope) {
    Blackhole hole;
    if (!hole.fill()) GTEST_SKIP() << "could not fill a backlog-0 accept queue";
    ringlet::Timeout scope(10s);
    const auto t0 = Clock::now();
    EXPECT_THROW(TcpStream::connect(hole.address(), 60ms), TimeoutError);
    EXPECT_LT(Clock::now() - t0, 5s);
    EXPECT_FALSE(scope.expired());  // the call's own deadline fired, not the scope
}

// ---------------------------------------------------------------- recv_from

RINGLET_TEST(CancelTest, UdpRecvFromLosesNoDatagram) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    auto b = UdpSocket::bind("127.0.0.1", 0);
    cancel_blocked([&] {
        std::array<std::byte, 128> buf;
        b.recv_from(buf);
    });
    a.send_to("after cancel", b.local_address());
    std::string buf(64, '\0');
    auto [n, from] = b.recv_from(wbytes(buf));
    EXPECT_EQ(buf.substr(0, n), "after cancel");
    EXPECT_EQ(from, a.local_address());
    b.close();
}

RINGLET_TEST(TimeoutTest, UdpRecvFrom) {
    auto a = UdpSocket::bind("127.0.0.1", 0);
    auto b = UdpSocket::bind("127.0.0.1", 0);
    std::array<unsigned char, 128> buf;
    const auto t0 = Clock::now();
    EXPECT_THROW(ringlet::with_timeout(40ms, [&] { b.recv_from(std::as_writable_bytes(std::span(buf))); }),
                 TimeoutError);
    EXPECT_GE(Clock::now() - t0, 39ms);
    buf.fill(0x5A);
    a.send_to("dgram", b.local_address());
    settle(20);
    ringlet::sleep(20ms);
    for (unsigned char c : buf) ASSERT_EQ(c, 0x5A);
    std::string out(64, '\0');
    auto [n, from] = b.recv_from(wbytes(out));
    EXPECT_EQ(out.substr(0, n), "dgram");
}

// ------------------------------------------------- pending cancel and races

RINGLET_TEST(CancelTest, PendingCancelStopsTheCallBeforeItStarts) {
    // A cancel requested before the task reaches its first IO call: the call
    // throws Cancelled without touching the socket.
    auto p = tcp_pair();
    p.client.write_all("keep");
    auto t = ringlet::spawn([&] {
        char b[4];
        p.server.read(b, sizeof b);
    });
    t.cancel();  // before it ever runs: it never runs
    ASSERT_TRUE(t.join(10s));
    EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(read_exactly(p.server, 4), "keep");
}

RINGLET_TEST(CancelTest, CancelRacingWithArrivingDataNeverLosesBytes) {
    // Many rounds where data arrives around the moment of the cancel: each
    // byte is either returned by the cancelled read (the task then records
    // it) or still in the socket; never lost, never duplicated.
    auto p = tcp_pair();
    std::string received;
    for (int round = 0; round < 200; ++round) {
        auto t = ringlet::spawn([&] {
            char b[64];
            const std::size_t n = p.server.read(b, sizeof b);
            received.append(b, n);
            ringlet::yield();  // the pending cancel is delivered here
        });
        ringlet::yield();
        const char c = static_cast<char>('a' + round % 26);
        p.client.write_all(std::string_view(&c, 1));
        if (round % 3 == 0) ringlet::yield();
        t.cancel();
        ASSERT_TRUE(t.join(10s));
    }
    p.client.shutdown_write();
    received += read_to_eof(p.server);
    ASSERT_EQ(received.size(), 200u);
    for (int round = 0; round < 200; ++round) {
        EXPECT_EQ(received[static_cast<std::size_t>(round)], static_cast<char>('a' + round % 26))
            << "round " << round;
    }
}

// ----------------------------------------------------- close from elsewhere

RINGLET_TEST(CloseWakesTest, ReaderBlockedOnAStreamClosedByAnotherTask) {
    // socket.hpp: close() wakes any task still waiting on the socket; its
    // read then returns 0 (or fails), it never waits forever.
    auto p = tcp_pair();
    ringlet::Event reading;
    auto reader = ringlet::spawn([&] {
        char b[8];
        reading.set();
        try {
            return static_cast<long>(p.server.read(b, sizeof b));
        } catch (const ringlet::IoError& e) {
            return -static_cast<long>(e.code().value());
        }
    });
    ASSERT_TRUE(reading.wait(10s));
    settle();
    ASSERT_FALSE(reader.done());
    p.server.close();
    ASSERT_TRUE(reader.join(5s)) << "a read on a socket closed by another task never returned";
    const long res = reader.get();
    EXPECT_TRUE(res == 0 || res == -EBADF) << res;
}

RINGLET_TEST(CloseWakesTest, AcceptBlockedOnAListenerClosedByAnotherTask) {
    auto l = TcpListener::bind("127.0.0.1", 0);
    ringlet::Event accepting;
    auto acceptor = ringlet::spawn([&] {
        accepting.set();
        try {
            l.accept();
            return 0;
        } catch (const ringlet::IoError& e) {
            return e.code().value();
        }
    });
    ASSERT_TRUE(accepting.wait(10s));
    settle();
    ASSERT_FALSE(acceptor.done());
    l.close();
    ASSERT_TRUE(acceptor.join(5s)) << "accept on a listener closed by another task never returned";
    EXPECT_NE(acceptor.get(), 0);
}

RINGLET_TEST(CloseWakesTest, UdpReceiverBlockedOnASocketClosedByAnotherTask) {
    auto b = UdpSocket::bind("127.0.0.1", 0);
    ringlet::Event receiving;
    auto receiver = ringlet::spawn([&] {
        std::array<std::byte, 16> buf;
        receiving.set();
        try {
            return static_cast<long>(b.recv_from(buf).first);
        } catch (const ringlet::IoError& e) {
            return -static_cast<long>(e.code().value());
        }
    });
    ASSERT_TRUE(receiving.wait(10s));
    settle();
    ASSERT_FALSE(receiver.done());
    b.close();
    ASSERT_TRUE(receiver.join(5s)) << "recv_from on a socket closed by another task never returned";
}

// ------------------------------------------------------------ plain threads

TEST(PlainThreadCancelTest, ReadBlocksTheThreadUntilDataArrives) {
    // Without a scheduler the same calls block the thread; a peer thread
    // unblocks it.
    auto l = TcpListener::bind("127.0.0.1", 0);
    auto c = TcpStream::connect("127.0.0.1", l.port());
    auto s = l.accept();
    std::thread writer([&] {
        std::this_thread::sleep_for(20ms);  // make the reader really block
        c.write_all("unblocked");
        c.shutdown_write();
    });
    EXPECT_EQ(read_to_eof(s), "unblocked");
    writer.join();
}
