// tests/runtime/dump_signal_test.cpp — Options::dump_signal: SIGQUIT to a child
// running three schedulers makes each write its tasks to stderr, naming what
// every task waits on (a Mutex with its holder, a Channel, a socket read with
// its fd, a sleep with its deadline); the child runs on. Also its bad inputs.
#include <chrono>
#include <cstdlib>
#include <gtest/gtest.h>
#include <poll.h>
#include <regex>
#include <signal.h>
#include <string>
#include <thread>
#include <unistd.h>

#include <sys/wait.h>

#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;

namespace {

constexpr ringlet::Options dump_on_sigquit{.dump_signal = SIGQUIT};

// Writes one byte to `fd` once the calling scheduler's other tasks have all
// reached their waits (they run at the main task's yields).
void report_ready(int fd) {
    for (int i = 0; i < 10; ++i) ringlet::yield();
    const char byte = 'r';
    if (::write(fd, &byte, 1) != 1) std::_Exit(3);
}

// The child: three scheduler threads with tasks blocked in four kinds of wait.
[[noreturn]] void child_main(int ready_fd) {
    std::thread mutex_thread([&] {
        ringlet::run(
            [&] {
                ringlet::Mutex m;
                ringlet::Event never;
                auto holder = ringlet::spawn(ringlet::SpawnOptions{.name = "holder"}, [&] {
                    std::lock_guard lock(m);
                    never.wait();
                });
                auto locker = ringlet::spawn(ringlet::SpawnOptions{.name = "locker"},
                                             [&] { std::lock_guard lock(m); });
                report_ready(ready_fd);
                ringlet::sleep(1h);
            },
            dump_on_sigquit);
    });
    std::thread channel_thread([&] {
        ringlet::run(
            [&] {
                ringlet::Channel<int> ch(1);
                auto receiver = ringlet::spawn(ringlet::SpawnOptions{.name = "receiver"},
                                               [&] { (void)ch.recv(); });
                report_ready(ready_fd);
                ringlet::sleep(1h);
            },
            dump_on_sigquit);
    });
    std::thread io_thread([&] {
        ringlet::run(
            [&] {
                auto [a, b] = ringlet::net::UnixStream::pair();
                std::fprintf(stderr, "reader fd is %d\n", a.socket().fd());
                auto reader = ringlet::spawn(ringlet::SpawnOptions{.name = "reader"}, [&] {
                    char c;
                    (void)a.read(&c, 1);
                });
                auto sleeper = ringlet::spawn(ringlet::SpawnOptions{.name = "sleeper"},
                                              [] { ringlet::sleep(1h); });
                report_ready(ready_fd);
                ringlet::sleep(1h);
            },
            dump_on_sigquit);
    });
    mutex_thread.join();  // never: the parent kills us
    std::_Exit(0);
}

// Reads `fd` into `out` until `done(out)` or `timeout`; false on timeout or EOF.
template <class Pred>
bool read_until(int fd, std::string& out, std::chrono::milliseconds timeout, Pred done) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!done(out)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            end - std::chrono::steady_clock::now());
        if (left <= 0ms) return false;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char buf[4096];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return false;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return true;
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

// The dump line of the task named `name` ("" if absent), from the last dump.
std::string line_of(const std::string& text, const std::string& name) {
    const std::regex line_re("(^|\n)([0-9]+ " + name + " [^\n]*)");
    std::string found;
    for (std::sregex_iterator it(text.begin(), text.end(), line_re), end; it != end; ++it) {
        found = (*it)[2];
    }
    return found;
}

}  // namespace

TEST(DumpSignalTest, SigquitDumpsEveryScheduler) {
    int ready[2];
    int err[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(err), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::dup2(err[1], STDERR_FILENO);
        ::close(err[0]);
        ::close(ready[0]);
        child_main(ready[1]);
    }
    ::close(ready[1]);
    ::close(err[1]);

    std::string readiness;
    ASSERT_TRUE(read_until(ready[0], readiness, 30s, [](const std::string& s) {
        return s.size() == 3;
    })) << "the child's three schedulers did not get ready";

    std::string dump;
    ASSERT_EQ(::kill(child, SIGQUIT), 0);
    const auto three_dumps = [](const std::string& s) {
        return count_of(s, "ringlet: tasks of thread ") == 3 && count_of(s, " live\n") == 3 &&
               s.find(" sleeper ") != std::string::npos &&
               s.find(" locker ") != std::string::npos &&
               s.find(" receiver ") != std::string::npos && s.find(" reader ") != std::string::npos;
    };
    EXPECT_TRUE(read_until(err[0], dump, 30s, three_dumps)) << dump;
    // A second signal, a second dump from each: the first did not end the child.
    ASSERT_EQ(::kill(child, SIGQUIT), 0);
    EXPECT_TRUE(read_until(err[0], dump, 30s, [](const std::string& s) {
        return count_of(s, "ringlet: tasks of thread ") == 6 && count_of(s, " sleeper ") == 2;
    })) << dump;
    int status = 0;
    EXPECT_EQ(::waitpid(child, &status, WNOHANG), 0) << "the dump ended the child";

    // A mutex wait names the mutex and the task that holds it.
    const std::string holder = line_of(dump, "holder");
    const std::string locker = line_of(dump, "locker");
    EXPECT_NE(holder.find("waiting on Event::wait"), std::string::npos) << dump;
    const std::string holder_id = holder.substr(0, holder.find(' '));
    EXPECT_TRUE(
        std::regex_search(locker, std::regex("waiting on Mutex::lock 0x[0-9a-f]+, held by task " +
                                             holder_id + " on thread [0-9]+$")))
        << locker;
    // A channel wait names the channel.
    EXPECT_TRUE(std::regex_search(line_of(dump, "receiver"),
                                  std::regex("waiting on Channel::recv 0x[0-9a-f]+$")))
        << dump;
    // A socket read names the operation and the fd (the epoll backend waits
    // for readability; io_uring submits the recv itself).
    std::smatch fd_match;
    ASSERT_TRUE(std::regex_search(dump, fd_match, std::regex("reader fd is ([0-9]+)"))) << dump;
    EXPECT_TRUE(std::regex_search(
        line_of(dump, "reader"),
        std::regex("waiting on (recv|fd readable) fd " + fd_match[1].str() + "$")))
        << dump;
    // A sleep names its deadline, about an hour away.
    EXPECT_TRUE(
        std::regex_search(line_of(dump, "sleeper"),
                          std::regex("waiting on sleep, deadline in (35[0-9][0-9]|3600)\\.[0-9]{3} s$")))
        << dump;

    ::kill(child, SIGKILL);
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ::close(ready[0]);
    ::close(err[0]);
}

TEST(DumpSignalTest, SignalsThatCannotBeCaughtAreUsageErrors) {
    for (int bad : {SIGKILL, SIGSTOP, -1, NSIG}) {
        EXPECT_THROW(ringlet::run([] {}, ringlet::Options{.dump_signal = bad}), ringlet::UsageError)
            << bad;
    }
    // The failed runs left nothing behind: a normal one works.
    EXPECT_EQ(ringlet::run([] { return 7; }), 7);
}

TEST(DumpSignalTest, WithoutTheOptionTheSignalIsUntouched) {
    ringlet::run([] {
        struct sigaction now {};
        ASSERT_EQ(::sigaction(SIGUSR2, nullptr, &now), 0);
        EXPECT_EQ(now.sa_handler, SIG_DFL);
    });
}
