// examples/threads/thread_local_tasks.cpp — a threading tutorial program
// ("多线程的全局变量与局部变量"): threading.local() gives each thread its own
// `local_school.student`, so process_student() can read "its" student without
// a parameter and without a lock:
//
//   local_school = threading.local()
//   def process_student(): print 'Hello, %s (in %s)' % (local_school.student,
//   current_thread().name) def process_thread(name): local_school.student = name; process_student()
//   t1 = Thread(target=process_thread, args=('Alice',), name='Thread-A') ...
//
// With ringlet the unit of concurrency is the task, so the counterpart is
// ringlet::TaskLocal<T>: each TASK sees its own value (created on first use,
// destroyed when the task ends), whether its tasks share a thread or not.
// A C++ `thread_local` is different: it is per OS thread, so all tasks of one
// thread share it (task_local.hpp states the rule). The second half shows both.
//
//   thread_local_tasks            students per thread: 3, a visible step_pause between steps
//   thread_local_tasks --smoke    the same, without the pauses
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;

namespace {

// The Python program's global `local_school = threading.local()`.
ringlet::TaskLocal<std::string> student;

// Every task counts the lessons it took in its own TaskLocal...
ringlet::TaskLocal<int> lessons;
// ...and, for contrast, in a thread_local: one counter per OS thread.
thread_local int lessons_on_this_thread = 0;

std::mutex print_mutex;  // std::printf from several threads: keep lines whole
ringlet::Duration step_pause;

int thread_number() {
    static std::atomic<int> next{0};
    thread_local int mine = next.fetch_add(1);
    return mine;
}

void process_student() {
    std::lock_guard guard(print_mutex);
    std::printf("Hello, %s (in task %llu on thread %d)\n", student->c_str(),
                static_cast<unsigned long long>(ringlet::current_task()), thread_number());
}

void take_lesson() {
    ++*lessons;
    ++lessons_on_this_thread;
    ringlet::sleep(step_pause);  // a suspension point: other tasks run meanwhile
}

void process_thread(std::string name) {
    *student = std::move(name);  // bind this task's student
    ringlet::sleep(step_pause);  // the other tasks bind theirs meanwhile...
    process_student();           // ...yet we still see ours
    for (int i = 0; i < 3; ++i) take_lesson();
    std::lock_guard guard(print_mutex);
    std::printf("  %s: %d lessons in its TaskLocal, %d in its thread's thread_local\n",
                student->c_str(), *lessons, lessons_on_this_thread);
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    step_pause = smoke ? ringlet::Duration(0) : ringlet::Duration(100ms);

    std::printf("== Two ringlet::Threads, two student tasks on each\n");
    // Like Python's Thread-A and Thread-B, but each thread runs two tasks.
    ringlet::Thread<int> a([] {
        auto alice = ringlet::spawn(process_thread, std::string("Alice"));
        auto bob = ringlet::spawn(process_thread, std::string("Bob"));
        ringlet::joinall(alice, bob);
        return lessons_on_this_thread;
    });
    ringlet::Thread<int> b([] {
        auto carol = ringlet::spawn(process_thread, std::string("Carol"));
        auto dave = ringlet::spawn(process_thread, std::string("Dave"));
        ringlet::joinall(carol, dave);
        return lessons_on_this_thread;
    });
    const int on_a = a.get();
    const int on_b = b.get();
    std::printf("\nthread_local totals: %d lessons on the first thread, %d on the second\n", on_a,
                on_b);
    std::printf(
        "  -> TaskLocal: 3 per task, private. thread_local: 6 per thread, shared by\n"
        "     both tasks of that thread (tasks never migrate, so it is stable, but\n"
        "     it is not per task).\n\n");

    std::printf("== Outside any task, a TaskLocal belongs to the plain thread\n");
    std::thread plain([] {
        *student = "Eve (a plain std::thread)";
        std::printf("Hello, %s; has_value in this thread: %s\n", student->c_str(),
                    student.has_value() ? "yes" : "no");
        ringlet::run([] {
            std::printf("  inside ringlet::run on that thread, the main task's has_value: %s\n",
                        student.has_value() ? "yes" : "no");
        });
        std::printf("  back outside: still %s\n", student->c_str());
    });
    plain.join();
    return (on_a == 6 && on_b == 6) ? 0 : 1;
}
