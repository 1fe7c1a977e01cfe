#include <ringlet/errors.hpp>

#include <cstdio>
#include <cstdlib>

#include "check.hpp"
#include "scheduler.hpp"

namespace ringlet {

void throw_io_error(int res, const char* operation) { throw IoError(-res, operation); }

namespace detail {

void check_failed(const char* condition, const char* file, int line) noexcept {
    Scheduler* s = Scheduler::current();
    TaskControlBlock* t = s ? s->running() : nullptr;
    std::fprintf(stderr, "ringlet: internal check failed: %s at %s:%d (task %llu '%s')\n",
                 condition, file, line, t ? static_cast<unsigned long long>(t->id) : 0ULL,
                 t ? t->name : "");
    std::abort();
}

}  // namespace detail
}  // namespace ringlet
