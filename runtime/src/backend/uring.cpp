// backend/uring.cpp — io_uring backend: one ring per scheduler.
//
// The ring is created with the best flags the kernel accepts (probed from the
// strongest set down): SINGLE_ISSUER + DEFER_TASKRUN keep completion work on
// this thread and out of interrupts; COOP_TASKRUN where DEFER is missing. The
// registered ring fd saves an fget per io_uring_enter. Cross-thread wake-ups
// arrive as a read completing on an eventfd that is always armed.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <fcntl.h>
#include <memory>
#include <poll.h>
#include <unordered_map>
#include <vector>

#include <sys/eventfd.h>
#include <sys/stat.h>

#include <liburing.h>

#include <ringlet/detail/waiter.hpp>
#include <ringlet/errors.hpp>

#include "backend/backend.hpp"
#include "io_request.hpp"
#include "park.hpp"
#include "scheduler.hpp"
#include "unique_fd.hpp"

namespace ringlet::detail {

namespace {

constexpr std::uint64_t wake_tag = 1;
constexpr unsigned op_futex_wait = 51;  // IORING_OP_FUTEX_WAIT, Linux 6.7
constexpr int futex2_size_u32 = 0x02;
constexpr std::uint64_t futex_bitset_match_any = 0xffffffffu;
constexpr std::uint64_t ignore_tag = 0;  // completions nobody waits for (cancels)

// One operation in flight: lives in the waiting task's frame until its CQE
// has arrived, cancel or not.
struct UringOp {
    int res = 0;
    bool completed = false;
    TaskControlBlock* task = nullptr;
    std::uint64_t token = 0;
};

// A listener's multishot accept: one SQE keeps producing connections, which
// are handed to waiting accept() calls or queued for the next one. Owned by
// the backend; freed when the kernel posts the final CQE (no F_MORE).
struct MultishotAccept {
    explicit MultishotAccept(int listen_fd) noexcept : fd(listen_fd) {}
    int fd;
    bool armed = false;     // the multishot SQE is live in the kernel
    bool closing = false;   // the listener is gone: free on the final CQE
    std::deque<int> ready;  // accepted fds (or -errno) nobody has taken yet
    struct Taker {
        TaskControlBlock* task;
        std::uint64_t token;
        int result = 0;
        bool done = false;
        Taker* next = nullptr;
    };
    Taker* takers = nullptr;  // waiting accept() calls, FIFO
    Taker* takers_tail = nullptr;
};

// Queued connections beyond this stop the multishot until accept() drains
// them: without it the kernel would keep accepting for a server that has
// stopped calling accept() (a full serve() slot pool), piling up fds.
constexpr std::size_t max_queued_accepts = 64;
constexpr std::uint64_t multishot_bit = 1;  // tags MultishotAccept in user_data

void prep(io_uring_sqe* sqe, const IoRequest& r) noexcept {
    switch (r.op) {
        case IoOpcode::recv:
            io_uring_prep_recv(sqe, r.fd, r.buf, r.len, r.flags);
            break;
        case IoOpcode::send:
            io_uring_prep_send(sqe, r.fd, r.buf, r.len, r.flags | MSG_NOSIGNAL);
            break;
        case IoOpcode::recvmsg:
            io_uring_prep_recvmsg(sqe, r.fd, r.msg, r.flags);
            break;
        case IoOpcode::sendmsg:
            io_uring_prep_sendmsg(sqe, r.fd, r.msg, r.flags | MSG_NOSIGNAL);
            break;
        case IoOpcode::accept:
            io_uring_prep_accept(sqe, r.fd, r.addr, r.addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
            break;
        case IoOpcode::connect:
            io_uring_prep_connect(sqe, r.fd, r.addr, r.addr_size);
            break;
        case IoOpcode::poll:
            io_uring_prep_poll_add(sqe, r.fd, static_cast<unsigned>(r.flags));
            break;
        case IoOpcode::futex_wait:
            // liburing 2.3 has no helper: fd = futex2 flags (32-bit word,
            // shared), addr = the word, addr2 = the expected value, addr3 =
            // the wake mask; op flags (futex_flags) must be 0.
            io_uring_prep_rw(op_futex_wait, sqe, futex2_size_u32, r.buf, 0, r.futex_value);
            sqe->addr3 = futex_bitset_match_any;
            break;
        case IoOpcode::read:
            io_uring_prep_read(sqe, r.fd, r.buf, static_cast<unsigned>(r.len),
                               static_cast<__u64>(r.offset));
            break;
        case IoOpcode::write:
            io_uring_prep_write(sqe, r.fd, r.buf, static_cast<unsigned>(r.len),
                                static_cast<__u64>(r.offset));
            break;
        case IoOpcode::fsync:
            io_uring_prep_fsync(sqe, r.fd, 0);
            break;
        case IoOpcode::openat:
            io_uring_prep_openat(sqe, AT_FDCWD, r.path, r.flags | O_CLOEXEC, r.mode);
            break;
        case IoOpcode::close:
            io_uring_prep_close(sqe, r.fd);
            break;
        case IoOpcode::statx:
            io_uring_prep_statx(sqe, r.fd, r.path ? r.path : "", r.flags, STATX_BASIC_STATS, r.stx);
            break;
    }
}

class UringBackend final : public Backend {
  public:
    UringBackend() = default;
    ~UringBackend() override {
        if (ring_ready_) io_uring_queue_exit(&ring_);  // the kernel drops every request
        for (auto& [fd, m] : accepts_) {
            for (int queued : m->ready) {
                if (queued >= 0) ::close(queued);
            }
        }
    }

    // Sets up the ring. 0, or -errno with `failed_call` naming what failed.
    int init(unsigned entries, const char*& failed_call) {
        failed_call = "io_uring_queue_init";
        static constexpr unsigned candidates[] = {
            IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
            IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
            IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
            0,
        };
        int res = -EINVAL;
        for (unsigned flags : candidates) {
            res = io_uring_queue_init(entries, &ring_, flags);
            if (res == 0) {
                flags_ = flags;
                break;
            }
            if (res != -EINVAL) return res;  // EPERM/ENOSYS/ENOMEM: no ring at all
        }
        if (res != 0) return res;
        ring_ready_ = true;
        io_uring_register_ring_fd(&ring_);  // optional: only saves work per enter
        if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_)) {
            futex_wait_ = probe->last_op >= op_futex_wait &&
                          (probe->ops[op_futex_wait].flags & IO_URING_OP_SUPPORTED) != 0;
            io_uring_free_probe(probe);
        }
        // A ring that can be set up may still be unusable: a seccomp profile
        // (some container runtimes' defaults) may allow io_uring_setup but deny
        // io_uring_enter, and then the first IO would fail with EPERM. One NOP
        // submitted and reaped now proves submissions work, or lets
        // make_backend() fall back to epoll.
        if (const int r = submit_probe(); r != 0) {
            failed_call = "io_uring_enter";
            return r;
        }

        failed_call = "eventfd";
        eventfd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!eventfd_.valid()) return -errno;
        arm_wake();
        return 0;
    }

    // Submits one NOP and reaps its completion. 0, or -errno.
    int submit_probe() noexcept {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) return -EBUSY;  // a fresh ring always has room
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, ignore_tag);
        int res;
        do {
            res = io_uring_submit_and_wait(&ring_, 1);
        } while (res == -EINTR);
        if (res < 0) return res;
        io_uring_cqe* cqe = nullptr;
        res = io_uring_peek_cqe(&ring_, &cqe);
        if (res < 0) return res;
        res = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        return res < 0 ? res : 0;
    }

    const char* name() const noexcept override { return "io_uring"; }
    unsigned flags() const noexcept override { return flags_; }
    bool has_pending() const noexcept override { return in_flight_ > 0; }

    void poll(Duration timeout) override {
        io_uring_cqe* cqe = nullptr;
        int res;
        if (timeout == Duration::zero()) {
            if (in_flight_ == 0 && io_uring_sq_ready(&ring_) == 0) return;
            res = io_uring_submit_and_get_events(&ring_);
        } else if (timeout == forever) {
            res = io_uring_submit_and_wait(&ring_, 1);
        } else {
            __kernel_timespec ts{};
            ts.tv_sec = static_cast<long long>(timeout.count() / 1'000'000'000);
            ts.tv_nsec = static_cast<long long>(timeout.count() % 1'000'000'000);
            res = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
        }
        if (res < 0 && res != -ETIME && res != -EINTR && res != -EAGAIN && res != -EBUSY) {
            throw_io_error(res, "io_uring_enter");
        }
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            dispatch(cqe);
        }
        io_uring_cq_advance(&ring_, seen);
    }

    void wake() noexcept override {
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(eventfd_.get(), &one, sizeof one);
    }

    long perform(IoRequest& r, TimePoint deadline) override {
        if (r.op == IoOpcode::futex_wait)
            return futex_wait_ ? submit_and_wait(r, deadline) : -ENOSYS;
        if (r.op == IoOpcode::accept && r.addr == nullptr && multishot_accept_) {
            return accept_multishot(r.fd, deadline);
        }
        Duration delay = std::chrono::milliseconds(1);
        for (bool first = true;; first = false) {
            if (!first) {
                // A retry is a new suspension point: deliver a cancel that the
                // previous round kept pending, and honour the deadline.
                check_interrupts();
                if (deadline <= Clock::now()) return -ETIMEDOUT;
            }
            const long res = submit_and_wait(r, deadline);
            if (res != -EAGAIN || r.is_file_op() || r.op == IoOpcode::poll) return res;
            if (r.op == IoOpcode::connect) {  // full Unix backlog: polling would spin
                const long waited = back_off_before_retry(deadline, delay);
                if (waited < 0) return waited;
                continue;
            }
            // A non-blocking socket that io_uring did not poll for us (older
            // kernels, accept): wait for readiness through the ring, retry.
            IoRequest ready{IoOpcode::poll, r.fd};
            ready.flags = r.wants_output() ? POLLOUT : POLLIN;
            const long polled = submit_and_wait(ready, deadline);
            if (polled < 0) return polled;
        }
    }

    void forget_fd(int fd) noexcept override {
        // Only when an op on this fd is in flight: a cancel-by-fd is matched
        // against every pending request, so issuing it on every close made
        // closing cost O(connections) (68% of the CPU at 10 000 sockets).
        if (fd >= 0 && static_cast<std::size_t>(fd) < fd_ops_.size() &&
            fd_ops_[static_cast<std::size_t>(fd)] > 0) {
            // Ops on this fd hold the file open: cancel them so their tasks wake
            // (with EBADF). Submitted now, while the fd still names the file.
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(sqe, ignore_tag);
            ++in_flight_;
            io_uring_submit(&ring_);
        }
        auto it = accepts_.find(fd);
        if (it == accepts_.end()) return;
        std::unique_ptr<MultishotAccept> owned = std::move(it->second);
        accepts_.erase(it);
        MultishotAccept* m = owned.get();
        for (int queued : m->ready) {
            if (queued >= 0) ::close(queued);
        }
        m->ready.clear();
        while (MultishotAccept::Taker* t = m->takers) {  // their listener is closing
            m->takers = t->next;
            finish_taker(t, -EBADF);
        }
        if (!m->armed) return;
        m->closing = true;  // freed by its final CQE
        closing_.push_back(std::move(owned));
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(m) | multishot_bit, 0);
        io_uring_sqe_set_data64(sqe, ignore_tag);
        ++in_flight_;
    }

  private:
    long accept_multishot(int fd, TimePoint deadline) {
        auto& slot = accepts_[fd];
        if (!slot) slot = std::make_unique<MultishotAccept>(fd);
        MultishotAccept* m = slot.get();
        if (!m->ready.empty()) {
            const int res = m->ready.front();
            m->ready.pop_front();
            if (m->ready.size() < max_queued_accepts / 2) arm_accept(m);
            return res;
        }
        arm_accept(m);
        MultishotAccept::Taker taker{};
        Waiter w;
        prepare_wait(w, "accept");
        describe_wait(w, nullptr, nullptr, fd);
        taker.task = w.task;
        taker.token = w.token;
        (m->takers_tail ? m->takers_tail->next : m->takers) = &taker;
        m->takers_tail = &taker;
        const WakeReason reason = block(w, deadline);
        if (taker.done) {
            if (taker.result == -EINVAL && !multishot_accept_) {
                IoRequest single{IoOpcode::accept, fd};
                return perform(single, deadline);
            }
            return taker.result;
        }
        // No kernel buffer is involved (the address is not requested): leave
        // at once; the multishot stays armed for the next accept().
        auto found = accepts_.find(fd);
        if (found != accepts_.end()) unlink_taker(found->second.get(), &taker);
        throw_if_interrupted(reason, deadline);
        return -ETIMEDOUT;
    }

    static void unlink_taker(MultishotAccept* m, MultishotAccept::Taker* t) noexcept {
        MultishotAccept::Taker* prev = nullptr;
        for (MultishotAccept::Taker* p = m->takers; p; prev = p, p = p->next) {
            if (p != t) continue;
            (prev ? prev->next : m->takers) = p->next;
            if (m->takers_tail == p) m->takers_tail = prev;
            return;
        }
    }

    static void finish_taker(MultishotAccept::Taker* t, int result) noexcept {
        t->result = result;
        t->done = true;
        if (try_claim(t->task, t->token, WakeReason::notified)) Scheduler::wake(t->task);
    }

    void arm_accept(MultishotAccept* m) {
        if (m->armed || m->ready.size() >= max_queued_accepts) return;
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_multishot_accept(sqe, m->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(m) | multishot_bit);
        ++in_flight_;
        m->armed = true;
    }

    void on_accept_cqe(MultishotAccept* m, const io_uring_cqe* cqe) {
        const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
        if (!more) {
            m->armed = false;
            --in_flight_;
        }
        if (m->closing) {
            if (cqe->res >= 0) ::close(cqe->res);
            if (!more) {
                std::erase_if(closing_, [m](const auto& p) { return p.get() == m; });
            }
            return;
        }
        // -EINVAL on the first CQE: no multishot accept in this kernel; use
        // single-shot accepts from now on.
        if (cqe->res == -EINVAL && !more && m->ready.empty()) {
            multishot_accept_ = false;
        }
        if (cqe->res == -ECANCELED) return;
        if (MultishotAccept::Taker* t = m->takers) {
            m->takers = t->next;
            if (m->takers == nullptr) m->takers_tail = nullptr;
            finish_taker(t, cqe->res);
        } else {
            m->ready.push_back(cqe->res);
        }
        // A failed multishot (EMFILE …) ends; accept() re-arms it when asked.
        if (!more && cqe->res >= 0 && m->takers) arm_accept(m);
    }

    // Counts the ops in flight on one fd for the lifetime of a submit_and_wait
    // (which returns or throws only once its op has completed).
    class FdOpsGuard {
      public:
        FdOpsGuard(std::vector<std::uint32_t>& counts, int fd) : counts_(counts), fd_(fd) {
            if (fd_ < 0) return;
            if (static_cast<std::size_t>(fd_) >= counts_.size()) {
                counts_.resize(
                    std::max<std::size_t>(static_cast<std::size_t>(fd_) + 1, 2 * counts_.size()));
            }
            ++counts_[static_cast<std::size_t>(fd_)];
        }
        ~FdOpsGuard() {
            if (fd_ >= 0) --counts_[static_cast<std::size_t>(fd_)];
        }
        FdOpsGuard(const FdOpsGuard&) = delete;
        FdOpsGuard& operator=(const FdOpsGuard&) = delete;

      private:
        std::vector<std::uint32_t>& counts_;
        int fd_;
    };

    long submit_and_wait(IoRequest& r, TimePoint deadline) {
        FdOpsGuard counted(fd_ops_, r.fd);
        UringOp op;
        io_uring_sqe* sqe = get_sqe();
        prep(sqe, r);
        io_uring_sqe_set_data(sqe, &op);
        ++in_flight_;
        Waiter w;
        prepare_wait(w, r.name());
        describe_wait(w, nullptr, nullptr, r.fd);
        op.task = w.task;
        op.token = w.token;
        const WakeReason reason = block(w, deadline);
        if (!op.completed) {
            // Cancelled or timed out while the kernel may still write into
            // r's buffers: ask it to stop, and leave only after the op's own
            // completion has arrived (never resume with the buffer in use).
            sqe = get_sqe();
            io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(&op), 0);
            io_uring_sqe_set_data64(sqe, ignore_tag);
            ++in_flight_;
            while (!op.completed) {
                prepare_wait(w, "io cancel", /*interruptible=*/false);
                op.token = w.token;
                block(w, TimePoint::max());
            }
            if (op.res == -ECANCELED || op.res == -EINTR) {
                throw_if_interrupted(reason, deadline);
                return -ETIMEDOUT;
            }
            // It completed anyway: keep the result (data must not be lost);
            // the cancel stays pending for the next suspension point.
            if (reason == WakeReason::cancelled) {
                w.task->cancel_requested.store(true, std::memory_order_relaxed);
            }
        }
        // Cancelled though we did not ask: another task closed the fd.
        if (op.res == -ECANCELED) return -EBADF;
        return op.res;
    }

    io_uring_sqe* get_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        while (sqe == nullptr) {  // SQ full: flush it now
            const int res = io_uring_submit(&ring_);
            if (res < 0 && res != -EBUSY && res != -EAGAIN) throw_io_error(res, "io_uring_submit");
            sqe = io_uring_get_sqe(&ring_);
        }
        return sqe;
    }

    void dispatch(const io_uring_cqe* cqe) {
        if (cqe->user_data == wake_tag) {
            --in_flight_wake_;
            arm_wake();
            return;
        }
        if ((cqe->user_data & multishot_bit) != 0) {
            on_accept_cqe(reinterpret_cast<MultishotAccept*>(cqe->user_data & ~multishot_bit), cqe);
            return;
        }
        --in_flight_;
        if (cqe->user_data == ignore_tag) return;
        auto* op = reinterpret_cast<UringOp*>(cqe->user_data);
        op->res = cqe->res;
        op->completed = true;
        if (op->task != nullptr && try_claim(op->task, op->token, WakeReason::notified)) {
            Scheduler::wake(op->task);
        }
    }

    void abandon_after_fork() noexcept override {
        // The parent's requests stay in flight on the shared ring: only drop
        // our fd; never io_uring_queue_exit (it would unmap and tear down).
        if (ring_ready_) ::close(ring_.ring_fd);
        ring_ready_ = false;
        eventfd_.reset();
        // Connections the multishot accepted for the parent: the child's copies
        // would keep them open after the parent closes them.
        for (auto& [fd, m] : accepts_) {
            for (int queued : m->ready) {
                if (queued >= 0) ::close(queued);
            }
            m->ready.clear();
        }
    }

    void arm_wake() noexcept {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) {
            io_uring_submit(&ring_);
            sqe = io_uring_get_sqe(&ring_);
        }
        io_uring_prep_read(sqe, eventfd_.get(), &wake_buffer_, sizeof wake_buffer_, 0);
        io_uring_sqe_set_data64(sqe, wake_tag);
        ++in_flight_wake_;
    }

    io_uring ring_{};
    bool ring_ready_ = false;
    unsigned flags_ = 0;
    UniqueFd eventfd_;
    std::uint64_t wake_buffer_ = 0;
    unsigned in_flight_ = 0;             // user operations and their cancels
    std::vector<std::uint32_t> fd_ops_;  // by fd: submit_and_wait calls in flight
    bool multishot_accept_ = true;
    bool futex_wait_ = false;  // IORING_OP_FUTEX_WAIT supported
    std::unordered_map<int, std::unique_ptr<MultishotAccept>> accepts_;
    std::vector<std::unique_ptr<MultishotAccept>> closing_;  // awaiting their final CQE
    unsigned in_flight_wake_ = 0;                            // the always-armed eventfd read
};

}  // namespace

std::unique_ptr<Backend> make_uring_backend(unsigned ring_entries, int& error,
                                            const char*& failed_call) {
    auto backend = std::make_unique<UringBackend>();
    error = backend->init(ring_entries, failed_call);
    if (error != 0) return nullptr;
    return backend;
}

}  // namespace ringlet::detail
