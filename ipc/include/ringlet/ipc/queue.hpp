// ringlet/ipc/queue.hpp — a FIFO of messages shared by many processes.
//
// ipc::Queue<T> is multiprocessing.Queue on shared memory: any number of
// producers and consumers, in any number of processes forked after the queue
// was made (and their tasks and threads). Messages are encoded with
// Codec<T>, so they may vary in size; the queue holds at most `maxsize`
// messages (0 = no count limit) and at most `capacity_bytes` of them in all.
// Copies of a Queue (including the parent's, inherited by a child) are
// handles to the same queue.
//
// Waiting is task-aware: a task blocked in get() or put() first watches the
// queue for up to 50 us (yielding the CPU every 2 us; skipped when other
// tasks of its thread are ready), then suspends (an io_uring futex wait where
// the kernel has it, Linux >= 6.7; short polling sleeps otherwise) and its
// thread runs other tasks; a plain thread spins likewise, then blocks in the
// kernel. Producers share one process-shared lock and consumers another,
// each held for the time of one copy, never across a suspension: one
// producer and one consumer never contend.
// Limits: maxsize below 2^23 messages; capacity_bytes up to 2^38; one
// message at most max_message_bytes (2^32 - 1) encoded bytes, whatever the
// capacity (a record stores its length in 32 bits).
//
// Crash safety: a process killed at any instant — mid-put, mid-get, holding
// the lock — leaves the queue consistent: a message is either wholly in the
// queue or not at all, and nobody else stays blocked. A message whose get()
// was in progress in a killed consumer is either still queued or gone with
// it. Ordering: a put() happens-before the get() that returns its message.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/time.hpp>

namespace ringlet::ipc {

inline constexpr std::size_t default_queue_bytes = 4 * 1024 * 1024;
// The largest encoded message any queue takes: a record's length is 32 bits.
inline constexpr std::size_t max_message_bytes = 0xffff'ffff;

namespace detail {

// The untyped queue: byte messages. Process-safe, thread-safe.
class QueueCore {
public:
    QueueCore(std::size_t maxsize, std::size_t capacity_bytes);

    // Appends `bytes`, waiting for room until `deadline` (TimePoint::min():
    // do not wait). False if there was no room in time.
    // Throws: QueueClosed; CodecError if the message can never fit.
    bool put(std::string_view bytes, TimePoint deadline);
    // The largest message this queue can ever hold: max_message_bytes, or
    // less if capacity_bytes is smaller.
    std::size_t largest_message() const noexcept;
    // Throws: CodecError naming the limit a message of `bytes` passes (the
    // record length or this queue's capacity); nothing if it can fit.
    void check_message_size(std::size_t bytes) const;
    // Moves the oldest message into `out`, waiting until `deadline`
    // (TimePoint::min(): do not wait). False if none came in time.
    // Throws: QueueClosed once the queue is closed and drained (with a
    // deadline of min(): returns false instead).
    bool get(std::string& out, TimePoint deadline);

    std::size_t size() const;
    bool full() const;
    void close();
    bool closed() const noexcept;
    std::size_t maxsize() const noexcept;
    std::size_t capacity_bytes() const noexcept;
    // Times a lock held by a process that died was taken over (for tests).
    std::size_t recoveries() const;

private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace detail

template <class T>
class Queue {
    static_assert(Encodable<T>, "ringlet::ipc::Queue<T>: T needs a Codec<T> (see codec.hpp)");

public:
    // A new, empty queue: at most `maxsize` messages (0 = no limit) and
    // `capacity_bytes` of encoded messages (each takes its size plus 4,
    // rounded up to 8). Throws: IoError (no memory), UsageError (limits).
    explicit Queue(std::size_t maxsize = 0, std::size_t capacity_bytes = default_queue_bytes)
        : core_(maxsize, capacity_bytes) {}

    // Appends a copy of `value`, waiting while the queue is full.
    // Suspends. Throws: QueueClosed, CodecError (encoded larger than
    // max_message_bytes or than fits in capacity_bytes: found while encoding,
    // before the whole value is copied), Cancelled, TimeoutError.
    // Cancellation: the value was not put. Process-safe.
    void put(const T& value) { put_until(value, TimePoint::max()); }
    // As put(), but gives up after `timeout`: false if it was not put.
    bool put_for(const T& value, Duration timeout) {
        return put_until(value, deadline_after(timeout));
    }
    // Puts only if there is room now. Never waits.
    bool try_put(const T& value) { return put_until(value, TimePoint::min()); }

    // Takes the oldest message, waiting while the queue is empty.
    // Suspends. Throws: QueueClosed once closed and drained; CodecError if the
    // message does not decode as T (it is consumed); Cancelled, TimeoutError.
    // Cancellation: nothing was taken. Process-safe.
    T get() { return *get_until(TimePoint::max()); }
    // As get(), but nullopt after `timeout`. Throws QueueClosed as get().
    std::optional<T> get_for(Duration timeout) { return get_until(deadline_after(timeout)); }
    // The oldest message if there is one now (nullopt if empty, closed or not).
    std::optional<T> try_get() { return get_until(TimePoint::min()); }

    // Messages in the queue now (a snapshot; others may change it at once).
    std::size_t size() const { return core_.size(); }
    bool empty() const { return size() == 0; }
    // True if maxsize messages are queued (a put would wait).
    bool full() const { return core_.full(); }
    // No more puts, from any process: waiting putters get QueueClosed, getters
    // drain what is left and then get QueueClosed. Process-safe.
    void close() { core_.close(); }
    bool closed() const noexcept { return core_.closed(); }
    std::size_t maxsize() const noexcept { return core_.maxsize(); }
    std::size_t capacity_bytes() const noexcept { return core_.capacity_bytes(); }

    detail::QueueCore& core() noexcept { return core_; }

private:
    // Buffers are per thread and reused, so a message costs no allocation
    // beyond its decoded value. A buffer is never held across a suspension:
    // other tasks of the thread use it meanwhile.
    bool put_until(const T& value, TimePoint deadline) {
        thread_local Writer writer;
        writer.bytes().clear();
        // An oversized value stops at the limit instead of being copied whole.
        writer.set_limit(core_.largest_message());
        try {
            Codec<T>::encode(writer, value);
        } catch (const EncodeLimitExceeded& e) {
            core_.check_message_size(e.needed());  // throws, naming the limit passed
            throw;
        }
        if (core_.put(writer.bytes(), TimePoint::min())) return true;
        if (deadline == TimePoint::min()) return false;
        const std::string bytes = writer.bytes();  // our own copy to wait with
        return core_.put(bytes, deadline);
    }
    std::optional<T> get_until(TimePoint deadline) {
        // get() fills the buffer only in its last step, which does not
        // suspend, and we decode at once: no other task can interleave.
        thread_local std::string bytes;
        if (!core_.get(bytes, deadline)) return std::nullopt;
        return decode<T>(bytes);
    }

    detail::QueueCore core_;
};

}  // namespace ringlet::ipc
