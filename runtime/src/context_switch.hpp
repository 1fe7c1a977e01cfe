// context_switch.hpp — jump between task stacks, telling the sanitizers.
//
// Every stack switch goes through switch_context() so that AddressSanitizer
// (fake stacks, stack bounds) and ThreadSanitizer (fibers) follow it; without
// the annotations ASan reports false stack errors and misses real ones.
#pragma once

#include <cstddef>

#include <boost/context/detail/fcontext.hpp>

#include <ringlet/detail/task_base.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define RINGLET_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RINGLET_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define RINGLET_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RINGLET_TSAN 1
#endif
#endif

#ifdef RINGLET_ASAN
extern "C" void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom,
                                               std::size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old,
                                                std::size_t* size_old);
extern "C" void __asan_unpoison_memory_region(void const volatile* addr, std::size_t size);
#endif
#ifdef RINGLET_TSAN
extern "C" void* __tsan_get_current_fiber(void);
extern "C" void* __tsan_create_fiber(unsigned flags);
extern "C" void __tsan_destroy_fiber(void* fiber);
extern "C" void __tsan_switch_to_fiber(void* fiber, unsigned flags);
#endif

#if defined(__x86_64__) && defined(__linux__)
// jump_context.cpp: jump_fcontext's frame layout, but returns with `ret`.
extern "C" boost::context::detail::transfer_t ringlet_jump_context(
    boost::context::detail::fcontext_t to, void* data) noexcept;
#define RINGLET_JUMP ringlet_jump_context
#else
#define RINGLET_JUMP ::boost::context::detail::jump_fcontext
#endif

namespace ringlet::detail {

namespace fctx = boost::context::detail;

// Completes a switch on the side that was switched to: records where the
// previous context stopped, so it can be resumed later.
inline Context* finish_switch(fctx::transfer_t t, Context* self) noexcept {
    auto* prev = static_cast<Context*>(t.data);
    prev->fctx = t.fctx;
#ifdef RINGLET_ASAN
    const void* bottom = nullptr;
    std::size_t size = 0;
    __sanitizer_finish_switch_fiber(self ? self->fake_stack : nullptr, &bottom, &size);
    if (prev->stack_bottom == nullptr) {  // the thread's own stack, learned on first switch
        prev->stack_bottom = const_cast<void*>(bottom);
        prev->stack_size = size;
    }
#else
    (void)self;
#endif
    return prev;
}

// Switches from the running context `from` to `to`. Returns the context that
// later switched back. `from_ends` = the running context will never resume
// (its stack may be freed once we are off it).
inline Context* switch_context(Context& from, Context& to, bool from_ends = false) noexcept {
#ifdef RINGLET_ASAN
    __sanitizer_start_switch_fiber(from_ends ? nullptr : &from.fake_stack, to.stack_bottom,
                                   to.stack_size);
#else
    (void)from_ends;
#endif
#ifdef RINGLET_TSAN
    __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
    fctx::transfer_t t = RINGLET_JUMP(to.fctx, &from);
    return finish_switch(t, &from);
}

inline void init_thread_context(Context& c) noexcept {
#ifdef RINGLET_TSAN
    c.tsan_fiber = __tsan_get_current_fiber();
#else
    (void)c;
#endif
}

inline void create_fiber(Context& c) noexcept {
#ifdef RINGLET_TSAN
    c.tsan_fiber = __tsan_create_fiber(0);
#else
    (void)c;
#endif
}

inline void destroy_fiber(Context& c) noexcept {
#ifdef RINGLET_TSAN
    if (c.tsan_fiber) __tsan_destroy_fiber(c.tsan_fiber);
    c.tsan_fiber = nullptr;
#else
    (void)c;
#endif
}

}  // namespace ringlet::detail
