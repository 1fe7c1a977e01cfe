// examples/ipc/process_fork.cpp — os.fork(), os.getpid(), os.getppid().
//
// The os.fork() programs of the Python tutorials ("一、操作系统中相关进程的知识",
// "Multiprocessing", "fork()" / "getpid() getppid()"):
//
//   print('Process (%s) start...' % os.getpid())
//   pid = os.fork()
//   if pid == 0:
//       print('I am child process (%s) and my parent is %s.' % (os.getpid(), os.getppid()))
//   else:
//       print('I (%s) just created a child process (%s).' % (os.getpid(), pid))
//
// Part 1 is that program with POSIX fork(), before any ringlet scheduler
// exists: fork() returns twice, 0 in the child and the child's pid in the
// parent. The parent then reaps its child with waitpid() (Python leaves that
// to the interpreter's exit).
// Part 2 answers the tutorial's "思考：当出现多次fork时，进程的变化": two fork()s in a
// row make four processes, because the child of the first one runs the second.
// Part 3 is the same program inside ringlet::run(), with ipc::Process. Do not
// call fork() yourself once a scheduler runs: the child would inherit the
// parent's io_uring and half-run tasks. Process::start() forks and gives the
// child a fresh scheduler of its own, so the child's body may spawn and sleep.
//
// Each child checks that getppid() names the process that forked it and
// reports the result in its exit status; the program fails if one does not.
//
//   process_fork            (nothing here takes long: --smoke changes nothing)
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <unistd.h>

#include <sys/types.h>
#include <sys/wait.h>

#include <ringlet/ipc/process.hpp>
#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;
namespace ipc = ringlet::ipc;

namespace {

// Waits for child `pid`; true if it exited with status 0.
bool reaped_ok(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return false;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Part 1 ---------------------------------------------------------------------
bool plain_fork() {
    std::printf("== Part 1: fork() returns twice\n");
    const pid_t parent = ::getpid();
    std::printf("Process (%d) start...\n", parent);
    // Anything still in stdout's buffer would be copied into the child and
    // printed twice: flush before forking (ipc::Process::start() does it too).
    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid < 0) {
        std::perror("fork");
        return false;
    }
    if (pid == 0) {
        // The child: a copy of the parent, running from the same line.
        std::printf("I am child process (%d) and my parent is %d.\n", ::getpid(), ::getppid());
        std::fflush(stdout);
        // _exit, not return: the copied main() must not go on to Part 2.
        ::_exit(::getppid() == parent ? 0 : 1);
    }
    std::printf("I (%d) just created a child process (%d).\n", ::getpid(), pid);
    const bool ok = reaped_ok(pid);
    std::printf("\n");
    return ok;
}

// Part 2 ---------------------------------------------------------------------
bool fork_twice() {
    std::printf("== Part 2: two fork()s in a row make four processes\n");
    const pid_t original = ::getpid();
    std::fflush(stdout);
    const pid_t first = ::fork();  // now 2 processes run the next line
    if (first < 0) return false;
    std::fflush(stdout);
    const pid_t second = ::fork();  // ... and now 4
    if (second < 0) ::_exit(1);
    const char* who = first != 0 && second != 0 ? "the original process"
                      : first != 0              ? "child of the 2nd fork"
                      : second != 0             ? "child of the 1st fork"
                                                : "grandchild (1st fork's child, 2nd fork)";
    std::printf("pid %d, parent %d: %s\n", ::getpid(), ::getppid(), who);
    std::fflush(stdout);
    // Every process reaps the children it made (the 2nd fork's child also
    // sees first != 0, but that child is its sibling); only the original goes on.
    bool ok = true;
    if (second != 0) ok = reaped_ok(second) && ok;
    if (::getpid() != original) ::_exit(ok ? 0 : 1);
    ok = reaped_ok(first) && ok;
    std::printf("\n");
    return ok;
}

// Part 3 ---------------------------------------------------------------------
bool with_process() {
    std::printf("== Part 3: the same with ipc::Process, inside ringlet::run()\n");
    return ringlet::run([] {
        const pid_t me = ipc::current_pid();
        std::printf("Process (%d) start...\n", me);
        ipc::Process child([me] {
            std::printf("I am child process (%d) and my parent is %d.\n", ipc::current_pid(),
                        ipc::parent_pid());
            // The child runs its own scheduler: tasks work as anywhere else.
            auto t = ringlet::spawn([] {
                ringlet::sleep(10ms);
                return 42;
            });
            std::printf("  (the child's own task returned %d)\n", t.get());
            // An exception leaving the body gives exit code 1.
            if (ipc::parent_pid() != me) throw std::runtime_error("getppid() is not the parent");
        });
        child.start();  // fork: the child starts with a fresh scheduler
        std::printf("I (%d) just created a child process (%d).\n", me, child.pid());
        // join() is a suspension point: this thread's other tasks would keep running.
        child.join();
        std::printf("%s ended with exit code %d\n", child.name().c_str(), *child.exitcode());
        return child.exitcode() == 0;
    });
}

}  // namespace

// Nothing here takes long: --smoke (passed by the test suite) changes nothing.
int main() {
    const bool ok1 = plain_fork();
    const bool ok2 = fork_twice();
    const bool ok3 = with_process();
    if (!(ok1 && ok2 && ok3)) {
        std::fprintf(stderr, "process_fork: a child saw the wrong parent or failed\n");
        return 1;
    }
    return 0;
}
