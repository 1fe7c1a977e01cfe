// tests/faults/fault_shim.c — LD_PRELOAD shim that makes chosen calls fail,
// come back short, or kill the process at their N-th call.
//
// The spec (from $RINGLET_FAULT at load, or ringlet_fault_arm() at any time)
// is a comma-separated list of rules:
//     name[=filter]:action[@range]
// e.g. "write:short@3,accept4:EMFILE@1..5,mmap:ENOMEM@2,futex_wake=shared:kill@1".
//   name    read write pread pwrite recv send recvmsg sendmsg accept accept4 mmap malloc
//           fork posix_spawn eventfd timerfd_create signalfd futex_wait
//           futex_wake io_uring_enter io_uring_setup robust_unlock
//   filter  a file descriptor for the fd-taking calls; "shared" or "private"
//           for the futex calls (process-shared words have no PRIVATE flag)
//   action  an errno name (EINTR, EMFILE, ENFILE, ENOMEM, EAGAIN, EBUSY, ...):
//           the call fails with it without being made; "short": read/write/
//           pread/pwrite/recv/send/recvmsg/sendmsg move at most 1 byte; "kill": SIGKILL
//           the process at the call's entry, before the real call
//   range   N, N..M, N.. or * (default 1): which calls, counted per rule
//           from 1 among the calls the rule's name and filter match.
// $RINGLET_FAULT_PID, when set, restricts the env spec to that process id
// (a child that a test forks gets it by ringlet_fault_arm instead).
//
// What it can see: calls that go through the dynamic symbol table. liburing
// 2.3 makes its system calls with inline assembly (no syscall(3)), so
// "io_uring_enter" is counted at liburing's exported entry points that the
// runtime calls (io_uring_submit, _submit_and_wait, _submit_and_wait_timeout,
// _submit_and_get_events): a fault there returns -errno without entering the
// kernel, as the kernel does for EBUSY/EAGAIN/EINTR before it consumes SQEs.
// "io_uring_setup" is io_uring_queue_init. Futexes are seen through
// syscall(SYS_futex, ...), which is how ringlet makes them; glibc's own
// mutexes use inline system calls and are not seen. "robust_unlock" is
// pthread_mutex_unlock of a robust mutex only.
//
// Built without sanitizers (a C target gets none of the project's C++ flags).
// malloc is interposed only when RINGLET_FAULT_MALLOC is defined: under ASan
// its allocator owns malloc, and a block from glibc's would be freed by it.
#define _GNU_SOURCE
#undef _FORTIFY_SOURCE    // read() & co must be plain functions to be defined here
#undef _FILE_OFFSET_BITS  // and pread/mmap their own names, beside the *64 ones
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/types.h>

#define EXPORT __attribute__((visibility("default")))

enum Func {
    F_READ,
    F_WRITE,
    F_PREAD,
    F_PWRITE,
    F_RECV,
    F_SEND,
    F_RECVMSG,
    F_SENDMSG,
    F_ACCEPT,
    F_ACCEPT4,
    F_MMAP,
    F_MALLOC,
    F_FORK,
    F_POSIX_SPAWN,
    F_EVENTFD,
    F_TIMERFD,
    F_SIGNALFD,
    F_FUTEX_WAIT,
    F_FUTEX_WAKE,
    F_URING_ENTER,
    F_URING_SETUP,
    F_ROBUST_UNLOCK,
    F_COUNT
};

static const char* const func_names[F_COUNT] = {
    "read",       "write",          "pread",          "pwrite",         "recv",     "send",
    "recvmsg",    "sendmsg",        "accept",         "accept4",        "mmap",     "malloc",
    "fork",       "posix_spawn",    "eventfd",        "timerfd_create", "signalfd", "futex_wait",
    "futex_wake", "io_uring_enter", "io_uring_setup", "robust_unlock"};

enum Action { A_ERRNO, A_SHORT, A_KILL };
enum Filter { FL_ANY = -1, FL_SHARED = -2, FL_PRIVATE = -3 };

struct Rule {
    int func;
    int filter;  // an fd >= 0, or enum Filter
    int action;
    int err;
    unsigned long from, to;
    atomic_ulong calls;  // matching calls seen
    atomic_ulong hits;   // faults injected
};

#define MAX_RULES 16
static struct Rule rules[MAX_RULES];
static atomic_int rule_count;       // 0 while disarmed or being rewritten
static atomic_ulong seen[F_COUNT];  // every call, armed or not

static const struct {
    const char* name;
    int value;
} errnos[] = {{"EINTR", EINTR},   {"EAGAIN", EAGAIN},         {"EBUSY", EBUSY},
              {"EMFILE", EMFILE}, {"ENFILE", ENFILE},         {"ENOMEM", ENOMEM},
              {"EPERM", EPERM},   {"ENOSYS", ENOSYS},         {"EIO", EIO},
              {"EPIPE", EPIPE},   {"ECONNRESET", ECONNRESET}, {"ENOBUFS", ENOBUFS},
              {"ENOSPC", ENOSPC}, {"EINVAL", EINVAL}};

// Parses one rule in [s, end); 0 on success.
static int parse_rule(const char* s, const char* end, struct Rule* r) {
    char buf[128];
    size_t n = (size_t)(end - s);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char* colon = strchr(buf, ':');
    if (colon == NULL) return -1;
    *colon = '\0';
    char* action = colon + 1;
    char* at = strchr(action, '@');
    if (at != NULL) *at++ = '\0';
    char* eq = strchr(buf, '=');
    r->filter = FL_ANY;
    if (eq != NULL) {
        *eq++ = '\0';
        if (strcmp(eq, "shared") == 0) {
            r->filter = FL_SHARED;
        } else if (strcmp(eq, "private") == 0) {
            r->filter = FL_PRIVATE;
        } else {
            r->filter = atoi(eq);
        }
    }
    r->func = -1;
    for (int i = 0; i < F_COUNT; ++i) {
        if (strcmp(buf, func_names[i]) == 0) r->func = i;
    }
    if (r->func < 0) return -1;
    r->err = 0;
    if (strcmp(action, "short") == 0) {
        r->action = A_SHORT;
    } else if (strcmp(action, "kill") == 0) {
        r->action = A_KILL;
    } else {
        r->action = A_ERRNO;
        for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; ++i) {
            if (strcmp(action, errnos[i].name) == 0) r->err = errnos[i].value;
        }
        if (r->err == 0) return -1;
    }
    r->from = 1;
    r->to = 1;
    if (at != NULL) {
        if (strcmp(at, "*") == 0) {
            r->to = (unsigned long)-1;
        } else {
            char* rest;
            r->from = strtoul(at, &rest, 10);
            r->to = r->from;
            if (strncmp(rest, "..", 2) == 0) {
                rest += 2;
                r->to = *rest ? strtoul(rest, &rest, 10) : (unsigned long)-1;
            }
            if (*rest != '\0' || r->from == 0 || r->to < r->from) return -1;
        }
    }
    atomic_store(&r->calls, 0);
    atomic_store(&r->hits, 0);
    return 0;
}

// Replaces every rule with those of `spec` (NULL or "" disarms); counts
// restart from 0. Returns the number of rules, or -1 if the spec is invalid
// (then nothing is armed). Not meant to race with the calls it governs: arm
// before starting the work.
EXPORT int ringlet_fault_arm(const char* spec) {
    atomic_store(&rule_count, 0);
    if (spec == NULL) return 0;
    int count = 0;
    const char* s = spec;
    while (*s != '\0') {
        const char* end = strchr(s, ',');
        if (end == NULL) end = s + strlen(s);
        if (count == MAX_RULES || parse_rule(s, end, &rules[count]) != 0) return -1;
        ++count;
        s = *end ? end + 1 : end;
    }
    atomic_store(&rule_count, count);
    return count;
}

EXPORT void ringlet_fault_disarm(void) { atomic_store(&rule_count, 0); }

// Faults injected so far by the armed rules named `name` (any filter).
EXPORT unsigned long ringlet_fault_hits(const char* name) {
    unsigned long total = 0;
    const int n = atomic_load(&rule_count);
    for (int i = 0; i < n; ++i) {
        if (strcmp(func_names[rules[i].func], name) == 0) total += atomic_load(&rules[i].hits);
    }
    return total;
}

// Calls of `name` seen since the shim loaded, armed or not.
EXPORT unsigned long ringlet_fault_seen(const char* name) {
    for (int i = 0; i < F_COUNT; ++i) {
        if (strcmp(func_names[i], name) == 0) return atomic_load(&seen[i]);
    }
    return 0;
}

__attribute__((constructor)) static void load_env_spec(void) {
    const char* spec = getenv("RINGLET_FAULT");
    if (spec == NULL || *spec == '\0') return;
    const char* pid = getenv("RINGLET_FAULT_PID");
    if (pid != NULL && *pid != '\0' && atoi(pid) != (int)getpid()) return;
    if (ringlet_fault_arm(spec) < 0) {
        static const char msg[] = "fault_shim: invalid RINGLET_FAULT spec\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(99);
    }
}

// The rule that applies to this call of `func`, or NULL. `filter` is the fd
// (or FL_SHARED/FL_PRIVATE) the call is about, FL_ANY if none.
static struct Rule* match(int func, int filter) {
    atomic_fetch_add_explicit(&seen[func], 1, memory_order_relaxed);
    const int n = atomic_load_explicit(&rule_count, memory_order_acquire);
    for (int i = 0; i < n; ++i) {
        struct Rule* r = &rules[i];
        if (r->func != func) continue;
        if (r->filter != FL_ANY && r->filter != filter) continue;
        const unsigned long k = atomic_fetch_add(&r->calls, 1) + 1;
        if (k < r->from || k > r->to) continue;
        atomic_fetch_add(&r->hits, 1);
        if (r->action == A_KILL) {
            kill(getpid(), SIGKILL);
            for (;;) pause();
        }
        return r;
    }
    return NULL;
}

// The next definition of `name` (libc's, or a sanitizer's interceptor); `type`
// documents its signature. ISO C has no cast from dlsym's void* to a function
// pointer: copy the bits.
#define REAL(name, type)                        \
    static __typeof__(&name) real_##name;       \
    if (real_##name == NULL) {                  \
        void* sym = dlsym(RTLD_NEXT, #name);    \
        memcpy(&real_##name, &sym, sizeof sym); \
    }

static size_t shorten(const struct Rule* r, size_t len) {
    return (r != NULL && r->action == A_SHORT && len > 1) ? 1 : len;
}

// Fails the call as `rule` says, if it is an errno rule. `rule` is evaluated once.
#define FAIL_WITH(rule, value)                                     \
    do {                                                           \
        const struct Rule* fail_rule_ = (rule);                    \
        if (fail_rule_ != NULL && fail_rule_->action == A_ERRNO) { \
            errno = fail_rule_->err;                               \
            return value;                                          \
        }                                                          \
    } while (0)

EXPORT ssize_t read(int fd, void* buf, size_t len) {
    REAL(read, ssize_t(*)(int, void*, size_t));
    struct Rule* r = match(F_READ, fd);
    FAIL_WITH(r, -1);
    return real_read(fd, buf, shorten(r, len));
}

EXPORT ssize_t write(int fd, const void* buf, size_t len) {
    REAL(write, ssize_t(*)(int, const void*, size_t));
    struct Rule* r = match(F_WRITE, fd);
    FAIL_WITH(r, -1);
    return real_write(fd, buf, shorten(r, len));
}

EXPORT ssize_t pread(int fd, void* buf, size_t len, off_t off) {
    REAL(pread, ssize_t(*)(int, void*, size_t, off_t));
    struct Rule* r = match(F_PREAD, fd);
    FAIL_WITH(r, -1);
    return real_pread(fd, buf, shorten(r, len), off);
}

EXPORT ssize_t pwrite(int fd, const void* buf, size_t len, off_t off) {
    REAL(pwrite, ssize_t(*)(int, const void*, size_t, off_t));
    struct Rule* r = match(F_PWRITE, fd);
    FAIL_WITH(r, -1);
    return real_pwrite(fd, buf, shorten(r, len), off);
}

// With _FILE_OFFSET_BITS=64 (the project's) the calls are to the *64 names.
EXPORT ssize_t pread64(int fd, void* buf, size_t len, off_t off) {
    REAL(pread64, ssize_t(*)(int, void*, size_t, off_t));
    struct Rule* r = match(F_PREAD, fd);
    FAIL_WITH(r, -1);
    return real_pread64(fd, buf, shorten(r, len), off);
}

EXPORT ssize_t pwrite64(int fd, const void* buf, size_t len, off_t off) {
    REAL(pwrite64, ssize_t(*)(int, const void*, size_t, off_t));
    struct Rule* r = match(F_PWRITE, fd);
    FAIL_WITH(r, -1);
    return real_pwrite64(fd, buf, shorten(r, len), off);
}

EXPORT ssize_t recv(int fd, void* buf, size_t len, int flags) {
    REAL(recv, ssize_t(*)(int, void*, size_t, int));
    struct Rule* r = match(F_RECV, fd);
    FAIL_WITH(r, -1);
    return real_recv(fd, buf, shorten(r, len), flags);
}

EXPORT ssize_t send(int fd, const void* buf, size_t len, int flags) {
    REAL(send, ssize_t(*)(int, const void*, size_t, int));
    struct Rule* r = match(F_SEND, fd);
    FAIL_WITH(r, -1);
    return real_send(fd, buf, shorten(r, len), flags);
}

// A short recvmsg/sendmsg moves only the first byte of the first non-empty
// buffer: `one` becomes a copy of `msg` with that single iovec.
static void first_byte(const struct msghdr* msg, struct msghdr* one, struct iovec* first) {
    *one = *msg;
    first->iov_base = NULL;
    first->iov_len = 0;
    for (size_t i = 0; i < msg->msg_iovlen; ++i) {
        if (msg->msg_iov[i].iov_len > 0) {
            first->iov_base = msg->msg_iov[i].iov_base;
            first->iov_len = 1;
            break;
        }
    }
    one->msg_iov = first;
    one->msg_iovlen = 1;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
    REAL(recvmsg, ssize_t(*)(int, struct msghdr*, int));
    struct Rule* r = match(F_RECVMSG, fd);
    FAIL_WITH(r, -1);
    if (r == NULL || r->action != A_SHORT) return real_recvmsg(fd, msg, flags);
    struct msghdr one;
    struct iovec first;
    first_byte(msg, &one, &first);
    const ssize_t n = real_recvmsg(fd, &one, flags);
    msg->msg_flags = one.msg_flags;
    msg->msg_namelen = one.msg_namelen;
    msg->msg_controllen = one.msg_controllen;
    return n;
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
    REAL(sendmsg, ssize_t(*)(int, const struct msghdr*, int));
    struct Rule* r = match(F_SENDMSG, fd);
    FAIL_WITH(r, -1);
    if (r == NULL || r->action != A_SHORT) return real_sendmsg(fd, msg, flags);
    struct msghdr one;
    struct iovec first;
    first_byte(msg, &one, &first);
    return real_sendmsg(fd, &one, flags);
}

// glibc declares the address as a transparent union under _GNU_SOURCE.
EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t* len) {
    REAL(accept, int (*)(int, struct sockaddr*, socklen_t*));
    FAIL_WITH(match(F_ACCEPT, fd), -1);
    return real_accept(fd, addr, len);
}

EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t* len, int flags) {
    REAL(accept4, int (*)(int, struct sockaddr*, socklen_t*, int));
    FAIL_WITH(match(F_ACCEPT4, fd), -1);
    return real_accept4(fd, addr, len, flags);
}

EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    REAL(mmap, void* (*)(void*, size_t, int, int, int, off_t));
    FAIL_WITH(match(F_MMAP, fd), MAP_FAILED);
    return real_mmap(addr, len, prot, flags, fd, off);
}

EXPORT void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    REAL(mmap64, void* (*)(void*, size_t, int, int, int, off_t));
    FAIL_WITH(match(F_MMAP, fd), MAP_FAILED);
    return real_mmap64(addr, len, prot, flags, fd, off);
}

#ifdef RINGLET_FAULT_MALLOC
extern void* __libc_malloc(size_t);
EXPORT void* malloc(size_t size) {
    FAIL_WITH(match(F_MALLOC, FL_ANY), NULL);
    return __libc_malloc(size);
}
#endif

EXPORT pid_t fork(void) {
    REAL(fork, pid_t(*)(void));
    FAIL_WITH(match(F_FORK, FL_ANY), -1);
    return real_fork();
}

// posix_spawn returns the error number instead of setting errno.
#define SPAWN_BODY(name)                                                       \
    REAL(name, int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, \
                       const posix_spawnattr_t*, char* const*, char* const*)); \
    struct Rule* r = match(F_POSIX_SPAWN, FL_ANY);                             \
    if (r != NULL && r->action == A_ERRNO) return r->err;                      \
    return real_##name(pid, path, actions, attr, argv, envp)

EXPORT int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                       const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
    SPAWN_BODY(posix_spawn);
}

EXPORT int posix_spawnp(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                        const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
    SPAWN_BODY(posix_spawnp);
}

EXPORT int eventfd(unsigned int initval, int flags) {
    REAL(eventfd, int (*)(unsigned int, int));
    FAIL_WITH(match(F_EVENTFD, FL_ANY), -1);
    return real_eventfd(initval, flags);
}

EXPORT int timerfd_create(int clockid, int flags) {
    REAL(timerfd_create, int (*)(int, int));
    FAIL_WITH(match(F_TIMERFD, FL_ANY), -1);
    return real_timerfd_create(clockid, flags);
}

EXPORT int signalfd(int fd, const sigset_t* mask, int flags) {
    REAL(signalfd, int (*)(int, const sigset_t*, int));
    FAIL_WITH(match(F_SIGNALFD, FL_ANY), -1);
    return real_signalfd(fd, mask, flags);
}

EXPORT long syscall(long number, ...) {
    REAL(syscall, long (*)(long, ...));
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; ++i) a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_futex) {
        const int op = (int)a[1];
        const int cmd = op & FUTEX_CMD_MASK;
        const int kind = (op & FUTEX_PRIVATE_FLAG) ? FL_PRIVATE : FL_SHARED;
        struct Rule* r = NULL;
        if (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET) {
            r = match(F_FUTEX_WAIT, kind);
        } else if (cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET) {
            r = match(F_FUTEX_WAKE, kind);
        }
        FAIL_WITH(r, -1);
    } else if (number == SYS_io_uring_enter) {
        FAIL_WITH(match(F_URING_ENTER, FL_ANY), -1);
    }
    return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

// glibc's __kind bit for PTHREAD_MUTEX_ROBUST_NORMAL_NP (pthreadP.h).
#define ROBUST_KIND_BIT 16

EXPORT int pthread_mutex_unlock(pthread_mutex_t* m) {
    REAL(pthread_mutex_unlock, int (*)(pthread_mutex_t*));
    if (m->__data.__kind & ROBUST_KIND_BIT) match(F_ROBUST_UNLOCK, FL_ANY);  // only kill applies
    return real_pthread_mutex_unlock(m);
}

// liburing's entry points (see the file comment). Declared here rather than
// from <liburing.h>: only the pointer is passed through.
struct io_uring;
struct io_uring_cqe;
struct __kernel_timespec;

#define URING_FAIL()                                           \
    do {                                                       \
        struct Rule* r = match(F_URING_ENTER, FL_ANY);         \
        if (r != NULL && r->action == A_ERRNO) return -r->err; \
    } while (0)

EXPORT int io_uring_submit(struct io_uring* ring) {
    REAL(io_uring_submit, int (*)(struct io_uring*));
    URING_FAIL();
    return real_io_uring_submit(ring);
}

EXPORT int io_uring_submit_and_wait(struct io_uring* ring, unsigned wait_nr) {
    REAL(io_uring_submit_and_wait, int (*)(struct io_uring*, unsigned));
    URING_FAIL();
    return real_io_uring_submit_and_wait(ring, wait_nr);
}

EXPORT int io_uring_submit_and_wait_timeout(struct io_uring* ring, struct io_uring_cqe** cqe,
                                            unsigned wait_nr, struct __kernel_timespec* ts,
                                            sigset_t* sigmask) {
    REAL(io_uring_submit_and_wait_timeout, int (*)(struct io_uring*, struct io_uring_cqe**,
                                                   unsigned, struct __kernel_timespec*, sigset_t*));
    URING_FAIL();
    return real_io_uring_submit_and_wait_timeout(ring, cqe, wait_nr, ts, sigmask);
}

EXPORT int io_uring_submit_and_get_events(struct io_uring* ring) {
    REAL(io_uring_submit_and_get_events, int (*)(struct io_uring*));
    URING_FAIL();
    return real_io_uring_submit_and_get_events(ring);
}

EXPORT int io_uring_queue_init(unsigned entries, struct io_uring* ring, unsigned flags) {
    REAL(io_uring_queue_init, int (*)(unsigned, struct io_uring*, unsigned));
    struct Rule* r = match(F_URING_SETUP, FL_ANY);
    if (r != NULL && r->action == A_ERRNO) return -r->err;
    return real_io_uring_queue_init(entries, ring, flags);
}
