// process_info.cpp — ipc::Process::info(): the ps::Process of a started child.
#include <ringlet/errors.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/ps/errors.hpp>

namespace ringlet::ipc {

ps::Process Process::info() {
    if (pid_ == 0)
        throw UsageError("ipc::Process::info() before start(): start() the process first");
    // Until it is reaped the child's pid cannot be reused, so binding to the
    // pid now binds to our child. exitcode() reaps it if it has ended.
    if (exitcode()) throw ps::NoSuchProcess(pid_, name_, "the child process has ended");
    return ps::Process(pid_);
}

}  // namespace ringlet::ipc
