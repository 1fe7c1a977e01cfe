// ringlet/hooks.hpp — blocking C libraries made cooperative (gevent's monkey.patch_all).
//
// Linking ringlet-hooks (or LD_PRELOAD=libringlet_preload.so into a program
// that links ringlet) replaces libc's blocking calls: connect, accept,
// read/write and their vector and socket forms, poll/select/epoll_wait, the
// sleeps, getaddrinfo/gethostbyname (run on the blocking pool), close, and
// the O_NONBLOCK and SO_RCVTIMEO/SO_SNDTIMEO settings they obey. Inside a
// task a hooked call suspends only that task; on a plain thread, or before
// run(), it is the real libc call. Nothing needs to be called to turn them on:
// this header is only needed to ask whether they are.
//
// A cancel or a Timeout that lands inside a hooked call makes it return -1
// with errno EINTR (ETIMEDOUT for socket calls under a Timeout); later hooked
// calls of that task fail at once (ECANCELED / ETIMEDOUT) until it reaches a
// ringlet suspension point, where Cancelled or TimeoutError is thrown. No
// exception ever unwinds through the C library's frames. See docs/hooks.md.
#pragma once

namespace ringlet {

// True once the hooks are loaded and attached to this program's ringlet
// (which happens when the first scheduler starts). Thread-safe.
bool hooks_installed() noexcept;

}  // namespace ringlet
