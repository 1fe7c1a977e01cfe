// tests/ipc/pipe_test.cpp — pipe<T>() and Connection<T>: duplex and one-way
// pipes, EOF, ordering, big messages both ways, size limits, hostile and
// truncated frames written raw into the socket, closed peers (IoError, no
// SIGPIPE), poll(), cancel and Timeout (recv loses nothing; a send cut short
// breaks only the send side), concurrent senders and receivers, plain
// threads, and fork()ed children (with and without a scheduler).
#include <ringlet/ipc/pipe.hpp>

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/net/unix.hpp>
#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;
using ringlet::IoError;
using ringlet::UsageError;
using ringlet::ipc::CodecError;
using ringlet::ipc::Connection;
using ringlet::ipc::pipe;

namespace {

constexpr std::size_t big_size = std::size_t{8} << 20;

std::string pattern(std::size_t size, unsigned seed) {
    std::string s(size, '\0');
    std::uint32_t x = seed * 2654435761u + 1;
    for (char& c : s) {
        x = x * 1103515245u + 12345u;
        c = static_cast<char>(x >> 24);
    }
    return s;
}

std::string u64_bytes(std::uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }

// One whole frame as Connection<T> writes it: u64 payload length, payload.
template <class T>
std::string frame_of(const T& value) {
    const std::string payload = ringlet::ipc::encode(value);
    return u64_bytes(payload.size()) + payload;
}

// Writes bytes straight into a socket fd, bypassing the framing.
void raw_write(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        ASSERT_GT(n, 0) << std::strerror(errno);
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Bytes waiting in a socket's receive queue (not yet read by anyone).
int unread_bytes(int fd) {
    int n = -1;
    ::ioctl(fd, FIONREAD, &n);
    return n;
}

// Yields (letting other tasks and IO completions run) until pred() holds.
template <class Pred>
bool yield_until(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        ringlet::yield();
    }
    return true;
}

void settle() {
    for (int i = 0; i < 5; ++i) ringlet::yield();
}

template <class F>
std::string codec_error_text(F&& f) {
    try {
        f();
    } catch (const CodecError& e) {
        return e.what();
    }
    return "(no CodecError)";
}

// Counts SIGPIPEs while alive (a default SIGPIPE would kill the test).
class SigpipeCounter {
public:
    SigpipeCounter() {
        count = 0;
        struct sigaction sa {};
        sa.sa_handler = [](int) { count.fetch_add(1); };
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGPIPE, &sa, &saved_);
    }
    ~SigpipeCounter() { ::sigaction(SIGPIPE, &saved_, nullptr); }
    static inline std::atomic<int> count{0};

private:
    struct sigaction saved_ {};
};

// Exit status of a child: its exit code, or -N for death by signal N.
int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1000;
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return -1001;
}

struct Order {
    std::string item;
    int quantity;
    friend bool operator==(const Order&, const Order&) = default;
};

}  // namespace

template <>
struct ringlet::ipc::Codec<Order> {
    static void encode(Writer& w, const Order& o) {
        w.write(o.item);
        w.write(o.quantity);
    }
    static Order decode(Reader& r) { return Order{r.read<std::string>(), r.read<int>()}; }
};

// ---- Basics ------------------------------------------------------------------

RINGLET_TEST(PipeTest, DuplexPingPongBetweenTwoTasks) {
    auto [a, b] = pipe<int>();
    auto ponger = ringlet::spawn([&b = b] {
        while (auto n = b.recv()) b.send(*n + 1);
    });
    int value = 0;
    for (int i = 0; i < 1000; ++i) {
        a.send(value);
        const std::optional<int> reply = a.recv();
        ASSERT_TRUE(reply.has_value());
        EXPECT_EQ(*reply, value + 1);
        value = *reply;
    }
    EXPECT_EQ(value, 1000);
    a.close();
    ponger.get();  // b.recv() saw EOF
}

RINGLET_TEST(PipeTest, EndsAreOpenSocketsThatBothSendAndReceive) {
    auto [a, b] = pipe<std::string>();
    EXPECT_GE(a.fd(), 0);
    EXPECT_GE(b.fd(), 0);
    EXPECT_NE(a.fd(), b.fd());
    EXPECT_FALSE(a.closed());
    EXPECT_TRUE(a.readable() && a.writable());
    EXPECT_TRUE(b.readable() && b.writable());
    b.send("to a");
    a.send("to b");
    EXPECT_EQ(a.recv(), "to a");
    EXPECT_EQ(b.recv(), "to b");
}

RINGLET_TEST(PipeTest, StructuredMessagesRoundTrip) {
    using Message = std::variant<Order, std::map<std::string, std::vector<int>>, std::monostate>;
    auto [a, b] = pipe<Message>();
    a.send(Order{"widget", 3});
    a.send(std::map<std::string, std::vector<int>>{{"k", {1, 2}}});
    a.send(std::monostate{});
    EXPECT_EQ(b.recv(), Message(Order{"widget", 3}));
    EXPECT_EQ(b.recv(), Message(std::map<std::string, std::vector<int>>{{"k", {1, 2}}}));
    EXPECT_EQ(b.recv(), Message(std::monostate{}));
    auto [c, d] = pipe<std::string>();
    c.send("");  // an empty payload body is still a message
    EXPECT_EQ(d.recv(), "");
}

RINGLET_TEST(PipeTest, OneWayPipeReceivesOnTheFirstEndAndSendsOnTheSecond) {
    auto [r, w] = pipe<int>(false);
    EXPECT_TRUE(r.readable());
    EXPECT_FALSE(r.writable());
    EXPECT_FALSE(w.readable());
    EXPECT_TRUE(w.writable());
    w.send(1);
    w.send(2);
    EXPECT_EQ(r.recv(), 1);
    EXPECT_EQ(r.recv(), 2);
    w.close();
    EXPECT_EQ(r.recv(), std::nullopt);
}

RINGLET_TEST(PipeTest, OneWayPipeRejectsTheWrongDirection) {
    auto [r, w] = pipe<int>(false);
    EXPECT_THROW(r.send(1), UsageError);
    EXPECT_THROW(w.recv(), UsageError);
    EXPECT_THROW(w.poll(), UsageError);
    EXPECT_THROW(w.poll(10ms), UsageError);
    EXPECT_FALSE(r.poll());  // the rejected send sent nothing
    w.send(3);
    EXPECT_EQ(r.recv(), 3);
}

RINGLET_TEST(PipeTest, RecvReturnsNulloptAtEofAfterTheLastMessage) {
    auto [a, b] = pipe<std::string>();
    a.send("one");
    a.send("two");
    a.close();
    EXPECT_EQ(b.recv(), "one");
    EXPECT_EQ(b.recv(), "two");
    EXPECT_EQ(b.recv(), std::nullopt);
    EXPECT_EQ(b.recv(), std::nullopt);  // and stays at EOF
    EXPECT_TRUE(b.poll());              // EOF is "ready"
}

RINGLET_TEST(PipeTest, ManyMessagesArriveInOrder) {
    auto [a, b] = pipe<std::pair<int, std::string>>();
    constexpr int count = 20000;
    auto sender = ringlet::spawn([&a = a] {
        for (int i = 0; i < count; ++i) a.send({i, std::to_string(i)});
        a.close();
    });
    int expected = 0;
    while (auto m = b.recv()) {
        ASSERT_EQ(m->first, expected);
        ASSERT_EQ(m->second, std::to_string(expected));
        ++expected;
    }
    EXPECT_EQ(expected, count);
    sender.get();
}

RINGLET_TEST(PipeTest, BigMessagesBothWaysConcurrently) {
    auto [a, b] = pipe<std::string>();
    const std::string to_b = pattern(big_size, 1);
    const std::string to_a = pattern(big_size, 2);
    std::optional<std::string> got_a, got_b;
    auto send_a = ringlet::spawn([&, &a = a] {
        a.send(to_b);
        a.send(to_b.substr(0, 1000));
    });
    auto send_b = ringlet::spawn([&, &b = b] {
        b.send(to_a);
        b.send(to_a.substr(0, 1000));
    });
    auto recv_a = ringlet::spawn([&, &a = a] {
        got_a = a.recv();
        EXPECT_EQ(a.recv(), to_a.substr(0, 1000));
    });
    auto recv_b = ringlet::spawn([&, &b = b] {
        got_b = b.recv();
        EXPECT_EQ(b.recv(), to_b.substr(0, 1000));
    });
    ASSERT_TRUE(ringlet::joinall(send_a, send_b, recv_a, recv_b, 60s));
    send_a.get();
    send_b.get();
    recv_a.get();
    recv_b.get();
    ASSERT_TRUE(got_a && got_b);
    EXPECT_TRUE(*got_a == to_a);
    EXPECT_TRUE(*got_b == to_b);
}

// ---- Size limits ---------------------------------------------------------------

RINGLET_TEST(PipeTest, MaxMessageSizeDefaultsTo64MiBAndIsSettable) {
    auto [a, b] = pipe<std::string>();
    EXPECT_EQ(ringlet::ipc::default_max_message_size, std::size_t{64} << 20);
    EXPECT_EQ(a.max_message_size(), ringlet::ipc::default_max_message_size);
    a.set_max_message_size(1000);
    EXPECT_EQ(a.max_message_size(), 1000u);
    EXPECT_EQ(b.max_message_size(), ringlet::ipc::default_max_message_size);  // per end
    Connection<std::string> empty;
    EXPECT_EQ(empty.max_message_size(), ringlet::ipc::default_max_message_size);
    EXPECT_THROW(empty.set_max_message_size(5), UsageError);
}

RINGLET_TEST(PipeTest, OversizeSendIsRejectedAndSendsNothing) {
    auto [a, b] = pipe<std::string>();
    a.set_max_message_size(100);
    // The limit is on the payload: 8 bytes of length + 92 characters fit.
    a.send(std::string(92, 'x'));
    EXPECT_EQ(b.recv(), std::string(92, 'x'));
    const std::string text = codec_error_text([&, &a = a] { a.send(std::string(93, 'y')); });
    EXPECT_NE(text.find("limit"), std::string::npos) << text;
    EXPECT_FALSE(b.poll());
    EXPECT_EQ(unread_bytes(b.fd()), 0);
    a.send("still fine");
    EXPECT_EQ(b.recv(), "still fine");
}

RINGLET_TEST(PipeTest, OversizedLengthPrefixIsRejectedWithoutAllocating) {
    auto [a, b] = pipe<std::string>();
    raw_write(b.fd(), u64_bytes(std::uint64_t{1} << 60) + "garbage");
    const std::string text = codec_error_text([&, &a = a] { a.recv(); });
    EXPECT_NE(text.find("limit"), std::string::npos) << text;
    // The stream is out of step now: the receive side stays broken.
    EXPECT_THROW(a.recv(), CodecError);
    EXPECT_TRUE(a.poll());
    // The other direction is unaffected.
    a.send("a to b");
    EXPECT_EQ(b.recv(), "a to b");
}

RINGLET_TEST(PipeTest, LengthPrefixOverASmallerLimitIsRejected) {
    auto [a, b] = pipe<std::string>();
    a.set_max_message_size(64);
    b.send(std::string(100, 'z'));  // b's own limit is the default
    EXPECT_THROW(a.recv(), CodecError);
    EXPECT_THROW(a.recv(), CodecError);
}

// ---- Truncated and malformed frames ----------------------------------------------

RINGLET_TEST(PipeTest, PeerClosingInsideTheLengthPrefixIsCodecError) {
    auto [a, b] = pipe<std::string>();
    b.send("whole");
    raw_write(b.fd(), frame_of(std::string("cut")).substr(0, 3));
    b.close();
    EXPECT_EQ(a.recv(), "whole");
    const std::string text = codec_error_text([&, &a = a] { a.recv(); });
    EXPECT_NE(text.find("connection closed in the middle of a message"), std::string::npos)
        << text;
    EXPECT_THROW(a.recv(), CodecError);  // broken, not EOF
}

RINGLET_TEST(PipeTest, PeerClosingInsideTheBodyIsCodecError) {
    auto [a, b] = pipe<std::string>();
    const std::string frame = frame_of(std::string(5000, 'q'));
    raw_write(b.fd(), frame.substr(0, 8 + 100));
    b.close();
    const std::string text = codec_error_text([&, &a = a] { a.recv(); });
    EXPECT_NE(text.find("connection closed in the middle of a message"), std::string::npos)
        << text;
    EXPECT_THROW(a.recv(), CodecError);
}

RINGLET_TEST(PipeTest, PeerClosingWhileRecvWaitsMidMessageIsCodecError) {
    auto [a, b] = pipe<std::string>();
    raw_write(b.fd(), frame_of(std::string(5000, 'q')).substr(0, 2000));
    auto receiver = ringlet::spawn([&a = a] { EXPECT_THROW(a.recv(), CodecError); });
    ASSERT_TRUE(yield_until([&, &a = a] { return unread_bytes(a.fd()) == 0; }));
    settle();
    EXPECT_FALSE(receiver.done());  // waiting for the rest: it never hangs past the close
    b.close();
    ASSERT_TRUE(receiver.join(10s));
    receiver.get();
}

RINGLET_TEST(PipeTest, MessageThatDoesNotDecodeIsDroppedAndTheNextArrives) {
    auto [a, b] = pipe<std::string>();
    // A whole frame whose payload claims a 100-byte string but holds 3 bytes.
    const std::string bad_payload = u64_bytes(100) + "abc";
    raw_write(b.fd(), u64_bytes(bad_payload.size()) + bad_payload);
    // And one with a trailing byte after a valid string.
    const std::string trailing = ringlet::ipc::encode(std::string("x")) + "!";
    raw_write(b.fd(), u64_bytes(trailing.size()) + trailing);
    b.send("good");
    EXPECT_THROW(a.recv(), CodecError);
    EXPECT_THROW(a.recv(), CodecError);
    EXPECT_EQ(a.recv(), "good");
}

// ---- Closed peers ------------------------------------------------------------------

RINGLET_TEST(PipeTest, SendToAClosedPeerIsIoErrorWithoutSigpipe) {
    SigpipeCounter sigpipes;
    auto [a, b] = pipe<std::string>();
    b.close();
    try {
        a.send("nobody listens");
        ADD_FAILURE() << "send to a closed peer succeeded";
    } catch (const IoError& e) {
        EXPECT_TRUE(e.code() == std::errc::broken_pipe ||
                    e.code() == std::errc::connection_reset)
            << e.what();
    }
    EXPECT_THROW(a.send(std::string(big_size, 'x')), IoError);
    EXPECT_EQ(SigpipeCounter::count.load(), 0);
}

RINGLET_TEST(PipeTest, PeerClosingDuringABigSendIsIoError) {
    SigpipeCounter sigpipes;
    auto [a, b] = pipe<std::string>();
    auto sender =
        ringlet::spawn([&a = a] { EXPECT_THROW(a.send(std::string(big_size, 's')), IoError); });
    ASSERT_TRUE(yield_until([&, &b = b] { return unread_bytes(b.fd()) > 0; }));
    settle();
    b.close();
    ASSERT_TRUE(sender.join(10s));
    sender.get();
    EXPECT_EQ(SigpipeCounter::count.load(), 0);
}

// ---- close(), empty and moved connections ----------------------------------------------

RINGLET_TEST(PipeTest, ClosedEndRecvsNulloptAndRefusesToSend) {
    auto [a, b] = pipe<int>();
    b.send(1);
    a.close();
    EXPECT_TRUE(a.closed());
    EXPECT_EQ(a.fd(), -1);
    EXPECT_EQ(a.recv(), std::nullopt);
    EXPECT_TRUE(a.poll());
    EXPECT_THROW(a.send(2), UsageError);
    EXPECT_NO_THROW(a.close());  // idempotent
    EXPECT_TRUE(a.readable());   // still the kind of end it was
}

RINGLET_TEST(PipeTest, CloseWakesARecvWaitingInAnotherTask) {
    auto [a, b] = pipe<int>();
    auto receiver = ringlet::spawn([&a = a] { return a.recv(); });
    settle();
    EXPECT_FALSE(receiver.done());
    a.close();
    ASSERT_TRUE(receiver.join(10s));
    EXPECT_EQ(receiver.get(), std::nullopt);
}

RINGLET_TEST(PipeTest, CloseWakesASendWaitingInAnotherTask) {
    auto [a, b] = pipe<std::string>();
    auto sender = ringlet::spawn([&a = a] {
        try {
            a.send(std::string(big_size, 'w'));
            ADD_FAILURE() << "an 8 MiB send with no reader completed";
        } catch (const IoError& e) {
            EXPECT_EQ(e.code(), std::errc::bad_file_descriptor) << e.what();
        }
    });
    ASSERT_TRUE(yield_until([&, &b = b] { return unread_bytes(b.fd()) > 0; }));
    settle();
    EXPECT_FALSE(sender.done());
    a.close();
    ASSERT_TRUE(sender.join(10s));
    sender.get();
    EXPECT_THROW(a.send("x"), UsageError);
}

RINGLET_TEST(PipeTest, EmptyConnectionThrowsUsageError) {
    Connection<int> empty;
    EXPECT_TRUE(empty.closed());
    EXPECT_EQ(empty.fd(), -1);
    EXPECT_FALSE(empty.readable());
    EXPECT_FALSE(empty.writable());
    EXPECT_THROW(empty.send(1), UsageError);
    EXPECT_THROW(empty.recv(), UsageError);
    EXPECT_THROW(empty.poll(), UsageError);
    EXPECT_NO_THROW(empty.close());
}

RINGLET_TEST(PipeTest, MovesTransferTheEnd) {
    auto [a, b] = pipe<int>();
    const int fd = a.fd();
    Connection<int> moved(std::move(a));
    EXPECT_EQ(moved.fd(), fd);
    EXPECT_TRUE(a.closed());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_THROW(a.send(1), UsageError);
    moved.send(5);
    EXPECT_EQ(b.recv(), 5);

    // Move assignment closes what the target held: its peer reads EOF.
    auto [c, d] = pipe<int>();
    moved = std::move(c);
    EXPECT_EQ(b.recv(), std::nullopt);
    moved.send(6);
    EXPECT_EQ(d.recv(), 6);
}

RINGLET_TEST(PipeTest, DestroyingAnEndGivesThePeerEof) {
    auto [a, b] = pipe<int>();
    {
        Connection<int> gone = std::move(b);
        gone.send(9);
    }
    EXPECT_EQ(a.recv(), 9);
    EXPECT_EQ(a.recv(), std::nullopt);
}

RINGLET_TEST(PipeTest, AdoptsAConnectedUnixStream) {
    auto [s1, s2] = ringlet::net::UnixStream::pair();
    Connection<std::string> a(std::move(s1));
    Connection<std::string> b(std::move(s2));
    EXPECT_TRUE(a.readable() && a.writable());
    a.send("over an adopted stream");
    EXPECT_EQ(b.recv(), "over an adopted stream");
    EXPECT_THROW(Connection<int>{ringlet::net::UnixStream()}, UsageError);
}

// ---- poll() ------------------------------------------------------------------------

RINGLET_TEST(PipeTest, PollWithoutDataIsFalse) {
    auto [a, b] = pipe<int>();
    EXPECT_FALSE(a.poll());
    EXPECT_FALSE(a.poll(ringlet::Duration::zero()));
    b.send(1);
    EXPECT_TRUE(a.poll());
    EXPECT_TRUE(a.poll(1s));
    EXPECT_EQ(a.recv(), 1);
    EXPECT_FALSE(a.poll());
}

RINGLET_TEST(PipeTest, PollTimesOut) {
    auto [a, b] = pipe<int>();
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(a.poll(50ms));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
}

RINGLET_TEST(PipeTest, PollWaitsForAMessageFromAnotherTask) {
    auto [a, b] = pipe<int>();
    auto sender = ringlet::spawn([&b = b] { b.send(7); });
    EXPECT_TRUE(a.poll(10s));
    EXPECT_EQ(a.recv(), 7);
    sender.get();
}

RINGLET_TEST(PipeTest, PollSeesAMessageAlreadyReadAhead) {
    auto [a, b] = pipe<int>();
    b.send(1);
    b.send(2);
    ASSERT_TRUE(yield_until([&, &a = a] { return unread_bytes(a.fd()) == 2 * (8 + 4); }));
    EXPECT_EQ(a.recv(), 1);  // reads both frames in one go
    EXPECT_EQ(unread_bytes(a.fd()), 0);
    EXPECT_TRUE(a.poll());  // the socket is empty; the buffered message is ready
    EXPECT_EQ(a.recv(), 2);
    EXPECT_FALSE(a.poll());
}

RINGLET_TEST(PipeTest, PollIsFalseWhileAnotherTaskHoldsTheReceiveSide) {
    auto [a, b] = pipe<int>();
    auto receiver = ringlet::spawn([&a = a] { return a.recv(); });
    settle();
    EXPECT_FALSE(a.poll());
    EXPECT_FALSE(a.poll(20ms));
    b.send(3);
    EXPECT_EQ(receiver.get(), 3);
}

// ---- Cancellation and timeouts ---------------------------------------------------

RINGLET_TEST(PipeTest, RecvCancelledWhileWaitingLosesNothing) {
    auto [a, b] = pipe<std::string>();
    auto receiver = ringlet::spawn([&a = a] { return a.recv(); });
    settle();
    receiver.cancel();
    ASSERT_TRUE(receiver.join(10s));
    EXPECT_TRUE(receiver.cancelled());
    b.send("after the cancel");
    EXPECT_EQ(a.recv(), "after the cancel");
}

RINGLET_TEST(PipeTest, RecvCancelledMidMessageKeepsWhatItRead) {
    auto [a, b] = pipe<std::string>();
    const std::string message = pattern(10000, 3);
    const std::string frame = frame_of(message);
    raw_write(b.fd(), frame.substr(0, 4000));
    auto receiver = ringlet::spawn([&a = a] { return a.recv(); });
    // Once the socket is empty, the receiver has the first 4000 bytes.
    ASSERT_TRUE(yield_until([&, &a = a] { return unread_bytes(a.fd()) == 0; }));
    settle();
    receiver.cancel();
    ASSERT_TRUE(receiver.join(10s));
    EXPECT_TRUE(receiver.cancelled());
    raw_write(b.fd(), frame.substr(4000));
    b.send("next");
    const std::optional<std::string> got = a.recv();
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(*got == message);
    EXPECT_EQ(a.recv(), "next");
}

RINGLET_TEST(PipeTest, RecvUnderATimeoutThrowsTimeoutErrorAndLosesNothing) {
    auto [a, b] = pipe<std::string>();
    const std::string frame = frame_of(std::string(3000, 't'));
    raw_write(b.fd(), frame.substr(0, 1000));
    {
        ringlet::Timeout scope(30ms);
        EXPECT_THROW(a.recv(), ringlet::TimeoutError);
    }
    EXPECT_THROW(ringlet::with_timeout(20ms, [&, &a = a] { return a.recv(); }),
                 ringlet::TimeoutError);
    raw_write(b.fd(), frame.substr(1000));
    EXPECT_EQ(a.recv(), std::string(3000, 't'));
}

RINGLET_TEST(PipeTest, PollUnderATimeoutScopeThrowsTimeoutError) {
    auto [a, b] = pipe<int>();
    ringlet::Timeout scope(30ms);
    EXPECT_THROW(a.poll(10s), ringlet::TimeoutError);
}

RINGLET_TEST(PipeTest, SendCancelledBeforeWritingSendsNothing) {
    auto [a, b] = pipe<int>();
    auto sender = ringlet::spawn([&a = a] { a.send(1); });
    sender.cancel();  // before it first runs: it never runs
    ASSERT_TRUE(sender.join(10s));
    EXPECT_TRUE(sender.cancelled());
    EXPECT_FALSE(b.poll());
    a.send(2);
    EXPECT_EQ(b.recv(), 2);
}

RINGLET_TEST(PipeTest, SendCancelledMidMessageBreaksOnlyTheSendSide) {
    auto [a, b] = pipe<std::string>();
    a.send("before");
    auto sender = ringlet::spawn([&a = a] { a.send(std::string(big_size, 'c')); });
    // The socket buffer holds far less than 8 MiB: the send blocks midway.
    ASSERT_TRUE(yield_until([&, &b = b] { return unread_bytes(b.fd()) > 100; }));
    settle();
    sender.cancel();
    ASSERT_TRUE(sender.join(10s));
    EXPECT_TRUE(sender.cancelled());
    // The peer gets the earlier message, then a clean error, never garbage.
    EXPECT_EQ(b.recv(), "before");
    const std::string text = codec_error_text([&, &b = b] { b.recv(); });
    EXPECT_NE(text.find("connection closed in the middle of a message"), std::string::npos)
        << text;
    // This end cannot send any more; it still receives.
    try {
        a.send("after");
        ADD_FAILURE() << "send on a broken send side succeeded";
    } catch (const IoError& e) {
        EXPECT_EQ(e.code(), std::errc::broken_pipe) << e.what();
    }
    b.send("reply");
    EXPECT_EQ(a.recv(), "reply");
}

RINGLET_TEST(PipeTest, SendUnderATimeoutWithNoReaderThrowsTimeoutError) {
    auto [a, b] = pipe<std::string>();
    EXPECT_THROW(ringlet::with_timeout(50ms, [&, &a = a] { a.send(std::string(big_size, 'x')); }),
                 ringlet::TimeoutError);
    // The cut-short message is not delivered: the receiver sees a broken
    // frame, or (on a slow machine, the deadline came before any byte went
    // out) a clean end once the sender closes.
    a.close();
    bool delivered = false;
    try {
        delivered = b.recv().has_value();
    } catch (const CodecError&) {
    }
    EXPECT_FALSE(delivered);
}

// ---- Sharing an end ---------------------------------------------------------------

RINGLET_TEST(PipeTest, ConcurrentSendsDoNotInterleave) {
    // Each message is larger than the socket buffer, so every send suspends
    // midway; the send lock keeps the other sender out until it is whole.
    auto [a, b] = pipe<std::pair<int, std::string>>();
    constexpr int per_sender = 20;
    constexpr std::size_t size = 300 << 10;
    auto sender = [&a = a](int id) {
        for (int i = 0; i < per_sender; ++i) {
            a.send({id * 1000 + i, std::string(size, char('a' + id))});
        }
    };
    auto s0 = ringlet::spawn(sender, 0);
    auto s1 = ringlet::spawn(sender, 1);
    auto s2 = ringlet::spawn(sender, 2);
    int next[3] = {0, 0, 0};
    for (int n = 0; n < 3 * per_sender; ++n) {
        const auto m = b.recv();
        ASSERT_TRUE(m.has_value());
        const int id = m->first / 1000;
        ASSERT_TRUE(id >= 0 && id < 3);
        EXPECT_EQ(m->first % 1000, next[id]++);  // each sender's order kept
        ASSERT_EQ(m->second.size(), size);
        EXPECT_EQ(m->second.find_first_not_of(char('a' + id)), std::string::npos);
    }
    ASSERT_TRUE(ringlet::joinall(s0, s1, s2, 30s));
}

RINGLET_TEST(PipeTest, ConcurrentRecvsEachGetWholeMessages) {
    auto [a, b] = pipe<std::pair<int, std::string>>();
    constexpr int count = 60;
    constexpr std::size_t size = 200 << 10;
    std::vector<int> seen;
    auto receiver = [&, &b = b] {
        int mine = 0;
        while (auto m = b.recv()) {
            EXPECT_EQ(m->second.size(), size);
            EXPECT_EQ(m->second.find_first_not_of(char('A' + m->first % 26)), std::string::npos);
            seen.push_back(m->first);
            ++mine;
        }
        return mine;
    };
    auto r0 = ringlet::spawn(receiver);
    auto r1 = ringlet::spawn(receiver);
    for (int i = 0; i < count; ++i) a.send({i, std::string(size, char('A' + i % 26))});
    a.close();
    const int got = r0.get() + r1.get();
    EXPECT_EQ(got, count);
    EXPECT_EQ(std::set<int>(seen.begin(), seen.end()).size(), static_cast<std::size_t>(count));
}

// ---- Plain threads ---------------------------------------------------------------

RINGLET_TEST(PipeTest, PlainThreadTalksToATask) {
    auto [mine, theirs] = pipe<std::string>();
    ringlet::Event done;
    std::thread t([&, &theirs = theirs] {
        // A plain thread: every call blocks the thread.
        while (auto m = theirs.recv()) theirs.send("thread:" + *m);
        theirs.send(std::string(big_size, 'T'));
        theirs.close();
        done.set();
    });
    for (int i = 0; i < 200; ++i) {
        mine.send(std::to_string(i));
        EXPECT_EQ(mine.recv(), "thread:" + std::to_string(i));
    }
    mine.send(std::string(big_size, 'M'));
    EXPECT_EQ(mine.recv(), "thread:" + std::string(big_size, 'M'));
    // Closing our write side only: the thread sees EOF and answers once more.
    ::shutdown(mine.fd(), SHUT_WR);
    EXPECT_EQ(mine.recv(), std::string(big_size, 'T'));
    EXPECT_EQ(mine.recv(), std::nullopt);
    EXPECT_TRUE(done.wait(30s));
    t.join();
}

RINGLET_TEST(PipeTest, ATaskAndAThreadSendingOnOneEndDoNotInterleave) {
    auto [a, b] = pipe<std::string>();
    constexpr int per_sender = 20;
    constexpr std::size_t size = 300 << 10;  // larger than the socket buffer
    std::thread t([&a = a] {
        for (int i = 0; i < per_sender; ++i) a.send(std::string(size, 'T'));
    });
    auto task = ringlet::spawn([&a = a] {
        for (int i = 0; i < per_sender; ++i) a.send(std::string(size, 'K'));
    });
    int from_thread = 0, from_task = 0;
    for (int n = 0; n < 2 * per_sender; ++n) {
        const auto m = b.recv();
        ASSERT_TRUE(m.has_value());
        ASSERT_EQ(m->size(), size);
        const char c = (*m)[0];
        EXPECT_EQ(m->find_first_not_of(c), std::string::npos);
        (c == 'T' ? from_thread : from_task)++;
    }
    EXPECT_EQ(from_thread, per_sender);
    EXPECT_EQ(from_task, per_sender);
    task.get();
    t.join();  // already done: all its messages arrived
}

TEST(PipePlainThreadTest, TwoThreadsWithoutAScheduler) {
    auto [a, b] = pipe<std::vector<int>>();
    std::thread t([&b = b] {
        EXPECT_TRUE(b.poll(10s));  // blocks the thread until the first message
        while (auto v = b.recv()) {
            v->push_back(static_cast<int>(v->size()));
            b.send(*v);
        }
    });
    // The thread only answers: nothing comes before we send.
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(a.poll(20ms));  // blocks this thread for the timeout
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 15ms);
    EXPECT_FALSE(a.poll());
    std::vector<int> v;
    for (int i = 0; i < 100; ++i) {
        a.send(v);
        auto back = a.recv();
        ASSERT_TRUE(back.has_value());
        v = std::move(*back);
    }
    EXPECT_EQ(v.size(), 100u);
    EXPECT_EQ(v[99], 99);
    a.close();
    t.join();
}

// ---- Processes ---------------------------------------------------------------------
// fork() only from these plain TEST bodies (no scheduler is running), never
// inside RINGLET_TEST. Each child ends with _exit(code); alarm() turns a hang
// into a death by SIGALRM that the parent reports.

TEST(PipeProcessTest, ChildEchoesWithoutAScheduler) {
    auto [parent_end, child_end] = pipe<std::string>();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::alarm(60);
        parent_end.close();
        int code = 0;
        try {
            while (auto m = child_end.recv()) child_end.send("echo: " + *m);
        } catch (...) {
            code = 2;
        }
        ::_exit(code);
    }
    child_end.close();
    for (int i = 0; i < 100; ++i) {
        parent_end.send(std::to_string(i));
        EXPECT_EQ(parent_end.recv(), "echo: " + std::to_string(i));
    }
    parent_end.close();  // the child's recv() sees EOF
    EXPECT_EQ(wait_for(pid), 0);
}

TEST(PipeProcessTest, ChildAndParentEachRunAScheduler) {
    auto [parent_end, child_end] = pipe<std::pair<int, std::string>>();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::alarm(60);
        parent_end.close();
        int code = 0;
        try {
            code = ringlet::run([&, &child_end = child_end] {
                // Two tasks on the child's end: a big reply while receiving.
                auto big = ringlet::spawn(
                    [&child_end] { child_end.send({-1, pattern(big_size, 7)}); });
                int sum = 0;
                while (auto m = child_end.recv()) sum += m->first;
                big.get();
                child_end.send({sum, "sum"});
                return sum == 4950 ? 0 : 3;
            });
        } catch (...) {
            code = 2;
        }
        ::_exit(code);
    }
    child_end.close();
    const int status = ringlet::run([&, &parent_end = parent_end] {
        auto sender = ringlet::spawn([&parent_end] {
            for (int i = 0; i < 100; ++i) parent_end.send({i, std::string(1000, 'p')});
            ::shutdown(parent_end.fd(), SHUT_WR);  // EOF for the child, replies still come
        });
        const auto big = parent_end.recv();
        EXPECT_TRUE(big && big->first == -1 && big->second == pattern(big_size, 7));
        EXPECT_EQ(parent_end.recv(), (std::pair<int, std::string>{4950, "sum"}));
        EXPECT_EQ(parent_end.recv(), std::nullopt);
        sender.get();
        return wait_for(pid);
    });
    EXPECT_EQ(status, 0);
}

TEST(PipeProcessTest, OneWayPipeFromChildToParent) {
    auto [r, w] = pipe<std::vector<std::uint64_t>>(false);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::alarm(60);
        r.close();
        int code = 0;
        try {
            std::vector<std::uint64_t> v(1 << 20);  // 8 MiB
            for (std::size_t i = 0; i < v.size(); ++i) v[i] = i * i;
            w.send(v);
            w.send({1, 2, 3});
        } catch (...) {
            code = 2;
        }
        ::_exit(code);  // exiting closes w: the parent reads EOF
    }
    w.close();
    const auto v = r.recv();
    ASSERT_TRUE(v.has_value());
    ASSERT_EQ(v->size(), std::size_t{1} << 20);
    bool all = true;
    for (std::size_t i = 0; i < v->size(); ++i) all = all && (*v)[i] == i * i;
    EXPECT_TRUE(all);
    EXPECT_EQ(r.recv(), (std::vector<std::uint64_t>{1, 2, 3}));
    EXPECT_EQ(r.recv(), std::nullopt);
    EXPECT_EQ(wait_for(pid), 0);
}

TEST(PipeProcessTest, ChildDyingMidMessageIsCodecErrorForTheParent) {
    auto [r, w] = pipe<std::string>(false);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        r.close();
        w.send("complete");
        const std::string frame = frame_of(std::string(100000, 'd'));
        raw_write(w.fd(), frame.substr(0, 50000));
        ::_exit(0);  // dies with half a message sent
    }
    w.close();
    EXPECT_EQ(r.recv(), "complete");
    EXPECT_THROW(r.recv(), CodecError);
    EXPECT_EQ(wait_for(pid), 0);
}
