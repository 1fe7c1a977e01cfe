// tests/ps/ps_race_test.cpp — process_iter() while processes come and go.
//
// One task starts and reaps 200 short-lived children (each names itself
// "rk-<i>" and exits) while a task on another thread walks process_iter() in
// a loop and reads every field of every process. Only the documented
// exceptions may come out, and no record may mix two processes: a process
// named "rk-<i>" must be child i (its pid and its parent).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <sys/prctl.h>
#include <sys/wait.h>

#include <ringlet/ps.hpp>

#include "ringlet_test.hpp"

namespace ps = ringlet::ps;

namespace {

struct Seen {
    pid_t pid;
    std::string name;
    pid_t ppid;
};

}  // namespace

RINGLET_TEST(PsRaceTest, IterateWhileChildrenComeAndGo) {
    constexpr int children = 200;
    std::atomic<bool> done{false};
    std::atomic<long> records{0};
    std::atomic<long> vanished{0};
    std::atomic<long> passes{0};  // whole process_iter() walks done
    std::vector<Seen> ours;
    std::vector<std::string> unexpected;
    std::thread walker([&] {
        ringlet::run([&] {
            while (!done.load()) {
                for (ps::Process p : ps::process_iter()) {
                    try {
                        Seen s{p.pid(), p.name(), p.ppid()};
                        (void)p.status();
                        (void)p.cmdline();
                        (void)p.memory_info();
                        (void)p.num_threads();
                        (void)p.cpu_times();
                        (void)p.create_time();
                        (void)p.uids();
                        try {
                            (void)p.exe();
                            (void)p.cwd();
                            (void)p.num_fds();
                        } catch (const ps::AccessDenied&) {
                        }
                        ++records;
                        if (s.name.rfind("rk-", 0) == 0) ours.push_back(s);
                    } catch (const ps::NoSuchProcess&) {  // ZombieProcess included
                        ++vanished;
                    } catch (const std::exception& e) {
                        unexpected.push_back(e.what());
                    }
                }
                ++passes;
            }
        });
    });
    // Up to `alive` children at a time: each waits on its own pipe, and child
    // i - alive is let go and reaped once child i has started.
    constexpr int alive = 8;
    std::map<std::string, pid_t> started;
    std::vector<std::pair<pid_t, int>> running;  // pid, write end of its hold pipe
    auto reap_oldest = [&] {
        auto [pid, hold] = running.front();
        running.erase(running.begin());
        ::close(hold);
        int status = 0;
        EXPECT_EQ(::waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    };
    for (int i = 0; i < children; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "rk-%d", i);
        int hold[2];
        ASSERT_EQ(::pipe2(hold, O_CLOEXEC), 0);
        const pid_t c = ::fork();
        if (c == 0) {
            ::close(hold[1]);
            // Hold pipes of the other children: theirs to close, not ours to keep.
            for (const auto& r : running) ::close(r.second);
            ::prctl(PR_SET_NAME, name);
            char b;
            while (::read(hold[0], &b, 1) > 0) {
            }
            ::_exit(0);
        }
        ASSERT_GT(c, 0);
        ::close(hold[0]);
        started[name] = c;
        running.emplace_back(c, hold[1]);
        if (running.size() > alive) reap_oldest();
        // Every 25 children, let the walker finish a whole pass while
        // `alive` of ours exist, so that it does meet them.
        if (i % 25 == 24) {
            const long target = passes.load() + 2;
            while (passes.load() < target) ::sched_yield();
        }
    }
    while (!running.empty()) reap_oldest();
    done = true;
    walker.join();
    EXPECT_TRUE(unexpected.empty()) << unexpected.front();
    EXPECT_GT(records.load(), 0);
    EXPECT_FALSE(ours.empty()) << "the walker never met a child";
    for (const Seen& s : ours) {
        auto it = started.find(s.name);
        ASSERT_NE(it, started.end()) << s.name;
        EXPECT_EQ(s.pid, it->second) << s.name << " seen with another child's pid";
        EXPECT_EQ(s.ppid, ::getpid()) << s.name;
    }
    std::printf("records %ld, vanished %ld, our children seen %zu\n", records.load(),
                vanished.load(), ours.size());
}

RINGLET_TEST(PsRaceTest, ProcessMadeJustBeforeTheChildIsReaped) {
    // Bind to a child, let it be reaped, then read: NoSuchProcess each time.
    for (int i = 0; i < 50; ++i) {
        const pid_t c = ::fork();
        if (c == 0) ::_exit(0);
        ASSERT_GT(c, 0);
        std::optional<ps::Process> p;
        try {
            p.emplace(c);
        } catch (const ps::NoSuchProcess&) {
            FAIL() << "an unreaped child exists";
        }
        ASSERT_EQ(::waitpid(c, nullptr, 0), c);
        EXPECT_THROW(p->ppid(), ps::NoSuchProcess);
        EXPECT_THROW(p->memory_info(), ps::NoSuchProcess);
        EXPECT_FALSE(p->is_running());
    }
}
