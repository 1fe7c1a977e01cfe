// ringlet/detail/cpu_relax.hpp — the one spin-wait hint, for every architecture.
//
// Every spin loop in ringlet calls cpu_relax() between two looks at the cache
// line it waits on: it tells the core it is spinning (x86 PAUSE, Arm YIELD),
// which saves power and lets the sibling hyperthread run. No system call, no
// memory effect; elsewhere it compiles to nothing.
#pragma once

namespace ringlet::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    asm volatile("yield" ::: "memory");
#endif
}

}  // namespace ringlet::detail
