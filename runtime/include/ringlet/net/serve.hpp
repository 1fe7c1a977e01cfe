// ringlet/net/serve.hpp — accept loop with one task per connection.
//
// serve() is gevent's StreamServer: it accepts connections forever and runs
// handler(stream) in a new task for each. A handler's exception closes that
// connection and is logged to stderr; the server keeps serving. When the
// task running serve() is cancelled, every connection task is cancelled and
// joined before Cancelled propagates. Out of file descriptors (EMFILE), it
// backs off (1 ms doubling to 1 s) and keeps serving instead of spinning.
#pragma once

#include <cstddef>
#include <exception>
#include <limits>
#include <optional>
#include <utility>

#include <ringlet/errors.hpp>
#include <ringlet/group.hpp>
#include <ringlet/semaphore.hpp>
#include <ringlet/time.hpp>

namespace ringlet::net {

inline constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

namespace detail {

// What to do about an accept() failure: back off and retry (EMFILE and
// friends), retry at once (the peer gave up before we accepted), or stop.
enum class AcceptFailure { back_off, retry, stop };
AcceptFailure classify_accept_failure(const IoError& e) noexcept;
void log_accept_backoff(const IoError& e, Duration delay) noexcept;
void log_handler_failure(std::exception_ptr error) noexcept;

}  // namespace detail

// Serves `listener` (TcpListener or UnixListener) until cancelled; at most
// `max_connections` handlers run at once (accepting waits meanwhile). Returns
// normally, after the running handlers end, if the listener is closed.
// Suspends. Throws: Cancelled (after cancelling and joining its connection
// tasks), IoError for an accept failure that is not transient.
template <class Listener, class Handler>
void serve(Listener& listener, Handler handler, std::size_t max_connections = unlimited) {
    Group connections;
    std::optional<Semaphore> slots;
    if (max_connections != unlimited) slots.emplace(max_connections);
    struct Slot {
        std::optional<Semaphore>* slots;
        bool held = false;
        ~Slot() {
            if (held) (*slots)->release();
        }
    };
    try {
        Duration delay = std::chrono::milliseconds(1);
        for (;;) {
            Slot slot{&slots};
            if (slots) {
                slots->acquire();
                slot.held = true;
            }
            decltype(listener.accept()) stream;
            try {
                stream = listener.accept();
                delay = std::chrono::milliseconds(1);
            } catch (const IoError& e) {
                switch (detail::classify_accept_failure(e)) {
                    case detail::AcceptFailure::retry: continue;
                    case detail::AcceptFailure::back_off:
                        detail::log_accept_backoff(e, delay);
                        ringlet::sleep(delay);
                        delay = std::min<Duration>(delay * 2, std::chrono::seconds(1));
                        continue;
                    case detail::AcceptFailure::stop:
                        if (listener.fd() < 0) {  // closed by its owner: a clean stop
                            connections.join();
                            return;
                        }
                        throw;
                }
            }
            slot.held = false;  // the connection task owns the slot now
            connections.spawn(
                [&handler, &slots](auto s) {
                    Slot mine{&slots, slots.has_value()};
                    try {
                        handler(std::move(s));
                    } catch (const std::exception&) {
                        detail::log_handler_failure(std::current_exception());
                    }
                },
                std::move(stream));
        }
    } catch (...) {
        // The connection tasks use `handler` and `slots`: they end first.
        connections.cancel();
        connections.join();
        throw;
    }
}

}  // namespace ringlet::net
