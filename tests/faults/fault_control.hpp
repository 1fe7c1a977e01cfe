// tests/faults/fault_control.hpp — arm the fault shim from a test.
//
// The suites run with fault_shim.so preloaded (tests/faults/meson.build);
// its control functions are found with dlsym(RTLD_DEFAULT), so a test binary
// run by hand without the shim skips (REQUIRE_FAULT_SHIM) instead of passing.
// A rule set armed in a forked child stays in that child: arming after fork
// is how a test faults only the child.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <string>

namespace faults {

struct ShimApi {
    int (*arm)(const char*) = nullptr;
    void (*disarm)() = nullptr;
    unsigned long (*hits)(const char*) = nullptr;
    unsigned long (*seen)(const char*) = nullptr;
};

inline const ShimApi& shim() {
    static const ShimApi api = [] {
        ShimApi a;
        a.arm = reinterpret_cast<int (*)(const char*)>(dlsym(RTLD_DEFAULT, "ringlet_fault_arm"));
        a.disarm = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "ringlet_fault_disarm"));
        a.hits = reinterpret_cast<unsigned long (*)(const char*)>(
            dlsym(RTLD_DEFAULT, "ringlet_fault_hits"));
        a.seen = reinterpret_cast<unsigned long (*)(const char*)>(
            dlsym(RTLD_DEFAULT, "ringlet_fault_seen"));
        return a;
    }();
    return api;
}

inline bool shim_loaded() { return shim().arm != nullptr; }

// Arms `spec` (see fault_shim.c for the syntax); aborts the process on a
// spec the shim refuses (a typo must not make a test pass vacuously).
inline void arm(const char* spec) {
    if (shim().arm(spec) < 0) {
        std::fprintf(stderr, "fault shim refused the spec \"%s\"\n", spec);
        std::abort();
    }
}
inline void disarm() { shim().disarm(); }
// Faults injected so far by the armed rules for `name`.
inline unsigned long hits(const char* name) { return shim().hits(name); }
// Calls of `name` seen since load, armed or not.
inline unsigned long seen(const char* name) { return shim().seen(name); }

// Arms for its lifetime.
class Armed {
  public:
    explicit Armed(const char* spec) { arm(spec); }
    ~Armed() { disarm(); }
    Armed(const Armed&) = delete;
    Armed& operator=(const Armed&) = delete;
};

// The bound every wait in these suites gets: only a hang detector (a test
// that reaches it has hung), never a timing assertion.
inline constexpr std::chrono::seconds hang_bound{5};

}  // namespace faults

#define REQUIRE_FAULT_SHIM()                                                                  \
    do {                                                                                      \
        if (!::faults::shim_loaded()) {                                                       \
            GTEST_SKIP() << "fault_shim.so is not preloaded (run the suite with meson test)"; \
        }                                                                                     \
    } while (0)
