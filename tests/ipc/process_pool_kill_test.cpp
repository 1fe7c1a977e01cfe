// tests/ipc/process_pool_kill_test.cpp — ProcessPool under crashes: workers
// killed by signals (from inside and from outside), abort and segfault, a
// killed parent, and terminate(): exactly the running task fails with
// WorkerLost, the worker is replaced, and no process is left behind.
#include <ringlet/ipc/process_pool.hpp>

#include <ringlet/ipc/pipe.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;  // the sanitizer catches SIGSEGV itself and exits
#else
constexpr bool sanitized = false;
#endif
#if defined(__SANITIZE_THREAD__)
constexpr bool tsan = true;
#else
constexpr bool tsan = false;
#endif

int square(int x) { return x * x; }
pid_t worker_pid(int) { return ::getpid(); }
int die_by(int sig) {
    if (sig == SIGABRT) std::abort();
    ::raise(sig);
    return -1;
}

// Shared with every process forked after it was mapped (the pools below).
struct Board {
    std::atomic<int> arrived;
    std::atomic<pid_t> sleeper;
};
Board* board = [] {
    void* p = ::mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    if (p == MAP_FAILED) std::abort();
    return new (p) Board{};
}();

// Returns its pid once `n` workers are inside at the same time: proof that
// the pool has n workers. -1 if they do not all arrive within 20 s.
pid_t rendezvous(int n) {
    board->arrived.fetch_add(1);
    for (int i = 0; i < 20000 && board->arrived.load() < n; ++i) ringlet::sleep(1ms);
    return board->arrived.load() >= n ? ::getpid() : -1;
}

// Publishes its pid, then waits to be killed.
int sleep_until_killed(int) {
    board->sleeper.store(::getpid());
    ringlet::sleep(60s);
    return 0;
}

// True once the process has ended (pidfd readable), within `timeout`.
bool ends_within(pid_t pid, std::chrono::milliseconds timeout) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return true;  // ESRCH: already gone
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    ::close(fd);
    return n == 1;
}

// The children of this process that exist now (zombies included).
std::vector<pid_t> my_children() {
    std::vector<pid_t> out;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream in(task.path() / "children");
        for (pid_t pid; in >> pid;) out.push_back(pid);
    }
    return out;
}

void expect_pool_has(ipc::ProcessPool& pool, int n) {
    board->arrived.store(0);
    std::vector<ipc::AsyncResult<pid_t>> rs;
    for (int i = 0; i < n; ++i) rs.push_back(pool.apply_async(rendezvous, n));
    std::set<pid_t> pids;
    for (auto& r : rs) pids.insert(r.get());
    EXPECT_EQ(pids.count(-1), 0u) << "the workers did not all come up";
    EXPECT_EQ(pids.size(), static_cast<std::size_t>(n));
}

}  // namespace

RINGLET_TEST(ProcessPoolKill, FiftyKilledWorkersInARow) {
    ipc::ProcessPool pool(2);
    std::set<pid_t> dead;
    for (int i = 0; i < 50; ++i) {
        try {
            pool.apply(die_by, SIGKILL);
            FAIL() << "the task survived SIGKILL";
        } catch (const ipc::WorkerLost& e) {
            EXPECT_EQ(e.signal(), SIGKILL);
            EXPECT_NE(std::string(e.what()).find("SIGKILL"), std::string::npos) << e.what();
        }
        ASSERT_EQ(pool.apply(square, i), i * i);
    }
    expect_pool_has(pool, 2);
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPoolKill, OnlyTheKilledTasksFailAmongMany) {
    ipc::ProcessPool pool(3);
    constexpr int n = 600;
    std::vector<ipc::AsyncResult<int>> rs;
    std::vector<bool> killer(n, false);
    for (int i = 0; i < n; ++i) {
        killer[static_cast<std::size_t>(i)] = i % 12 == 5;  // 50 of them
        rs.push_back(killer[static_cast<std::size_t>(i)] ? pool.apply_async(die_by, SIGKILL)
                                                         : pool.apply_async(square, i));
    }
    int lost = 0;
    for (int i = 0; i < n; ++i) {
        if (killer[static_cast<std::size_t>(i)]) {
            EXPECT_THROW((void)rs[static_cast<std::size_t>(i)].get(), ipc::WorkerLost) << i;
            ++lost;
        } else {
            EXPECT_EQ(rs[static_cast<std::size_t>(i)].get(), i * i) << i;
        }
    }
    EXPECT_EQ(lost, 50);
    expect_pool_has(pool, 3);
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPoolKill, AbortAndSegfaultAreNamed) {
    ipc::ProcessPool pool(1);
    try {
        pool.apply(die_by, SIGABRT);
        FAIL() << "no exception";
    } catch (const ipc::WorkerLost& e) {
        EXPECT_EQ(e.signal(), SIGABRT) << e.what();
        EXPECT_NE(std::string(e.what()).find("SIGABRT"), std::string::npos) << e.what();
    }
    try {
        pool.apply(die_by, SIGSEGV);
        FAIL() << "no exception";
    } catch (const ipc::WorkerLost& e) {
        if (!sanitized) {
            EXPECT_EQ(e.signal(), SIGSEGV) << e.what();
        }
    }
    EXPECT_EQ(pool.apply(square, 3), 9);
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPoolKill, KilledFromOutsideMidTask) {
    ipc::ProcessPool pool(2);
    board->sleeper.store(0);
    auto victim = pool.apply_async(sleep_until_killed, 0);
    std::vector<ipc::AsyncResult<int>> others;
    for (int i = 0; i < 20; ++i) others.push_back(pool.apply_async(square, i));
    while (board->sleeper.load() == 0) ringlet::sleep(1ms);
    ASSERT_EQ(::kill(board->sleeper.load(), SIGKILL), 0);
    try {
        (void)victim.get();
        FAIL() << "no exception";
    } catch (const ipc::WorkerLost& e) {
        EXPECT_EQ(e.signal(), SIGKILL);
        EXPECT_NE(std::string(e.what()).find(std::to_string(board->sleeper.load())),
                  std::string::npos)
            << e.what();
    }
    for (int i = 0; i < 20; ++i) EXPECT_EQ(others[static_cast<std::size_t>(i)].get(), i * i);
    expect_pool_has(pool, 2);
    pool.close();
    pool.join();
}

RINGLET_TEST(ProcessPoolKill, TerminateLeavesNoChildren) {
    ASSERT_TRUE(my_children().empty());
    {
        ipc::ProcessPool pool(3);
        std::vector<ipc::AsyncResult<int>> rs;
        for (int i = 0; i < 30; ++i) rs.push_back(pool.apply_async(sleep_until_killed, i));
        ASSERT_FALSE(my_children().empty());  // the fork server
        pool.terminate();
        for (auto& r : rs) EXPECT_THROW((void)r.get(), ipc::PoolTerminated);
        EXPECT_TRUE(my_children().empty());  // the fork server was reaped
    }
    EXPECT_TRUE(my_children().empty());
}

RINGLET_TEST(ProcessPoolKill, KilledForkServerBreaksThePoolClearly) {
    ASSERT_TRUE(my_children().empty());
    ipc::ProcessPool pool(2);
    const std::vector<pid_t> workers = pool.map(worker_pid, std::vector<int>(8, 0), 1);
    const std::vector<pid_t> server = my_children();  // the workers are its children, not ours
    ASSERT_EQ(server.size(), 1u);
    std::vector<ipc::AsyncResult<int>> rs;
    for (int i = 0; i < 10; ++i) rs.push_back(pool.apply_async(sleep_until_killed, i));
    ASSERT_EQ(::kill(server[0], SIGKILL), 0);
    for (auto& r : rs) EXPECT_THROW((void)r.get(), ipc::WorkerLost);
    EXPECT_THROW(pool.apply(square, 1), ringlet::UsageError);  // says the pool is broken
    for (pid_t pid : std::set<pid_t>(workers.begin(), workers.end())) {
        EXPECT_TRUE(ends_within(pid, 10s)) << "worker " << pid << " outlived the fork server";
    }
    pool.terminate();
    EXPECT_TRUE(my_children().empty());
}

RINGLET_TEST(ProcessPoolKill, KilledParentLeavesNoWorkers) {
    // A child process owns a pool and reports its workers' pids; we SIGKILL
    // the child; its fork server and workers must go too.
    if (tsan) GTEST_SKIP() << "TSan cannot start threads in a child of a multi-threaded process";
    auto ends = ipc::pipe<std::vector<pid_t>>();
    auto& mine = ends.first;
    auto& theirs = ends.second;
    ipc::Process owner([&theirs] {
        ipc::ProcessPool pool(2);
        std::vector<pid_t> pids = pool.map(worker_pid, std::vector<int>(8, 0), 1);
        for (pid_t p : pool.worker_pids()) pids.push_back(p);
        theirs.send(pids);
        ringlet::sleep(60s);
    });
    owner.start();
    theirs.close();
    auto pids = mine.recv();
    ASSERT_TRUE(pids.has_value());
    ASSERT_FALSE(pids->empty());
    owner.kill();
    owner.join();
    for (pid_t pid : std::set<pid_t>(pids->begin(), pids->end())) {
        EXPECT_TRUE(ends_within(pid, 10s)) << "worker " << pid << " outlived its pool";
    }
}
