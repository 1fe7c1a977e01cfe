// tests/ipc/manager_remote_test.cpp — ipc::Manager over TCP: serve() and
// connect() (task_master / task_worker in miniature), the HMAC handshake in
// both directions (wrong key, a fake server that cannot prove the key, a
// peer that is no manager, a silent server), and hostile clients written
// raw into the socket: random bytes, silence, a 2 GiB length prefix, half a
// frame (closed, and left hanging), malformed requests, an item never
// acknowledged. After each, the server still serves a good client.
#include <ringlet/ipc/manager.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/net/unix.hpp>
#include <ringlet/ringlet.hpp>

#include "io_request.hpp"
#include "manager_wire.hpp"
#include "ringlet_test.hpp"

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;
namespace net = ringlet::net;
namespace wire = ringlet::ipc::detail;
using ipc::AuthenticationError;
using ipc::Manager;
using ipc::ManagerError;
using ipc::ManagerOptions;
using wire::WireResult;

namespace {

constexpr std::string_view key = "abc";

std::string message_of(auto&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no exception)";
}

// A raw TCP connection to a manager, for writing whatever we like.
struct Raw {
    explicit Raw(std::uint16_t port) : stream(net::TcpStream::connect("127.0.0.1", port)),
                                       io(stream.socket().fd()) {}
    void send(std::string_view bytes) {
        ASSERT_EQ(io.write_all(bytes, ringlet::deadline_after(5s)), 0);
    }
    // What the next read gives within `timeout`: ok (a byte arrived), eof, …
    WireResult next(ringlet::Duration timeout = 10s) {
        char c;
        return io.read_exact(&c, 1, ringlet::deadline_after(timeout));
    }
    // True if the server closes (EOF, or a reset) within `timeout`.
    bool closed_by_server(ringlet::Duration timeout = 10s) {
        const WireResult r = next(timeout);
        return r == WireResult::eof || r == WireResult::error;
    }
    net::TcpStream stream;
    wire::WireStream io;
};

// A raw connection that passed the handshake.
struct Authenticated : Raw {
    explicit Authenticated(std::uint16_t port, std::string_view k = key) : Raw(port) {
        wire::client_handshake(io, k, ringlet::deadline_after(10s), "test");
    }
    std::string reply() {
        std::string payload;
        EXPECT_EQ(io.read_frame(payload, 1 << 20, ringlet::deadline_after(10s), 10s),
                  WireResult::ok);
        return payload;
    }
};

std::string u32_bytes(std::uint32_t v) { return std::string(reinterpret_cast<char*>(&v), 4); }

// A request frame: op, name, then `args` (already in wire layout).
std::string request(wire::ManagerOp op, const std::string& name, const std::string& args = {}) {
    ipc::Writer w;
    w.bytes().assign(wire::frame_length_size, '\0');
    w.write(static_cast<std::uint8_t>(op));
    w.write(name);
    w.bytes() += args;
    wire::finish_frame(w.bytes());
    return std::move(w.bytes());
}

template <class T>
std::string value_arg(const T& v) {
    ipc::Writer w;
    wire::write_value(w, v);
    return std::move(w.bytes());
}

template <class T>
std::string arg(const T& v) {
    return ipc::encode(v);
}

// The error kind of an error reply (0 if it is not one).
int error_kind(const std::string& reply) {
    if (reply.size() < 2 || reply[0] != static_cast<char>(wire::ReplyStatus::error)) return 0;
    return static_cast<unsigned char>(reply[1]);
}

// Proves the server still serves: a new client connects and round-trips.
void expect_serving(std::uint16_t port) {
    Manager c = Manager::connect("127.0.0.1", port, key);
    auto v = c.value<int>("alive", 0);
    v.set(v.get() + 1);
    EXPECT_GT(v.get(), 0);
}

ManagerOptions quick() {
    ManagerOptions o;
    o.handshake_timeout = 300ms;
    o.frame_timeout = 300ms;
    return o;
}

}  // namespace

// ---- serve / connect -------------------------------------------------------------

// BaseManager's task_master / task_worker ("十、分布式进程") in one test: the
// master serves two queues, a worker process connects with the key, squares
// the tasks, and puts the results.
RINGLET_TEST(ManagerRemoteTest, AWorkerProcessConnectsAndSharesQueues) {
    Manager master = Manager::serve("127.0.0.1", 0, key);
    const std::uint16_t port = master.port();
    ASSERT_GT(port, 0);
    EXPECT_EQ(master.address(), "127.0.0.1:" + std::to_string(port));
    EXPECT_EQ(master.authkey(), key);
    EXPECT_GT(master.server_pid(), 0);
    auto tasks = master.queue<int>("task_queue");
    auto results = master.queue<std::string>("result_queue");
    for (int n : {3, 14, 15, 92, 65}) tasks.put(n);

    ipc::Process worker([port] {
        Manager m = Manager::connect("127.0.0.1", port, key);
        auto task = m.queue<int>("task_queue");
        auto result = m.queue<std::string>("result_queue");
        while (auto n = task.get_for(200ms)) {
            result.put(std::to_string(*n) + " * " + std::to_string(*n) + " = " +
                       std::to_string(*n * *n));
        }
    });
    worker.start();
    std::vector<std::string> got;
    for (int i = 0; i < 5; ++i) {
        auto r = results.get_for(10s);
        ASSERT_TRUE(r.has_value());
        got.push_back(*r);
    }
    EXPECT_EQ(got, (std::vector<std::string>{"3 * 3 = 9", "14 * 14 = 196", "15 * 15 = 225",
                                             "92 * 92 = 8464", "65 * 65 = 4225"}));
    worker.join();
    EXPECT_EQ(worker.exitcode(), 0);
    master.shutdown();
}

RINGLET_TEST(ManagerRemoteTest, AConnectHandleIsAClientOnly) {
    Manager master = Manager::serve("127.0.0.1", 0, key);
    Manager c = Manager::connect("127.0.0.1", master.port(), key);
    EXPECT_EQ(c.server_pid(), 0);
    EXPECT_EQ(c.port(), master.port());
    EXPECT_EQ(c.address(), master.address());
    EXPECT_EQ(c.authkey(), key);
    EXPECT_THROW(c.shutdown(), ringlet::UsageError);
    c.dict<std::string, int>("shared").set("x", 1);
    EXPECT_EQ((master.dict<std::string, int>("shared").get("x")), 1);
    {
        Manager gone = std::move(c);  // destroying a client handle stops nothing
    }
    expect_serving(master.port());
}

RINGLET_TEST(ManagerRemoteTest, AWildcardServerIsReachedOverLoopbackAndByName) {
    Manager m = Manager::serve("0.0.0.0", 0, key);
    EXPECT_EQ(m.address(), "0.0.0.0:" + std::to_string(m.port()));
    m.list<int>("l").append(1);  // the handle itself connects over 127.0.0.1
    Manager by_name = Manager::connect("localhost", m.port(), key);
    EXPECT_EQ(by_name.list<int>("l").to_vector(), std::vector<int>{1});
}

RINGLET_TEST(ManagerRemoteTest, AnAddressInUseThrowsIoError) {
    Manager m = Manager::serve("127.0.0.1", 0, key);
    EXPECT_THROW(Manager::serve("127.0.0.1", m.port(), key), ringlet::IoError);
    expect_serving(m.port());
}

RINGLET_TEST(ManagerRemoteTest, ConnectingToNothingThrowsManagerError) {
    std::uint16_t port = 0;
    {
        auto l = net::TcpListener::bind("127.0.0.1", 0);
        port = l.port();
    }  // closed: nothing listens there now
    const std::string what = message_of([&] { (void)Manager::connect("127.0.0.1", port, key); });
    EXPECT_NE(what.find("cannot connect"), std::string::npos) << what;
    EXPECT_THROW((void)Manager::connect("127.0.0.1", port, key), ManagerError);
}

// ---- The handshake ---------------------------------------------------------------

RINGLET_TEST(ManagerRemoteTest, AWrongAuthkeyIsRejectedAndTheServerGoesOn) {
    Manager m = Manager::serve("127.0.0.1", 0, key);
    try {
        (void)Manager::connect("127.0.0.1", m.port(), "abd");
        ADD_FAILURE() << "no exception";
    } catch (const AuthenticationError& e) {
        EXPECT_NE(std::string(e.what()).find("rejected"), std::string::npos) << e.what();
    }
    // The same for a proxy whose endpoint has the wrong key (raw: the server
    // answers 0 and closes).
    Raw raw(m.port());
    char hello[wire::server_hello_size];
    ASSERT_EQ(raw.io.read_exact(hello, sizeof hello, ringlet::deadline_after(5s)),
              WireResult::ok);
    unsigned char proof[wire::client_proof_size];
    wire::handshake_proof("wrong", wire::client_label,
                          reinterpret_cast<unsigned char*>(hello) + sizeof wire::handshake_magic,
                          proof);
    raw.send({reinterpret_cast<char*>(proof), sizeof proof});
    char verdict = 1;
    ASSERT_EQ(raw.io.read_exact(&verdict, 1, ringlet::deadline_after(5s)), WireResult::ok);
    EXPECT_EQ(verdict, 0);
    EXPECT_TRUE(raw.closed_by_server());
    expect_serving(m.port());
}

RINGLET_TEST(ManagerRemoteTest, RandomBytesInsteadOfAProofAreRejected) {
    Manager m = Manager::serve("127.0.0.1", 0, key, quick());
    {
        Raw raw(m.port());
        char hello[wire::server_hello_size];
        ASSERT_EQ(raw.io.read_exact(hello, sizeof hello, ringlet::deadline_after(5s)),
                  WireResult::ok);
        EXPECT_EQ(std::memcmp(hello, wire::handshake_magic, sizeof wire::handshake_magic), 0);
        std::string junk(wire::client_proof_size, '\0');
        wire::random_bytes(junk.data(), junk.size());
        raw.send(junk);
        char verdict = 1;
        ASSERT_EQ(raw.io.read_exact(&verdict, 1, ringlet::deadline_after(5s)), WireResult::ok);
        EXPECT_EQ(verdict, 0);
        EXPECT_TRUE(raw.closed_by_server());
    }
    {
        // Junk without even reading the hello, more than a proof's worth.
        Raw raw(m.port());
        std::string junk(1000, '\0');
        wire::random_bytes(junk.data(), junk.size());
        raw.send(junk);
        for (int i = 0; i < 100 && raw.next() == WireResult::ok; ++i) {
        }
        EXPECT_TRUE(raw.closed_by_server());
    }
    expect_serving(m.port());
}

RINGLET_TEST(ManagerRemoteTest, ASilentClientIsDroppedAfterTheHandshakeTimeout) {
    Manager m = Manager::serve("127.0.0.1", 0, key, quick());
    Raw silent(m.port());
    expect_serving(m.port());  // served while the silent one waits
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 100 && silent.next() == WireResult::ok; ++i) {  // the hello
    }
    EXPECT_TRUE(silent.closed_by_server());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    expect_serving(m.port());
}

RINGLET_TEST(ManagerRemoteTest, AServerThatCannotProveTheKeyIsRejected) {
    auto listener = net::TcpListener::bind("127.0.0.1", 0);
    ringlet::Event done;
    auto fake = ringlet::spawn([&] {
        net::TcpStream s = listener.accept();
        wire::WireStream io(s.socket().fd());
        std::string hello(wire::handshake_magic, sizeof wire::handshake_magic);
        hello.append(wire::nonce_size, '\x5a');
        (void)io.write_all(hello, ringlet::TimePoint::max());
        char answer[wire::client_proof_size];
        (void)io.read_exact(answer, sizeof answer, ringlet::deadline_after(10s));
        std::string accept(1, '\1');
        accept.append(wire::proof_size, '\0');  // "accepted", with a made-up proof
        (void)io.write_all(accept, ringlet::TimePoint::max());
        done.wait(10s);
    });
    const std::string what =
        message_of([&] { (void)Manager::connect("127.0.0.1", listener.port(), key); });
    EXPECT_NE(what.find("did not prove"), std::string::npos) << what;
    done.set();
    fake.get();
}

RINGLET_TEST(ManagerRemoteTest, APeerThatIsNoManagerIsRejected) {
    auto listener = net::TcpListener::bind("127.0.0.1", 0);
    ringlet::Event done;
    auto fake = ringlet::spawn([&] {
        net::TcpStream s = listener.accept();
        s.write_all("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        done.wait(10s);
    });
    EXPECT_THROW((void)Manager::connect("127.0.0.1", listener.port(), key), AuthenticationError);
    done.set();
    fake.get();
}

RINGLET_TEST(ManagerRemoteTest, ASilentServerTimesOutWithManagerError) {
    auto listener = net::TcpListener::bind("127.0.0.1", 0);
    ringlet::Event done;
    auto fake = ringlet::spawn([&] {
        net::TcpStream s = listener.accept();
        done.wait(10s);
    });
    ManagerOptions o;
    o.handshake_timeout = 200ms;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW((void)Manager::connect("127.0.0.1", listener.port(), key, o), ManagerError);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    done.set();
    fake.get();
}

// ---- Hostile frames --------------------------------------------------------------

RINGLET_TEST(ManagerRemoteTest, A2GiBLengthPrefixClosesTheConnection) {
    Manager m = Manager::serve("127.0.0.1", 0, key);
    Authenticated raw(m.port());
    raw.send(u32_bytes(std::uint32_t{1} << 31));
    EXPECT_TRUE(raw.closed_by_server());
    EXPECT_EQ(::kill(m.server_pid(), 0), 0);  // alive
    expect_serving(m.port());
}

RINGLET_TEST(ManagerRemoteTest, AHalfSentFrameThenACloseIsDropped) {
    Manager m = Manager::serve("127.0.0.1", 0, key);
    {
        Authenticated raw(m.port());
        raw.send(u32_bytes(100) + std::string(10, 'x'));
    }  // closed in the middle of the frame
    {
        Authenticated raw(m.port());
        raw.send(std::string(2, '\0'));  // half of a length prefix
    }
    expect_serving(m.port());
    EXPECT_EQ(::kill(m.server_pid(), 0), 0);
}

RINGLET_TEST(ManagerRemoteTest, AHalfSentFrameLeftOpenIsDroppedAfterTheFrameTimeout) {
    Manager m = Manager::serve("127.0.0.1", 0, key, quick());
    Authenticated raw(m.port());
    raw.send(u32_bytes(100) + std::string(10, 'x'));
    const auto start = std::chrono::steady_clock::now();
    expect_serving(m.port());  // others are served while it hangs
    EXPECT_TRUE(raw.closed_by_server());
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 200ms);
    EXPECT_LT(took, 5s);
    expect_serving(m.port());
}

RINGLET_TEST(ManagerRemoteTest, MalformedRequestsGetErrorRepliesAndTheConnectionGoesOn) {
    using Op = wire::ManagerOp;
    Manager m = Manager::serve("127.0.0.1", 0, key);
    Authenticated raw(m.port());
    const int bad_request = static_cast<int>(wire::ErrorKind::bad_request);
    const int usage = static_cast<int>(wire::ErrorKind::usage);

    raw.send(u32_bytes(0));  // an empty request
    EXPECT_EQ(error_kind(raw.reply()), bad_request);
    raw.send(request(static_cast<Op>(0xee), "x"));  // an unknown op
    EXPECT_EQ(error_kind(raw.reply()), bad_request);
    raw.send(request(Op::dict_get, "nobody", value_arg(1)));  // no such object
    EXPECT_EQ(error_kind(raw.reply()), usage);
    raw.send(request(Op::attach, "d", arg(std::uint8_t{1})));  // truncated arguments
    EXPECT_EQ(error_kind(raw.reply()), bad_request);
    raw.send(request(Op::attach, "d", arg(std::uint8_t{9}) + arg(std::string()) +
                                          arg(std::optional<std::string>()) +
                                          arg(std::uint64_t{0})));  // unknown kind
    EXPECT_EQ(error_kind(raw.reply()), bad_request);
    std::string frame = u32_bytes(3) + std::string("\x0a\xff\xff");  // a name cut short
    raw.send(frame);
    EXPECT_EQ(error_kind(raw.reply()), bad_request);

    // Still in step: a proper attach and set/get on this same connection.
    const std::string fingerprint = wire::type_fingerprint<int, int>();
    raw.send(request(Op::attach, "d",
                     arg(std::uint8_t{1}) + arg(fingerprint) +
                         arg(std::optional<std::string>()) + arg(std::uint64_t{0})));
    EXPECT_EQ(raw.reply(), std::string("\0\1", 2));  // ok, created
    raw.send(request(Op::dict_set, "d", value_arg(1) + value_arg(2) + "trailing"));
    EXPECT_EQ(error_kind(raw.reply()), bad_request);  // trailing bytes: refused, nothing set
    raw.send(request(Op::dict_set, "d", value_arg(1) + value_arg(2)));
    EXPECT_EQ(raw.reply(), std::string(1, '\0'));
    EXPECT_EQ((m.dict<int, int>("d").get(1)), 2);
    EXPECT_EQ((m.dict<int, int>("d").size()), 1u);
}

RINGLET_TEST(ManagerRemoteTest, AnItemNeverAcknowledgedGoesBackToTheQueue) {
    using Op = wire::ManagerOp;
    Manager m = Manager::serve("127.0.0.1", 0, key, quick());
    auto q = m.queue<int>("q");
    for (int i = 1; i <= 3; ++i) q.put(i);
    const std::string get_now = request(Op::queue_get, "q", arg(std::int64_t{0}));
    {
        Authenticated raw(m.port());
        raw.send(get_now);
        const std::string reply = raw.reply();
        ASSERT_FALSE(reply.empty());
        EXPECT_EQ(reply[0], static_cast<char>(wire::ReplyStatus::ok_ack));
    }  // closed without acknowledging item 1
    {
        Authenticated raw(m.port());
        raw.send(get_now);
        (void)raw.reply();
        raw.send(get_now);  // not an acknowledgement: out of step, closed
        EXPECT_TRUE(raw.closed_by_server());
    }
    {
        Authenticated raw(m.port());
        raw.send(get_now);
        (void)raw.reply();
        EXPECT_TRUE(raw.closed_by_server());  // silent past frame_timeout
    }
    // Each time the server put item 1 back at the head.
    EXPECT_EQ(q.get_for(5s), 1);
    EXPECT_EQ(q.get_for(5s), 2);
    EXPECT_EQ(q.get_for(5s), 3);
    EXPECT_EQ(q.try_get(), std::nullopt);
    {
        // A stray acknowledgement is out of step too.
        Authenticated raw(m.port());
        std::string ack = u32_bytes(1);
        ack += static_cast<char>(Op::ack);
        raw.send(ack);
        EXPECT_TRUE(raw.closed_by_server());
    }
    expect_serving(m.port());
}

RINGLET_TEST(ManagerRemoteTest, AClientThatVanishesWhileItsGetWaitsLeavesNoWaiter) {
    using Op = wire::ManagerOp;
    Manager m = Manager::serve("127.0.0.1", 0, key);
    auto q = m.queue<int>("q");
    {
        Authenticated raw(m.port());
        raw.send(request(Op::queue_get, "q", arg(std::int64_t{-1})));  // waits forever
        q.size();  // a round trip on another connection: the server has read it by now
    }  // gone while waiting
    {
        Authenticated raw(m.port());
        raw.send(request(Op::lock_acquire, "missing-lock", arg(std::int64_t{-1})));
        EXPECT_EQ(error_kind(raw.reply()), static_cast<int>(wire::ErrorKind::usage));
    }
    EXPECT_EQ(q.size(), 0u);  // a round trip: the server has seen the hangup by now
    q.put(7);
    // Queued, not handed to the vanished waiter (which would give it back
    // only later, once its reply failed).
    EXPECT_EQ(q.try_get(), 7);
}

RINGLET_TEST(ManagerRemoteTest, AClientThatDoesNotReadItsReplyIsDroppedAfterTheFrameTimeout) {
    using Op = wire::ManagerOp;
    ManagerOptions o = quick();
    Manager m = Manager::serve("127.0.0.1", 0, key, o);
    auto l = m.list<std::string>("big");
    // 32 MiB: more than the kernel's socket buffers on both sides can hold
    // (the server's send buffer grows to tcp_wmem's maximum, 4 MiB by default).
    constexpr std::size_t reply_size = std::size_t{32} << 20;
    for (int i = 0; i < 32; ++i) l.append(std::string(std::size_t{1} << 20, 'b'));
    Authenticated raw(m.port());
    // A fixed receive buffer (no autotuning up to tcp_rmem's maximum).
    const int rcvbuf = 256 << 10;
    ::setsockopt(raw.io.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    raw.send(request(Op::list_snapshot, "big"));
    // Not reading: the server's reply cannot go out. Others are served meanwhile.
    expect_serving(m.port());
    ringlet::sleep(2 * o.frame_timeout);  // a slow reader, on purpose
    std::size_t received = 0;
    char buf[1 << 16];
    for (;;) {
        ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::recv, raw.io.fd()};
        r.buf = buf;
        r.len = sizeof buf;
        const long n = ringlet::detail::perform_io(r, ringlet::deadline_after(10s));
        if (n <= 0) break;  // EOF or reset: the server gave up on us
        received += static_cast<std::size_t>(n);
    }
    EXPECT_LT(received, reply_size);  // the reply was cut off
    expect_serving(m.port());
}
