// dns_hooks.cpp — getaddrinfo and gethostbyname on the blocking pool.
//
// The resolver's own waits happen inside libc where no hook can reach them,
// so the whole call runs on one of ringlet's blocking-pool threads while the
// task waits. An interrupt arriving meanwhile is delivered once the call has
// returned; its result is then freed and the caller sees EAI_SYSTEM (errno
// EINTR or ETIMEDOUT) or a null hostent (h_errno TRY_AGAIN).
#include <netdb.h>

#include "hooks_internal.hpp"

using namespace ringlet::hooks_impl;

namespace {

struct AddrInfoCall {
    const char* node;
    const char* service;
    const addrinfo* hints;
    addrinfo* result = nullptr;
    int status = EAI_SYSTEM;
    int error = 0;
    bool ran = false;
};

struct HostByNameCall {
    const char* name;
    hostent* result = nullptr;
    int h_error = 0;
    bool ran = false;
};

}  // namespace

extern "C" {

int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
    TaskControlBlock* t = current_task();
    if (t == nullptr) return real().getaddrinfo(node, service, hints, res);
    if (const int again = repeated_interrupt(t)) {
        errno = again;
        return EAI_SYSTEM;
    }
    AddrInfoCall call{node, service, hints};
    const Interrupt why = rt().run_blocking(
        [](void* arg) {
            auto* c = static_cast<AddrInfoCall*>(arg);
            c->status = real().getaddrinfo(c->node, c->service, c->hints, &c->result);
            c->error = errno;
            c->ran = true;
        },
        &call);
    if (why != Interrupt::none) {
        if (call.ran && call.status == 0) ::freeaddrinfo(call.result);
        errno = report_interrupt(t, why, ETIMEDOUT);
        return EAI_SYSTEM;
    }
    if (!call.ran) {  // the pool could not start a thread
        errno = EAGAIN;
        return EAI_AGAIN;
    }
    if (call.status == 0) *res = call.result;
    if (call.status == EAI_SYSTEM) errno = call.error;
    return call.status;
}

hostent* gethostbyname(const char* name) {
    TaskControlBlock* t = current_task();
    if (t == nullptr) return real().gethostbyname(name);
    if (repeated_interrupt(t) != 0) {
        h_errno = TRY_AGAIN;
        return nullptr;
    }
    HostByNameCall call{name};
    // The hostent lives in libc's process-wide static storage, as it would
    // for the caller's own thread; h_errno is per thread, so it is copied.
    const Interrupt why = rt().run_blocking(
        [](void* arg) {
            auto* c = static_cast<HostByNameCall*>(arg);
            c->result = real().gethostbyname(c->name);
            c->h_error = h_errno;
            c->ran = true;
        },
        &call);
    if (why != Interrupt::none || !call.ran) {
        if (why != Interrupt::none) report_interrupt(t, why, ETIMEDOUT);
        h_errno = TRY_AGAIN;
        return nullptr;
    }
    h_errno = call.h_error;
    return call.result;
}

}  // extern "C"
