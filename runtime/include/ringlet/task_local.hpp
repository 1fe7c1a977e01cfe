// ringlet/task_local.hpp — per-task variables, like Python's threading.local.
//
// Each task sees its own value of a TaskLocal<T>, created (value-initialised,
// or by the initializer) on first use and destroyed when the task ends. On a
// plain thread (no task running) the value belongs to the thread and is
// destroyed when the thread exits.
//
// The rule for thread_local inside tasks: a thread_local is per OS thread, so
// every task of that thread shares it (and a task sees the same one across
// suspension points, because tasks never migrate between threads). Use
// TaskLocal for per-task state.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>

namespace ringlet {

namespace detail {

struct LocalSlot {
    std::uint64_t key;
    void* value;
    void (*destroy)(void*) noexcept;
    LocalSlot* next;
};

// The slot list of the running task, or of this thread outside tasks.
LocalSlot*& current_local_slots() noexcept;
// Destroys every value in `head` (task end / thread exit).
void destroy_local_slots(LocalSlot*& head) noexcept;
std::uint64_t next_local_key() noexcept;

}  // namespace detail

template <class T>
class TaskLocal {
public:
    TaskLocal() : init_([] { return T{}; }) {}
    explicit TaskLocal(std::function<T()> init) : init_(std::move(init)) {}
    TaskLocal(const TaskLocal&) = delete;
    TaskLocal& operator=(const TaskLocal&) = delete;

    // The calling task's value, created on first use.
    // Throws: whatever the initializer throws, std::bad_alloc.
    T& get() {
        detail::LocalSlot*& head = detail::current_local_slots();
        for (detail::LocalSlot* s = head; s; s = s->next) {
            if (s->key == key_) return *static_cast<T*>(s->value);
        }
        T* value = new T(init_());
        head = new detail::LocalSlot{key_, value,
                                     [](void* p) noexcept { delete static_cast<T*>(p); }, head};
        return *value;
    }
    T& operator*() { return get(); }
    T* operator->() { return &get(); }
    // True if the calling task has created its value.
    bool has_value() const noexcept {
        for (detail::LocalSlot* s = detail::current_local_slots(); s; s = s->next) {
            if (s->key == key_) return true;
        }
        return false;
    }

private:
    // A fresh key per TaskLocal, so a new object never sees a dead one's values.
    std::uint64_t key_ = detail::next_local_key();
    std::function<T()> init_;
};

}  // namespace ringlet
