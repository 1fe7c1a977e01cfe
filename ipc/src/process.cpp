#include <ringlet/ipc/process.hpp>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <exception>
#include <mutex>
#include <vector>

#include <ringlet/errors.hpp>
#include <ringlet/run.hpp>

#include "child_exit.hpp"
#include "describe_exception.hpp"
#include "scheduler.hpp"
#include "unique_fd.hpp"

namespace ringlet::ipc {

namespace detail {

// What the parent knows of one child; shared by the Process handle and the
// exit registry of the run() that started it.
struct ChildRecord {
    ringlet::detail::UniqueFd pidfd;
    pid_t pid = 0;
    bool daemon = false;
    std::optional<int> exitcode;  // set once reaped

    std::optional<int> poll() {
        if (!exitcode) exitcode = try_reap(pidfd.get());
        return exitcode;
    }
    bool wait(TimePoint deadline) {
        if (!exitcode) exitcode = wait_reap(pidfd.get(), deadline);
        return exitcode.has_value();
    }
};

namespace {

using Children = std::vector<std::shared_ptr<ChildRecord>>;

// How long a daemon child gets to honour SIGTERM at the end of run().
constexpr auto daemon_grace = std::chrono::seconds(2);

// The children started under the running scheduler of this thread.
thread_local Children* t_children = nullptr;
thread_local ringlet::detail::Scheduler* t_children_owner = nullptr;

// At the end of run(), outside any task (waits block the thread): Python's
// exit rule — daemonic children are terminated, then every child is joined.
void finish_children(Children& children) noexcept {
    for (auto& c : children) {
        if (c->daemon && !c->exitcode) {
            try {
                send_signal(c->pidfd.get(), SIGTERM);
            } catch (const std::exception&) {
            }
        }
    }
    const TimePoint grace_end = deadline_after(daemon_grace);
    for (auto& c : children) {
        try {
            if (c->daemon && !c->wait(grace_end)) send_signal(c->pidfd.get(), SIGKILL);
            c->wait(TimePoint::max());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ringlet: could not reap child process %d: %s\n",
                         static_cast<int>(c->pid), e.what());
        }
    }
    children.clear();
}

void register_child(std::shared_ptr<ChildRecord> record) {
    ringlet::detail::Scheduler* s = ringlet::detail::Scheduler::current();
    if (s == nullptr) return;  // outside run(): only join() reaps it
    if (t_children == nullptr || t_children_owner != s) {
        auto children = std::make_shared<Children>();
        t_children = children.get();
        t_children_owner = s;
        s->add_exit_hook([children] {
            finish_children(*children);
            if (t_children == children.get()) {
                t_children = nullptr;
                t_children_owner = nullptr;
            }
        });
    }
    // Drop the reaped ones so a long-running server does not accumulate them.
    std::erase_if(*t_children, [](const auto& c) { return c->exitcode.has_value(); });
    t_children->push_back(std::move(record));
}

std::atomic<int> process_counter{0};

void print_child_failure(const std::string& name, const char* what) noexcept {
    std::fprintf(stderr, "ringlet: process %s (pid %d) failed: %s\n", name.c_str(),
                 static_cast<int>(::getpid()), what);
}

}  // namespace
}  // namespace detail

Process::Process(ProcessOptions options)
    : name_(std::move(options.name)), daemon_(options.daemon) {
    if (name_.empty()) name_ = "Process-" + std::to_string(++detail::process_counter);
}

Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&&) noexcept = default;
Process::~Process() = default;

void Process::run() {
    if (body_) body_->call();
}

void Process::start() {
    if (child_) throw UsageError("ringlet::ipc::Process::start: the process was already started");
    // Buffered output would otherwise be written twice: by the parent and by the child.
    std::fflush(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw_io_error(-errno, "fork");
    if (pid == 0) run_child(parent);
    auto record = std::make_shared<detail::ChildRecord>();
    record->pid = pid;
    record->daemon = daemon_;
    try {
        record->pidfd = detail::open_pidfd(pid);
    } catch (...) {
        // Without a pidfd we cannot watch it safely: stop it now, leave no zombie.
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        throw;
    }
    pid_ = pid;
    child_ = record;
    detail::register_child(std::move(record));
}

void Process::run_child(pid_t parent) noexcept {
    if (daemon_) {
        // A daemon (a Manager server among them) must not outlive its owner.
        // The check after prctl() closes the window where the owner died
        // between fork() and prctl(): we would have been re-parented already.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::raise(SIGKILL);
    }
    // DESIGN: the child starts a fresh scheduler and ring; nothing of the
    // parent's scheduler is touched (its tasks are not here).
    ringlet::detail::Scheduler::abandon_after_fork();
    detail::t_children = nullptr;  // the parent's children are not ours
    detail::t_children_owner = nullptr;
    int code = 0;
    try {
        ringlet::run([this] { run(); });
    } catch (...) {  // std::exception, Cancelled and the rest alike
        detail::print_child_failure(
            name_, ringlet::detail::describe_exception(std::current_exception()).c_str());
        code = 1;
    }
    std::fflush(nullptr);
    // Not exit(): the parent's atexit handlers and static destructors belong to it.
    ::_exit(code);
}

bool Process::join(Duration timeout) {
    if (!child_) throw UsageError("ringlet::ipc::Process::join: start() the process first");
    return child_->wait(deadline_after(timeout));
}

void Process::terminate() {
    if (!child_) throw UsageError("ringlet::ipc::Process::terminate: start() the process first");
    if (!child_->exitcode) detail::send_signal(child_->pidfd.get(), SIGTERM);
}

void Process::kill() {
    if (!child_) throw UsageError("ringlet::ipc::Process::kill: start() the process first");
    if (!child_->exitcode) detail::send_signal(child_->pidfd.get(), SIGKILL);
}

bool Process::is_alive() { return child_ && !child_->poll(); }

std::optional<int> Process::exitcode() {
    if (!child_) return std::nullopt;
    return child_->poll();
}

namespace {
// getpid() is a system call (glibc no longer caches it); hot paths that check
// "am I still the owner after a fork?" read this copy, reset in every child
// that fork() creates.
std::atomic<pid_t> cached_pid{0};
}  // namespace

pid_t current_pid() noexcept {
    pid_t pid = cached_pid.load(std::memory_order_relaxed);
    if (pid != 0) return pid;
    static std::once_flag registered;
    std::call_once(registered, [] {
        ::pthread_atfork(nullptr, nullptr, [] { cached_pid.store(::getpid(), std::memory_order_relaxed); });
    });
    pid = ::getpid();
    cached_pid.store(pid, std::memory_order_relaxed);
    return pid;
}
pid_t parent_pid() noexcept { return ::getppid(); }

std::size_t cpu_count() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return static_cast<std::size_t>(n);
    }
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<std::size_t>(n) : 1;
}

}  // namespace ringlet::ipc
