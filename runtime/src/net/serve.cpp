#include <ringlet/net/serve.hpp>

#include <cerrno>
#include <cstdio>
#include <exception>

namespace ringlet::net::detail {

AcceptFailure classify_accept_failure(const IoError& e) noexcept {
    switch (e.code().value()) {
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            return AcceptFailure::back_off;  // retrying at once would spin
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
        case EINTR:
        case EAGAIN:
            return AcceptFailure::retry;  // that peer is gone; the next may be fine
        default:
            return AcceptFailure::stop;
    }
}

void log_accept_backoff(const IoError& e, Duration delay) noexcept {
    std::fprintf(stderr, "ringlet::net::serve: accept: %s; retrying in %lld ms\n",
                 e.code().message().c_str(),
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()));
}

void log_handler_failure(std::exception_ptr error) noexcept {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ringlet::net::serve: connection handler failed: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "ringlet::net::serve: connection handler failed\n");
    }
}

}  // namespace ringlet::net::detail
