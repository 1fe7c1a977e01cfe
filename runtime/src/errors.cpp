#include <ringlet/errors.hpp>

#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <typeinfo>

#include "check.hpp"
#include "describe_exception.hpp"
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

std::string describe_exception(std::exception_ptr e) noexcept {
    try {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            int status = 0;
            char* name = abi::__cxa_demangle(typeid(ex).name(), nullptr, nullptr, &status);
            std::string text = std::string(status == 0 && name ? name : typeid(ex).name()) +
                               ": " + ex.what();
            std::free(name);
            return text;
        } catch (const Cancelled&) {
            return "ringlet::Cancelled";
        }
    } catch (...) {
    }
    return "unknown exception";
}

std::pair<std::string, std::string> exception_parts(std::exception_ptr e) {
    std::string type = "unknown exception";
    std::string message;
    try {
        std::rethrow_exception(e);
    } catch (...) {
        if (const std::type_info* t = abi::__cxa_current_exception_type()) {
            int status = 0;
            std::unique_ptr<char, void (*)(void*)> name(
                abi::__cxa_demangle(t->name(), nullptr, nullptr, &status), std::free);
            type = status == 0 && name ? name.get() : t->name();
        }
        try {
            throw;
        } catch (const std::exception& ex) {
            message = ex.what();
        } catch (...) {
        }
    }
    return {std::move(type), std::move(message)};
}

}  // namespace detail
}  // namespace ringlet
