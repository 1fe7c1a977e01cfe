#include <ringlet/ipc/queue.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>


#include <ringlet/detail/waiter.hpp>
#include <ringlet/errors.hpp>

#include "mpmc_ring.hpp"
#include "shared_futex.hpp"
#include "shm_region.hpp"

namespace ringlet::ipc::detail {

// ---- MpmcRing ---------------------------------------------------------------

void MpmcRing::init(RingHeader* h, std::size_t maxsize, std::size_t capacity) {
    pthread_mutexattr_t attr;
    ::pthread_mutexattr_init(&attr);
    int res = ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (res == 0) res = ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (res == 0) res = ::pthread_mutex_init(&h->put_side.mutex, &attr);
    if (res == 0) res = ::pthread_mutex_init(&h->get_side.mutex, &attr);
    ::pthread_mutexattr_destroy(&attr);
    if (res != 0) throw_io_error(-res, "pthread_mutex_init(queue)");
    h->maxsize = maxsize;
    h->capacity = capacity;
}

void MpmcRing::copy_in(std::uint64_t pos, const void* src, std::size_t n) noexcept {
    const std::size_t at = pos % h_->capacity;
    const std::size_t first = std::min<std::size_t>(n, h_->capacity - at);
    std::memcpy(data_ + at, src, first);
    std::memcpy(data_, static_cast<const char*>(src) + first, n - first);
}

void MpmcRing::copy_out(std::uint64_t pos, void* dst, std::size_t n) const noexcept {
    const std::size_t at = pos % h_->capacity;
    const std::size_t first = std::min<std::size_t>(n, h_->capacity - at);
    std::memcpy(dst, data_ + at, first);
    std::memcpy(static_cast<char*>(dst) + first, data_, n - first);
}

bool MpmcRing::try_push(std::string_view payload) noexcept {
    RingSide& mine = h_->put_side;
    const std::uint64_t me = mine.word.load(std::memory_order_relaxed);
    if (SideWord::closed(me)) return false;
    const std::uint64_t need = record_size(payload.size());
    auto room = [&](std::uint64_t them) {
        if (h_->maxsize != 0 && SideWord::counter_distance(me, them) >= h_->maxsize) return false;
        return SideWord::position_distance(me, them) + need <= h_->capacity;
    };
    // The consumers' word is read only when our last copy of it says "full":
    // a stream of puts then touches no line the consumers write.
    if (!room(mine.other_seen)) {
        mine.other_seen = h_->get_side.word.load(std::memory_order_acquire);
        if (!room(mine.other_seen)) return false;
    }
    // Positions are 8-aligned and the capacity a multiple of 8: the length
    // never straddles the wrap.
    const std::uint64_t pos = SideWord::position(me) % h_->capacity;
    const auto len = static_cast<std::uint32_t>(payload.size());
    std::memcpy(data_ + pos, &len, sizeof len);
    copy_in(SideWord::position(me) + record_header, payload.data(), payload.size());
    // The commit: one store makes the whole record visible. seq_cst, so that
    // the waiter-count load after it cannot move ahead (see wake_if_waiting).
    mine.word.store(SideWord::advance(me, need), std::memory_order_seq_cst);
    return true;
}

bool MpmcRing::try_pop(std::string& out) {
    RingSide& mine = h_->get_side;
    const std::uint64_t me = mine.word.load(std::memory_order_relaxed);
    if (SideWord::counter_distance(mine.other_seen, me) == 0) {
        mine.other_seen = h_->put_side.word.load(std::memory_order_acquire);
        if (SideWord::counter_distance(mine.other_seen, me) == 0) return false;
    }
    std::uint32_t len;
    std::memcpy(&len, data_ + SideWord::position(me) % h_->capacity, sizeof len);
    out.resize(len);  // may throw bad_alloc: nothing has changed yet
    copy_out(SideWord::position(me) + record_header, out.data(), len);
    // The commit: one store frees the record's space for the producers.
    mine.word.store(SideWord::advance(me, record_size(len)), std::memory_order_seq_cst);
    return true;
}

std::size_t MpmcRing::size() const noexcept {
    const std::uint64_t got = h_->get_side.word.load(std::memory_order_acquire);
    const std::uint64_t put = h_->put_side.word.load(std::memory_order_acquire);
    return SideWord::counter_distance(put, got);
}

RingLock::RingLock(RingSide& side) : side_(side) {
    pthread_mutex_t* m = &side.mutex;
    int res = EBUSY;
    for (int i = 0; i < 64 && res == EBUSY; ++i) {
        res = ::pthread_mutex_trylock(m);
        if (res == EBUSY) ringlet::detail::cpu_relax();
    }
    if (res == EBUSY) res = ::pthread_mutex_lock(m);
    if (res == EOWNERDEAD) {
        // The previous holder died inside a put or get. Its operation either
        // committed (one store) or did not happen: nothing to repair.
        ++side.recoveries;
        ::pthread_mutex_consistent(m);
        res = 0;
    }
    if (res != 0) throw_io_error(-res, "pthread_mutex_lock(queue)");
}

// ---- QueueCore ----------------------------------------------------------------

struct QueueCore::State {
    std::shared_ptr<ShmRegion> region;
    MpmcRing ring;
    explicit State(std::shared_ptr<ShmRegion> r)
        : region(std::move(r)), ring(static_cast<RingHeader*>(region->data())) {}
};

namespace {

// How long a getter or putter watches the queue before it sleeps. Waking a
// sleeping process costs 25-60 us on a VM; a spin shorter than that never
// sees the reply of a peer that was asleep, so two peers would keep waking
// each other the slow way for good. The spin yields the CPU now and then, so
// an oversubscribed machine still runs the peer meanwhile.
constexpr Duration pre_wait_spin = std::chrono::microseconds(50);
constexpr Duration spin_yield_every = std::chrono::microseconds(2);

// Counts the caller as a waiter while it sleeps (wakers skip the system call
// when nobody does), also when the wait throws.
struct CountedWaiter {
    explicit CountedWaiter(WaiterCount& c) noexcept : count(c.n) {
        count.fetch_add(1, std::memory_order_seq_cst);
    }
    ~CountedWaiter() { count.fetch_sub(1, std::memory_order_relaxed); }
    std::atomic<std::uint32_t>& count;
};

// After a commit: wake the other side if it sleeps. Dekker, all seq_cst: we
// stored our word then load the count; the sleeper bumped the count then
// loads our word. Either it sees our commit, or we see it counted.
void wake_if_waiting(std::atomic<std::uint64_t>& word, WaiterCount& waiting) noexcept {
    if (waiting.n.load(std::memory_order_seq_cst) != 0) shared_futex_wake(futex_word(word));
}

// Waits for `w` to change from `seen` (spin, then sleep) or the deadline.
// False once the deadline has passed.
bool wait_for_change(std::atomic<std::uint64_t>& w, std::uint64_t seen, WaiterCount& waiting,
                     TimePoint deadline) {
    if (spin_for_change(w, seen, pre_wait_spin, spin_yield_every)) return true;
    CountedWaiter counted(waiting);
    const std::uint64_t now = w.load(std::memory_order_seq_cst);
    if (now != seen) return true;
    // The futex compares only the low half; a change in the high half alone
    // (position without counter) cannot happen: every commit bumps the counter.
    return shared_futex_wait(futex_word(w), futex_value(seen), deadline);
}

}  // namespace

QueueCore::QueueCore(std::size_t maxsize, std::size_t capacity_bytes) {
    if (maxsize > max_queue_messages) {
        throw UsageError("ringlet::ipc::Queue: maxsize must be at most " +
                         std::to_string(max_queue_messages));
    }
    if (capacity_bytes > max_queue_bytes) {
        throw UsageError("ringlet::ipc::Queue: capacity_bytes must be at most 2^38");
    }
    if (capacity_bytes < 64) capacity_bytes = 64;
    capacity_bytes = (capacity_bytes + 7) & ~std::size_t{7};
    auto region = ShmRegion::create(MpmcRing::header_bytes() + capacity_bytes);
    MpmcRing::init(static_cast<RingHeader*>(region->data()), maxsize, capacity_bytes);
    state_ = std::make_shared<State>(std::move(region));
}

std::size_t QueueCore::largest_message() const noexcept {
    // record_size(p) <= capacity  <=>  record_header + p <= capacity, as the
    // capacity is a multiple of 8 (and at least 64).
    const std::size_t by_capacity = state_->ring.header().capacity - record_header;
    return std::min(max_message_bytes, by_capacity);
}

void QueueCore::check_message_size(std::size_t bytes) const {
    static_assert(max_message_bytes == UINT32_MAX, "the record length is a u32");
    if (bytes > max_message_bytes) {
        throw CodecError("ringlet::ipc::Queue::put: a message of " + std::to_string(bytes) +
                         " bytes is over the largest message size of " +
                         std::to_string(max_message_bytes) +
                         " bytes (a queue record stores its length in 32 bits), whatever "
                         "capacity_bytes is; send the value in parts");
    }
    if (!state_->ring.fits_ever(bytes)) {
        throw CodecError("ringlet::ipc::Queue::put: a message of " + std::to_string(bytes) +
                         " bytes can never fit in this queue's " +
                         std::to_string(state_->ring.header().capacity) + "-byte buffer (at most " +
                         std::to_string(largest_message()) +
                         " bytes fit); make the queue with a larger capacity_bytes");
    }
}

bool QueueCore::put(std::string_view bytes, TimePoint deadline) {
    MpmcRing& ring = state_->ring;
    RingHeader& h = ring.header();
    check_message_size(bytes.size());
    ringlet::detail::check_interrupts();
    for (;;) {
        std::uint64_t seen;
        {
            RingLock lock(h.put_side);
            if (ring.try_push(bytes)) break;
            if (ring.closed()) throw QueueClosed();
            if (deadline == TimePoint::min()) return false;
            // Exactly the consumers' word that showed "full": waiting for a
            // change from a later one could sleep through the get we need.
            seen = h.put_side.other_seen;
        }
        if (!wait_for_change(h.get_side.word, seen, h.putters_waiting, deadline)) {
            deadline = TimePoint::min();  // one more look, then give up
        }
    }
    wake_if_waiting(h.put_side.word, h.getters_waiting);
    return true;
}

bool QueueCore::get(std::string& out, TimePoint deadline) {
    MpmcRing& ring = state_->ring;
    RingHeader& h = ring.header();
    ringlet::detail::check_interrupts();
    for (;;) {
        std::uint64_t seen;
        {
            RingLock lock(h.get_side);
            if (ring.try_pop(out)) break;
            if (deadline == TimePoint::min()) return false;
            seen = h.get_side.other_seen;  // the producers' word that showed "empty"
            if (SideWord::closed(seen)) throw QueueClosed();
        }
        if (!wait_for_change(h.put_side.word, seen, h.getters_waiting, deadline)) {
            deadline = TimePoint::min();  // a put may have landed just as we timed out
        }
    }
    wake_if_waiting(h.get_side.word, h.putters_waiting);
    return true;
}

std::size_t QueueCore::size() const { return state_->ring.size(); }

bool QueueCore::full() const {
    const RingHeader& h = state_->ring.header();
    return h.maxsize != 0 && state_->ring.size() >= h.maxsize;
}

void QueueCore::close() {
    RingHeader& h = state_->ring.header();
    // Set the bit in both words, each under its side's lock (the only writer
    // of that word), so sleepers on either see their word change.
    for (RingSide* side : {&h.put_side, &h.get_side}) {
        RingLock lock(*side);
        side->word.fetch_or(SideWord::closed_bit, std::memory_order_seq_cst);
    }
    shared_futex_wake(futex_word(h.put_side.word));
    shared_futex_wake(futex_word(h.get_side.word));
}

bool QueueCore::closed() const noexcept { return state_->ring.closed(); }

std::size_t QueueCore::maxsize() const noexcept { return state_->ring.header().maxsize; }
std::size_t QueueCore::capacity_bytes() const noexcept { return state_->ring.header().capacity; }

std::size_t QueueCore::recoveries() const {
    const RingHeader& h = state_->ring.header();
    RingLock put_lock(state_->ring.header().put_side);
    RingLock get_lock(state_->ring.header().get_side);
    return h.put_side.recoveries + h.get_side.recoveries;
}

}  // namespace ringlet::ipc::detail
