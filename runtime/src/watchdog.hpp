// watchdog.hpp — Options::blocked_warning: report a task that holds its thread.
//
// One process-wide thread, started by the first scheduler that asks for it,
// samples each watched scheduler's progress counter (context switches plus
// housekeeping turns). A counter that has not moved for longer than the
// scheduler's limit while a task is running means that task has not reached
// a suspension point: it is reported once on stderr, with its id, its name and
// the blocking call the hooks saw it enter, if any. Schedulers that did not
// ask are never looked at, and nothing is added to their fast path.
#pragma once

#include <ringlet/time.hpp>

namespace ringlet::detail {

class Scheduler;

// Starts watching `s` (limit > 0). Thread-safe.
void watch_scheduler(Scheduler* s, Duration limit);
// Stops watching `s`; once it returns, the watchdog no longer touches it.
void unwatch_scheduler(Scheduler* s) noexcept;

}  // namespace ringlet::detail
