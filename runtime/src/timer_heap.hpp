// timer_heap.hpp — the scheduler's user-space timers.
//
// An intrusive binary min-heap of TimerEntry, each living in the frame of the
// task that waits on it, so arming a timer allocates nothing (the vector only
// grows) and an early wake-up removes its entry in O(log n) instead of
// leaving garbage behind. The loop sleeps until top()->deadline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <ringlet/time.hpp>

namespace ringlet::detail {

class TaskControlBlock;

struct TimerEntry {
    static constexpr std::size_t not_queued = ~std::size_t{0};
    TimePoint deadline;
    TaskControlBlock* task = nullptr;
    std::uint64_t parked_value = 0;  // what the task's `parked` must still be
    std::size_t index = not_queued;
    bool queued() const noexcept { return index != not_queued; }
};

class TimerHeap {
public:
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    TimerEntry* top() const noexcept { return heap_.front(); }
    void push(TimerEntry& e);
    void remove(TimerEntry& e) noexcept;

private:
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void place(std::size_t i, TimerEntry* e) noexcept {
        heap_[i] = e;
        e->index = i;
    }
    std::vector<TimerEntry*> heap_;
};

}  // namespace ringlet::detail
