// ringlet/errors.hpp — the exceptions ringlet throws, and when.
//
// Policy: an expected "no" (a timeout of a *_for call, an empty try_*, EOF,
// a closed and drained channel) is a return value, never an exception.
// Exceptions mean the call could not do its job:
//   Cancelled      the calling task was cancelled (NOT a std::exception, so
//                  `catch (const std::exception&)` cannot swallow it)
//   TimeoutError   the deadline of an enclosing Timeout scope passed
//   ChannelClosed  send on a closed Channel
//   IoError        an OS call failed (a std::system_error naming the call)
//   UsageError     the API was misused; the message says how to fix it
// Exceptions never cross a context switch: a task's escaping exception is kept
// for Task::get(); a failed task that nobody looks at is reported on stderr.
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

namespace ringlet {

class Timeout;

// Thrown inside a task at a suspension point after Task::cancel(). Deliberately
// not derived from std::exception (like gevent's GreenletExit). A task that
// ends by Cancelled counts as cancelled, not failed. Rethrow it if you catch it.
class Cancelled {
public:
    const char* what() const noexcept { return "ringlet::Cancelled"; }
};

// Thrown at a suspension point when the deadline of an enclosing Timeout scope
// has passed. scope() names the Timeout that fired, so nested scopes can tell
// whose deadline it was (compare with &your_timeout). Calls that take their
// own timeout and must throw (ipc::AsyncResult::get) use the second
// constructor: scope() is then nullptr and what() says which call it was.
class TimeoutError : public std::runtime_error {
public:
    explicit TimeoutError(const Timeout* scope);
    explicit TimeoutError(const std::string& what) : std::runtime_error(what), scope_(nullptr) {}
    const Timeout* scope() const noexcept { return scope_; }

private:
    const Timeout* scope_;
};

// Thrown by Channel::send when the channel is (or becomes) closed.
class ChannelClosed : public std::logic_error {
public:
    ChannelClosed() : std::logic_error("ringlet::Channel: send on a closed channel") {}
};

// An OS or I/O failure. code() carries the errno; what() names the operation,
// e.g. "recv: Connection reset by peer".
class IoError : public std::system_error {
public:
    IoError(int err, const std::string& operation)
        : std::system_error(err, std::generic_category(), operation), operation_(operation) {}
    const std::string& operation() const noexcept { return operation_; }

private:
    std::string operation_;
};

// Recoverable misuse of the API (get() on an empty Task, a task joining
// itself, spawning with no scheduler). The message says how to fix it.
class UsageError : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

// Throws IoError for a negative errno-style result (`res` is -errno), the one
// place where the internal -errno convention turns into an exception.
[[noreturn]] void throw_io_error(int res, const char* operation);

}  // namespace ringlet
