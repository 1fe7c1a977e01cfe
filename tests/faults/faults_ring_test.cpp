// tests/faults/faults_ring_test.cpp — the io_uring submission path failing,
// the completion queue overflowing, and the wake-up eventfd not opening.
//
// liburing 2.3 enters the kernel with inline system calls, out of the shim's
// sight, so "io_uring_enter" faults are injected at liburing's exported
// io_uring_submit* entry points the backend calls: they return -EBUSY /
// -EAGAIN / -EINTR without submitting, as the kernel does before it consumes
// any SQE. The loop must treat them as "try again on the next turn": no IO
// lost, none hung, no error thrown.
//
// CQ overflow needs no shim: Options::ring_entries = 2 gives a 4-entry CQ, and
// 256 receives completing at once overflow it; the kernel keeps the surplus
// (IORING_FEAT_NODROP) and every one must still reach its task.
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <sys/socket.h>

#include <ringlet/net.hpp>
#include <ringlet/ringlet.hpp>
#include <ringlet/stats.hpp>

#include "fault_control.hpp"
#include "ringlet_test.hpp"

namespace net = ringlet::net;

namespace {

std::size_t open_fds() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d) != nullptr) ++n;
        ::closedir(d);
    }
    return n;
}

// Work that goes through every kind of submission: timers (timed waits),
// socket IO with data checked, cross-task wake-ups, a wake from a thread.
void mixed_work() {
    ringlet::Timeout bound(faults::hang_bound);
    auto listener = net::TcpListener::bind("127.0.0.1", 0);
    auto echo = ringlet::spawn([&] {
        auto s = listener.accept();
        s.set_nodelay();
        std::byte b[512];
        std::size_t n;
        while ((n = s.read(b)) > 0) s.write_all(std::span(b, n));
    });
    auto c = net::TcpStream::connect("127.0.0.1", listener.port());
    c.set_nodelay();  // no Nagle + delayed-ACK stalls between the rounds
    for (int round = 0; round < 20; ++round) {
        std::string msg(100 + round * 37, char('a' + round));
        c.write_all(std::as_bytes(std::span(msg)));
        std::string back(msg.size(), '\0');
        c.read_exact(std::as_writable_bytes(std::span(back)));
        EXPECT_EQ(back, msg);
        ringlet::sleep(std::chrono::microseconds(200));
    }
    c.shutdown_write();
    echo.join();
    ringlet::Event from_thread;
    std::thread t([&] { from_thread.set(); });
    EXPECT_TRUE(from_thread.wait(faults::hang_bound));
    t.join();
}

void enter_faults(const char* spec) {
    ringlet::run([spec] {
        if (std::string(ringlet::stats().backend) != "io_uring") {
            GTEST_SKIP() << "io_uring_enter faults need the io_uring backend";
        }
        unsigned long hits = 0;
        {
            faults::Armed armed(spec);
            mixed_work();
            hits = faults::hits("io_uring_enter");
        }
        EXPECT_GT(hits, 0u) << spec << ": the backend never submitted";
    });
}

}  // namespace

TEST(FaultRingTest, EnterEbusyIsRetriedOnTheNextTurn) {
    REQUIRE_FAULT_SHIM();
    enter_faults("io_uring_enter:EBUSY@1..40");
}

TEST(FaultRingTest, EnterEagainIsRetriedOnTheNextTurn) {
    REQUIRE_FAULT_SHIM();
    enter_faults("io_uring_enter:EAGAIN@1..40");
}

TEST(FaultRingTest, EnterEintrIsRetriedOnTheNextTurn) {
    REQUIRE_FAULT_SHIM();
    enter_faults("io_uring_enter:EINTR@1..40");
}

TEST(FaultRingTest, EveryOtherEnterFailingStillCompletesEverything) {
    REQUIRE_FAULT_SHIM();
    // Calls 1, 3, 5, ... 31 fail (the shim holds 16 rules), cycling the errors.
    static const char* const errs[] = {"EBUSY", "EAGAIN", "EINTR"};
    std::string spec;
    for (int i = 0; i < 16; ++i) {
        if (i > 0) spec += ",";
        spec += std::string("io_uring_enter:") + errs[i % 3] + "@" + std::to_string(2 * i + 1);
    }
    enter_faults(spec.c_str());
}

// 256 receives pending on a 4-entry completion queue, all made ready at once
// from a plain thread: every task gets its own bytes.
TEST(FaultRingTest, CompletionQueueOverflowLosesNoCompletion) {
    constexpr int n = 256;
    std::vector<int> ours(n);
    std::vector<int> theirs(n);
    for (int i = 0; i < n; ++i) {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        ours[i] = sv[0];
        theirs[i] = sv[1];
    }
    ringlet::run(
        [&] {
            ringlet::Timeout bound(faults::hang_bound);
            std::vector<ringlet::Task<std::string>> readers;
            for (int i = 0; i < n; ++i) {
                readers.push_back(ringlet::spawn([fd = ours[i]] {
                    net::Stream s{net::Socket(fd)};
                    std::string got(8, '\0');
                    s.read_exact(std::as_writable_bytes(std::span(got)));
                    return got;
                }));
            }
            ringlet::yield();  // every reader has submitted its recv
            ringlet::Event written;
            std::thread writer([&] {
                for (int i = 0; i < n; ++i) {
                    char msg[9];
                    std::snprintf(msg, sizeof msg, "m%07d", i);
                    EXPECT_EQ(::write(theirs[i], msg, 8), 8);
                }
                written.set();
            });
            EXPECT_TRUE(written.wait(faults::hang_bound));
            writer.join();
            for (int i = 0; i < n; ++i) {
                char want[9];
                std::snprintf(want, sizeof want, "m%07d", i);
                EXPECT_EQ(readers[i].get(), std::string(want)) << "reader " << i;
            }
        },
        ringlet::Options{.ring_entries = 2});
    for (int fd : theirs) ::close(fd);
}

// ---- eventfd --------------------------------------------------------------------

TEST(FaultRingTest, WakeEventfdFailingEverywhereIsIoErrorAndLeaksNoFd) {
    REQUIRE_FAULT_SHIM();
    const std::size_t fds = open_fds();
    {
        faults::Armed armed("eventfd:EMFILE@*");
        try {
            ringlet::run([] {});
            ADD_FAILURE() << "run() started a scheduler without a wake-up eventfd";
        } catch (const ringlet::IoError& e) {
            EXPECT_EQ(e.code(), std::errc::too_many_files_open) << e.what();
        }
    }
    EXPECT_EQ(open_fds(), fds) << "the ring or the epoll fd of the failed start leaked";
    EXPECT_EQ(ringlet::run([] { return 5; }), 5);
}

TEST(FaultRingTest, WakeEventfdFailingOnceFallsBackOrIsIoError) {
    REQUIRE_FAULT_SHIM();
    const std::size_t fds = open_fds();
    const char* env = std::getenv("RINGLET_BACKEND");
    const bool epoll_only = env != nullptr && std::string(env) == "epoll";
    {
        faults::Armed armed("eventfd:ENFILE@1");
        try {
            // io_uring's failed set-up falls back to epoll, whose eventfd opens.
            EXPECT_EQ(ringlet::run([] {
                          ringlet::sleep(std::chrono::milliseconds(1));
                          return 6;
                      }),
                      6);
            EXPECT_FALSE(epoll_only) << "epoll started without its eventfd";
        } catch (const ringlet::IoError& e) {
            EXPECT_TRUE(epoll_only) << e.what();  // epoll has no fallback
            EXPECT_EQ(e.code(), std::errc::too_many_files_open_in_system) << e.what();
        }
        EXPECT_EQ(faults::hits("eventfd"), 1u);
    }
    EXPECT_EQ(open_fds(), fds);
}

TEST(FaultRingTest, ThreadWhoseSchedulerCannotStartReportsIoError) {
    REQUIRE_FAULT_SHIM();
    ringlet::run([] {
        // Armed until the thread has ended: its scheduler starts on the thread.
        faults::Armed armed("eventfd:EMFILE@*");
        ringlet::Thread<int> t([] { return 1; });
        try {
            (void)t.get();
            ADD_FAILURE() << "the thread ran without a scheduler";
        } catch (const ringlet::IoError& e) {
            EXPECT_EQ(e.code(), std::errc::too_many_files_open) << e.what();
        }
    });
}
