// tests/faults/faults_io_test.cpp — short counts and EINTR on sockets, pipes,
// files and subprocess pipes; EMFILE/ENFILE on accept.
//
// The shim sees the system calls the runtime makes itself: every call from a
// plain thread, and the calls of tasks on the epoll backend (sockets through
// readiness, files on the blocking pool). Tasks on io_uring hand those
// operations to the ring, where the shim cannot reach them: the tests run a
// plain thread, and tasks forced onto epoll, whatever RINGLET_BACKEND says.
// A short count must be finished by the callers that promise whole buffers
// (read_exact, write_all, Connection::send/recv, read_file, write_file); an
// EINTR must be retried, never reach the caller; and every byte is checked.
#include <cerrno>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <sys/resource.h>

#include <ringlet/file.hpp>
#include <ringlet/ipc/pipe.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/ipc/subprocess.hpp>
#include <ringlet/net.hpp>
#include <ringlet/ringlet.hpp>

#include "fault_control.hpp"
#include "ringlet_test.hpp"

namespace net = ringlet::net;
namespace ipc = ringlet::ipc;

namespace {

enum class Mode { thread, epoll_task };

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 251) & 0xff);
    return s;
}

// Runs `f`, turning an escaping exception into a test failure (it may run on
// a std::thread, where an exception would terminate).
template <class F>
void guarded(F& f) {
    try {
        f();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "unexpected exception: " << e.what();
    }
}

// Runs `a` and `b` at once: on two plain threads, or as two tasks of one
// scheduler on the epoll backend.
template <class A, class B>
void concurrently(Mode mode, A a, B b) {
    if (mode == Mode::thread) {
        std::thread other([&] { guarded(a); });
        guarded(b);
        other.join();
        return;
    }
    ringlet::run(
        [&] {
            auto task = ringlet::spawn([&] { guarded(a); });
            guarded(b);
            task.join();
        },
        ringlet::Options{.backend = "epoll"});
}

// A connected loopback TCP pair.
std::pair<net::TcpStream, net::TcpStream> tcp_pair() {
    std::pair<net::TcpStream, net::TcpStream> p;
    ringlet::run([&] {
        auto listener = net::TcpListener::bind("127.0.0.1", 0);
        auto client = ringlet::spawn(
            [&] { p.first = net::TcpStream::connect("127.0.0.1", listener.port()); });
        p.second = listener.accept();
        client.join();
    });
    return p;
}

void stream_roundtrip(Mode mode, const std::string& faults_for_fds) {
    auto [client, server] = tcp_pair();
    const std::string sent = pattern(256 * 1024);
    std::string got(sent.size(), '\0');
    char spec[256];
    std::snprintf(spec, sizeof spec, faults_for_fds.c_str(), client.socket().fd(),
                  server.socket().fd());
    faults::Armed armed(spec);
    concurrently(
        mode, [&] { client.write_all(std::as_bytes(std::span(sent))); },
        [&] { server.read_exact(std::as_writable_bytes(std::span(got))); });
    EXPECT_GT(faults::hits("send"), 0u);
    EXPECT_GT(faults::hits("recv"), 0u);
    EXPECT_TRUE(got == sent) << "the bytes read differ from those written";
}

}  // namespace

TEST(FaultIoTest, StreamFinishesShortSendsAndRecvsOnAThread) {
    REQUIRE_FAULT_SHIM();
    stream_roundtrip(Mode::thread, "send=%d:short@1..300,recv=%d:short@1..300");
}

TEST(FaultIoTest, StreamFinishesShortSendsAndRecvsInEpollTasks) {
    REQUIRE_FAULT_SHIM();
    stream_roundtrip(Mode::epoll_task, "send=%d:short@1..300,recv=%d:short@1..300");
}

TEST(FaultIoTest, StreamRetriesEintrOnAThread) {
    REQUIRE_FAULT_SHIM();
    stream_roundtrip(Mode::thread, "send=%d:EINTR@1..3,recv=%d:EINTR@1..3");
}

TEST(FaultIoTest, StreamRetriesEintrInEpollTasks) {
    REQUIRE_FAULT_SHIM();
    stream_roundtrip(Mode::epoll_task, "send=%d:EINTR@1..3,recv=%d:EINTR@1..3");
}

TEST(FaultIoTest, StreamReportsAResetAsIoError) {
    REQUIRE_FAULT_SHIM();
    auto [client, server] = tcp_pair();
    char spec[64];
    std::snprintf(spec, sizeof spec, "recv=%d:ECONNRESET@1", server.socket().fd());
    faults::Armed armed(spec);
    std::byte b[4];
    try {
        (void)server.read(b);
        ADD_FAILURE() << "read returned instead of throwing";
    } catch (const ringlet::IoError& e) {
        EXPECT_EQ(e.code(), std::errc::connection_reset);
    }
}

namespace {

void pipe_roundtrip(Mode mode, const char* spec) {
    auto [a, b] = ipc::pipe<std::string>();
    std::vector<std::string> messages;
    for (std::size_t i = 0; i < 40; ++i) messages.push_back(pattern(1 + i * 997));
    faults::Armed armed(spec);
    std::vector<std::string> got;
    concurrently(
        mode,
        [&] {
            for (const auto& m : messages) a.send(m);
            a.close();
        },
        [&] {
            while (auto m = b.recv()) got.push_back(std::move(*m));
        });
    EXPECT_GT(faults::hits("send") + faults::hits("recv"), 0u);
    EXPECT_TRUE(got == messages) << "the pipe delivered " << got.size() << " of " << messages.size()
                                 << " messages, or changed one";
}

}  // namespace

TEST(FaultIoTest, PipeFramesSurviveShortCountsOnAThread) {
    REQUIRE_FAULT_SHIM();
    pipe_roundtrip(Mode::thread, "send:short@1..200,recv:short@1..200");
}

TEST(FaultIoTest, PipeFramesSurviveShortCountsInEpollTasks) {
    REQUIRE_FAULT_SHIM();
    pipe_roundtrip(Mode::epoll_task, "send:short@1..200,recv:short@1..200");
}

TEST(FaultIoTest, PipeFramesSurviveEintrOnAThread) {
    REQUIRE_FAULT_SHIM();
    pipe_roundtrip(Mode::thread, "send:EINTR@2..4,recv:EINTR@2..4");
}

TEST(FaultIoTest, PipeFramesSurviveEintrInEpollTasks) {
    REQUIRE_FAULT_SHIM();
    pipe_roundtrip(Mode::epoll_task, "send:EINTR@2..4,recv:EINTR@2..4");
}

namespace {

void file_roundtrip(Mode mode, const char* spec) {
    const std::string path = ::testing::TempDir() + "faults_file_" + std::to_string(::getpid());
    const std::string data = pattern(300 * 1000);
    std::string back;
    faults::Armed armed(spec);
    concurrently(
        mode, [] {},
        [&] {
            ringlet::write_file(path, data);
            back = ringlet::read_file(path);
        });
    EXPECT_GT(faults::hits("pwrite") + faults::hits("pread"), 0u);
    EXPECT_TRUE(back == data) << "read_file gave " << back.size() << " bytes of " << data.size();
    ::unlink(path.c_str());
}

}  // namespace

TEST(FaultIoTest, FilesSurviveShortCountsOnAThread) {
    REQUIRE_FAULT_SHIM();
    file_roundtrip(Mode::thread, "pwrite:short@1..50,pread:short@1..50");
}

TEST(FaultIoTest, FilesSurviveShortCountsOnTheEpollBlockingPool) {
    REQUIRE_FAULT_SHIM();
    file_roundtrip(Mode::epoll_task, "pwrite:short@1..50,pread:short@1..50");
}

TEST(FaultIoTest, FilesRetryEintrOnAThread) {
    REQUIRE_FAULT_SHIM();
    file_roundtrip(Mode::thread, "pwrite:EINTR@1..3,pread:EINTR@1..3");
}

TEST(FaultIoTest, FilesRetryEintrOnTheEpollBlockingPool) {
    REQUIRE_FAULT_SHIM();
    file_roundtrip(Mode::epoll_task, "pwrite:EINTR@1..3,pread:EINTR@1..3");
}

TEST(FaultIoTest, FileErrorIsIoErrorWithItsErrno) {
    REQUIRE_FAULT_SHIM();
    const std::string path = ::testing::TempDir() + "faults_enospc_" + std::to_string(::getpid());
    faults::Armed armed("pwrite:ENOSPC@1");
    try {
        ringlet::write_file(path, "data");
        ADD_FAILURE() << "write_file returned";
    } catch (const ringlet::IoError& e) {
        EXPECT_EQ(e.code(), std::errc::no_space_on_device);
    }
    ::unlink(path.c_str());
}

// communicate() with a subprocess's pipes: from a plain thread (one poll(2)
// loop) and from epoll tasks (helper tasks pump stdin and stderr).
TEST(FaultIoTest, SubprocessCommunicateSurvivesShortCountsAndEintr) {
    REQUIRE_FAULT_SHIM();
    const std::string input = pattern(200 * 1000);
    for (Mode mode : {Mode::thread, Mode::epoll_task}) {
        for (const char* spec :
             {"send:short@1..100,recv:short@1..100", "send:EINTR@1..3,recv:EINTR@1..3"}) {
            ipc::Subprocess::Result r;
            unsigned long hits = 0;
            concurrently(
                mode, [] {},
                [&] {
                    ipc::Subprocess p(
                        {"cat"}, {.stdin_mode = ipc::Stdio::pipe, .stdout_mode = ipc::Stdio::pipe});
                    faults::Armed armed(spec);
                    r = p.communicate(input);
                    hits = faults::hits("send") + faults::hits("recv");
                });
            EXPECT_GT(hits, 0u) << spec;
            EXPECT_EQ(r.returncode, 0) << spec;
            EXPECT_TRUE(r.out == input)
                << spec << ": cat echoed " << r.out.size() << " of " << input.size() << " bytes";
        }
    }
}

// ---- accept: EMFILE / ENFILE ----------------------------------------------------

namespace {

void accept_fails_then_works(Mode mode, int err) {
    char spec[64];
    std::snprintf(spec, sizeof spec, "accept4:%s@1", err == EMFILE ? "EMFILE" : "ENFILE");
    faults::Armed armed(spec);
    concurrently(
        mode, [] {},
        [&] {
            auto listener = net::TcpListener::bind("127.0.0.1", 0);
            std::thread client([port = listener.port()] {
                auto s = net::TcpStream::connect("127.0.0.1", port);
                char c = 'x';
                s.write_all(std::as_bytes(std::span(&c, 1)));
            });
            try {
                (void)listener.accept();
                ADD_FAILURE() << "the first accept did not fail";
            } catch (const ringlet::IoError& e) {
                EXPECT_EQ(e.code().value(), err);
            }
            // The connection waited in the backlog: the next accept takes it.
            auto s = listener.accept();
            std::byte b{};
            s.read_exact(std::span(&b, 1));
            EXPECT_EQ(static_cast<char>(b), 'x');
            client.join();
        });
    EXPECT_EQ(faults::hits("accept4"), 1u);
}

}  // namespace

TEST(FaultIoTest, AcceptEmfileIsIoErrorThenAcceptWorksOnAThread) {
    REQUIRE_FAULT_SHIM();
    accept_fails_then_works(Mode::thread, EMFILE);
}

TEST(FaultIoTest, AcceptEmfileIsIoErrorThenAcceptWorksInEpollTasks) {
    REQUIRE_FAULT_SHIM();
    accept_fails_then_works(Mode::epoll_task, EMFILE);
}

TEST(FaultIoTest, AcceptEnfileIsIoErrorThenAcceptWorksInEpollTasks) {
    REQUIRE_FAULT_SHIM();
    accept_fails_then_works(Mode::epoll_task, ENFILE);
}

// serve() backs off on EMFILE/ENFILE and keeps serving (epoll: the shim sees
// its accepts).
TEST(FaultIoTest, ServeSurvivesAcceptEmfileAndEnfile) {
    REQUIRE_FAULT_SHIM();
    faults::Armed armed("accept4:EMFILE@1..5,accept4:ENFILE@1..3");
    ringlet::run(
        [] {
            auto listener = net::TcpListener::bind("127.0.0.1", 0);
            auto server = ringlet::spawn([&] {
                net::serve(listener, [](net::TcpStream s) {
                    std::byte b[16];
                    std::size_t n;
                    while ((n = s.read(b)) > 0) s.write_all(std::span(b, n));
                });
            });
            for (int i = 0; i < 3; ++i) {
                auto c = net::TcpStream::connect("127.0.0.1", listener.port());
                const std::string msg = "hello " + std::to_string(i);
                c.write_all(std::as_bytes(std::span(msg)));
                std::string back(msg.size(), '\0');
                {
                    ringlet::Timeout bound(faults::hang_bound);
                    c.read_exact(std::as_writable_bytes(std::span(back)));
                }
                EXPECT_EQ(back, msg);
            }
            server.cancel();
            server.join();
        },
        ringlet::Options{.backend = "epoll"});
    EXPECT_EQ(faults::hits("accept4"), 8u);
}

// The real limit, on whichever backend the suite runs (io_uring accepts on the
// ring, out of the shim's sight): a child lowers RLIMIT_NOFILE to what it has
// open, so accept gets EMFILE from the kernel itself.
RINGLET_TEST(FaultIoTest, AcceptAtTheRealFdLimitIsIoErrorEmfile) {
    ipc::Process child([] {
        auto listener = net::TcpListener::bind("127.0.0.1", 0);
        auto peer = net::TcpStream::connect("127.0.0.1", listener.port());
        int highest = 0;
        for (int fd = 0; fd < 4096; ++fd) {
            if (::fcntl(fd, F_GETFD) != -1) highest = fd;
        }
        rlimit lim{static_cast<rlim_t>(highest + 1), static_cast<rlim_t>(highest + 1)};
        if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) std::_Exit(10);
        try {
            ringlet::Timeout bound(faults::hang_bound);
            (void)listener.accept();
            std::_Exit(11);  // an fd beyond the limit
        } catch (const ringlet::IoError& e) {
            std::_Exit(e.code().value() == EMFILE ? 0 : 12);
        } catch (const ringlet::TimeoutError&) {
            std::_Exit(13);  // the failure never surfaced: a hang
        }
    });
    child.start();
    ASSERT_TRUE(child.join(faults::hang_bound * 2));
    EXPECT_EQ(child.exitcode(), 0) << "11: accept gave an fd; 12: another errno; 13: it hung";
}
