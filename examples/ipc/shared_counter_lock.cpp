// examples/ipc/shared_counter_lock.cpp — Value / Array in shared memory, a
// process-shared Lock, and a process-shared Semaphore.
//
// Part 1 — multiprocessing's shared memory ("Shared Memory"):
//   value1 = mp.Value('i', 0); value2 = mp.Value('d', 3.14); array = mp.Array('i', [1, 2, 3, 4])
// ipc::Shared<T> is Value and ipc::SharedArray<T> is Array: unlike the
// globals of process_isolation.cpp, what a child writes there the parent sees.
// Part 2 — mp.Lock: job(v, num) adds num to v ten times, 0.1 s apart, holding
//   an mp.Lock for the whole loop; p1 adds 1 and p2 adds 3, so v ends at 40
//   and each process's ten lines come out together (1..10, then 13..40).
// Part 3 — a multiprocessing.Lock program ("进程间的同步 Lock"): two
//   processes change `balance` many times, with and without the lock. (In
//   Python `balance` is a plain global, so each process changes its own copy
//   and the parent prints 0 whatever the lock does; here it is a Shared<long>
//   that both really change.) Without the lock, balance.store(balance.load() +
//   n) is a read and a write: the other process's deposits in between are
//   overwritten, as with Python's `v.value += n`. The lost deposits are only
//   printed (how many varies); with the lock the total is exact, and checked.
// Part 4 — a Lock around a shared file:
//   "多个进程对同一文件进行修改,就会造成错乱,所以...需要给其进行加锁":
//   four processes append records to one file, each record in two writes with
//   a pause between; with an ipc::Lock around each record no line is torn.
// Part 5 — multiprocessing.Semaphore (信号量: a counter that bounds how many may be
//   in a section at once): ipc::Semaphore(2) lets at most 2 of 5 processes in.
//
// Lock, Shared, SharedArray and Semaphore live in shared memory: make them
// before starting the processes; every copy of a handle names the same object.
//
//   shared_counter_lock            time unit 1 s; part 3: 200 000 changes per process
//   shared_counter_lock --smoke    time unit 10 ms; part 3: 20 000
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <numeric>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <ringlet/ipc/lock.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/ipc/semaphore.hpp>
#include <ringlet/ipc/shared.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

using Clock = std::chrono::steady_clock;

bool ok = true;

void check(bool condition, const char* what) {
    if (!condition) {
        std::printf("   CHECK FAILED: %s\n", what);
        ok = false;
    }
}

std::string show(const std::vector<int>& v) {
    std::string s;
    for (int x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
    return "[" + s + "]";
}

// Part 1 ---------------------------------------------------------------------
void value_and_array() {
    std::printf("== Part 1: Value and Array -> ipc::Shared<T> and ipc::SharedArray<T>\n");
    ipc::Shared<int> value1(0);
    ipc::Shared<double> value2(3.14);
    ipc::SharedArray<int> array(4);
    {
        auto a = array.locked();  // holds the array's lock while it fills it
        std::iota(a.begin(), a.end(), 1);
    }
    std::printf("parent: value1 = %d, value2 = %.2f, array = %s\n", value1.load(), value2.load(),
                show(array.snapshot()).c_str());
    ipc::Process child([value1, value2, array]() mutable {
        value1.store(7);
        value2.store(value2.load() * 2);
        for (int& x : array.locked()) x *= 10;
        std::printf("child:  value1 = %d, value2 = %.2f, array = %s\n", value1.load(),
                    value2.load(), show(array.snapshot()).c_str());
    });
    child.start();
    child.join();
    // The child's writes went to the same memory: the parent sees them.
    std::printf("parent: value1 = %d, value2 = %.2f, array = %s\n\n", value1.load(), value2.load(),
                show(array.snapshot()).c_str());
    check(value1.load() == 7 && value2.load() == 6.28 &&
              array.snapshot() == std::vector<int>{10, 20, 30, 40},
          "the parent sees the child's writes");
}

// Part 2 ---------------------------------------------------------------------
void job(ipc::Lock& l, ipc::Shared<int>& v, int num, ringlet::Duration unit) {
    std::lock_guard guard(l);  // l.acquire() ... l.release(), also on an exception
    for (int i = 0; i < 10; ++i) {
        ringlet::sleep(unit / 10);  // the lock stays held across the sleep: that is the point
        v.store(v.load() + num);
        std::printf("%d\n", v.load());
    }
}

void locked_job(ringlet::Duration unit) {
    std::printf("== Part 2: job(v, 1) and job(v, 3), each holding the Lock for its loop\n");
    ipc::Lock l;
    ipc::Shared<int> v(0);
    ipc::Process p1(job, l, v, 1, unit);
    ipc::Process p2(job, l, v, 3, unit);
    p1.start();
    p2.start();
    p1.join();
    p2.join();
    std::printf("End (v = %d)\n\n", v.load());
    check(v.load() == 40, "10 x 1 + 10 x 3 = 40");
}

// Part 3 ---------------------------------------------------------------------
void deposit_unlocked(ipc::Shared<long>& balance, long n, long times) {
    // Two steps, each under the value's own lock, but nothing holds the
    // lock between them: another process's deposit in between is lost.
    for (long i = 0; i < times; ++i) balance.store(balance.load() + n);
}

void deposit_locked(ipc::Shared<long>& balance, long n, long times) {
    for (long i = 0; i < times; ++i) {
        auto b = balance.locked();  // the lock is held for the whole read-modify-write
        *b += n;
    }
}

template <class Deposit>
long two_depositors(Deposit deposit, long times) {
    ipc::Shared<long> balance(0);
    ipc::Process t1(deposit, balance, 5, times);
    ipc::Process t2(deposit, balance, 8, times);
    t1.start();
    t2.start();
    t1.join();
    t2.join();
    return balance.load();
}

void balance_with_and_without_lock(long times) {
    std::printf("== Part 3: two processes deposit 5 and 8, %ld times each\n", times);
    const long expected = 13 * times;
    const long racy = two_depositors(deposit_unlocked, times);
    std::printf("without the lock: balance = %ld, expected %ld (%ld lost to the race%s)\n", racy,
                expected, expected - racy,
                racy == expected ? "; this time the two did not overlap" : "");
    const long exact = two_depositors(deposit_locked, times);
    std::printf("with the lock:    balance = %ld, expected %ld\n\n", exact, expected);
    check(exact == expected, "with the lock no deposit is lost");
}

// Part 4 ---------------------------------------------------------------------
// Appends `records` lines to `path`, each written in two pieces; with `lock`
// non-null the whole line is written while holding it.
void append_records(const std::string& path, int who, int records, ipc::Lock* lock,
                    ringlet::Duration pause) {
    std::ofstream out(path, std::ios::app);  // O_APPEND: each write lands at the end
    for (int i = 0; i < records; ++i) {
        std::unique_lock<ipc::Lock> guard;
        if (lock != nullptr) guard = std::unique_lock(*lock);
        out << "process " << who << " record " << i << std::flush;  // first write
        ringlet::sleep(pause);
        out << " end\n" << std::flush;  // second write
    }
}

// How many lines of `path` are not a whole "process P record R end".
int torn_lines(const std::string& path, int& lines) {
    std::ifstream in(path);
    int torn = 0;
    lines = 0;
    for (std::string line; std::getline(in, line); ++lines) {
        int p = 0, r = 0, used = 0;
        if (std::sscanf(line.c_str(), "process %d record %d end%n", &p, &r, &used) != 2 ||
            used != static_cast<int>(line.size())) {
            ++torn;
        }
    }
    return torn;
}

void shared_file(ringlet::Duration unit) {
    std::printf("== Part 4: four processes append to one file\n");
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("ringlet_shared_file_" + std::to_string(::getpid()) + ".txt"))
                                 .string();
    constexpr int writers = 4, records = 5;
    ipc::Lock lock;
    for (bool with_lock : {false, true}) {
        std::filesystem::remove(path);
        std::vector<ipc::Process> ps;
        for (int w = 0; w < writers; ++w) {
            ps.emplace_back(append_records, path, w, records, with_lock ? &lock : nullptr,
                            unit / 10);
        }
        for (auto& p : ps) p.start();
        for (auto& p : ps) p.join();
        int lines = 0;
        const int torn = torn_lines(path, lines);
        std::printf("%-14s: %d lines, %d of them torn\n",
                    with_lock ? "with the lock" : "without a lock", lines, torn);
        if (with_lock) {
            check(lines == writers * records && torn == 0, "no line torn under the lock");
        }
    }
    std::filesystem::remove(path);
    std::printf("\n");
}

// Part 5 ---------------------------------------------------------------------
struct Occupancy {
    int inside;
    int most;
};

void bounded_section(int who, ipc::Semaphore& slots, ipc::Shared<Occupancy>& room,
                     Clock::time_point start, ringlet::Duration unit) {
    const auto stamp = [start] {
        return std::chrono::duration<double>(Clock::now() - start).count();
    };
    slots.acquire();  // waits while two others are inside
    int now = 0;
    {
        auto r = room.locked();
        now = ++r->inside;
        r->most = std::max(r->most, now);
    }
    std::printf("[%5.2fs] process %d enters (%d inside)\n", stamp(), who, now);
    ringlet::sleep(unit);
    room.locked()->inside -= 1;
    std::printf("[%5.2fs] process %d leaves\n", stamp(), who);
    slots.release();
}

void semaphore_of_two(ringlet::Duration unit) {
    std::printf("== Part 5: Semaphore(2): at most two of five processes inside at once\n");
    ipc::Semaphore slots(2);
    ipc::Shared<Occupancy> room(Occupancy{0, 0});
    const auto start = Clock::now();  // steady_clock is one clock for every process
    std::vector<ipc::Process> ps;
    for (int who = 1; who <= 5; ++who) {
        ps.emplace_back(bounded_section, who, slots, room, start, unit);
    }
    for (auto& p : ps) p.start();
    bool all_ok = true;
    for (auto& p : ps) all_ok = p.join() && p.exitcode() == 0 && all_ok;
    const Occupancy o = room.load();
    std::printf("at most %d were inside at once; %zu permits free again\n", o.most, slots.value());
    check(all_ok && o.most <= 2 && o.inside == 0 && slots.value() == 2,
          "never more than two inside");
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const ringlet::Duration unit = smoke ? ringlet::Duration(10ms) : ringlet::Duration(1s);
    const long changes = smoke ? 20'000 : 200'000;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep the processes' lines in order

    ringlet::run([&] {
        value_and_array();
        locked_job(unit);
        balance_with_and_without_lock(changes);
        shared_file(unit);
        semaphore_of_two(unit);
    });
    if (!ok) {
        std::fprintf(stderr, "shared_counter_lock: a check failed\n");
        return 1;
    }
    return 0;
}
