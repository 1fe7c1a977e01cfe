// check.hpp — RINGLET_CHECK: abort on a broken internal invariant.
//
// Active in every build type. Prints the condition, the place and the running
// task (id, name) before abort(): continuing would corrupt memory.
#pragma once

namespace ringlet::detail {
[[noreturn]] void check_failed(const char* condition, const char* file, int line) noexcept;
}  // namespace ringlet::detail

#define RINGLET_CHECK(cond)                                                  \
    do {                                                                     \
        if (!(cond)) ::ringlet::detail::check_failed(#cond, __FILE__, __LINE__); \
    } while (0)
