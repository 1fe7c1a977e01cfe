// describe_exception.hpp — "type: what()" for an exception, for reports on stderr.
#pragma once

#include <exception>
#include <string>

namespace ringlet::detail {

// "std::runtime_error: boom" (demangled type, then what()), "ringlet::Cancelled",
// or "unknown exception". Never throws.
std::string describe_exception(std::exception_ptr e) noexcept;

}  // namespace ringlet::detail
