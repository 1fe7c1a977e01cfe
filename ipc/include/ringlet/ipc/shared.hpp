// ringlet/ipc/shared.hpp — a value and an array in shared memory, each with its Lock.
//
// Shared<T> is Python's multiprocessing.Value and SharedArray<T> its
// multiprocessing.Array: create one in a parent before starting ipc::Process
// children, and every process reads and writes the same memory. Each comes
// with its own ipc::Lock (ringlet/ipc/lock.hpp): load(), store(), get() and
// set() take it for the one access, and locked() returns a guard that holds it
// for a whole read-modify-write:
//
//   ipc::Shared<int> counter(0);
//   auto work = [&] { for (int i = 0; i < 1000; ++i) { auto g = counter.locked(); *g += 1; } };
//   ipc::Process a(work), b(work);  a.start(); b.start();  a.join(); b.join();
//   assert(counter.load() == 2000);   // `counter.store(counter.load() + 1)` would race
//
// The model. T must be trivially copyable (it is copied in and out as bytes,
// and lives in memory that several processes map); pointers inside it are
// meaningful only in the process that made them. Handles are copyable and
// every copy, in any process, names the same memory. The waits (taking the
// lock) are task-aware: a task suspends and its thread keeps running.
//
// Visibility/ordering: every access happens under the Lock, so what one
// holder wrote happens-before what the next holder reads, in any process.
// If a holder dies mid-update the Lock is taken over (see
// Lock::previous_holder_died()) and the value may be half-written.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <ringlet/ipc/lock.hpp>

namespace ringlet::ipc {

namespace detail {

// The non-template core of Shared<T> and SharedArray<T>: `bytes` zero-filled
// bytes aligned to `align`, in the same shared memory as a Lock. Copyable,
// like the Lock.
class SharedBlock {
public:
    // Throws: IoError if the shared memory cannot be mapped.
    SharedBlock(std::size_t bytes, std::size_t align);
    void* data() const noexcept { return data_; }
    Lock& lock() const noexcept { return lock_; }

    // Releases `lock` from a guard's destructor, which must not throw: a
    // release by a task that does not hold it is reported on stderr instead.
    static void release_quietly(Lock& lock) noexcept;

private:
    mutable Lock lock_;
    void* data_;
};

// Holds a Lock while alive, and a pointer into the memory it protects.
// Move-only; must be destroyed by the task that made it.
template <class P>
class LockedRef {
public:
    LockedRef(Lock lock, P* data) : lock_(std::move(lock)), data_(data) { lock_.acquire(); }
    LockedRef(LockedRef&& other) noexcept
        : lock_(other.lock_), data_(std::exchange(other.data_, nullptr)) {}
    LockedRef& operator=(LockedRef&&) = delete;
    LockedRef(const LockedRef&) = delete;
    LockedRef& operator=(const LockedRef&) = delete;
    ~LockedRef() {
        if (data_ != nullptr) SharedBlock::release_quietly(lock_);
    }

protected:
    Lock lock_;
    P* data_;  // nullptr once moved from
};

}  // namespace detail

// A T in shared memory, with its Lock (multiprocessing.Value). Copyable
// handle. Usable from tasks on any scheduler and from plain threads, in the
// creating process and in processes forked after it. Thread-safe, Process-safe.
template <class T>
class Shared {
    static_assert(std::is_trivially_copyable_v<T>,
                  "ipc::Shared<T> needs a trivially copyable T: it is copied as bytes between "
                  "processes");

public:
    // Holds the lock while alive; *guard and guard-> reach the value.
    // Move-only; destroy it in the task that made it.
    class Guard : public detail::LockedRef<T> {
    public:
        using detail::LockedRef<T>::LockedRef;
        T& operator*() const noexcept { return *this->data_; }
        T* operator->() const noexcept { return this->data_; }
        T* get() const noexcept { return this->data_; }
    };

    // Makes a new shared value holding `initial`.
    // Throws: IoError if the shared memory cannot be mapped.
    explicit Shared(T initial = T{}) : block_(sizeof(T), alignof(T)) {
        ::new (block_.data()) T(initial);
    }

    // Copies the value out, under the lock.
    // Suspends (while another holds the lock). Throws: Cancelled, TimeoutError
    // (enclosing scope). Cancellation: nothing was read. Process-safe.
    T load() const {
        Guard g = locked();
        return *g;
    }

    // Replaces the value, under the lock.
    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
    // Cancellation: the value is unchanged. Process-safe.
    void store(T value) {
        Guard g = locked();
        *g = value;
    }

    // Takes the lock and returns a guard that holds it: `*guard += 1;`.
    // Suspends. Throws: UsageError if the calling task holds the lock already;
    // Cancelled, TimeoutError (enclosing scope). Cancellation: the lock was
    // not taken. Process-safe.
    Guard locked() const { return Guard(block_.lock(), value_ptr()); }

    // The value's Lock (multiprocessing's get_lock()), for holding it over
    // several calls; load()/store() then must not be used (not recursive),
    // and the guard's access is the way in.
    Lock& lock() const noexcept { return block_.lock(); }
    Lock& get_lock() const noexcept { return block_.lock(); }

private:
    T* value_ptr() const noexcept { return std::launder(static_cast<T*>(block_.data())); }

    detail::SharedBlock block_;
};

// `size()` Ts in shared memory, with one Lock for all (multiprocessing.Array).
// Copyable handle; the size is fixed at creation. Usable from tasks on any
// scheduler and from plain threads, in the creating process and in processes
// forked after it. Thread-safe, Process-safe.
template <class T>
class SharedArray {
    static_assert(std::is_trivially_copyable_v<T>,
                  "ipc::SharedArray<T> needs a trivially copyable T: it is copied as bytes "
                  "between processes");

public:
    // Holds the lock while alive; gives indexed and span access.
    // Move-only; destroy it in the task that made it.
    class Guard : public detail::LockedRef<T> {
    public:
        Guard(Lock lock, T* data, std::size_t size)
            : detail::LockedRef<T>(std::move(lock), data), size_(size) {}
        // Unchecked access, as std::vector's operator[].
        T& operator[](std::size_t i) const noexcept { return this->data_[i]; }
        // Throws: std::out_of_range if i >= size().
        T& at(std::size_t i) const {
            SharedArray::check_index(i, size_, "at");
            return this->data_[i];
        }
        std::size_t size() const noexcept { return size_; }
        std::span<T> span() const noexcept { return {this->data_, size_}; }
        T* data() const noexcept { return this->data_; }
        T* begin() const noexcept { return this->data_; }
        T* end() const noexcept { return this->data_ + size_; }

    private:
        std::size_t size_;
    };

    // Makes `n` elements, each a copy of `fill`.
    // Throws: IoError if the shared memory cannot be mapped;
    // std::length_error if n * sizeof(T) overflows.
    explicit SharedArray(std::size_t n, T fill = T{})
        : size_(n), block_(checked_bytes(n), alignof(T)) {
        T* p = static_cast<T*>(block_.data());
        for (std::size_t i = 0; i < n; ++i) ::new (static_cast<void*>(p + i)) T(fill);
    }

    std::size_t size() const noexcept { return size_; }

    // Copies element i out, under the lock.
    // Suspends. Throws: std::out_of_range if i >= size() (before waiting);
    // Cancelled, TimeoutError (enclosing scope). Cancellation: nothing was
    // read. Process-safe.
    T get(std::size_t i) const {
        check_index(i, size_, "get");
        Guard g = locked();
        return g[i];
    }

    // Replaces element i, under the lock.
    // Suspends. Throws: std::out_of_range if i >= size() (before waiting);
    // Cancelled, TimeoutError (enclosing scope). Cancellation: unchanged.
    // Process-safe.
    void set(std::size_t i, T value) {
        check_index(i, size_, "set");
        Guard g = locked();
        g[i] = value;
    }

    // Copies every element out under one hold of the lock, so the copy is
    // consistent (no holder's update is half in it).
    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
    // Cancellation: nothing was read. Process-safe.
    std::vector<T> snapshot() const {
        Guard g = locked();
        return std::vector<T>(g.begin(), g.end());
    }

    // Takes the lock and returns a guard that holds it: `guard[3] += 1;`.
    // Suspends. Throws: UsageError if the calling task holds the lock already;
    // Cancelled, TimeoutError (enclosing scope). Cancellation: the lock was
    // not taken. Process-safe.
    Guard locked() const { return Guard(block_.lock(), elements(), size_); }

    // The array's Lock (multiprocessing's get_lock()).
    Lock& lock() const noexcept { return block_.lock(); }
    Lock& get_lock() const noexcept { return block_.lock(); }

private:
    static std::size_t checked_bytes(std::size_t n) {
        if (n > static_cast<std::size_t>(-1) / sizeof(T)) {
            throw std::length_error("ringlet::ipc::SharedArray: too many elements");
        }
        return n * sizeof(T);
    }
    static void check_index(std::size_t i, std::size_t size, const char* what) {
        if (i >= size) {
            throw std::out_of_range(std::string("ringlet::ipc::SharedArray::") + what +
                                    ": index " + std::to_string(i) + " >= size " +
                                    std::to_string(size));
        }
    }
    T* elements() const noexcept { return std::launder(static_cast<T*>(block_.data())); }

    std::size_t size_;
    detail::SharedBlock block_;
};

}  // namespace ringlet::ipc
