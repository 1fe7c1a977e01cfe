// marker_hooks.cpp — blocking calls that stay blocking, named for blocked_warning.
//
// File locks, waiting for a child and flushing to disk cannot be waited for
// through the backend; inside a task they remain the real calls (they block
// the thread, as without hooks), but the task records which call it sits in,
// so Options::blocked_warning can name it.
#include <unistd.h>

#include <sys/file.h>
#include <sys/wait.h>

#include "hooks_internal.hpp"

using namespace ringlet::hooks_impl;

extern "C" {

int flock(int fd, int operation) {
    NotedCall noted("flock");
    return real().flock(fd, operation);
}

pid_t waitpid(pid_t pid, int* status, int options) {
    NotedCall noted("waitpid");
    return real().waitpid(pid, status, options);
}

int fsync(int fd) {
    NotedCall noted("fsync");
    return real().fsync(fd);
}

int fdatasync(int fd) {
    NotedCall noted("fdatasync");
    return real().fdatasync(fd);
}

}  // extern "C"
