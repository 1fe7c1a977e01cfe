// shm_region.hpp — a shared anonymous mapping that forked children inherit.
//
// Every process-shared ipc object (Queue, Lock, Semaphore, Event, Shared<T>)
// lives in one of these: MAP_SHARED | MAP_ANONYMOUS memory, zero-filled and
// committed lazily, that stays shared with every child forked after it was
// made. Each process unmaps its own view when its last handle goes away.
#pragma once

#include <cstddef>
#include <memory>

namespace ringlet::ipc::detail {

class ShmRegion {
public:
    // Throws: IoError (ENOMEM …).
    static std::shared_ptr<ShmRegion> create(std::size_t bytes);
    ~ShmRegion();
    ShmRegion(const ShmRegion&) = delete;
    ShmRegion& operator=(const ShmRegion&) = delete;

    void* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }

private:
    ShmRegion(void* data, std::size_t size) noexcept : data_(data), size_(size) {}
    void* data_;
    std::size_t size_;
};

}  // namespace ringlet::ipc::detail
