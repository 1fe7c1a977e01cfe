#include "timer_heap.hpp"

namespace ringlet::detail {

void TimerHeap::push(TimerEntry& e) {
    heap_.push_back(&e);
    e.index = heap_.size() - 1;
    sift_up(e.index);
}

void TimerHeap::remove(TimerEntry& e) noexcept {
    const std::size_t i = e.index;
    TimerEntry* last = heap_.back();
    heap_.pop_back();
    e.index = TimerEntry::not_queued;
    if (last == &e) return;
    place(i, last);
    sift_up(i);
    sift_down(last->index);
}

void TimerHeap::sift_up(std::size_t i) noexcept {
    TimerEntry* e = heap_[i];
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (!(e->deadline < heap_[parent]->deadline)) break;
        place(i, heap_[parent]);
        i = parent;
    }
    place(i, e);
}

void TimerHeap::sift_down(std::size_t i) noexcept {
    TimerEntry* e = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && heap_[child + 1]->deadline < heap_[child]->deadline) ++child;
        if (!(heap_[child]->deadline < e->deadline)) break;
        place(i, heap_[child]);
        i = child;
    }
    place(i, e);
}

}  // namespace ringlet::detail
