// ringlet/pool.hpp — a group that runs at most `limit` tasks at once.
//
// Pool is gevent's Pool: spawn() waits while `limit` tasks are running, so a
// loop that spawns one task per job never has more than `limit` in flight.
// map() runs a function over a range with that bound and returns the results
// in input order. Owner-thread only; destroying a Pool detaches its tasks.
#pragma once

#include <cstddef>
#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include <ringlet/group.hpp>
#include <ringlet/semaphore.hpp>
#include <ringlet/task.hpp>

namespace ringlet {

namespace detail {
// A pool slot owned by a task; released when the task's callable is destroyed.
class SpawnSlot {
public:
    explicit SpawnSlot(std::shared_ptr<Semaphore> s) noexcept : slots_(std::move(s)) {}
    SpawnSlot(SpawnSlot&&) noexcept = default;
    SpawnSlot& operator=(SpawnSlot&&) = delete;
    ~SpawnSlot() {
        if (slots_) slots_->release();
    }

private:
    std::shared_ptr<Semaphore> slots_;
};
}  // namespace detail

class Pool {
public:
    // Throws: UsageError if limit is 0.
    explicit Pool(std::size_t limit);
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // Spawns `f(args...)`, first waiting for a free slot.
    // Suspends (only while full). Throws: Cancelled, TimeoutError while
    // waiting (then nothing was spawned); as ringlet::spawn.
    template <class F, class... A>
    auto spawn(SpawnOptions options, F&& f, A&&... args) {
        slots_->acquire();
        return spawn_in_slot(options, std::forward<F>(f), std::forward<A>(args)...);
    }
    template <class F, class... A>
        requires(!std::same_as<std::decay_t<F>, SpawnOptions>)
    auto spawn(F&& f, A&&... args) {
        return spawn(SpawnOptions{}, std::forward<F>(f), std::forward<A>(args)...);
    }

    // Runs f(x) for every x in `inputs`, at most limit() at a time, and returns
    // the results in input order. If one call throws, the others are cancelled
    // and the first failure (in input order) is rethrown.
    // Suspends. Throws: what f throws, Cancelled, TimeoutError.
    template <class F, std::ranges::input_range Range>
    auto map(F f, Range&& inputs) {
        using In = std::ranges::range_value_t<Range>;
        using R = std::invoke_result_t<F&, In>;
        std::vector<Task<R>> tasks;
        struct CancelRest {
            std::vector<Task<R>>& tasks;
            ~CancelRest() {
                for (auto& t : tasks) {
                    if (!t.valid()) continue;
                    if (t.done()) {
                        (void)t.exception();  // reported by map's exception, not as "never joined"
                    } else {
                        t.cancel();
                    }
                }
            }
        } guard{tasks};
        // Shared: a cancelled call may still be unwinding after map has thrown.
        auto failed = std::make_shared<std::atomic<bool>>(false);
        auto call = [f, failed](In x) {
            try {
                return std::invoke(f, std::move(x));
            } catch (const std::exception&) {
                failed->store(true, std::memory_order_relaxed);
                throw;
            }
        };
        for (auto&& x : inputs) {
            slots_->acquire();
            if (failed->load(std::memory_order_relaxed)) {  // stop starting inputs
                slots_->release();
                break;
            }
            tasks.push_back(spawn_in_slot(SpawnOptions{}, call, In(x)));
        }
        std::vector<R> results;
        results.reserve(tasks.size());
        for (auto& t : tasks) results.push_back(t.get());
        return results;
    }

    bool join(Duration timeout = forever) { return group_.join(timeout); }
    void cancel() noexcept { group_.cancel(); }
    std::size_t size() noexcept { return group_.size(); }
    std::size_t limit() const noexcept { return limit_; }
    // Slots free right now (limit() minus running tasks).
    std::size_t free_count() const noexcept { return slots_->available(); }

private:
    // Spawns into a slot the caller has already acquired.
    template <class F, class... A>
    auto spawn_in_slot(SpawnOptions options, F&& f, A&&... args) {
        detail::SpawnSlot slot(slots_);
        return group_.spawn(
            options,
            [held = std::move(slot)](auto&& fn, auto&&... xs) mutable {
                detail::SpawnSlot mine = std::move(held);  // released when the task ends
                return std::invoke(std::move(fn), std::move(xs)...);
            },
            std::forward<F>(f), std::forward<A>(args)...);
    }

    std::size_t limit_;
    std::shared_ptr<Semaphore> slots_;  // shared: a detached task still releases its slot
    Group group_;
};


}  // namespace ringlet
