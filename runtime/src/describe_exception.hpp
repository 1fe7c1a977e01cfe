// describe_exception.hpp — "type: what()" for an exception, for reports on stderr.
#pragma once

#include <exception>
#include <string>
#include <utility>

namespace ringlet::detail {

// "std::runtime_error: boom" (demangled type, then what()), "ringlet::Cancelled",
// or "unknown exception". Never throws.
std::string describe_exception(std::exception_ptr e) noexcept;

// The exception's demangled type and its what() (empty for a type that is
// not a std::exception), as sent to another process in an error reply.
std::pair<std::string, std::string> exception_parts(std::exception_ptr e);

}  // namespace ringlet::detail
