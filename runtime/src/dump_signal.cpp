// dump_signal.cpp — the handler, the pipe and the thread behind Options::dump_signal.
#include "dump_signal.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <mutex>
#include <new>
#include <pthread.h>
#include <signal.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <ringlet/errors.hpp>

#include "scheduler.hpp"

namespace ringlet::detail {

namespace {

// The handler's only state: the pipe's write end (-1: none yet).
std::atomic<int> request_fd{-1};

void on_dump_signal(int) {
    const int saved = errno;
    const int fd = request_fd.load(std::memory_order_relaxed);
    const char byte = 1;
    if (fd >= 0) (void)!::write(fd, &byte, 1);  // full pipe: a dump is pending anyway
    errno = saved;
}

class DumpRegistry {
  public:
    void add(Scheduler* s, int signo) {
        std::lock_guard lock(mutex_);
        if (signo != 0) install(signo);
        listed_.push_back(s);
    }

    void remove(Scheduler* s) noexcept {
        std::lock_guard lock(mutex_);
        std::erase(listed_, s);
    }

    // In a forked child: the reader thread did not survive and the lock may
    // have been held. The pipe is the parent's too: make a new one on demand.
    void reinit_in_child() noexcept {
        if (mutex_.try_lock()) {
            listed_.clear();  // the parent's schedulers are not ours
            mutex_.unlock();
        } else {
            // Held at the fork, maybe mid-update: leak the parent's list, never trust it.
            new (&mutex_) std::mutex;
            new (&listed_) std::vector<Scheduler*>;
        }
        const int w = request_fd.exchange(-1);
        if (w >= 0) ::close(w);
        if (read_fd_ >= 0) ::close(read_fd_);
        read_fd_ = -1;
    }

  private:
    void install(int signo) {
        if (signo < 1 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP) {
            throw UsageError("ringlet::Options::dump_signal: " + std::to_string(signo) +
                             " is not a signal that can be caught");
        }
        if (read_fd_ < 0) {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
                throw IoError(errno, "ringlet::Options::dump_signal: pipe2");
            }
            // The reader blocks; the handler must never.
            ::fcntl(fds[0], F_SETFL, 0);
            read_fd_ = fds[0];
            try {
                std::thread([this, fd = fds[0]] { loop(fd); }).detach();
            } catch (const std::system_error& e) {
                ::close(fds[0]);
                ::close(fds[1]);
                read_fd_ = -1;
                throw IoError(e.code().value(), "ringlet::Options::dump_signal: thread");
            }
            request_fd.store(fds[1], std::memory_order_relaxed);
        }
        struct sigaction sa {};
        sa.sa_handler = on_dump_signal;
        sa.sa_flags = SA_RESTART;
        ::sigemptyset(&sa.sa_mask);
        if (::sigaction(signo, &sa, nullptr) != 0) {
            throw IoError(errno, "ringlet::Options::dump_signal: sigaction");
        }
    }

    void loop(int fd) {
        ::pthread_setname_np(::pthread_self(), "ringlet-dump");
        for (;;) {
            char bytes[64];
            const ssize_t n = ::read(fd, bytes, sizeof bytes);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;  // cannot happen while the write end is open
            std::lock_guard lock(mutex_);
            for (Scheduler* s : listed_) s->request_dump();
        }
    }

    std::mutex mutex_;
    std::vector<Scheduler*> listed_;
    int read_fd_ = -1;
};

DumpRegistry& registry() {
    static DumpRegistry* r = [] {
        auto* created = new DumpRegistry;  // never destroyed: its thread may outlive main
        ::pthread_atfork(nullptr, nullptr, [] { registry().reinit_in_child(); });
        return created;
    }();
    return *r;
}

}  // namespace

void list_scheduler(Scheduler* s, int signo) { registry().add(s, signo); }

void unlist_scheduler(Scheduler* s) noexcept { registry().remove(s); }

}  // namespace ringlet::detail
