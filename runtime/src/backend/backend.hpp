// backend/backend.hpp — the seam between the scheduler and the kernel.
//
// A Backend owns the thread's kernel event source (an io_uring, or an epoll
// set when io_uring is unavailable or RINGLET_BACKEND=epoll). The scheduler
// calls poll() once per loop turn: it submits everything queued since the last
// turn in one system call and waits for completions, a wake() from another
// thread, or the timeout, whichever comes first. Completions are dispatched
// before poll() returns. Owner-thread only, except wake(), which any thread
// may call.
#pragma once

#include <memory>
#include <string_view>

#include <ringlet/time.hpp>

namespace ringlet::detail {

struct IoRequest;

class Backend {
public:
    virtual ~Backend() = default;
    virtual const char* name() const noexcept = 0;
    // Setup flags actually in use (io_uring) or 0, for stats().
    virtual unsigned flags() const noexcept { return 0; }
    // timeout: 0 = do not wait; forever = until something happens.
    virtual void poll(Duration timeout) = 0;
    // True if poll() may find something without being woken (IO in flight).
    virtual bool has_pending() const noexcept = 0;
    // Thread-safe: make a poll() in progress (or the next one) return.
    virtual void wake() noexcept = 0;
    // Runs `r` for the running task (see io_request.hpp for the contract).
    virtual long perform(IoRequest& r, TimePoint deadline) = 0;
    // The fd is about to be closed: drop any registration of it.
    virtual void forget_fd(int fd) noexcept = 0;
    // In a forked child: close this process's copies of the kernel objects
    // (ring, epoll set, eventfd) and touch nothing else. They still serve the
    // parent; the child must never submit to them. The object is then leaked.
    virtual void abandon_after_fork() noexcept = 0;
};

// Picks the backend: `requested` ("io_uring", "epoll", or empty for
// RINGLET_BACKEND, then io_uring with fallback to epoll).
// Throws: UsageError for an unknown name, IoError if no backend can start.
std::unique_ptr<Backend> make_backend(std::string_view requested, unsigned ring_entries);

// A ready io_uring backend (a NOP has gone through it), or null with `error`
// (-errno) and `failed_call` (the call that failed) set.
std::unique_ptr<Backend> make_uring_backend(unsigned ring_entries, int& error,
                                           const char*& failed_call);
std::unique_ptr<Backend> make_epoll_backend();

}  // namespace ringlet::detail
