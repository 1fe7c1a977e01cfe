// mpmc_ring.hpp — the crash-safe core of ipc::Queue, in shared memory.
//
// A byte ring of variable-size records (a 4-byte length, the payload, padding
// to 8 bytes) between `head` and `tail`, which only grow (positions modulo
// the capacity). Every operation runs under a process-shared robust mutex.
//
// Crash safety (DESIGN: a process killed at any instant never corrupts the
// queue and never leaves the others blocked forever):
//   - a put writes its record into free space first and publishes it with
//     one store to `tail`; a get copies a record out and retires it with one
//     store to `head`. Killed before that store, the operation did not
//     happen; after it, it did. A half-written record is never visible.
//   - `count` is updated after head/tail; a holder that died between the two
//     leaves it off by one, so the next locker (told by EOWNERDEAD) recounts
//     the records between head and tail.
//   - the robust mutex is released by the kernel when its holder dies.
//   - waits are futex waits on sequence words; a waiter killed mid-wait only
//     leaves a waiter count too high, which costs wakers a spare syscall.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringlet::ipc::detail {

struct RingHeader {
    pthread_mutex_t mutex;
    std::atomic<std::uint32_t> items_seq;  // bumped by every put (and close)
    std::atomic<std::uint32_t> space_seq;  // bumped by every get (and close)
    std::atomic<std::uint32_t> getters_waiting;
    std::atomic<std::uint32_t> putters_waiting;
    std::atomic<std::uint32_t> closed;
    std::uint64_t head;      // byte position of the oldest record
    std::uint64_t tail;      // byte position after the newest record
    std::uint64_t count;     // records in [head, tail)
    std::uint64_t maxsize;   // most records at once; 0 = no limit but bytes
    std::uint64_t capacity;  // bytes of ring after the header, a multiple of 8
    std::uint64_t recoveries;  // times a dead holder's lock was taken over
};

inline constexpr std::size_t record_header = sizeof(std::uint32_t);

inline std::uint64_t record_size(std::size_t payload) noexcept {
    return (record_header + payload + 7) & ~std::uint64_t{7};
}

// Operations on a ring whose header starts at `h` and whose bytes follow
// the header. All but init() require the mutex held (see RingLock).
class MpmcRing {
public:
    explicit MpmcRing(RingHeader* h) noexcept
        : h_(h), data_(reinterpret_cast<char*>(h) + header_bytes()) {}

    static std::size_t header_bytes() noexcept { return (sizeof(RingHeader) + 63) & ~std::size_t{63}; }
    // Initialises a zero-filled region. Throws: IoError (pthread attributes).
    static void init(RingHeader* h, std::size_t maxsize, std::size_t capacity);

    RingHeader& header() const noexcept { return *h_; }
    bool has_room(std::size_t payload) const noexcept;
    bool fits_ever(std::size_t payload) const noexcept {
        return record_size(payload) <= h_->capacity;
    }
    void push(std::string_view payload) noexcept;  // requires has_room()
    void pop(std::string& out);                    // requires count > 0
    // After EOWNERDEAD: make head/tail/count consistent again.
    void recover() noexcept;

private:
    void copy_in(std::uint64_t pos, const void* src, std::size_t n) noexcept;
    void copy_out(std::uint64_t pos, void* dst, std::size_t n) const noexcept;
    std::uint32_t length_at(std::uint64_t pos) const noexcept;

    RingHeader* h_;
    char* data_;
};

// Holds the ring's robust mutex; repairs the ring if the last holder died.
// The critical sections it guards never suspend, so it spins briefly and
// then blocks the thread in the kernel (a holder only ever copies a message).
class RingLock {
public:
    explicit RingLock(MpmcRing& ring);
    ~RingLock() { ::pthread_mutex_unlock(&ring_.header().mutex); }
    RingLock(const RingLock&) = delete;
    RingLock& operator=(const RingLock&) = delete;

private:
    MpmcRing& ring_;
};

}  // namespace ringlet::ipc::detail
