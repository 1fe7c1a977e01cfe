// ringlet/group.hpp — a set of tasks joined or cancelled together.
//
// Group is gevent's Group: spawn() adds a task, join() waits for all of them
// (including tasks spawned while it waits), cancel() cancels all. Destroying
// a Group detaches its tasks (a destructor may not suspend); call join() or
// cancel() + join() first when the tasks use the group owner's data.
// Owner-thread only.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include <ringlet/task.hpp>

namespace ringlet {

class Group {
public:
    Group() = default;
    Group(const Group&) = delete;
    Group& operator=(const Group&) = delete;

    // Spawns `f(args...)` into the group and returns its handle.
    // Throws: as ringlet::spawn.
    template <class F, class... A>
    auto spawn(SpawnOptions options, F&& f, A&&... args) {
        auto task = ringlet::spawn(options, std::forward<F>(f), std::forward<A>(args)...);
        add(task.control_block());
        return task;
    }
    template <class F, class... A>
        requires(!std::same_as<std::decay_t<F>, SpawnOptions>)
    auto spawn(F&& f, A&&... args) {
        return spawn(SpawnOptions{}, std::forward<F>(f), std::forward<A>(args)...);
    }

    // Adds an already spawned task.
    // Throws: UsageError for an empty handle.
    template <class T>
    void add(const Task<T>& task) {
        if (!task.valid()) throw UsageError("ringlet::Group::add: empty Task handle");
        add(task.control_block());
    }

    // Waits until every task in the group has ended. False on timeout.
    // Never throws the tasks' errors. Suspends. Throws: Cancelled, TimeoutError.
    bool join(Duration timeout = forever);
    // Cancels every task in the group; does not wait (join() after it does).
    void cancel() noexcept;
    // Tasks in the group that have not ended.
    std::size_t size() noexcept;

private:
    void add(detail::TaskControlBlock* tcb);
    void prune() noexcept;
    std::vector<detail::TaskRef> tasks_;
};

}  // namespace ringlet
