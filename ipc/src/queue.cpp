#include <ringlet/ipc/queue.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

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
    if (res == 0) res = ::pthread_mutex_init(&h->mutex, &attr);
    ::pthread_mutexattr_destroy(&attr);
    if (res != 0) throw_io_error(-res, "pthread_mutex_init(queue)");
    h->maxsize = maxsize;
    h->capacity = capacity;
}

bool MpmcRing::has_room(std::size_t payload) const noexcept {
    if (h_->maxsize != 0 && h_->count >= h_->maxsize) return false;
    return h_->tail - h_->head + record_size(payload) <= h_->capacity;
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

std::uint32_t MpmcRing::length_at(std::uint64_t pos) const noexcept {
    // Records start 8-aligned and the capacity is a multiple of 8: the
    // length never straddles the wrap.
    std::uint32_t len;
    std::memcpy(&len, data_ + pos % h_->capacity, sizeof len);
    return len;
}

void MpmcRing::push(std::string_view payload) noexcept {
    const auto len = static_cast<std::uint32_t>(payload.size());
    const std::uint64_t pos = h_->tail;
    std::memcpy(data_ + pos % h_->capacity, &len, sizeof len);
    copy_in(pos + record_header, payload.data(), payload.size());
    // The commit: one store makes the whole record visible (see the header).
    std::atomic_ref<std::uint64_t>(h_->tail).store(pos + record_size(payload.size()),
                                                   std::memory_order_release);
    ++h_->count;
}

void MpmcRing::pop(std::string& out) {
    const std::uint64_t pos = h_->head;
    const std::uint32_t len = length_at(pos);
    out.resize(len);  // may throw bad_alloc: nothing has changed yet
    copy_out(pos + record_header, out.data(), len);
    std::atomic_ref<std::uint64_t>(h_->head).store(pos + record_size(len),
                                                   std::memory_order_release);
    --h_->count;
}

void MpmcRing::recover() noexcept {
    ++h_->recoveries;
    // head and tail are each one store, so each is sound on its own; recount.
    if (h_->tail < h_->head || h_->tail - h_->head > h_->capacity) {
        h_->head = h_->tail;  // cannot happen; if it did, drop all rather than crash
        h_->count = 0;
        return;
    }
    std::uint64_t n = 0;
    for (std::uint64_t pos = h_->head; pos < h_->tail; ++n) {
        const std::uint64_t size = record_size(length_at(pos));
        if (size > h_->tail - pos) {  // likewise impossible: truncate there
            h_->tail = pos;
            break;
        }
        pos += size;
    }
    h_->count = n;
}

RingLock::RingLock(MpmcRing& ring) : ring_(ring) {
    pthread_mutex_t* m = &ring.header().mutex;
    int res = EBUSY;
    for (int i = 0; i < 64 && res == EBUSY; ++i) {
        res = ::pthread_mutex_trylock(m);
        if (res == EBUSY) __builtin_ia32_pause();
    }
    if (res == EBUSY) res = ::pthread_mutex_lock(m);
    if (res == EOWNERDEAD) {
        // The previous holder died inside a put or get: repair, then go on.
        ring.recover();
        ::pthread_mutex_consistent(m);
        res = 0;
    }
    if (res != 0) throw_io_error(-res, "pthread_mutex_lock(queue)");
}

// ---- QueueCore ----------------------------------------------------------------

struct QueueCore::State {
    std::shared_ptr<ShmRegion> region;
    MpmcRing ring;
    State(std::shared_ptr<ShmRegion> r)
        : region(std::move(r)), ring(static_cast<RingHeader*>(region->data())) {}
};

namespace {

// How long a getter or putter watches the queue before it sleeps: waking a
// sleeping process costs 25-60 us on a VM, a handoff between two busy ones
// under a microsecond.
constexpr Duration pre_wait_spin = std::chrono::microseconds(30);

// Counts the caller as a waiter on `seq` while it waits (wakers skip the
// system call when nobody waits), also when the wait throws.
struct WaiterCount {
    explicit WaiterCount(std::atomic<std::uint32_t>& n) noexcept : count(n) {
        count.fetch_add(1, std::memory_order_seq_cst);
    }
    ~WaiterCount() { count.fetch_sub(1, std::memory_order_relaxed); }
    std::atomic<std::uint32_t>& count;
};

void wake_if_waiting(std::atomic<std::uint32_t>& seq, std::atomic<std::uint32_t>& waiting) {
    // seq_cst pairs with WaiterCount's increment, which came before the
    // waiter read seq under the lock: a waiter we miss here saw our change.
    if (waiting.load(std::memory_order_seq_cst) != 0) shared_futex_wake(seq);
}

}  // namespace

QueueCore::QueueCore(std::size_t maxsize, std::size_t capacity_bytes) {
    if (capacity_bytes < 64) capacity_bytes = 64;
    capacity_bytes = (capacity_bytes + 7) & ~std::size_t{7};
    auto region = ShmRegion::create(MpmcRing::header_bytes() + capacity_bytes);
    MpmcRing::init(static_cast<RingHeader*>(region->data()), maxsize, capacity_bytes);
    state_ = std::make_shared<State>(std::move(region));
}

bool QueueCore::put(std::string_view bytes, TimePoint deadline) {
    MpmcRing& ring = state_->ring;
    RingHeader& h = ring.header();
    if (bytes.size() > UINT32_MAX || !ring.fits_ever(bytes.size())) {
        throw CodecError("ringlet::ipc::Queue::put: a message of " + std::to_string(bytes.size()) +
                         " bytes can never fit in this queue's " + std::to_string(h.capacity) +
                         "-byte buffer; make the queue with a larger capacity_bytes");
    }
    for (;;) {
        std::uint32_t seq;
        {
            RingLock lock(ring);
            if (h.closed.load(std::memory_order_relaxed)) throw QueueClosed();
            if (ring.has_room(bytes.size())) {
                ring.push(bytes);
                h.items_seq.fetch_add(1, std::memory_order_seq_cst);
                break;
            }
            if (deadline == TimePoint::min()) return false;
            seq = h.space_seq.load(std::memory_order_relaxed);
        }
        if (spin_for_change(h.space_seq, seq, pre_wait_spin)) continue;
        WaiterCount waiting(h.putters_waiting);
        // Re-read under no lock: a get between our unlock and here bumped it.
        if (h.space_seq.load(std::memory_order_seq_cst) != seq) continue;
        if (!shared_futex_wait(h.space_seq, seq, deadline)) deadline = TimePoint::min();
    }
    wake_if_waiting(h.items_seq, h.getters_waiting);
    return true;
}

bool QueueCore::get(std::string& out, TimePoint deadline) {
    MpmcRing& ring = state_->ring;
    RingHeader& h = ring.header();
    for (;;) {
        std::uint32_t seq;
        {
            RingLock lock(ring);
            if (h.count > 0) {
                ring.pop(out);
                h.space_seq.fetch_add(1, std::memory_order_seq_cst);
                break;
            }
            if (deadline == TimePoint::min()) return false;
            if (h.closed.load(std::memory_order_relaxed)) throw QueueClosed();
            seq = h.items_seq.load(std::memory_order_relaxed);
        }
        if (spin_for_change(h.items_seq, seq, pre_wait_spin)) continue;
        WaiterCount waiting(h.getters_waiting);
        if (h.items_seq.load(std::memory_order_seq_cst) != seq) continue;
        // On the deadline, look once more without waiting: a put may have
        // landed just as we timed out.
        if (!shared_futex_wait(h.items_seq, seq, deadline)) deadline = TimePoint::min();
    }
    wake_if_waiting(h.space_seq, h.putters_waiting);
    return true;
}

std::size_t QueueCore::size() const {
    RingLock lock(state_->ring);
    return state_->ring.header().count;
}

bool QueueCore::full() const {
    RingLock lock(state_->ring);
    const RingHeader& h = state_->ring.header();
    return h.maxsize != 0 && h.count >= h.maxsize;
}

void QueueCore::close() {
    RingHeader& h = state_->ring.header();
    {
        RingLock lock(state_->ring);
        h.closed.store(1, std::memory_order_relaxed);
        h.items_seq.fetch_add(1, std::memory_order_release);
        h.space_seq.fetch_add(1, std::memory_order_release);
    }
    shared_futex_wake(h.items_seq);
    shared_futex_wake(h.space_seq);
}

bool QueueCore::closed() const noexcept {
    return state_->ring.header().closed.load(std::memory_order_acquire) != 0;
}

std::size_t QueueCore::maxsize() const noexcept { return state_->ring.header().maxsize; }
std::size_t QueueCore::capacity_bytes() const noexcept { return state_->ring.header().capacity; }

std::size_t QueueCore::recoveries() const {
    RingLock lock(state_->ring);
    return state_->ring.header().recoveries;
}

}  // namespace ringlet::ipc::detail
