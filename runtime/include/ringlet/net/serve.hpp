// ringlet/net/serve.hpp — accept loop with one task per connection.
//
// serve() is gevent's StreamServer: it accepts connections forever and runs
// handler(stream) in a new task for each. A handler's exception closes that
// connection and is logged to stderr; the server keeps serving. When the
// task running serve() is cancelled, every connection task is cancelled and
// joined before Cancelled propagates. A connection's task and its memory are
// released as soon as it ends.
//
// Defences (ServeOptions), all off by default:
// - timeouts: a connection that sends nothing after it is accepted
//   (first_byte_timeout), or whose task stays in one wait for too long
//   (idle_timeout: a silent keep-alive client, or one that stops reading),
//   is closed. Serve shuts the stream down: the handler's pending or next
//   read returns 0 (EOF) and a write fails with IoError(EPIPE), so a handler
//   that ends on EOF ends; one that goes on waiting is cancelled after one
//   more idle_timeout.
// - startups (sshd's MaxStartups): connections that have not yet proved to
//   be real clients — still waiting for their first byte, or, for a handler
//   that takes a ServeConnection&, until it calls established() (after a
//   handshake, a first complete request). Beyond startups_soft of them a new
//   connection is dropped at once with a probability rising linearly to 1 at
//   startups_hard; while over startups_soft, a startup gets only
//   pressure_startup_timeout to establish itself. Out of file descriptors
//   (EMFILE), the oldest startup is closed to make room for the new
//   connection, so idle connections cannot lock real clients out; with no
//   startup to close, serve backs off (1 ms doubling to 1 s) and keeps
//   serving instead of spinning.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <list>
#include <optional>
#include <type_traits>
#include <utility>

#include <ringlet/errors.hpp>
#include <ringlet/event.hpp>
#include <ringlet/semaphore.hpp>
#include <ringlet/task.hpp>
#include <ringlet/time.hpp>

namespace ringlet::net {

inline constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

struct ServeOptions {
    // At most this many connections are open at once; accepting waits meanwhile.
    std::size_t max_connections = unlimited;
    // A connection that sends nothing within this after it was accepted is
    // closed without running the handler; the handler runs once the first
    // byte (or EOF) has arrived. For protocols where the client speaks first;
    // leave it `forever` when the server speaks first.
    Duration first_byte_timeout = forever;
    // A connection whose task waits this long in one wait (a read that gets
    // nothing, a write the peer does not drain) is shut down, as the file
    // comment says. Checked every idle_timeout / 4 (at most every 5 s), so it
    // fires between idle_timeout and about 1.25 idle_timeout.
    Duration idle_timeout = forever;
    // Startups (see the file comment): none are dropped below startups_soft;
    // between the two limits a new one is dropped with probability
    // (startups - soft + 1) / (hard - soft + 1); at startups_hard, every one.
    std::size_t startups_soft = unlimited;
    std::size_t startups_hard = unlimited;
    // A startup not established within this is closed.
    Duration startup_timeout = forever;
    // The same while more than startups_soft startups are waiting.
    Duration pressure_startup_timeout = std::chrono::seconds(1);
};

namespace detail {

class ServeState;

// One accepted connection, owned by ServeState (owner thread only).
struct ServeRecord {
    Task<void> task;              // its connection task
    int fd = -1;
    std::uint64_t id = 0;
    TimePoint accepted;
    bool startup = false;         // counted in the startups (in ServeState::startups_)
    bool closed = false;          // the stream is closed: the fd may be someone else's now
    bool timed_out = false;       // serve shut it down (a timeout, or shed at EMFILE)
    bool established = false;
    std::list<ServeRecord>::iterator self;          // in ServeState::records_
    std::list<ServeRecord*>::iterator startup_pos;  // in ServeState::startups_
    std::uint64_t inode = 0;       // the socket's, to tell it from a reused fd number
    std::uint64_t seen_parks = 0;  // idle check: the task's park count when last looked at
    TimePoint seen_since;          // ... and since when it has been that
    TimePoint shut_at;             // when timed_out was set
};

// What to do about an accept() failure: back off and retry (EMFILE and
// friends), retry at once (the peer gave up before we accepted), or stop.
enum class AcceptFailure { back_off, retry, stop };
AcceptFailure classify_accept_failure(const IoError& e) noexcept;
void log_accept_backoff(const IoError& e, Duration delay) noexcept;
void log_handler_failure(std::exception_ptr error) noexcept;

// The bookkeeping of one serve() call, out of line: slots, the connection
// records, the startup limits and the reaper task that enforces timeouts.
class ServeState {
public:
    ServeState(const ServeOptions& options, bool handler_establishes);
    ~ServeState();
    ServeState(const ServeState&) = delete;
    ServeState& operator=(const ServeState&) = delete;

    // Waits for a max_connections slot. Suspends.
    void acquire_slot();
    void release_slot() noexcept;
    // Out of fds: shuts down the oldest startup and waits (up to 1 s) for a
    // connection to end. False if there was no startup to close. Suspends.
    bool shed_startup();
    // Registers a just-accepted connection (which takes the slot held), or
    // returns null if the startup limits drop it (the caller closes it).
    ServeRecord* admit(int fd);
    // Undoes admit() when spawning its task failed.
    void abandon(ServeRecord& r) noexcept;
    // In the connection task, before the handler: waits for the first byte
    // if first_byte_timeout is set. False: do not run the handler. Suspends.
    bool begin(ServeRecord& r);
    // In the connection task, after its stream was closed. Removes `r`.
    void end(ServeRecord& r) noexcept;
    void establish(ServeRecord& r) noexcept;
    // Waits for every connection task to end (the reaper is stopped first
    // when `cancel` is false, afterwards otherwise). With `cancel`, cancels
    // them first. Suspends. Throws: Cancelled (only without `cancel`).
    void finish(bool cancel);

private:
    TimePoint startup_deadline(const ServeRecord& r) const noexcept;
    void time_out(ServeRecord& r) noexcept;
    void unlist_startup(ServeRecord& r) noexcept;
    void reap();
    void kick_reaper(TimePoint deadline);

    ServeOptions options_;
    bool handler_establishes_;
    bool limits_startups_;
    bool needs_reaper_;
    std::optional<Semaphore> slots_;
    std::list<ServeRecord> records_;
    std::list<ServeRecord*> startups_;  // oldest first
    std::uint64_t next_id_ = 0;
    std::uint64_t ended_ = 0;
    std::uint64_t random_;
    Event connection_ended_;
    Event reaper_kick_;
    TimePoint reaper_wakes_ = TimePoint::max();
    Task<void> reaper_;
};

}  // namespace detail

// Handed to a handler that takes it as a second argument: its connection's
// standing with serve(). Lives as long as the handler call.
class ServeConnection {
public:
    // Ends the startup: the connection no longer counts against the startup
    // limits, gets no startup deadline and is not closed at EMFILE. Call it
    // once the client has proved itself (a handshake, a complete request).
    void established() noexcept { state_->establish(*record_); }
    bool is_established() const noexcept { return record_->established; }
    // True once serve shut the stream down (a timeout, or shed at EMFILE).
    bool timed_out() const noexcept { return record_->timed_out; }

    ServeConnection(detail::ServeState& s, detail::ServeRecord& r) noexcept
        : state_(&s), record_(&r) {}

private:
    detail::ServeState* state_;
    detail::ServeRecord* record_;
};

// Serves `listener` (TcpListener or UnixListener) until cancelled, with the
// defences of `options` (see ServeOptions). The handler is called as
// handler(stream) or, if it takes one, handler(stream, ServeConnection&).
// Returns normally, after the running handlers end, if the listener is closed.
// Suspends. Throws: Cancelled (after cancelling and joining its connection
// tasks), IoError for an accept failure that is not transient.
template <class Listener, class Handler>
void serve(Listener& listener, Handler handler, const ServeOptions& options) {
    using StreamType = decltype(listener.accept());
    constexpr bool takes_connection = std::is_invocable_v<Handler&, StreamType, ServeConnection&>;
    detail::ServeState state(options, takes_connection);
    struct Slot {
        detail::ServeState& state;
        bool held = false;
        ~Slot() {
            if (held) state.release_slot();
        }
    };
    try {
        Duration delay = std::chrono::milliseconds(1);
        for (;;) {
            Slot slot{state};
            state.acquire_slot();
            slot.held = true;
            StreamType stream;
            try {
                stream = listener.accept();
                delay = std::chrono::milliseconds(1);
            } catch (const IoError& e) {
                switch (detail::classify_accept_failure(e)) {
                    case detail::AcceptFailure::retry: continue;
                    case detail::AcceptFailure::back_off:
                        if (state.shed_startup()) continue;  // an idle startup made room
                        detail::log_accept_backoff(e, delay);
                        ringlet::sleep(delay);
                        delay = std::min<Duration>(delay * 2, std::chrono::seconds(1));
                        continue;
                    case detail::AcceptFailure::stop:
                        if (listener.fd() < 0) {  // closed by its owner: a clean stop
                            slot.held = false;
                            state.release_slot();
                            state.finish(false);
                            return;
                        }
                        throw;
                }
            }
            detail::ServeRecord* record = state.admit(stream.socket().fd());
            if (record == nullptr) continue;  // dropped (startup limits): closes here
            slot.held = false;                // the record holds the slot now
            try {
                record->task = ringlet::spawn(
                    SpawnOptions{.name = "serve-connection"},
                    [&handler, &state](StreamType s, detail::ServeRecord* r) {
                        try {
                            if (state.begin(*r)) {
                                if constexpr (takes_connection) {
                                    ServeConnection connection(state, *r);
                                    handler(std::move(s), connection);
                                } else {
                                    handler(std::move(s));
                                }
                            }
                        } catch (const std::exception&) {
                            detail::log_handler_failure(std::current_exception());
                        } catch (...) {  // Cancelled
                            { StreamType closing = std::move(s); }
                            state.end(*r);
                            throw;
                        }
                        { StreamType closing = std::move(s); }  // if the handler did not take it
                        state.end(*r);
                    },
                    std::move(stream), record);
            } catch (...) {
                state.abandon(*record);
                throw;
            }
        }
    } catch (...) {
        // The connection tasks use `handler` and `state`: they end first.
        state.finish(true);
        throw;
    }
}

// The older form: only a bound on the connections open at once.
template <class Listener, class Handler>
void serve(Listener& listener, Handler handler, std::size_t max_connections = unlimited) {
    serve(listener, std::move(handler), ServeOptions{.max_connections = max_connections});
}

}  // namespace ringlet::net
