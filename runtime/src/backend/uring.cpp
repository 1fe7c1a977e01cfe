// backend/uring.cpp — io_uring backend: one ring per scheduler.
//
// The ring is created with the best flags the kernel accepts (probed from the
// strongest set down): SINGLE_ISSUER + DEFER_TASKRUN keep completion work on
// this thread and out of interrupts; COOP_TASKRUN where DEFER is missing. The
// registered ring fd saves an fget per io_uring_enter. Cross-thread wake-ups
// arrive as a read completing on an eventfd that is always armed.
#include <cerrno>
#include <cstdint>

#include <sys/eventfd.h>

#include <liburing.h>

#include <ringlet/errors.hpp>

#include "backend/backend.hpp"
#include "unique_fd.hpp"

namespace ringlet::detail {

namespace {

constexpr std::uint64_t wake_tag = 1;

class UringBackend final : public Backend {
public:
    UringBackend() = default;
    ~UringBackend() override {
        if (ring_ready_) io_uring_queue_exit(&ring_);
    }

    int init(unsigned entries) {
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

        eventfd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!eventfd_.valid()) return -errno;
        arm_wake();
        return 0;
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

private:
    void dispatch(const io_uring_cqe* cqe) {
        if (cqe->user_data == wake_tag) {
            --in_flight_wake_;
            arm_wake();
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
    unsigned in_flight_ = 0;       // user operations only
    unsigned in_flight_wake_ = 0;  // the always-armed eventfd read
};

}  // namespace

std::unique_ptr<Backend> make_uring_backend(unsigned ring_entries, int& error) {
    auto backend = std::make_unique<UringBackend>();
    error = backend->init(ring_entries);
    if (error != 0) return nullptr;
    return backend;
}

}  // namespace ringlet::detail
