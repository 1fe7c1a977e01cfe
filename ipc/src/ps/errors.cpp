#include <string>

#include <ringlet/ps/errors.hpp>

namespace ringlet::ps {

namespace {

// psutil's message shape: "process no longer exists (pid=42, name='sleep')".
std::string describe(const std::string& what, pid_t pid, const std::string& name) {
    std::string s = what + " (pid=" + std::to_string(pid);
    if (!name.empty()) s += ", name='" + name + "'";
    return s + ")";
}

}  // namespace

NoSuchProcess::NoSuchProcess(pid_t pid, std::string name, std::string why)
    : Error(describe(why, pid, name), pid, name) {}

ZombieProcess::ZombieProcess(pid_t pid, std::string name)
    : NoSuchProcess(pid, name, "process still exists but it's a zombie") {}

AccessDenied::AccessDenied(pid_t pid, std::string name, std::string what_field)
    : Error(describe(what_field.empty() ? "access denied" : "access denied to " + what_field, pid,
                     name),
            pid, name) {}

}  // namespace ringlet::ps
