// mpmc_ring.hpp — the crash-safe core of ipc::Queue, in shared memory.
//
// A byte ring of variable-size records (a 4-byte length, the payload, padding
// to 8 bytes). Producers and consumers each have a side: a process-shared
// robust mutex that serialises that side, and one 64-bit word that is the
// side's whole published state:
//
//     bits 63..25  position in bytes (tail for producers, head for
//                  consumers), modulo 2^39
//     bit  24      closed
//     bits 23..0   messages put (got) so far, modulo 2^24
//
// A producer copies its record into free space and publishes it with one
// release store of its word; a consumer copies a record out and frees it with
// one store of its word. So one producer and one consumer never contend for
// a lock, and each reads the other side's word only when its cached copy says
// the ring is full (empty): in a stream, the shared cache lines are the
// records themselves.
//
// Crash safety (DESIGN: a process killed at any instant never corrupts the
// queue and never leaves the others blocked forever): killed before its
// store, an operation did not happen; after it, it did — no record is ever
// half visible and no counter can drift, so there is nothing to repair. The
// kernel releases a dead holder's robust mutex (the next locker sees
// EOWNERDEAD and just marks it consistent). Waiters sleep on the low 32 bits
// of the other side's word, which every operation (and close) changes; a
// waiter killed mid-wait only leaves a waiter count too high, which costs
// wakers a spare system call.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringlet::ipc::detail {

// The packed side word (see the file comment).
struct SideWord {
    static constexpr std::uint64_t counter_bits = 24;
    static constexpr std::uint64_t counter_mask = (std::uint64_t{1} << counter_bits) - 1;
    static constexpr std::uint64_t closed_bit = std::uint64_t{1} << counter_bits;
    static constexpr std::uint64_t position_shift = counter_bits + 1;
    static constexpr std::uint64_t position_mask = (std::uint64_t{1} << (64 - position_shift)) - 1;

    static std::uint64_t position(std::uint64_t w) noexcept { return w >> position_shift; }
    static std::uint64_t counter(std::uint64_t w) noexcept { return w & counter_mask; }
    static bool closed(std::uint64_t w) noexcept { return (w & closed_bit) != 0; }
    // The word after one more record of `bytes` bytes.
    static std::uint64_t advance(std::uint64_t w, std::uint64_t bytes) noexcept {
        const std::uint64_t pos = (position(w) + bytes) & position_mask;
        return (pos << position_shift) | (w & closed_bit) | ((counter(w) + 1) & counter_mask);
    }
    // a - b for positions and counters, which wrap.
    static std::uint64_t position_distance(std::uint64_t a, std::uint64_t b) noexcept {
        return (position(a) - position(b)) & position_mask;
    }
    static std::uint64_t counter_distance(std::uint64_t a, std::uint64_t b) noexcept {
        return (counter(a) - counter(b)) & counter_mask;
    }
};

// Largest maxsize the packed counters can tell apart from "empty".
inline constexpr std::size_t max_queue_messages = (std::size_t{1} << 23) - 1;
// Largest ring the packed positions can address.
inline constexpr std::size_t max_queue_bytes = std::size_t{1} << 38;

struct alignas(64) RingSide {
    pthread_mutex_t mutex;
    std::atomic<std::uint64_t> word;  // this side's published state
    std::uint64_t other_seen;         // the other side's word, as last read (under mutex)
    std::uint64_t recoveries;         // dead holders whose lock was taken over
};

struct alignas(64) WaiterCount {
    std::atomic<std::uint32_t> n;
};

struct RingHeader {
    RingSide put_side;
    RingSide get_side;
    WaiterCount getters_waiting;
    WaiterCount putters_waiting;
    std::uint64_t maxsize;   // most records at once; 0 = no limit but bytes
    std::uint64_t capacity;  // bytes of ring after the header, a multiple of 8
};

inline constexpr std::size_t record_header = sizeof(std::uint32_t);

inline std::uint64_t record_size(std::size_t payload) noexcept {
    return (record_header + payload + 7) & ~std::uint64_t{7};
}

// The low 32 bits of a side word, which waiters sleep on (little-endian).
inline std::atomic<std::uint32_t>& futex_word(std::atomic<std::uint64_t>& w) noexcept {
    return *reinterpret_cast<std::atomic<std::uint32_t>*>(&w);
}
inline std::uint32_t futex_value(std::uint64_t w) noexcept { return static_cast<std::uint32_t>(w); }

// Operations on a ring whose header starts at `h` and whose bytes follow the
// header. try_push() needs the put side's mutex, try_pop() the get side's.
class MpmcRing {
public:
    explicit MpmcRing(RingHeader* h) noexcept
        : h_(h), data_(reinterpret_cast<char*>(h) + header_bytes()) {}

    static std::size_t header_bytes() noexcept {
        return (sizeof(RingHeader) + 63) & ~std::size_t{63};
    }
    // Initialises a zero-filled region. Throws: IoError (pthread attributes).
    static void init(RingHeader* h, std::size_t maxsize, std::size_t capacity);

    RingHeader& header() const noexcept { return *h_; }
    bool fits_ever(std::size_t payload) const noexcept {
        return record_size(payload) <= h_->capacity;
    }
    // Publishes `payload` if there is room. False if full (or closed: check
    // closed() then). Put side locked.
    bool try_push(std::string_view payload) noexcept;
    // Moves the oldest record into `out`. False if empty. Get side locked.
    bool try_pop(std::string& out);

    bool closed() const noexcept {
        return SideWord::closed(h_->put_side.word.load(std::memory_order_acquire));
    }
    std::size_t size() const noexcept;

private:
    void copy_in(std::uint64_t pos, const void* src, std::size_t n) noexcept;
    void copy_out(std::uint64_t pos, void* dst, std::size_t n) const noexcept;

    RingHeader* h_;
    char* data_;
};

// Holds one side's robust mutex. The critical sections it guards never
// suspend, so it spins briefly and then blocks the thread in the kernel (a
// holder only ever copies one message).
class RingLock {
public:
    explicit RingLock(RingSide& side);
    ~RingLock() { ::pthread_mutex_unlock(&side_.mutex); }
    RingLock(const RingLock&) = delete;
    RingLock& operator=(const RingLock&) = delete;

private:
    RingSide& side_;
};

}  // namespace ringlet::ipc::detail
