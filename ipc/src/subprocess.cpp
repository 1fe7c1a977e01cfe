#include <ringlet/ipc/subprocess.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <span>
#include <system_error>
#include <utility>

#include <ringlet/detail/completion.hpp>
#include <ringlet/errors.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/task.hpp>

#include "child_exit.hpp"
#include "io_request.hpp"
#include "unique_fd.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace ringlet::ipc {

namespace {

using ringlet::detail::UniqueFd;

// Read size per call when collecting a child's output.
constexpr std::size_t read_chunk = 64 * 1024;

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// RAII for posix_spawn's two attribute objects.
class SpawnFileActions {
public:
    SpawnFileActions() {
        if (const int e = ::posix_spawn_file_actions_init(&fa_); e != 0) {
            throw IoError(e, "posix_spawn_file_actions_init");
        }
    }
    ~SpawnFileActions() { ::posix_spawn_file_actions_destroy(&fa_); }
    SpawnFileActions(const SpawnFileActions&) = delete;
    SpawnFileActions& operator=(const SpawnFileActions&) = delete;

    posix_spawn_file_actions_t* get() noexcept { return &fa_; }
    static void check(int e, const char* what) {
        if (e != 0) throw IoError(e, what);
    }

private:
    posix_spawn_file_actions_t fa_;
};

class SpawnAttributes {
public:
    SpawnAttributes() {
        if (const int e = ::posix_spawnattr_init(&attr_); e != 0) {
            throw IoError(e, "posix_spawnattr_init");
        }
    }
    ~SpawnAttributes() { ::posix_spawnattr_destroy(&attr_); }
    SpawnAttributes(const SpawnAttributes&) = delete;
    SpawnAttributes& operator=(const SpawnAttributes&) = delete;

    posix_spawnattr_t* get() noexcept { return &attr_; }

private:
    posix_spawnattr_t attr_;
};

void set_nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) throw IoError(errno, "fcntl");
}

// One socketpair for a standard stream: the parent's end becomes `parent`
// (non-blocking, as the runtime's sockets are), the child's end `child`.
// O_NONBLOCK belongs to the open file description, which the child would
// share after dup2: set it on the parent's end only, since the programs we
// start expect blocking stdio. Both ends are CLOEXEC, so no other child
// (started by another thread meanwhile) inherits them.
void make_pipe(net::UnixStream& parent, UniqueFd& child) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        throw IoError(errno, "socketpair");
    }
    parent = net::UnixStream(net::Socket(fds[0]));
    child.reset(fds[1]);
    set_nonblocking(parent.socket().fd());
    // If the parent had closed one of 0/1/2, the child's end may sit there;
    // dup2 onto itself would then keep CLOEXEC, and a later dup2 onto that
    // number would clobber it. Move it out of the way.
    if (child.get() < 3) {
        const int moved = ::fcntl(child.get(), F_DUPFD_CLOEXEC, 3);
        if (moved < 0) throw IoError(errno, "fcntl(F_DUPFD_CLOEXEC)");
        child.reset(moved);
    }
}

// Sets up the child's fd `target` (0, 1 or 2) as `mode` says.
void plan_stdio(SpawnFileActions& fa, Stdio mode, int target, net::UnixStream& parent,
                UniqueFd& child) {
    switch (mode) {
        case Stdio::inherit:
            return;
        case Stdio::null:
            SpawnFileActions::check(
                ::posix_spawn_file_actions_addopen(fa.get(), target, "/dev/null",
                                                   target == 0 ? O_RDONLY : O_WRONLY, 0),
                "posix_spawn_file_actions_addopen");
            return;
        case Stdio::pipe:
            make_pipe(parent, child);
            SpawnFileActions::check(
                ::posix_spawn_file_actions_adddup2(fa.get(), child.get(), target),
                "posix_spawn_file_actions_adddup2");
            return;
    }
}

// Reaps a child that has been sent SIGKILL; blocks until the kernel has
// ended it (a short moment, unless it is stuck in an uninterruptible sleep).
void reap_blocking(int pidfd) noexcept {
    siginfo_t info{};
    const auto id = static_cast<id_t>(pidfd);
    while (::waitid(static_cast<idtype_t>(P_PIDFD), id, &info, WEXITED) != 0 && errno == EINTR) {
    }
}

// Closes a pipe end, logging (not throwing) a close error.
void close_quietly(net::UnixStream& s) noexcept { s = net::UnixStream(); }

// Reads from `stream` until EOF, appending to `out`. Suspends.
void read_to_eof(net::Stream& stream, std::string& out) {
    for (;;) {
        const std::size_t old = out.size();
        if (out.capacity() - old < read_chunk) {
            out.reserve(std::max(2 * out.capacity(), old + read_chunk));
        }
        out.resize(old + read_chunk);
        std::size_t n = 0;
        try {
            n = stream.read(out.data() + old, read_chunk);
        } catch (...) {
            out.resize(old);
            throw;
        }
        out.resize(old + n);
        if (n == 0) return;
    }
}

// One non-blocking recv appended to `out`. False at EOF.
bool recv_some(int fd, std::string& out) {
    const std::size_t old = out.size();
    if (out.capacity() - old < read_chunk) {
        out.reserve(std::max(2 * out.capacity(), old + read_chunk));
    }
    out.resize(old + read_chunk);
    const ssize_t n = ::recv(fd, out.data() + old, read_chunk, MSG_DONTWAIT);
    const int err = errno;
    out.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    if (n > 0) return true;
    if (n == 0) return false;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return true;
    throw IoError(err, "recv");
}

bool is_closed_peer(const IoError& e) noexcept {
    return e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset;
}

// "exited with status 3" / "was killed by signal 9 (SIGKILL)".
std::string describe_status(int code) {
    if (code >= 0) return "exited with status " + std::to_string(code);
    std::string s = "was killed by signal " + std::to_string(-code);
    if (const char* abbrev = ::sigabbrev_np(-code)) s += std::string(" (SIG") + abbrev + ")";
    return s;
}

// A helper task of communicate(): it runs `body`, keeps its exception, and
// signals `done` last, so the caller can wait for it without being
// interruptible (its buffers live in the caller's frame).
struct Helper {
    ringlet::detail::Completion started, done;
    std::exception_ptr error;
    Task<void> task;

    // Spawns the helper and lets it run up to its first suspension point. A
    // task cancelled before it first runs never runs (and would never signal
    // `done`), so stop() may only cancel a helper that has started.
    template <class F>
    void start(const char* name, F body) {
        task = spawn(SpawnOptions{.name = name}, [this, body]() mutable {
            started.signal();
            try {
                body();
            } catch (...) {  // Cancelled included: then the caller is unwinding
                error = std::current_exception();
            }
            done.signal();  // last touch of *this
        });
        started.wait_uninterruptible("communicate");
    }
    bool spawned() const noexcept { return task.valid(); }
    // Stops the helper and waits until it has let go of the caller's buffers
    // (an io_uring op is cancelled and completed before Cancelled unwinds it).
    void stop() noexcept {
        if (!task.valid()) return;
        try {
            task.cancel();
        } catch (...) {
        }
        done.wait_uninterruptible("communicate");
    }
};

}  // namespace

Subprocess::Subprocess(std::vector<std::string> argv, SubprocessOptions options) {
    if (argv.empty()) {
        throw UsageError(
            "ringlet::ipc::Subprocess: argv is empty; give at least the program, e.g. {\"true\"}");
    }
    if (options.stderr_to_stdout && options.stderr_mode != Stdio::inherit) {
        throw UsageError(
            "ringlet::ipc::Subprocess: stderr_to_stdout sends stderr where stdout goes; leave "
            "stderr_mode at Stdio::inherit");
    }
    program_ = argv[0];

    SpawnFileActions fa;
    UniqueFd child_in, child_out, child_err;  // the child's ends, closed here after the spawn
    plan_stdio(fa, options.stdin_mode, 0, stdin_, child_in);
    plan_stdio(fa, options.stdout_mode, 1, stdout_, child_out);
    plan_stdio(fa, options.stderr_mode, 2, stderr_, child_err);
    if (options.stderr_to_stdout) {
        SpawnFileActions::check(::posix_spawn_file_actions_adddup2(fa.get(), 1, 2),
                                "posix_spawn_file_actions_adddup2");
    }
    // Everything is CLOEXEC already; this also catches fds that other code
    // opened without it (Python's close_fds=True).
    SpawnFileActions::check(::posix_spawn_file_actions_addclosefrom_np(fa.get(), 3),
                            "posix_spawn_file_actions_addclosefrom_np");
    if (!options.cwd.empty()) {
        SpawnFileActions::check(
            ::posix_spawn_file_actions_addchdir_np(fa.get(), options.cwd.c_str()),
            "posix_spawn_file_actions_addchdir_np");
    }

    // A clean signal state: the runtime's threads may block signals, and a
    // SIG_IGN for SIGPIPE would survive exec (Python's restore_signals).
    SpawnAttributes attr;
    sigset_t empty, defaults;
    ::sigemptyset(&empty);
    ::sigemptyset(&defaults);
    ::sigaddset(&defaults, SIGPIPE);
    ::sigaddset(&defaults, SIGXFSZ);
    if (const int e = ::posix_spawnattr_setsigmask(attr.get(), &empty); e != 0) {
        throw IoError(e, "posix_spawnattr_setsigmask");
    }
    if (const int e = ::posix_spawnattr_setsigdefault(attr.get(), &defaults); e != 0) {
        throw IoError(e, "posix_spawnattr_setsigdefault");
    }
    if (const int e =
            ::posix_spawnattr_setflags(attr.get(), POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        e != 0) {
        throw IoError(e, "posix_spawnattr_setflags");
    }

    std::vector<char*> cargv;
    cargv.reserve(argv.size() + 1);
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    if (options.env) {
        cenv.reserve(options.env->size() + 1);
        for (auto& e : *options.env) cenv.push_back(e.data());
        cenv.push_back(nullptr);
    }

    pid_t pid = -1;
    // glibc's posix_spawnp (clone CLONE_VM|CLONE_VFORK) returns once the
    // child has exec'd, or with the exec's errno after reaping the failed
    // child itself, so a failure leaves no zombie.
    const int e = ::posix_spawnp(&pid, program_.c_str(), fa.get(), attr.get(), cargv.data(),
                                 options.env ? cenv.data() : environ);
    if (e != 0) {
        std::string what = "posix_spawn " + quoted(program_);
        if (!options.cwd.empty()) what += " in " + quoted(options.cwd);
        throw IoError(e, what);
    }
    try {
        pidfd_ = detail::open_pidfd(pid).release();
    } catch (...) {
        // Without a pidfd we cannot watch it safely: stop it now, leave no
        // zombie (the pid cannot be reused before we reap it).
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        throw;
    }
    pid_ = pid;
}

Subprocess::Subprocess(Subprocess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      pidfd_(std::exchange(o.pidfd_, -1)),
      returncode_(std::exchange(o.returncode_, std::nullopt)),
      waiters_(std::exchange(o.waiters_, 0)),
      program_(std::move(o.program_)),
      stdin_(std::move(o.stdin_)),
      stdout_(std::move(o.stdout_)),
      stderr_(std::move(o.stderr_)) {}

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
    if (this != &o) {
        dispose();
        pid_ = std::exchange(o.pid_, -1);
        pidfd_ = std::exchange(o.pidfd_, -1);
        returncode_ = std::exchange(o.returncode_, std::nullopt);
        waiters_ = std::exchange(o.waiters_, 0);
        program_ = std::move(o.program_);
        stdin_ = std::move(o.stdin_);
        stdout_ = std::move(o.stdout_);
        stderr_ = std::move(o.stderr_);
    }
    return *this;
}

Subprocess::~Subprocess() { dispose(); }

void Subprocess::dispose() noexcept {
    close_quietly(stdin_);
    close_quietly(stdout_);
    close_quietly(stderr_);
    if (pidfd_ < 0) return;
    if (!returncode_) {
        // Python would leave the child running; we prefer no zombie and no
        // orphan. SIGKILL cannot be caught, so the reap below is short.
        try {
            if (!detail::try_reap(pidfd_)) {
                detail::send_signal(pidfd_, SIGKILL);
                reap_blocking(pidfd_);
            }
        } catch (const IoError& err) {
            if (err.code() != std::errc::no_child_process) {  // ECHILD: reaped by someone else
                std::fprintf(stderr, "ringlet: ipc::Subprocess %d (%s): %s\n",
                             static_cast<int>(pid_), program_.c_str(), err.what());
            }
        }
    }
    // The epoll backend keeps a registration per fd number: drop it before
    // the number can be reused.
    ringlet::detail::forget_fd(pidfd_);
    ::close(std::exchange(pidfd_, -1));
    pid_ = -1;
}

void Subprocess::require_child(const char* what) const {
    if (pidfd_ < 0) {
        throw UsageError(std::string("ringlet::ipc::Subprocess::") + what +
                         ": empty handle (moved from); use the Subprocess it was moved to");
    }
}

std::optional<int> Subprocess::poll() {
    require_child("poll");
    if (!returncode_) returncode_ = detail::try_reap(pidfd_);
    return returncode_;
}

std::optional<int> Subprocess::wait_until(TimePoint deadline) {
    if (returncode_) return returncode_;
    // A backend may allow one waiter per fd (epoll does), so a second task
    // waiting at the same time polls a pidfd of its own. Not a dup: io_uring
    // cancels by file, and forgetting a dup would cancel the first waiter's
    // poll too. The pid is safe to use: nobody has reaped it (returncode_
    // would be set), so it still names our child.
    UniqueFd extra;
    int fd = pidfd_;
    if (waiters_ > 0) {
        extra = detail::open_pidfd(pid_);
        fd = extra.get();
    }
    struct Leave {
        Subprocess& self;
        UniqueFd& extra;
        ~Leave() {
            --self.waiters_;
            if (extra.valid()) ringlet::detail::forget_fd(extra.get());
        }
    } leave{*this, extra};
    ++waiters_;
    try {
        const std::optional<int> code = detail::wait_reap(fd, deadline);
        if (code) returncode_ = code;
        return returncode_;
    } catch (const IoError& e) {
        // Another task of this thread waited too and reaped it first.
        if (returncode_ && e.code() == std::errc::no_child_process) return returncode_;
        throw;
    }
}

int Subprocess::wait() {
    require_child("wait");
    return *wait_until(TimePoint::max());
}

std::optional<int> Subprocess::wait_for(Duration timeout) {
    require_child("wait_for");
    return wait_until(deadline_after(timeout));
}

void Subprocess::send_signal(int sig) {
    require_child("send_signal");
    if (returncode_) return;           // reaped: nothing left to signal
    detail::send_signal(pidfd_, sig);  // false: it has ended, which is no error
}

void Subprocess::terminate() { send_signal(SIGTERM); }
void Subprocess::kill() { send_signal(SIGKILL); }

net::Stream& Subprocess::pipe_stream(net::UnixStream& s, const char* what) {
    if (!s.is_open()) {
        throw UsageError(std::string("ringlet::ipc::Subprocess::") + what +
                         ": that stream is not an open pipe; start the child with Stdio::pipe for "
                         "it, and use it before close_stdin() / communicate() close it");
    }
    return s;
}

net::Stream& Subprocess::stdin_stream() { return pipe_stream(stdin_, "stdin_stream"); }
net::Stream& Subprocess::stdout_stream() { return pipe_stream(stdout_, "stdout_stream"); }
net::Stream& Subprocess::stderr_stream() { return pipe_stream(stderr_, "stderr_stream"); }

void Subprocess::close_stdin() noexcept { close_quietly(stdin_); }

Subprocess::Result Subprocess::communicate(std::string_view input) {
    require_child("communicate");
    if (!input.empty() && !stdin_.is_open()) {
        throw UsageError(
            "ringlet::ipc::Subprocess::communicate: input given but stdin is not an open pipe; "
            "start the child with stdin_mode = Stdio::pipe");
    }
    if (stdin_.is_open() && input.empty()) close_stdin();  // EOF at once, as Python does
    return current_task() != 0 ? communicate_in_task(input) : communicate_on_thread(input);
}

// From a task: the caller reads stdout while helper tasks write stdin and
// read stderr, so no pipe waits on another. The helpers use buffers of this
// frame (`input`, r.err): never leave before they are finished with them.
Subprocess::Result Subprocess::communicate_in_task(std::string_view input) {
    Result r;
    Helper writer, err_reader;
    try {
        if (stdin_.is_open()) {
            writer.start("communicate-stdin", [this, input] {
                try {
                    stdin_.write_all(input);
                } catch (const IoError& e) {
                    if (!is_closed_peer(e)) throw;  // the child stopped reading: fine
                }
                close_stdin();
            });
        }
        if (stderr_.is_open()) {
            err_reader.start("communicate-stderr", [this, &r] {
                read_to_eof(stderr_, r.err);
                close_quietly(stderr_);
            });
        }
        if (stdout_.is_open()) {
            read_to_eof(stdout_, r.out);
            close_quietly(stdout_);
        }
        if (writer.spawned()) writer.task.join();
        if (err_reader.spawned()) err_reader.task.join();
    } catch (...) {
        writer.stop();
        err_reader.stop();
        throw;
    }
    if (writer.error) std::rethrow_exception(writer.error);
    if (err_reader.error) std::rethrow_exception(err_reader.error);
    r.returncode = wait();
    return r;
}

// From a plain thread: one poll(2) loop over the open pipes.
Subprocess::Result Subprocess::communicate_on_thread(std::string_view input) {
    Result r;
    std::size_t written = 0;
    for (;;) {
        pollfd fds[3];
        nfds_t n = 0;
        int in_at = -1, out_at = -1, err_at = -1;
        if (stdin_.is_open()) {
            in_at = static_cast<int>(n);
            fds[n++] = {stdin_.socket().fd(), POLLOUT, 0};
        }
        if (stdout_.is_open()) {
            out_at = static_cast<int>(n);
            fds[n++] = {stdout_.socket().fd(), POLLIN, 0};
        }
        if (stderr_.is_open()) {
            err_at = static_cast<int>(n);
            fds[n++] = {stderr_.socket().fd(), POLLIN, 0};
        }
        if (n == 0) break;
        if (::poll(fds, n, -1) < 0) {
            if (errno == EINTR) continue;
            throw IoError(errno, "poll");
        }
        if (in_at >= 0 && fds[in_at].revents != 0) {
            const ssize_t w = ::send(fds[in_at].fd, input.data() + written, input.size() - written,
                                     MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w >= 0) {
                written += static_cast<std::size_t>(w);
                if (written == input.size()) close_stdin();
            } else if (errno == EPIPE || errno == ECONNRESET) {
                close_stdin();  // the child stopped reading: fine
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                throw IoError(errno, "send");
            }
        }
        if (out_at >= 0 && fds[out_at].revents != 0 && !recv_some(fds[out_at].fd, r.out)) {
            close_quietly(stdout_);
        }
        if (err_at >= 0 && fds[err_at].revents != 0 && !recv_some(fds[err_at].fd, r.err)) {
            close_quietly(stderr_);
        }
    }
    r.returncode = wait();
    return r;
}

int call(std::vector<std::string> argv, SubprocessOptions options) {
    const bool piped = options.stdin_mode == Stdio::pipe || options.stdout_mode == Stdio::pipe ||
                       options.stderr_mode == Stdio::pipe;
    Subprocess p(std::move(argv), std::move(options));
    // Pipes nobody reads would stall the child once full: drain them.
    return piped ? p.communicate().returncode : p.wait();
}

std::string check_output(std::vector<std::string> argv, SubprocessOptions options) {
    if (options.stdout_mode == Stdio::null) {
        throw UsageError(
            "ringlet::ipc::check_output: stdout_mode is Stdio::null, so there is nothing to "
            "return; use call() instead");
    }
    options.stdout_mode = Stdio::pipe;
    Subprocess p(std::move(argv), std::move(options));
    Subprocess::Result r = p.communicate();
    if (r.returncode != 0) {
        std::string what = "ringlet::ipc::check_output: " + quoted(p.program()) + " " +
                           describe_status(r.returncode);
        if (!r.err.empty()) {
            constexpr std::size_t quote_limit = 1000;
            std::string_view err(r.err);
            if (err.size() > quote_limit) err = err.substr(0, quote_limit);
            while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.remove_suffix(1);
            what += ": ";
            what += err;
        }
        throw ProcessError(what, r.returncode);
    }
    return std::move(r.out);
}

}  // namespace ringlet::ipc
