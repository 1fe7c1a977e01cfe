// ringlet/run.hpp — start a scheduler on this thread and run a main task.
//
// run(main) turns the calling thread into a scheduler thread until `main`
// returns: main runs as the first task ("main"); when it returns, every task
// still alive is cancelled and unwound (its destructors run) before run()
// returns main's value or rethrows main's exception.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include <ringlet/task.hpp>
#include <ringlet/time.hpp>

namespace ringlet {

struct Options {
    // "io_uring", "epoll", or empty: $RINGLET_BACKEND, else io_uring with a
    // silent fallback to epoll where io_uring is not allowed.
    std::string_view backend = {};
    unsigned ring_entries = 256;
    // Free stacks kept committed for reuse; beyond this their pages are
    // returned to the kernel.
    std::size_t warm_stacks = 256;
    // When positive: a task that holds the thread longer than this without
    // reaching a suspension point is reported on stderr (id, name and, with
    // ringlet-hooks, the blocking libc call it is in). Zero: no watchdog at all.
    Duration blocked_warning = Duration::zero();
    // When non-zero (e.g. SIGQUIT): on that signal every scheduler thread of the
    // process writes its dump_tasks() to stderr, from its own loop, not from the
    // handler. The handler stays installed once set. Zero: the signal is untouched.
    int dump_signal = 0;
};

namespace detail {

// Owns this thread's scheduler for the duration of run().
class SchedulerScope {
  public:
    explicit SchedulerScope(const Options& options);  // Throws: UsageError if nested
    ~SchedulerScope();
    SchedulerScope(const SchedulerScope&) = delete;
    SchedulerScope& operator=(const SchedulerScope&) = delete;
    // Runs the loop until `main` ends, then cancels and joins every other task.
    void run_until_done(TaskControlBlock* main);

  private:
    std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace detail

// Runs `main()` as the first task of a new scheduler on the calling thread and
// returns its value (or rethrows its exception) once it and every task it left
// behind have ended. Throws: UsageError when called inside a running scheduler
// (spawn a task instead); IoError if neither io_uring nor epoll can start.
template <class F>
auto run(F&& main, Options options = {}) {
    detail::SchedulerScope scope(options);
    auto task = spawn(SpawnOptions{.name = "main"}, std::forward<F>(main));
    scope.run_until_done(task.control_block());
    return task.get();
}

}  // namespace ringlet
