// timeout_access.hpp — the scheduler's view of a task's Timeout scopes.
#pragma once

#include <ringlet/errors.hpp>
#include <ringlet/time.hpp>

#include <ringlet/detail/task_base.hpp>

namespace ringlet {

struct TimeoutAccess {
    // The scope with the earliest deadline (the outermost on ties: it fires
    // first and nothing inner can outlive it), or null.
    static Timeout* earliest(detail::TaskControlBlock* t) noexcept {
        Timeout* best = nullptr;
        for (Timeout* s = t->timeouts; s; s = s->outer_) {
            if (best == nullptr || s->deadline_ <= best->deadline_) best = s;
        }
        return best;
    }
    [[noreturn]] static void fire(Timeout* scope) {
        scope->expired_ = true;
        throw TimeoutError(scope);
    }
};

}  // namespace ringlet

namespace ringlet::detail {
using ::ringlet::TimeoutAccess;
}  // namespace ringlet::detail
