// ringlet/ipc/subprocess.hpp — run other programs: Python's subprocess module.
//
// Subprocess starts a program and lets the caller talk to it and wait for it;
// call() and check_output() are the one-line forms. They cover the Python
// scenarios `subprocess.call(['nslookup', host])` and
// `Popen(..., stdin=PIPE, stdout=PIPE).communicate(data)`:
//
//   int rc = ipc::call({"nslookup", "example.org"});
//   std::string today = ipc::check_output({"date", "+%F"});
//   ipc::Subprocess p({"sort"}, {.stdin_mode = ipc::Stdio::pipe,
//                                .stdout_mode = ipc::Stdio::pipe});
//   auto [out, err, code] = p.communicate("b\na\n");      // out == "a\nb\n"
//
// The model. The child is started with posix_spawnp (glibc's is vfork-based:
// safe in a process with threads and a running scheduler, and a failed exec
// comes back as an error rather than as a child exiting 127). Every waiting
// call is coroutine-aware: from a task it suspends only that task, while the
// thread runs its other tasks; from a plain thread it blocks that thread.
//   - The parent watches the child through a pidfd: wait() polls it on the
//     scheduler's backend (io_uring or epoll), and signals go through it, so
//     a recycled pid is never signalled or reaped by mistake.
//   - Pipes (Stdio::pipe) are AF_UNIX SOCK_STREAM socketpairs: the parent's
//     end is a net::Stream with the runtime's task-aware reads and writes;
//     the child's end is a blocking socket dup'd onto its fd 0, 1 or 2.
//   - The child gets fds 0, 1 and 2 and nothing else: every fd the runtime
//     opens is close-on-exec, and fds from 3 up are closed in the child as
//     Python's close_fds=True does. Its signal mask is emptied and SIGPIPE and
//     SIGXFSZ are reset to their defaults (Python's restore_signals=True).
//
// Exit codes follow Python's returncode (and ipc::Process::exitcode()): the
// exit status, or -N when the child was killed by signal N.
//
// Timeouts: put a ringlet::Timeout scope around any waiting call (wait,
// communicate, call, check_output, stream reads and writes); TimeoutError
// then leaves the call with the child still running. wait_for() is the
// "returns nullopt" form for waiting alone.
//
// Lifetime: unlike Python, destroying a Subprocess whose child still runs
// kills the child (SIGKILL) and reaps it, so no zombie and no orphan is left
// behind; an ended child is reaped. Call wait() first to let it finish.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ringlet/net/socket.hpp>
#include <ringlet/net/unix.hpp>
#include <ringlet/time.hpp>

namespace ringlet::ipc {

// What one of the child's standard streams is connected to.
enum class Stdio {
    inherit,  // the parent's own fd 0, 1 or 2
    pipe,     // a socketpair; the parent's end is stdin_stream() / stdout_stream() / …
    null,     // /dev/null
};

struct SubprocessOptions {
    Stdio stdin_mode = Stdio::inherit;
    Stdio stdout_mode = Stdio::inherit;
    Stdio stderr_mode = Stdio::inherit;
    // The child's stderr goes wherever its stdout goes (Python's
    // stderr=STDOUT). stderr_mode must then stay Stdio::inherit.
    bool stderr_to_stdout = false;
    // The child's working directory; empty: the parent's. A relative program
    // path with a '/' is resolved from it, as in Python.
    std::string cwd = {};
    // The child's whole environment, as "NAME=value" entries; nullopt: the
    // parent's. A program name without '/' is looked up in the parent's PATH.
    std::optional<std::vector<std::string>> env = std::nullopt;
};

// A running (or ended) child program and the parent's ends of its pipes,
// usable from a task or a plain thread. Move-only. Not thread-safe: one
// thread uses a handle at a time, though several tasks of that thread may
// wait on it together. Its destructor kills and reaps a child still running.
class Subprocess {
public:
    // What communicate() collected: the child's stdout and stderr (empty for
    // a stream that is not a pipe) and its exit code.
    struct Result {
        std::string out;
        std::string err;
        int returncode = 0;
    };

    // Starts argv[0] (looked up in PATH unless it contains '/') with
    // arguments argv[1..] at once. Does not wait for the child.
    // Throws: UsageError (empty argv; stderr_to_stdout with a stderr_mode);
    // IoError naming the program when it cannot be started (ENOENT: no such
    // program or cwd; EACCES: not executable) or a pipe cannot be made.
    explicit Subprocess(std::vector<std::string> argv, SubprocessOptions options = {});

    Subprocess(Subprocess&& o) noexcept;
    // Disposes of this handle's own child first, as the destructor does.
    Subprocess& operator=(Subprocess&& o) noexcept;
    Subprocess(const Subprocess&) = delete;
    Subprocess& operator=(const Subprocess&) = delete;
    // Closes the pipes; kills (SIGKILL) a child that still runs, then reaps
    // it. Never throws; never suspends (the reap after SIGKILL blocks the
    // thread for the moment the kernel takes to end the child).
    ~Subprocess();

    // The child's process id (-1 for a moved-from handle).
    pid_t pid() const noexcept { return pid_; }
    // The program as given in argv[0].
    const std::string& program() const noexcept { return program_; }

    // The exit code if the child has ended (reaping it), else nullopt.
    // Never blocks. Throws: IoError (ECHILD if someone else reaped it).
    std::optional<int> poll();
    // Waits for the child to end and returns its exit code (at once if it
    // has ended before).
    // Suspends. Throws: IoError, Cancelled, TimeoutError (enclosing scope).
    // Cancellation: the child keeps running and can be waited for again.
    int wait();
    // As wait(), giving up after `timeout`: nullopt if the child still runs.
    // Suspends. Throws: as wait(). Cancellation: as wait().
    std::optional<int> wait_for(Duration timeout);
    // The exit code once poll(), wait() or wait_for() has seen the end, else
    // nullopt. Never looks at the child.
    std::optional<int> returncode() const noexcept { return returncode_; }

    // Send SIGTERM, SIGKILL, or `sig`, through the pidfd. No effect once the
    // child has ended (even before it is reaped). Throws: IoError (EINVAL for
    // a bad signal number).
    void terminate();
    void kill();
    void send_signal(int sig);

    // The parent's end of the child's stdin / stdout / stderr, for
    // incremental use (write_all, read, shutdown_write …; their own tags
    // apply). Throws: UsageError unless that stream is a Stdio::pipe that is
    // still open (not closed by close_stdin(), communicate() or the caller).
    net::Stream& stdin_stream();
    net::Stream& stdout_stream();
    net::Stream& stderr_stream();
    // Closes the parent's end of the stdin pipe: the child reads EOF. No
    // effect if stdin is not a pipe or is already closed.
    void close_stdin() noexcept;

    // Writes `input` to the child's stdin and closes it, reads stdout and
    // stderr to EOF, all three at once (so neither side blocks the other,
    // however much flows), then waits for the child to end. A child that
    // stops reading its stdin (EPIPE, ECONNRESET) only ends the writing, as in Python.
    // From a task, helper tasks pump stdin and stderr while the caller reads
    // stdout; from a plain thread one poll(2) loop serves all three. Streams
    // that are not open pipes are left out (Result gets ""). Afterwards all
    // the pipes are closed. EOF needs every holder of the child's end gone:
    // a grandchild that keeps it open keeps communicate() waiting.
    // Suspends. Throws: UsageError (non-empty `input` with no stdin pipe);
    // IoError; Cancelled; TimeoutError (enclosing scope).
    // Cancellation: the child is still running (it is not signalled); part
    // of the input may have been written and part of the output read — that
    // output is lost, and the pipes may be closed. kill() and wait(), or the
    // destructor, finish it.
    Result communicate(std::string_view input = {});

private:
    void dispose() noexcept;
    void require_child(const char* what) const;
    std::optional<int> wait_until(TimePoint deadline);
    net::Stream& pipe_stream(net::UnixStream& s, const char* what);
    Result communicate_in_task(std::string_view input);
    Result communicate_on_thread(std::string_view input);

    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::optional<int> returncode_;
    int waiters_ = 0;  // tasks inside wait_until()
    std::string program_;
    net::UnixStream stdin_;
    net::UnixStream stdout_;
    net::UnixStream stderr_;
};

// Runs the program, waits for it, and returns its exit code (Python's
// subprocess.call). Pipes in `options` are served as communicate() does:
// stdin gets EOF at once, and what the child writes to a pipe is discarded.
// Suspends. Throws: as Subprocess() and wait().
// Cancellation: the child is killed and reaped before Cancelled (or
// TimeoutError) leaves call().
int call(std::vector<std::string> argv, SubprocessOptions options = {});

// Runs the program with its stdout piped and returns what it printed
// (Python's subprocess.check_output). options.stdout_mode must be inherit
// (the default) or pipe; stdin and stderr are as `options` says (a piped
// stderr is collected and quoted in the ProcessError).
// Suspends. Throws: ProcessError naming the program and its status when the
// exit code is not 0 (exitcode() gives it); UsageError (Stdio::null stdout);
// and as Subprocess() and communicate().
// Cancellation: the child is killed and reaped, its output lost.
std::string check_output(std::vector<std::string> argv, SubprocessOptions options = {});

}  // namespace ringlet::ipc
