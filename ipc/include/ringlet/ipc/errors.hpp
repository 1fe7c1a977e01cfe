// ringlet/ipc/errors.hpp — the exceptions of ringlet::ipc.
//
// They follow the runtime's policy (ringlet/errors.hpp): expected "no"
// outcomes are return values; these mean the call could not do its job.
//   QueueClosed   put on a closed ipc::Queue
//   CodecError    bytes that crossed a process boundary do not decode
//                 (truncated, oversized, malformed); never a crash
//   ProcessError  a child process failed in a way the caller asked to hear
//                 about (check_output's non-zero exit status)
#pragma once

#include <stdexcept>
#include <string>

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

}  // namespace ringlet::ipc
