// ringlet/ps/errors.hpp — what ringlet::ps throws when a process is gone or protected.
//
// psutil's three process errors, with the same hierarchy: ZombieProcess is a
// NoSuchProcess (the process has ended and waits to be reaped by its parent),
// AccessDenied is not. Each carries the pid and, when it was known before the
// failure, the process's name (empty otherwise). A read that races with the
// process's end gives NoSuchProcess, never a half-filled record.
#pragma once

#include <stdexcept>
#include <string>

#include <sys/types.h>

namespace ringlet::ps {

// Base of the process errors (psutil.Error).
class Error : public std::runtime_error {
  public:
    Error(const std::string& what, pid_t pid, std::string name)
        : std::runtime_error(what), pid_(pid), name_(std::move(name)) {}
    pid_t pid() const noexcept { return pid_; }
    // The process name when known, else empty.
    const std::string& name() const noexcept { return name_; }

  private:
    pid_t pid_;
    std::string name_;
};

// The process does not exist (any more): it ended, was reaped, or its pid now
// names another process (a ps::Process is bound to pid + start time).
class NoSuchProcess : public Error {
  public:
    explicit NoSuchProcess(pid_t pid, std::string name = {},
                           std::string why = "process no longer exists");
};

// The process has ended but its parent has not reaped it yet, so the field
// asked for (exe, cwd, …) no longer exists. Still a NoSuchProcess.
class ZombieProcess : public NoSuchProcess {
  public:
    explicit ZombieProcess(pid_t pid, std::string name = {});
};

// Linux does not let this process read the field (another user's exe, cwd,
// fd/, io without CAP_SYS_PTRACE), or send it the signal.
class AccessDenied : public Error {
  public:
    explicit AccessDenied(pid_t pid, std::string name = {}, std::string what_field = {});
};

}  // namespace ringlet::ps
