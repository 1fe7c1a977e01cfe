// ringlet/ipc/errors.hpp — the exceptions of ringlet::ipc.
//
// They follow the runtime's policy (ringlet/errors.hpp): expected "no"
// outcomes are return values; these mean the call could not do its job.
//   QueueClosed   put on a closed ipc::Queue
//   CodecError    bytes that crossed a process boundary do not decode
//                 (truncated, oversized, malformed); never a crash
//   ProcessError  a child process failed in a way the caller asked to hear
//                 about (check_output's non-zero exit status)
//   RemoteError   a function run in another process (a ProcessPool worker,
//                 a Manager server) threw; carries the type and message
//   WorkerLost    the ProcessPool worker running a task died (a signal)
//   PoolTerminated  the ProcessPool was terminated before the task finished
//   AuthenticationError  a Manager peer failed the HMAC challenge (wrong
//                 authkey, or not a ringlet manager at all)
//   ManagerError  the connection to a Manager server failed or was lost
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace ringlet::ipc {

// Thrown by Queue::put (and friends) once the queue is closed.
class QueueClosed : public std::logic_error {
public:
    QueueClosed() : std::logic_error("ringlet::ipc::Queue: put on a closed queue") {}
};

// Thrown when a message does not decode as the expected type, or is larger
// than the transport allows. The stream it came from may be out of sync:
// close it.
class CodecError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A child process ended badly. exitcode() follows Process::exitcode(): the
// exit status, or -N for death by signal N.
class ProcessError : public std::runtime_error {
public:
    ProcessError(const std::string& what, int exitcode)
        : std::runtime_error(what), exitcode_(exitcode) {}
    int exitcode() const noexcept { return exitcode_; }

private:
    int exitcode_;
};

// An exception thrown in another process, re-raised here. type_name() is the
// remote exception's demangled type (e.g. "std::out_of_range"), message() its
// what(); what() says both.
class RemoteError : public std::runtime_error {
public:
    RemoteError(std::string type_name, std::string message)
        : std::runtime_error(type_name + ": " + message),
          type_name_(std::move(type_name)),
          message_(std::move(message)) {}
    const std::string& type_name() const noexcept { return type_name_; }
    const std::string& message() const noexcept { return message_; }

private:
    std::string type_name_;
    std::string message_;
};

// The pool worker that was running a task died before finishing it.
// signal() is the signal that killed it (SIGKILL, SIGSEGV …), or 0 if the
// worker exited instead (exitcode() then says with what).
class WorkerLost : public std::runtime_error {
public:
    WorkerLost(const std::string& what, int signal, int exitcode)
        : std::runtime_error(what), signal_(signal), exitcode_(exitcode) {}
    int signal() const noexcept { return signal_; }
    int exitcode() const noexcept { return exitcode_; }

private:
    int signal_;
    int exitcode_;
};

// ProcessPool::terminate() (or the pool's destruction) ended the pool while
// the task was queued or running.
class PoolTerminated : public std::runtime_error {
public:
    PoolTerminated()
        : std::runtime_error("ringlet::ipc::ProcessPool: the pool was terminated before the task finished") {}
};

// A Manager peer did not prove it holds the authkey (or did not speak the
// manager's handshake). The connection has been closed.
class AuthenticationError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The connection to a Manager server could not be made or was lost (the
// server died or closed it). The proxy reconnects on its next call.
class ManagerError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace ringlet::ipc
