// wait_hooks.cpp — poll/ppoll/select/pselect/epoll_wait and the sleeps.
//
// A wait with a zero timeout is always the real call (the runtime's own
// loop polls so). Otherwise the fds are first polled without waiting; if
// nothing is ready the task waits on the one fd through the backend, or on a
// throw-away epoll set holding all of them, then polls again for the result.
// The sleeps become ringlet::sleep, with EINTR (and the time left) when a
// cancel or Timeout cuts them short.
#include <fcntl.h>
#include <unistd.h>
#include <vector>

#include <sys/epoll.h>

#include "hooks_internal.hpp"

using namespace ringlet::hooks_impl;

namespace {

int fail(int err) noexcept {
    errno = err;
    return -1;
}

TimePoint deadline_from_ms(int ms) noexcept {
    return ms < 0 ? TimePoint::max() : after(std::chrono::milliseconds(ms));
}

TimePoint deadline_from_timespec(const timespec* ts) noexcept {
    if (ts == nullptr) return TimePoint::max();
    return after(std::chrono::seconds(ts->tv_sec) + std::chrono::nanoseconds(ts->tv_nsec));
}

bool valid_timespec(const timespec* ts) noexcept {
    return ts == nullptr || (ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1'000'000'000);
}

// Waits until one of `fds` may be ready or `deadline`; 0, or -errno / -EINTR.
long wait_any(TaskControlBlock* t, pollfd* fds, nfds_t n, TimePoint deadline, Interrupt* why) {
    int single = -1;
    std::size_t valid = 0;
    for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].fd >= 0) {
            ++valid;
            single = static_cast<int>(i);
        }
    }
    if (valid == 0) {
        *why = rt().sleep_until(deadline);
        return *why == Interrupt::none ? -ETIMEDOUT : -EINTR;
    }
    if (valid == 1) {
        const short ev = fds[single].events;
        const bool in = (ev & (POLLIN | POLLPRI | POLLRDHUP)) != 0;
        const bool out = (ev & POLLOUT) != 0;
        if (in != out) return wait_fd(fds[single].fd, in ? POLLIN : POLLOUT, deadline, why);
    }
    // Several fds: one epoll set holds them all, and the task waits on it.
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -errno;
    for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].fd < 0) continue;
        epoll_event e{};
        e.events = static_cast<std::uint32_t>(fds[i].events) &
                   (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP);
        e.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fds[i].fd, &e);  // a file that cannot be: poll saw it ready
    }
    (void)t;
    const long res = wait_fd(ep, POLLIN, deadline, why);
    rt().forget_fd(ep);  // drop the backend's registration before the number is reused
    real().close(ep);
    return res;
}

}  // namespace

namespace ringlet::hooks_impl {

int cooperative_poll(TaskControlBlock* t, pollfd* fds, nfds_t n, TimePoint deadline) noexcept {
    for (;;) {
        const int ready = real().poll(fds, n, 0);
        if (ready != 0) return ready;
        if (Clock::now() >= deadline) return 0;
        if (const int again = repeated_interrupt(t)) return fail(again);
        Interrupt why = Interrupt::none;
        const long res = wait_any(t, fds, n, deadline, &why);
        if (why != Interrupt::none) return fail(report_interrupt(t, why, EINTR));
        if (res == -ETIMEDOUT) return real().poll(fds, n, 0);
        if (res < 0 && res != -EBADF) return fail(static_cast<int>(-res));
        // Ready (or an fd was closed: poll reports POLLNVAL): poll again.
    }
}

}  // namespace ringlet::hooks_impl

namespace {

// select() in terms of poll(): the same readiness rules as the kernel's.
int select_via_poll(TaskControlBlock* t, int nfds, fd_set* r, fd_set* w, fd_set* e,
                    TimePoint deadline) {
    if (nfds < 0 || nfds > FD_SETSIZE) return fail(EINVAL);
    std::vector<pollfd> fds;
    for (int fd = 0; fd < nfds; ++fd) {
        short ev = 0;
        if (r != nullptr && FD_ISSET(fd, r)) ev |= POLLIN;
        if (w != nullptr && FD_ISSET(fd, w)) ev |= POLLOUT;
        if (e != nullptr && FD_ISSET(fd, e)) ev |= POLLPRI;
        if (ev != 0) fds.push_back(pollfd{fd, ev, 0});
    }
    const int res = cooperative_poll(t, fds.data(), fds.size(), deadline);
    if (res < 0) return res;
    for (const pollfd& p : fds) {
        if (p.revents & POLLNVAL) return fail(EBADF);
    }
    int count = 0;
    for (const pollfd& p : fds) {
        const bool rd = (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
        const bool wr = (p.revents & (POLLOUT | POLLERR)) != 0;
        const bool ex = (p.revents & POLLPRI) != 0;
        if (r != nullptr && FD_ISSET(p.fd, r) && !rd) FD_CLR(p.fd, r);
        if (w != nullptr && FD_ISSET(p.fd, w) && !wr) FD_CLR(p.fd, w);
        if (e != nullptr && FD_ISSET(p.fd, e) && !ex) FD_CLR(p.fd, e);
        count += (r != nullptr && FD_ISSET(p.fd, r)) + (w != nullptr && FD_ISSET(p.fd, w)) +
                 (e != nullptr && FD_ISSET(p.fd, e));
    }
    return count;
}

// The sleep of every sleeping call: 0, or the errno of an interrupt.
int sleep_for_task(TaskControlBlock* t, TimePoint deadline) {
    if (const int again = repeated_interrupt(t)) return again;
    const Interrupt why = rt().sleep_until(deadline);
    return why == Interrupt::none ? 0 : report_interrupt(t, why, EINTR);
}

void left_until(TimePoint deadline, timespec* rem) {
    if (rem == nullptr) return;
    const auto left =
        std::max(Duration::zero(), std::chrono::duration_cast<Duration>(deadline - Clock::now()));
    rem->tv_sec = static_cast<time_t>(left.count() / 1'000'000'000);
    rem->tv_nsec = static_cast<long>(left.count() % 1'000'000'000);
}

}  // namespace

extern "C" {

int poll(pollfd* fds, nfds_t n, int timeout) {
    TaskControlBlock* t = current_task();
    if (t == nullptr || timeout == 0) return real().poll(fds, n, timeout);
    return cooperative_poll(t, fds, n, deadline_from_ms(timeout));
}

int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t fdslen) {
    if (fdslen / sizeof(pollfd) < n) std::abort();
    return poll(fds, n, timeout);
}

int ppoll(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* mask) {
    TaskControlBlock* t = current_task();
    // A signal mask is the caller's business with the real call; so is "now".
    if (t == nullptr || mask != nullptr ||
        (timeout && timeout->tv_sec == 0 && timeout->tv_nsec == 0)) {
        return real().ppoll(fds, n, timeout, mask);
    }
    if (!valid_timespec(timeout)) return fail(EINVAL);
    return cooperative_poll(t, fds, n, deadline_from_timespec(timeout));
}

int __ppoll_chk(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* mask,
                size_t fdslen) {
    if (fdslen / sizeof(pollfd) < n) std::abort();
    return ppoll(fds, n, timeout, mask);
}

int select(int nfds, fd_set* r, fd_set* w, fd_set* e, timeval* timeout) {
    TaskControlBlock* t = current_task();
    if (t == nullptr || (timeout && timeout->tv_sec == 0 && timeout->tv_usec == 0)) {
        return real().select(nfds, r, w, e, timeout);
    }
    if (timeout && (timeout->tv_sec < 0 || timeout->tv_usec < 0)) return fail(EINVAL);
    const TimePoint deadline = timeout == nullptr
                                   ? TimePoint::max()
                                   : after(std::chrono::seconds(timeout->tv_sec) +
                                           std::chrono::microseconds(timeout->tv_usec));
    const int res = select_via_poll(t, nfds, r, w, e, deadline);
    if (timeout != nullptr) {  // Linux leaves the time not slept in *timeout
        timespec left{};
        left_until(deadline, &left);
        timeout->tv_sec = left.tv_sec;
        timeout->tv_usec = left.tv_nsec / 1000;
    }
    return res;
}

int pselect(int nfds, fd_set* r, fd_set* w, fd_set* e, const timespec* timeout,
            const sigset_t* mask) {
    TaskControlBlock* t = current_task();
    if (t == nullptr || mask != nullptr ||
        (timeout && timeout->tv_sec == 0 && timeout->tv_nsec == 0)) {
        return real().pselect(nfds, r, w, e, timeout, mask);
    }
    if (!valid_timespec(timeout)) return fail(EINVAL);
    return select_via_poll(t, nfds, r, w, e, deadline_from_timespec(timeout));
}

int epoll_wait(int epfd, epoll_event* events, int max, int timeout) {
    TaskControlBlock* t = current_task();
    if (t == nullptr || timeout == 0) return real().epoll_wait(epfd, events, max, timeout);
    const TimePoint deadline = deadline_from_ms(timeout);
    for (;;) {
        const int n = real().epoll_wait(epfd, events, max, 0);
        if (n != 0 || Clock::now() >= deadline) return n;
        if (const int again = repeated_interrupt(t)) return fail(again);
        Interrupt why = Interrupt::none;
        const long res = wait_fd(epfd, POLLIN, deadline, &why);
        if (why != Interrupt::none) return fail(report_interrupt(t, why, EINTR));
        if (res == -ETIMEDOUT) return real().epoll_wait(epfd, events, max, 0);
        if (res < 0) return real().epoll_wait(epfd, events, max, 0);  // EBADF and the like
    }
}

int nanosleep(const timespec* req, timespec* rem) {
    TaskControlBlock* t = current_task();
    if (t == nullptr) return real().nanosleep(req, rem);
    if (req == nullptr) return fail(EFAULT);
    if (!valid_timespec(req)) return fail(EINVAL);
    const TimePoint deadline = deadline_from_timespec(req);
    if (const int err = sleep_for_task(t, deadline)) {
        left_until(deadline, rem);
        return fail(err);
    }
    return 0;
}

int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) {
    TaskControlBlock* t = current_task();
    const bool known = clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC ||
                       clock == CLOCK_BOOTTIME || clock == CLOCK_TAI;
    if (t == nullptr || !known) return real().clock_nanosleep(clock, flags, req, rem);
    if (req == nullptr) return EFAULT;
    if (!valid_timespec(req)) return EINVAL;
    TimePoint deadline;
    if ((flags & TIMER_ABSTIME) != 0) {
        timespec now{};
        ::clock_gettime(clock, &now);
        const auto left =
            (std::chrono::seconds(req->tv_sec) + std::chrono::nanoseconds(req->tv_nsec)) -
            (std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec));
        deadline = after(std::max<Duration>(left, Duration::zero()));
    } else {
        deadline = deadline_from_timespec(req);
    }
    if (const int err = sleep_for_task(t, deadline)) {
        if ((flags & TIMER_ABSTIME) == 0) left_until(deadline, rem);
        return err;
    }
    return 0;
}

int usleep(useconds_t us) {
    TaskControlBlock* t = current_task();
    if (t == nullptr) return real().usleep(us);
    const int err = sleep_for_task(t, after(std::chrono::microseconds(us)));
    return err != 0 ? fail(err) : 0;
}

unsigned sleep(unsigned seconds) {
    TaskControlBlock* t = current_task();
    if (t == nullptr) return real().sleep(seconds);
    const TimePoint deadline = after(std::chrono::seconds(seconds));
    if (sleep_for_task(t, deadline) != 0) {
        const auto left = std::chrono::ceil<std::chrono::seconds>(deadline - Clock::now());
        return static_cast<unsigned>(std::max<long long>(left.count(), 0));
    }
    return 0;
}

}  // extern "C"
