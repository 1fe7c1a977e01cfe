// event.cpp — ipc::Event: one futex word in shared memory.
//
// `word` holds the flag in bit 0 and a generation in the bits above, bumped by
// every change, so a waiter that read the word before a set() and waits while
// it is unchanged cannot miss that set(). `waiters` counts tasks and threads
// inside a wait so that set() skips the wake system call when nobody waits (a
// waiter killed mid-wait leaves it high: set() then just makes a needless
// wake call).
#include <ringlet/ipc/event.hpp>

#include <atomic>
#include <new>

#include <ringlet/detail/waiter.hpp>

#include "shared_futex.hpp"
#include "shm_region.hpp"

namespace ringlet::ipc::detail {

namespace {

constexpr std::uint32_t set_bit = 1;
constexpr std::uint32_t generation_step = 2;

struct SharedEvent {
    std::atomic<std::uint32_t> word{0};
    std::atomic<std::uint32_t> waiters{0};
};

}  // namespace

struct EventState {
    std::shared_ptr<ShmRegion> region;
    SharedEvent* shared = nullptr;
};

}  // namespace ringlet::ipc::detail

namespace ringlet::ipc {

Event::Event() : state_(std::make_shared<detail::EventState>()) {
    state_->region = detail::ShmRegion::create(sizeof(detail::SharedEvent));
    state_->shared = ::new (state_->region->data()) detail::SharedEvent;
}

void Event::set() {
    detail::SharedEvent& e = *state_->shared;
    std::uint32_t w = e.word.load(std::memory_order_relaxed);
    do {
        if ((w & detail::set_bit) != 0) return;
    } while (!e.word.compare_exchange_weak(w, (w + detail::generation_step) | detail::set_bit,
                                           std::memory_order_seq_cst,
                                           std::memory_order_relaxed));
    // Dekker with wait(): waiters++ then read the word; either it sees the flag
    // or we see it counted.
    if (e.waiters.load(std::memory_order_seq_cst) != 0) detail::shared_futex_wake(e.word);
}

void Event::clear() noexcept {
    detail::SharedEvent& e = *state_->shared;
    std::uint32_t w = e.word.load(std::memory_order_relaxed);
    do {
        if ((w & detail::set_bit) == 0) return;
    } while (!e.word.compare_exchange_weak(w, (w + detail::generation_step) & ~detail::set_bit,
                                           std::memory_order_release,
                                           std::memory_order_relaxed));
}

bool Event::is_set() const noexcept {
    return (state_->shared->word.load(std::memory_order_acquire) & detail::set_bit) != 0;
}

bool Event::wait(Duration timeout) {
    detail::SharedEvent& e = *state_->shared;
    ringlet::detail::check_interrupts();
    if (is_set()) return true;
    const TimePoint deadline = deadline_after(timeout);
    struct Counted {
        std::atomic<std::uint32_t>& n;
        explicit Counted(std::atomic<std::uint32_t>& w) : n(w) {
            n.fetch_add(1, std::memory_order_seq_cst);
        }
        ~Counted() { n.fetch_sub(1, std::memory_order_relaxed); }
        Counted(const Counted&) = delete;
        Counted& operator=(const Counted&) = delete;
    } counted(e.waiters);
    for (;;) {
        const std::uint32_t w = e.word.load(std::memory_order_seq_cst);
        if ((w & detail::set_bit) != 0) return true;
        if (Clock::now() >= deadline) return false;
        // Spurious returns (a clear(), a stray wake) just loop.
        if (!detail::shared_futex_wait(e.word, w, deadline)) {
            return (e.word.load(std::memory_order_acquire) & detail::set_bit) != 0;
        }
    }
}

}  // namespace ringlet::ipc
