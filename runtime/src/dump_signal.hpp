// dump_signal.hpp — Options::dump_signal: a task dump of every scheduler on a signal.
//
// Every scheduler of the process is listed here while it exists. The signal
// handler only writes a byte to a pipe; a process-wide thread reads it and
// asks each listed scheduler for a dump, which the scheduler writes from its
// own loop (outside any handler, so it may take locks and allocate).
#pragma once

namespace ringlet::detail {

class Scheduler;

// Lists `s` for dumps; with `signo` != 0 also installs the handler for it (it
// stays installed for the rest of the process). Throws: UsageError for an
// invalid signal, IoError when the pipe or the thread cannot be made.
void list_scheduler(Scheduler* s, int signo);
// Once it returns, no dump request reaches `s` any more.
void unlist_scheduler(Scheduler* s) noexcept;

}  // namespace ringlet::detail
