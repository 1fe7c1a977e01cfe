// ringlet/channel.hpp — bounded FIFO between tasks and threads.
//
// Channel<T> holds at most `capacity` values; capacity 0 is a rendezvous (a
// send completes only when a receiver takes the value), and capacity
// `unbounded` a queue whose send never waits. Memory follows the values held,
// not the capacity: the buffer starts small and doubles as the channel fills
// (up to capacity slots; it is kept, not shrunk, once grown). Waiting calls suspend
// a task, or block a plain thread; tasks on different schedulers and plain
// threads may share one channel. Senders and receivers are served FIFO.
// Ordering: a send happens-before the receive that gets its value.
// Lifetime: destroy a channel only when no task or thread waits on it (the
// destructor diagnoses a violation by aborting with a message).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <ringlet/detail/pull_iterator.hpp>
#include <ringlet/detail/spin_lock.hpp>
#include <ringlet/detail/waiter.hpp>
#include <ringlet/errors.hpp>
#include <ringlet/time.hpp>

namespace ringlet {

// Channel<T>(unbounded): a channel with no capacity limit (send never waits);
// it costs memory only for the values it holds.
inline constexpr std::size_t unbounded = SIZE_MAX;

template <class T>
class Channel {
  public:
    // A channel that buffers up to `capacity` values (0: rendezvous;
    // `unbounded`: no limit). Allocates nothing until a value is buffered.
    explicit Channel(std::size_t capacity) noexcept : capacity_(capacity) {}
    // Destroying a channel that tasks or threads (of any scheduler) still wait
    // on is a caller bug: it prints a message and aborts instead of letting
    // them wake into freed memory. close() it and join its users first.
    ~Channel() {
        detail::check_no_waiters(senders_, "ringlet::Channel");
        detail::check_no_waiters(receivers_, "ringlet::Channel");
    }
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    // Sends `value`, waiting while the channel is full.
    // Suspends. Throws: ChannelClosed if the channel is or becomes closed,
    // Cancelled, TimeoutError. Cancellation: `value` was not sent and is lost.
    void send(T value) { send_until(value, TimePoint::max(), /*wait=*/true); }

    // Sends if that needs no waiting; otherwise returns false and leaves
    // `value` with the caller. Throws: ChannelClosed.
    bool try_send(T& value) { return send_until(value, TimePoint::max(), /*wait=*/false); }
    bool try_send(T&& value) { return try_send(value); }

    // Like send(), but false after `timeout`, and then `value` is still the
    // caller's. Suspends. Throws: ChannelClosed, Cancelled, TimeoutError.
    bool send_for(T& value, Duration timeout) {
        return send_until(value, deadline_after(timeout), /*wait=*/true);
    }

    // Receives the oldest value, waiting while the channel is empty.
    // Returns nullopt once the channel is closed and drained.
    // Suspends. Throws: Cancelled, TimeoutError. Cancellation: if cancelled
    // while waiting, nothing was received (a value already handed over is
    // returned and the cancel arrives at the next suspension point).
    std::optional<T> recv() { return recv_until(TimePoint::max(), /*wait=*/true); }

    // A value if one is available without waiting, else nullopt.
    std::optional<T> try_recv() { return recv_until(TimePoint::max(), /*wait=*/false); }

    // Like recv(), but nullopt after `timeout` as well.
    std::optional<T> recv_for(Duration timeout) {
        return recv_until(deadline_after(timeout), /*wait=*/true);
    }

    // Closes the channel: sends now throw ChannelClosed, waiting senders wake
    // with it, receivers drain what is buffered and then get nullopt.
    // Idempotent. Thread-safe.
    void close() {
        std::lock_guard guard(lock_);
        closed_ = true;
        while (detail::Waiter* w = receivers_.front())
            grant(receivers_, *w, detail::WaitStatus::closed);
        while (detail::Waiter* w = senders_.front())
            grant(senders_, *w, detail::WaitStatus::closed);
    }

    bool closed() const {
        std::lock_guard guard(lock_);
        return closed_;
    }
    // Values buffered right now.
    std::size_t size() const {
        std::lock_guard guard(lock_);
        return count_.load(std::memory_order_relaxed);
    }
    std::size_t capacity() const noexcept { return capacity_; }

    // Input iteration: `for (T& v : channel)` receives until closed and drained.
    using iterator = detail::PullIterator<Channel, T, &Channel::recv>;
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() const noexcept { return {}; }

  private:
    bool send_until(T& value, TimePoint deadline, bool wait) {
        if (wait) detail::check_interrupts();
        for (bool may_spin = true;; may_spin = false) {
            lock_.lock();
            if (closed_) {
                lock_.unlock();
                throw ChannelClosed();
            }
            if (detail::Waiter* r = receivers_.front()) {
                static_cast<std::optional<T>*>(r->payload)->emplace(std::move(value));
                grant(receivers_, *r, detail::WaitStatus::granted);
                lock_.unlock();
                return true;
            }
            if (const std::size_t n = count_.load(std::memory_order_relaxed); n < capacity_) {
                if (n == slots_) grow_locked();  // rare: the buffer doubles, O(1) amortised
                push(std::move(value));
                lock_.unlock();
                return true;
            }
            if (!wait) {
                lock_.unlock();
                return false;
            }
            if (may_spin && spin_unlocked(&Channel::has_room)) continue;
            switch (detail::wait_locked(lock_, senders_, "Channel::send", deadline, &value)) {
                case detail::WaitStatus::waiting:
                    return false;  // timed out; value still ours
                case detail::WaitStatus::closed:
                    throw ChannelClosed();
                case detail::WaitStatus::granted:
                    break;
            }
            return true;
        }
    }

    std::optional<T> recv_until(TimePoint deadline, bool wait) {
        if (wait) detail::check_interrupts();
        for (bool may_spin = true;; may_spin = false) {
            lock_.lock();
            if (count_.load(std::memory_order_relaxed) > 0) {
                std::optional<T> v(std::move(*buffer_[head_]));
                buffer_[head_].reset();
                if (++head_ == slots_) head_ = 0;  // no division on the hot path
                count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
                // A waiting sender's value moves into the freed slot (a sender
                // waits only when the channel is full, so no growth is needed).
                if (detail::Waiter* s = senders_.front()) {
                    push(std::move(*static_cast<T*>(s->payload)));
                    grant(senders_, *s, detail::WaitStatus::granted);
                }
                lock_.unlock();
                return v;
            }
            if (detail::Waiter* s = senders_.front()) {  // rendezvous hand-off
                std::optional<T> v(std::move(*static_cast<T*>(s->payload)));
                grant(senders_, *s, detail::WaitStatus::granted);
                lock_.unlock();
                return v;
            }
            if (closed_ || !wait) {
                lock_.unlock();
                return std::nullopt;
            }
            if (may_spin && spin_unlocked(&Channel::has_value)) continue;
            std::optional<T> slot;  // stays empty on timeout and when woken by close()
            detail::wait_locked(lock_, receivers_, "Channel::recv", deadline, &slot);
            return slot;
        }
    }

    // Appends to the ring; there must be a free slot (count < slots_).
    void push(T&& value) {
        const std::size_t n = count_.load(std::memory_order_relaxed);
        std::size_t at = head_ + n;
        if (at >= slots_) at -= slots_;
        buffer_[at].emplace(std::move(value));
        count_.store(n + 1, std::memory_order_relaxed);
    }

    // grow() out of line, so that the send path stays small; on bad_alloc it
    // releases the lock (nothing was sent) and rethrows.
    [[gnu::noinline, gnu::cold]] void grow_locked() {
        try {
            grow();
        } catch (...) {
            lock_.unlock();
            throw;
        }
    }

    // The ring is full (count == slots_ < capacity_): doubles it, up to the
    // capacity, moving the values to the front of the new buffer in order.
    // Throws: std::bad_alloc, and then nothing has changed.
    void grow() {
        std::size_t slots = capacity_;
        if (slots_ == 0 && initial_slots < capacity_) slots = initial_slots;
        if (slots_ != 0 && slots_ <= capacity_ / 2) slots = slots_ * 2;
        auto bigger = std::make_unique<std::optional<T>[]>(slots);
        const std::size_t n = count_.load(std::memory_order_relaxed);
        // Copies instead of moves if T's move may throw, so that a throw leaves
        // the old ring intact (the new one and its copies are destroyed).
        for (std::size_t i = 0, at = head_; i < n; ++i) {
            bigger[i].emplace(std::move_if_noexcept(*buffer_[at]));
            if (++at == slots_) at = 0;
        }
        buffer_ = std::move(bigger);  // destroys the old values
        slots_ = slots;
        head_ = 0;
    }

    // Entered with the lock held, about to park. A peer on another thread that
    // is busy sending (receiving) usually gets there within a microsecond,
    // while parking and being woken across threads costs a hand-off per
    // message. So, once per call and only if nothing else on this thread is
    // ready, release the lock and watch the count briefly. Returns with the
    // lock released (the caller retries from the top, re-checking everything
    // under the lock before it parks), or false with it held and no spin done.
    bool has_value() const noexcept { return count_.load(std::memory_order_relaxed) > 0; }
    bool has_room() const noexcept { return count_.load(std::memory_order_relaxed) < capacity_; }
    bool spin_unlocked(bool (Channel::*ready)() const noexcept) {
        if (capacity_ == 0 || !detail::may_spin_before_waiting()) return false;
        lock_.unlock();
        for (int i = 0; i < detail::channel_spin_rounds && !(this->*ready)(); ++i) {
            detail::cpu_relax();
        }
        return true;
    }

    static constexpr std::size_t initial_slots = 16;

    mutable detail::SpinLock lock_;
    const std::size_t capacity_;
    std::unique_ptr<std::optional<T>[]> buffer_;  // a ring of slots_ slots, head_ the oldest
    std::size_t slots_ = 0;
    std::size_t head_ = 0;
    std::atomic<std::size_t> count_{0};  // written under lock_; read unlocked while spinning
    bool closed_ = false;
    detail::WaitQueue senders_;
    detail::WaitQueue receivers_;
};

}  // namespace ringlet
