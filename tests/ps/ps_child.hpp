// tests/ps/ps_child.hpp — a forked child held still for ringlet::ps tests.
//
// PsChild::start(setup) forks; the child runs setup() (chdir, threads,
// memory, prctl …), reports "ready" through a pipe and then waits until the
// parent calls release() (or dies), and exits with code 0. The parent learns
// the facts from setup itself, independently of /proc.
#pragma once

#include <cstdlib>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <utility>

#include <sys/wait.h>

struct PsChild {
    pid_t pid = -1;
    int release_fd = -1;
    bool reaped = false;

    template <class F>
    static PsChild start(F setup) {
        int ready[2];
        int hold[2];
        if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(hold, O_CLOEXEC) != 0) std::abort();
        PsChild c;
        c.pid = ::fork();
        if (c.pid < 0) std::abort();
        if (c.pid == 0) {
            ::close(ready[0]);
            ::close(hold[1]);
            setup();
            char b = 'r';
            if (::write(ready[1], &b, 1) != 1) ::_exit(3);
            while (::read(hold[0], &b, 1) > 0) {
            }
            ::_exit(0);
        }
        ::close(ready[1]);
        ::close(hold[0]);
        char b = 0;
        if (::read(ready[0], &b, 1) != 1) std::abort();  // setup done
        ::close(ready[0]);
        c.release_fd = hold[1];
        return c;
    }

    PsChild() = default;
    PsChild(PsChild&& o) noexcept
        : pid(std::exchange(o.pid, -1)),
          release_fd(std::exchange(o.release_fd, -1)),
          reaped(o.reaped) {}
    PsChild& operator=(PsChild&&) = delete;

    // Lets the child exit (it is then a zombie until reap()).
    void release() {
        if (release_fd >= 0) ::close(std::exchange(release_fd, -1));
    }
    // Waits until the child has exited, without reaping it.
    void wait_exited() const {
        siginfo_t info{};
        ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);
    }
    // Reaps the child; its wait status.
    int reap() {
        int status = 0;
        ::waitpid(pid, &status, 0);
        reaped = true;
        return status;
    }
    ~PsChild() {
        if (pid > 0 && !reaped) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        if (release_fd >= 0) ::close(release_fd);
    }
};
