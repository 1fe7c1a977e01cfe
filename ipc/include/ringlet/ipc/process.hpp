// ringlet/ipc/process.hpp — a function run in a forked child process.
//
// ipc::Process is Python's multiprocessing.Process with the fork start
// method. start() forks; the child runs the body inside a fresh scheduler and
// io_uring of its own (nothing of the parent's scheduler is used there: its
// tasks are simply absent in the child) and exits 0, or 1 if the body threw
// (the exception is printed on stderr). Arguments are copied into the child
// with the rest of the parent's memory, so they need no encoding; values
// coming back need a Queue, a pipe or Shared<T>.
//
// The parent watches the child through a pidfd: join() is a suspension point
// in a task (the thread keeps running its other tasks) and blocks a plain
// thread. When the ringlet::run() that started a child ends, daemon children
// are terminated (SIGTERM, then SIGKILL after a grace period) and the others
// are joined, as Python does at interpreter exit; a Process handle that is
// destroyed earlier leaves its child running until then. A child started
// outside run() is only reaped by join().
//
// Fork copies only the calling thread: a child must not rely on other threads
// of the parent (nor on locks they held). Prefer creating processes before
// threads, as with any fork().
//
// Handles that own a file descriptor (a pipe's Connection, a socket) are
// best passed by reference (std::ref, or a capture by reference): the child
// gets its copy through fork anyway, and the parent then closes its own end
// after start() so that the other side sees EOF when the child is done. A
// moved-in handle would stay open inside the Process object until it dies.
// Unlike Python, a daemon child may start children of its own; its run()
// deals with them as any run() does.
//
// When the owner dies. A daemon child dies with the process that started it,
// however that one ends (SIGKILL included): it gets SIGKILL when the thread
// that started it exits (PR_SET_PDEATHSIG), so start daemons from a thread
// that outlives them (any ringlet::run() thread does: run() ends its daemons
// first). A non-daemon child keeps running after its owner dies, as in
// Python, and is re-parented to init.
//
// Two styles, as in Python:
//   ipc::Process p(worker, 42, "name");  p.start();  p.join();
//   struct Job : ipc::Process { void run() override { ... } };  Job j; j.start();
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <ringlet/ps/process.hpp>
#include <ringlet/time.hpp>

namespace ringlet::ipc {

struct ProcessOptions {
    std::string name = {};  // default: "Process-N", N counting from 1 in this process
    bool daemon = false;    // terminated (not joined) when the starting run() ends;
                            // killed when its owner dies (see "When the owner dies")
};

namespace detail {

struct ChildRecord;

struct ProcessBody {
    virtual ~ProcessBody() = default;
    virtual void call() = 0;
};

template <class F, class... A>
struct ProcessBodyOf final : ProcessBody {
    template <class F2, class... A2>
    explicit ProcessBodyOf(F2&& f2, A2&&... a2)
        : f(std::forward<F2>(f2)), args(std::forward<A2>(a2)...) {}
    void call() override { std::apply(f, args); }
    F f;
    std::tuple<A...> args;
};

}  // namespace detail

// A child process and its handle. Move-only (a subclass moves only as itself).
// Not thread-safe: one thread uses a handle at a time.
class Process {
public:
    // For subclasses that override run().
    explicit Process(ProcessOptions options = {});

    // The child will call f(args...); arguments are decay-copied now.
    template <class F, class... A>
        requires(!std::is_same_v<std::decay_t<F>, ProcessOptions> &&
                 std::is_invocable_v<std::decay_t<F>&, std::decay_t<A>&...>)
    explicit Process(F&& f, A&&... args) : Process(ProcessOptions{}, std::forward<F>(f),
                                                   std::forward<A>(args)...) {}

    template <class F, class... A>
        requires std::is_invocable_v<std::decay_t<F>&, std::decay_t<A>&...>
    Process(ProcessOptions options, F&& f, A&&... args) : Process(std::move(options)) {
        body_ = std::make_unique<detail::ProcessBodyOf<std::decay_t<F>, std::decay_t<A>...>>(
            std::forward<F>(f), std::forward<A>(args)...);
    }

    Process(Process&&) noexcept;
    Process& operator=(Process&&) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    // Does not stop the child (see the file comment for who reaps it).
    virtual ~Process();

    // Forks the child, which runs run() in a fresh scheduler and exits.
    // Throws: UsageError if already started; IoError if fork or pidfd_open fails.
    void start();

    // Waits up to `timeout` for the child to end and reaps it. True once it has
    // ended (exitcode() is then set).
    // Suspends. Throws: UsageError before start(); Cancelled, TimeoutError
    // (enclosing scope). Cancellation: the child keeps running, still joinable.
    bool join(Duration timeout = forever);

    // Sends SIGTERM / SIGKILL. No effect once the child has ended or been
    // reaped. Throws: UsageError before start().
    void terminate();
    void kill();

    // True between start() and the child's end. Never blocks.
    bool is_alive();
    // The child's pid; 0 before start().
    pid_t pid() const noexcept { return pid_; }
    // The started child's process information (name, memory, CPU, …), bound
    // to that child (ringlet/ps/process.hpp). A child that has ended is reaped
    // first, as is_alive() does. Never blocks. Throws: UsageError before
    // start(); ps::NoSuchProcess once the child has ended.
    ps::Process info();
    // nullopt while running (or before start); then 0 on success, 1 for an
    // uncaught exception, the code given to exit(), or -N for signal N.
    std::optional<int> exitcode();
    const std::string& name() const noexcept { return name_; }
    bool daemon() const noexcept { return daemon_; }

protected:
    // The child's body. The default calls the function given to the
    // constructor; subclasses override it (Python's Process.run).
    virtual void run();

private:
    [[noreturn]] void run_child(pid_t parent) noexcept;

    std::string name_;
    bool daemon_ = false;
    pid_t pid_ = 0;
    std::unique_ptr<detail::ProcessBody> body_;
    std::shared_ptr<detail::ChildRecord> child_;  // shared with the run() exit registry
};

// This process's id, its parent's, and the number of CPUs it may run on
// (sched_getaffinity, as os.process_cpu_count(); at least 1).
pid_t current_pid() noexcept;
pid_t parent_pid() noexcept;
std::size_t cpu_count() noexcept;

}  // namespace ringlet::ipc
