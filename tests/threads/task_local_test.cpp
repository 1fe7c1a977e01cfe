// tests/threads/task_local_test.cpp — ringlet::TaskLocal<T> (Python's
// threading.local, per task): each task sees its own value, created on first
// use (value-initialised or by the initializer) and destroyed when the task
// ends; on a plain thread the value belongs to the thread. And the documented
// rule for thread_local: one per OS thread, shared by all its tasks.
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "ringlet_test.hpp"

using namespace std::chrono_literals;

namespace {

struct Counted {
    static inline std::atomic<int> alive{0};
    static inline std::atomic<int> made{0};
    int value = 0;
    Counted() {
        alive.fetch_add(1);
        made.fetch_add(1);
    }
    explicit Counted(int v) : Counted() { value = v; }
    Counted(const Counted& o) : Counted() { value = o.value; }
    ~Counted() { alive.fetch_sub(1); }
};

ringlet::TaskLocal<std::string> student;  // Python's local_school.student

void process_student(std::vector<std::string>& out) {
    // Reads the calling task's value without it being passed in.
    out.push_back("Hello, " + *student);
}

}  // namespace

RINGLET_TEST(TaskLocalTest, EachTaskSeesItsOwnValue) {
    constexpr int n = 20;
    std::vector<std::string> seen(n);
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < n; ++i) {
        tasks.push_back(ringlet::spawn([&seen, i] {
            *student = "student " + std::to_string(i);
            ringlet::yield();  // every other task writes its own value meanwhile
            ringlet::sleep(std::chrono::microseconds(i * 10));
            seen[i] = *student;
        }));
    }
    ringlet::joinall(tasks);
    for (int i = 0; i < n; ++i) EXPECT_EQ(seen[i], "student " + std::to_string(i));
}

RINGLET_TEST(TaskLocalTest, FunctionsCalledByTheTaskSeeItsValue) {
    std::vector<std::string> a_out, b_out;
    auto a = ringlet::spawn([&] {
        *student = "Alice";
        ringlet::yield();
        process_student(a_out);
    });
    auto b = ringlet::spawn([&] {
        *student = "Bob";
        ringlet::yield();
        process_student(b_out);
    });
    ringlet::joinall(a, b);
    ASSERT_EQ(a_out.size(), 1u);
    ASSERT_EQ(b_out.size(), 1u);
    EXPECT_EQ(a_out[0], "Hello, Alice");
    EXPECT_EQ(b_out[0], "Hello, Bob");
}

RINGLET_TEST(TaskLocalTest, ValueDestroyedWhenTheTaskEnds) {
    ringlet::TaskLocal<Counted> local;
    const int before = Counted::alive.load();
    ringlet::Event keep_going;
    int inside = 0;
    auto t = ringlet::spawn([&] {
        local->value = 5;
        inside = Counted::alive.load();
        keep_going.wait();
        EXPECT_EQ(local->value, 5);
    });
    ringlet::yield();
    EXPECT_EQ(inside, before + 1);
    EXPECT_EQ(Counted::alive.load(), before + 1);  // alive while the task waits
    keep_going.set();
    t.join();
    EXPECT_EQ(Counted::alive.load(), before);  // destroyed at the task's end
    EXPECT_FALSE(local.has_value());           // main never made one
}

RINGLET_TEST(TaskLocalTest, ValueDestroyedWhenTheTaskIsCancelledOrFails) {
    ringlet::TaskLocal<Counted> local;
    const int before = Counted::alive.load();
    ringlet::Event never;
    auto cancelled = ringlet::spawn([&] {
        local.get();
        never.wait();
    });
    auto failed = ringlet::spawn([&] {
        local.get();
        ringlet::yield();
        throw std::runtime_error("fails with a local alive");
    });
    ringlet::yield();
    EXPECT_EQ(Counted::alive.load(), before + 2);
    cancelled.cancel();
    EXPECT_TRUE(cancelled.join());
    EXPECT_TRUE(failed.join());
    EXPECT_TRUE(cancelled.cancelled());
    EXPECT_TRUE(failed.failed());
    EXPECT_EQ(Counted::alive.load(), before);
}

RINGLET_TEST(TaskLocalTest, InitializerFormRunsOncePerTask) {
    std::atomic<int> calls{0};
    ringlet::TaskLocal<int> local([&] {
        calls.fetch_add(1);
        return 42;
    });
    auto a = ringlet::spawn([&] {
        EXPECT_EQ(*local, 42);
        local.get() = 7;
        ringlet::yield();
        EXPECT_EQ(*local, 7);
        EXPECT_EQ(local.get(), 7);
    });
    auto b = ringlet::spawn([&] {
        ringlet::yield();
        EXPECT_EQ(*local, 42);  // a's 7 is a's own
    });
    ringlet::joinall(a, b);
    EXPECT_EQ(calls.load(), 2);
    EXPECT_EQ(*local, 42);  // main task: its own, third call
    EXPECT_EQ(calls.load(), 3);
}

RINGLET_TEST(TaskLocalTest, HasValueOnlyAfterFirstUse) {
    ringlet::TaskLocal<Counted> local;
    EXPECT_FALSE(local.has_value());
    auto t = ringlet::spawn([&] {
        EXPECT_FALSE(local.has_value());
        local->value = 1;
        EXPECT_TRUE(local.has_value());
    });
    t.join();
    EXPECT_FALSE(local.has_value());
    local.get();
    EXPECT_TRUE(local.has_value());
    auto u = ringlet::spawn([&] { EXPECT_FALSE(local.has_value()); });
    u.join();
}

RINGLET_TEST(TaskLocalTest, SeparateTaskLocalsAreIndependent) {
    ringlet::TaskLocal<int> a;
    ringlet::TaskLocal<int> b([] { return 100; });
    *a = 1;
    EXPECT_EQ(*b, 100);
    *b = 2;
    EXPECT_EQ(*a, 1);
    EXPECT_EQ(*b, 2);
}

TEST(TaskLocalTest, OnAPlainThreadTheValueBelongsToTheThread) {
    ringlet::TaskLocal<Counted> local;
    const int before = Counted::alive.load();
    std::atomic<int> during{0};
    int first = 0, second = 0, in_task = -1, after_run = 0;
    bool had_in_task = true;
    std::thread plain([&] {
        local->value = 10;  // no task running: the thread's own value
        first = local->value;
        // Inside ringlet::run on this same thread, the main task has its own.
        ringlet::run([&] {
            had_in_task = local.has_value();
            in_task = local->value;
        });
        after_run = local->value;  // the thread's value survived run()
        std::thread other([&] { second = local->value; });  // another thread: fresh
        other.join();
        during.store(Counted::alive.load());
    });
    plain.join();
    EXPECT_EQ(first, 10);
    EXPECT_FALSE(had_in_task);
    EXPECT_EQ(in_task, 0);
    EXPECT_EQ(after_run, 10);
    EXPECT_EQ(second, 0);
    EXPECT_EQ(during.load(), before + 1);
    EXPECT_EQ(Counted::alive.load(), before) << "destroyed when the thread exits";
}

TEST(TaskLocalTest, TasksOnDifferentThreadsHaveTheirOwn) {
    ringlet::TaskLocal<int> local;
    std::atomic<int> wrong{0};
    ringlet::run_threads(4, [&](std::size_t t) {
        ringlet::Group group;
        for (int k = 0; k < 50; ++k) {
            group.spawn([&, t, k] {
                const int mine = int(t) * 1000 + k;
                *local = mine;
                for (int i = 0; i < 5; ++i) {
                    ringlet::yield();
                    if (*local != mine) wrong.fetch_add(1);
                }
            });
        }
        group.join();
    });
    EXPECT_EQ(wrong.load(), 0);
}

// ---------------------------------------------------------------- thread_local

namespace {
thread_local int per_thread_counter = 0;
}

RINGLET_TEST(ThreadLocalRuleTest, ThreadLocalIsSharedByAllTasksOfOneThread) {
    // task_local.hpp: "a thread_local is per OS thread, so every task of that
    // thread shares it (and a task sees the same one across suspension
    // points, because tasks never migrate between threads)".
    constexpr int n = 10;
    per_thread_counter = 0;
    std::set<const int*> addresses;
    std::vector<ringlet::Task<void>> tasks;
    for (int i = 0; i < n; ++i) {
        tasks.push_back(ringlet::spawn([&] {
            const int* before = &per_thread_counter;
            ++per_thread_counter;
            ringlet::sleep(100us);
            EXPECT_EQ(&per_thread_counter, before);  // same one after suspending
            addresses.insert(&per_thread_counter);
        }));
    }
    ringlet::joinall(tasks);
    EXPECT_EQ(per_thread_counter, n);  // all ten increments landed in one variable
    EXPECT_EQ(addresses.size(), 1u);
    EXPECT_EQ(*addresses.begin(), &per_thread_counter);  // and it is main's too

    // Another ringlet::Thread has its own copy, shared by *its* tasks.
    ringlet::Thread<int> other([] {
        per_thread_counter = 0;
        ringlet::Group group;
        for (int i = 0; i < 5; ++i) group.spawn([] { ++per_thread_counter; });
        group.join();
        return per_thread_counter;
    });
    EXPECT_EQ(other.get(), 5);
    EXPECT_EQ(per_thread_counter, n);  // untouched by the other thread
}
