// tests/hooks/hooks_watchdog_test.cpp — Options::blocked_warning.
//
// A task that holds its thread past the limit is named on stderr, with the
// blocking call it sits in when the hooks know it. The tests read stderr
// through a pipe until the report arrives (no timing is asserted: the wait
// for the report is bounded only to fail instead of hanging).
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <string>
#include <thread>
#include <unistd.h>

#include <sys/file.h>

#include <ringlet/hooks.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;

namespace {

// Sends stderr into a pipe for the lifetime of the object.
class CapturedStderr {
  public:
    CapturedStderr() {
        int p[2];
        EXPECT_EQ(::pipe(p), 0);
        read_ = p[0];
        saved_ = ::dup(STDERR_FILENO);
        ::dup2(p[1], STDERR_FILENO);
        ::close(p[1]);
    }
    ~CapturedStderr() {
        ::dup2(saved_, STDERR_FILENO);
        ::close(saved_);
        ::close(read_);
    }
    // Reads until `needle` has appeared (or 20 s: then returns what came).
    // Non-blocking reads: the caller may be a task that must not suspend.
    std::string wait_for(const std::string& needle) {
        ::fcntl(read_, F_SETFL, O_NONBLOCK);
        const auto give_up = std::chrono::steady_clock::now() + 20s;
        while (text_.find(needle) == std::string::npos &&
               std::chrono::steady_clock::now() < give_up) {
            char buf[256];
            const ssize_t n = ::read(read_, buf, sizeof buf);
            if (n > 0) text_.append(buf, static_cast<std::size_t>(n));
        }
        return text_;
    }

  private:
    int read_ = -1;
    int saved_ = -1;
    std::string text_;
};

}  // namespace

TEST(HooksWatchdogTest, ATaskThatNeverSuspendsIsReportedWithItsIdAndName) {
    CapturedStderr err;
    std::string seen;
    ringlet::TaskId id = 0;
    ringlet::run(
        [&] {
            auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "spinner"}, [&] {
                // Holds the thread: no suspension point until the report is out.
                seen = err.wait_for("without a suspension point");
            });
            id = t.id();
            t.join();
        },
        ringlet::Options{.blocked_warning = 50ms});
    EXPECT_NE(seen.find("ringlet: task " + std::to_string(id) + " (spinner) has held its thread"),
              std::string::npos)
        << seen;
}

TEST(HooksWatchdogTest, TheReportNamesTheBlockingCallTheTaskSitsIn) {
    char path[] = "/tmp/hooks-flock-XXXXXX";
    const int holder = ::mkstemp(path);
    ASSERT_GE(holder, 0);
    const int other = ::open(path, O_RDWR);  // another open file: flock conflicts
    ::unlink(path);
    ASSERT_EQ(::flock(holder, LOCK_EX), 0);
    CapturedStderr err;
    std::string seen;
    // A plain thread reads the report, then lets the blocked flock() go.
    std::thread releaser([&] {
        seen = err.wait_for("inside flock()");
        ::flock(holder, LOCK_UN);
    });
    int locked = -1;
    ringlet::run(
        [&] {
            auto t = ringlet::spawn(ringlet::SpawnOptions{.name = "locker"},
                                    [&] { locked = ::flock(other, LOCK_EX); });
            t.join();
        },
        ringlet::Options{.blocked_warning = 50ms});
    releaser.join();
    EXPECT_EQ(locked, 0);
    EXPECT_NE(seen.find("(locker) has held its thread"), std::string::npos) << seen;
    EXPECT_NE(seen.find("inside flock()"), std::string::npos) << seen;
    ::close(other);
    ::close(holder);
}
