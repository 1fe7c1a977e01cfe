#include <ringlet/ipc/manager.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <ringlet/net/tcp.hpp>
#include <ringlet/net/unix.hpp>
#include <ringlet/task.hpp>

#include "io_request.hpp"
#include "manager_client.hpp"
#include "manager_server.hpp"
#include "manager_wire.hpp"

namespace ringlet::ipc {

namespace detail {

namespace {

// Idle connections a proxy keeps for reuse (more are opened when busy).
constexpr std::size_t max_idle_links = 4;

// ---- Fork: children detach the connections they inherit ----------------------

struct LinkRegistry {
    std::mutex mutex;
    std::vector<int> fds;  // open ManagerLink fds of this process
};

LinkRegistry& registry() {
    static LinkRegistry* r = new LinkRegistry;  // never destroyed: fork may come late
    return *r;
}

void before_fork() noexcept { registry().mutex.lock(); }
void after_fork_parent() noexcept { registry().mutex.unlock(); }
void after_fork_child() noexcept {
    // The child's copies of its parent's connections are replaced by
    // /dev/null under the same numbers: the fd stays valid for the stale
    // ManagerLink objects (which are dropped, never used, in the child), but
    // no longer holds the socket. Only async-signal-safe calls here.
    LinkRegistry& r = registry();
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0) null_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);  // no /dev/null
    if (null_fd >= 0) {
        for (int fd : r.fds) ::dup3(null_fd, fd, O_CLOEXEC);
        ::close(null_fd);
    }
    r.fds.clear();
    r.mutex.unlock();
}

void register_fd(int fd) {
    static std::once_flag once;
    std::call_once(once,
                   [] { ::pthread_atfork(before_fork, after_fork_parent, after_fork_child); });
    LinkRegistry& r = registry();
    std::lock_guard lock(r.mutex);
    r.fds.push_back(fd);
}

void unregister_fd(int fd) noexcept {
    LinkRegistry& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = std::find(r.fds.begin(), r.fds.end(), fd);
    if (it != r.fds.end()) r.fds.erase(it);
}

std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> raw(bytes);
    random_bytes(raw.data(), raw.size());
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (unsigned char b : raw) {
        s += digits[b >> 4];
        s += digits[b & 15];
    }
    return s;
}

[[noreturn]] void throw_lost(const ManagerEndpoint& e, const std::string& why) {
    throw ManagerError("ringlet::ipc::Manager: lost the connection to the manager at " +
                       e.address() + ": " + why +
                       " (the server died, was shut down, or closed the connection)");
}

std::string wire_failure(WireResult r, const WireStream& io) {
    std::string why = describe(r);
    if (r == WireResult::error) why += std::string(": ") + std::strerror(io.error());
    return why;
}

// The reply's error, thrown as the exception it names.
[[noreturn]] void throw_error_reply(std::string_view payload) {
    Reader r(payload);
    const auto kind = static_cast<ErrorKind>(r.read<std::uint8_t>());
    std::string type = r.read<std::string>();
    std::string message = r.read<std::string>();
    switch (kind) {
        case ErrorKind::usage: throw UsageError(message);
        case ErrorKind::out_of_range: throw std::out_of_range(message);
        case ErrorKind::bad_request:
        case ErrorKind::too_large: throw CodecError(message);
        case ErrorKind::internal: break;
    }
    throw RemoteError(std::move(type), std::move(message));
}

struct Holder {
    std::thread::id thread;
    TaskId task = 0;
    friend bool operator==(const Holder&, const Holder&) = default;
};

Holder me() noexcept { return Holder{std::this_thread::get_id(), current_task()}; }

}  // namespace

// ---- ManagerLink ----------------------------------------------------------------

ManagerLink::ManagerLink(net::Socket s) : socket(std::move(s)), io(socket.fd()), pid(::getpid()) {
    register_fd(socket.fd());
}

ManagerLink::~ManagerLink() {
    // In a child the registry no longer has it (and the fd is /dev/null).
    if (pid == ::getpid()) unregister_fd(socket.fd());
}

namespace {

enum class FirstByte { arrived, dropped, timed_out };

// Whether the server sent its hello, or closed the connection before sending
// anything: under a flood of unauthenticated connections it drops new ones
// (ManagerOptions::max_startups). Peeks, so the handshake still reads it.
FirstByte peek_hello(int fd, TimePoint deadline) {
    char byte;
    ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::recv, fd};
    r.buf = &byte;
    r.len = 1;
    r.flags = MSG_PEEK;
    const long res = ringlet::detail::perform_io(r, deadline);
    if (res == 0 || res == -ECONNRESET) return FirstByte::dropped;
    return res == -ETIMEDOUT ? FirstByte::timed_out : FirstByte::arrived;
}

[[noreturn]] void throw_always_dropped(const ManagerEndpoint& e) {
    throw ManagerError("ringlet::ipc::Manager: the manager at " + e.address() +
                       " closed every connection before the handshake (too many "
                       "unauthenticated connections: ManagerOptions::max_startups)");
}

}  // namespace

std::unique_ptr<ManagerLink> connect_link(const ManagerEndpoint& e) {
    const Duration timeout = e.options.handshake_timeout;
    const TimePoint deadline = deadline_after(timeout);
    Duration delay = std::chrono::milliseconds(2);
    bool dropped = false;
    for (;;) {
        net::Socket s;
        const TimePoint now = Clock::now();
        const Duration left = deadline == TimePoint::max() ? forever
                              : deadline > now            ? Duration(deadline - now)
                                                          : Duration::zero();
        try {
            if (e.tcp) {
                net::TcpStream stream = net::TcpStream::connect(e.host, e.port, left);
                stream.set_nodelay();
                s = std::move(stream.socket());
            } else {
                net::UnixStream stream = net::UnixStream::connect(e.path, left);
                s = std::move(stream.socket());
            }
        } catch (const IoError& err) {
            throw ManagerError("ringlet::ipc::Manager: cannot connect to the manager at " +
                               e.address() + ": " + err.what() + " (is the server running?)");
        } catch (const TimeoutError& err) {
            if (err.scope() != nullptr) throw;  // the caller's own Timeout scope
            if (dropped) throw_always_dropped(e);
            throw ManagerError("ringlet::ipc::Manager: cannot connect to the manager at " +
                               e.address() + ": timed out (ManagerOptions::handshake_timeout)");
        }
        auto link = std::make_unique<ManagerLink>(std::move(s));
        const FirstByte first = peek_hello(link->io.fd(), deadline);
        if (first == FirstByte::timed_out && dropped) throw_always_dropped(e);
        if (first != FirstByte::dropped) {
            client_handshake(link->io, e.authkey, deadline, e.address());
            return link;
        }
        dropped = true;
        // Dropped as one of too many unauthenticated connections: try again
        // a little later, until the deadline.
        link.reset();
        if (deadline != TimePoint::max() && Clock::now() + delay >= deadline) {
            throw_always_dropped(e);
        }
        ringlet::sleep(delay);
        delay = std::min<Duration>(delay * 2, std::chrono::milliseconds(100));
    }
}

// ---- ProxyCore ------------------------------------------------------------------

struct ProxyCore::Links {
    std::mutex mutex;
    pid_t pid = ::getpid();
    std::vector<std::unique_ptr<ManagerLink>> idle;
    std::unique_ptr<ManagerLink> held;  // LockProxy: the connection holding the lock
    Holder holder;

    // Under `mutex`. In a forked child everything here is the parent's: drop
    // it (the fds are /dev/null by now, see after_fork_child).
    void check_fork(std::vector<std::unique_ptr<ManagerLink>>& drop) {
        if (pid == ::getpid()) return;
        for (auto& l : idle) drop.push_back(std::move(l));
        idle.clear();
        if (held) drop.push_back(std::move(held));
        pid = ::getpid();
    }
};

ProxyCore::ProxyCore(std::shared_ptr<const ManagerEndpoint> endpoint, std::string name,
                     ManagerKind kind, std::string fingerprint)
    : endpoint_(std::move(endpoint)),
      name_(std::move(name)),
      kind_(kind),
      fingerprint_(std::move(fingerprint)),
      links_(std::make_unique<Links>()) {}

// Closing the connections: the server releases a lock held through them.
ProxyCore::~ProxyCore() = default;

Writer ProxyCore::request(ManagerOp op) const {
    Writer w;
    w.bytes().reserve(64 + name_.size());
    w.bytes().assign(frame_length_size, '\0');
    w.write(static_cast<std::uint8_t>(op));
    w.write(name_);
    return w;
}

std::unique_ptr<ManagerLink> ProxyCore::take_link() {
    std::vector<std::unique_ptr<ManagerLink>> drop;  // closed outside the lock
    {
        std::lock_guard lock(links_->mutex);
        links_->check_fork(drop);
        if (!links_->idle.empty()) {
            auto link = std::move(links_->idle.back());
            links_->idle.pop_back();
            return link;
        }
    }
    drop.clear();
    return connect_link(*endpoint_);
}

void ProxyCore::give_back(std::unique_ptr<ManagerLink> link) noexcept {
    std::vector<std::unique_ptr<ManagerLink>> drop;
    std::lock_guard lock(links_->mutex);
    links_->check_fork(drop);
    if (link->pid == ::getpid() && links_->idle.size() < max_idle_links) {
        links_->idle.push_back(std::move(link));
    } else {
        drop.push_back(std::move(link));
    }
}

// One request and its reply, status byte first. Any exception leaves the
// link unusable: the caller drops it, which closes it.
std::string ProxyCore::exchange(ManagerLink& link, Writer& request) {
    std::string& bytes = request.bytes();
    const std::size_t limit = endpoint_->options.max_frame_size;
    if (const long res = link.io.write_all(bytes, TimePoint::max()); res < 0) {
        throw_lost(*endpoint_, std::string("send: ") + std::strerror(static_cast<int>(-res)));
    }
    std::string reply;
    if (const WireResult r = link.io.read_frame(reply, limit, TimePoint::max(), forever);
        r != WireResult::ok) {
        throw_lost(*endpoint_, wire_failure(r, link.io));
    }
    if (reply.empty()) throw_lost(*endpoint_, "an empty reply");
    return reply;
}

namespace {

void prepare_request(Writer& request, const ManagerEndpoint& e) {
    std::string& bytes = request.bytes();
    const std::size_t payload = bytes.size() - frame_length_size;
    if (payload > e.options.max_frame_size) {
        throw CodecError("ringlet::ipc::Manager: a request of " + std::to_string(payload) +
                         " bytes is over the frame limit of " +
                         std::to_string(e.options.max_frame_size) +
                         " (ManagerOptions::max_frame_size); nothing was sent");
    }
    finish_frame(bytes);
}

}  // namespace

std::string ProxyCore::call(Writer& request) {
    prepare_request(request, *endpoint_);
    std::unique_ptr<ManagerLink> link = take_link();
    std::string reply = exchange(*link, request);
    const auto status = static_cast<ReplyStatus>(reply[0]);
    switch (status) {
        case ReplyStatus::ok:
            give_back(std::move(link));
            return reply.substr(1);
        case ReplyStatus::ok_ack: {
            // The server holds the item until we say we have it. Sent
            // without a suspension point when the socket takes it at once
            // (it always does: nothing else is in flight on this link), so
            // no cancellation can come between receiving and acknowledging.
            char ack[frame_length_size + 1];
            const std::uint32_t one = 1;
            std::memcpy(ack, &one, sizeof one);
            ack[frame_length_size] = static_cast<char>(ManagerOp::ack);
            if (const long res = link->io.write_all_eagerly({ack, sizeof ack}, TimePoint::max());
                res < 0) {
                // Not acknowledged: the server (if alive) puts the item back.
                throw_lost(*endpoint_, std::string("acknowledging an item: ") +
                                           std::strerror(static_cast<int>(-res)));
            }
            give_back(std::move(link));
            return reply.substr(1);
        }
        case ReplyStatus::error:
            // The stream is in step: the link stays usable.
            give_back(std::move(link));
            throw_error_reply(std::string_view(reply).substr(1));
    }
    throw_lost(*endpoint_, "a reply with an unknown status " +
                               std::to_string(static_cast<unsigned>(status)));
}

bool ProxyCore::lock_acquire(Duration timeout) {
    const Holder caller = me();
    {
        std::vector<std::unique_ptr<ManagerLink>> drop;
        std::lock_guard lock(links_->mutex);
        links_->check_fork(drop);
        if (links_->held && links_->holder == caller) {
            throw UsageError("ringlet::ipc::LockProxy::acquire: the calling task already holds "
                             "this lock (it is not recursive)");
        }
    }
    Writer w = request(ManagerOp::lock_acquire);
    w.write(wire_timeout(timeout));
    prepare_request(w, *endpoint_);
    std::unique_ptr<ManagerLink> link = take_link();
    std::string reply = exchange(*link, w);
    if (static_cast<ReplyStatus>(reply[0]) != ReplyStatus::ok) {
        give_back(std::move(link));
        if (static_cast<ReplyStatus>(reply[0]) == ReplyStatus::error) {
            throw_error_reply(std::string_view(reply).substr(1));
        }
        throw_bad_reply("a lock acquire reply with an unexpected status");
    }
    if (!decode<bool>(std::string_view(reply).substr(1))) {
        give_back(std::move(link));
        return false;
    }
    // Keep the connection: the lock is held through it.
    std::vector<std::unique_ptr<ManagerLink>> drop;
    std::lock_guard lock(links_->mutex);
    links_->check_fork(drop);
    links_->held = std::move(link);
    links_->holder = caller;
    return true;
}

void ProxyCore::lock_release() {
    std::unique_ptr<ManagerLink> link;
    {
        std::vector<std::unique_ptr<ManagerLink>> drop;
        std::lock_guard lock(links_->mutex);
        links_->check_fork(drop);
        if (!links_->held || !(links_->holder == me())) {
            throw UsageError("ringlet::ipc::LockProxy::release: the calling task does not hold "
                             "this lock through this proxy");
        }
        link = std::move(links_->held);
    }
    Writer w = request(ManagerOp::lock_release);
    prepare_request(w, *endpoint_);
    // If this fails the link is dropped, which closes it: the server frees
    // the lock either way.
    std::string reply = exchange(*link, w);
    give_back(std::move(link));
    if (static_cast<ReplyStatus>(reply[0]) == ReplyStatus::error) {
        throw_error_reply(std::string_view(reply).substr(1));
    }
}

bool ProxyCore::lock_held_by_me() const {
    std::lock_guard lock(links_->mutex);
    return links_->pid == ::getpid() && links_->held && links_->holder == me();
}

// ---- Attaching, encoding -------------------------------------------------------

std::shared_ptr<ProxyCore> attach_object(const std::shared_ptr<const ManagerEndpoint>& endpoint,
                                         std::string name, ManagerKind kind,
                                         std::string fingerprint,
                                         std::optional<std::string> initial,
                                         std::uint64_t maxsize) {
    if (name.empty()) name = "anonymous-" + random_hex(12);
    auto core = std::make_shared<ProxyCore>(endpoint, std::move(name), kind, fingerprint);
    Writer w = core->request(ManagerOp::attach);
    w.write(static_cast<std::uint8_t>(kind));
    w.write(fingerprint);
    w.write(initial);
    w.write(maxsize);
    (void)core->call(w);  // created or found; the connection stays in the core's pool
    return core;
}

void encode_proxy(Writer& w, const ProxyCore* core, ManagerKind kind) {
    w.write(core != nullptr);
    if (core == nullptr) return;
    const ManagerEndpoint& e = *core->endpoint();
    w.write(static_cast<std::uint8_t>(kind));
    w.write(core->fingerprint());
    w.write(core->name());
    w.write(e.tcp);
    w.write(e.path);
    w.write(e.host);
    w.write(e.port);
    w.write(e.display);
    w.write(e.authkey);
    w.write(static_cast<std::uint64_t>(e.options.max_frame_size));
    w.write(static_cast<std::int64_t>(e.options.handshake_timeout.count()));
    w.write(static_cast<std::int64_t>(e.options.frame_timeout.count()));
}

std::shared_ptr<ProxyCore> decode_proxy(Reader& r, ManagerKind kind,
                                        const std::string& fingerprint) {
    if (!r.read<bool>()) return nullptr;
    const auto got_kind = r.read<std::uint8_t>();
    std::string got_fingerprint = r.read<std::string>();
    std::string name = r.read<std::string>();
    auto e = std::make_shared<ManagerEndpoint>();
    e->tcp = r.read<bool>();
    e->path = r.read<std::string>();
    e->host = r.read<std::string>();
    e->port = r.read<std::uint16_t>();
    e->display = r.read<std::string>();
    e->authkey = r.read<std::string>();
    e->options.max_frame_size = static_cast<std::size_t>(r.read<std::uint64_t>());
    e->options.handshake_timeout = Duration(r.read<std::int64_t>());
    e->options.frame_timeout = Duration(r.read<std::int64_t>());
    if (got_kind != static_cast<std::uint8_t>(kind) || got_fingerprint != fingerprint) {
        throw CodecError("ringlet::ipc::Manager: a proxy to \"" + name +
                         "\" decoded as a proxy of another kind or other types");
    }
    return std::make_shared<ProxyCore>(std::move(e), std::move(name), kind,
                                       std::move(got_fingerprint));
}

void throw_empty_proxy(const char* type) {
    throw UsageError(std::string("ringlet::ipc::") + type +
                     ": the proxy is empty (default-constructed); get one from a Manager "
                     "(m.dict(), m.list(), m.queue(), m.lock(), m.value())");
}

void throw_bad_reply(const char* what) {
    throw ManagerError(std::string("ringlet::ipc::Manager: protocol error: ") + what);
}

}  // namespace detail

// ---- Manager ----------------------------------------------------------------------

namespace {

// Where a client of a server bound to `host` connects.
std::string client_host(std::string_view host) {
    if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
    if (host == "::") return "::1";
    return std::string(host);
}

std::string display_address(std::string_view host, std::uint16_t port) {
    const std::string h = host.empty() ? std::string("0.0.0.0") : std::string(host);
    if (h.find(':') != std::string::npos) return "[" + h + "]:" + std::to_string(port);
    return h + ":" + std::to_string(port);
}

}  // namespace

Manager::Manager() : Manager(ManagerOptions{}) {}

Manager::Manager(ManagerOptions options) {
    std::string key(32, '\0');
    detail::random_bytes(key.data(), key.size());
    *this = start_server(false, {}, 0, std::move(key), std::move(options));
}

Manager::Manager(std::shared_ptr<const detail::ManagerEndpoint> endpoint,
                 std::unique_ptr<Process> server) noexcept
    : endpoint_(std::move(endpoint)), server_(std::move(server)), owner_pid_(::getpid()) {}

Manager::Manager(Manager&& o) noexcept
    : endpoint_(std::move(o.endpoint_)),
      server_(std::move(o.server_)),
      owner_pid_(std::exchange(o.owner_pid_, 0)),
      shut_down_(std::exchange(o.shut_down_, false)) {}

Manager& Manager::operator=(Manager&& o) noexcept {
    if (this != &o) {
        kill_server();
        endpoint_ = std::move(o.endpoint_);
        server_ = std::move(o.server_);
        owner_pid_ = std::exchange(o.owner_pid_, 0);
        shut_down_ = std::exchange(o.shut_down_, false);
    }
    return *this;
}

Manager::~Manager() { kill_server(); }

void Manager::kill_server() noexcept {
    if (!server_ || shut_down_ || owner_pid_ != ::getpid()) return;
    try {
        server_->kill();
        (void)server_->exitcode();  // reaps it if it is already gone; else run() will
    } catch (const std::exception&) {
    }
}

Manager Manager::start_server(bool tcp, std::string_view host, std::uint16_t port,
                              std::string authkey, ManagerOptions options) {
    auto endpoint = std::make_shared<detail::ManagerEndpoint>();
    endpoint->authkey = authkey;
    endpoint->options = options;
    // Bound here, before the fork: errors (EADDRINUSE) reach the caller, the
    // port is known at once, and clients may connect before the child runs.
    struct Listeners {
        net::UnixListener unix_listener;
        net::TcpListener tcp_listener;
    };
    auto listeners = std::make_shared<Listeners>();
    if (tcp) {
        listeners->tcp_listener = net::TcpListener::bind(host, port);
        endpoint->tcp = true;
        endpoint->port = listeners->tcp_listener.port();
        endpoint->host = client_host(host);
        endpoint->display = display_address(host, endpoint->port);
    } else {
        endpoint->path = "@ringlet-manager-" + std::to_string(::getpid()) + "-" +
                         detail::random_hex(8);
        listeners->unix_listener = net::UnixListener::bind(endpoint->path);
    }
    auto server = std::make_unique<Process>(
        ProcessOptions{.name = "ringlet-manager", .daemon = true},
        [listeners, key = std::move(authkey), options, tcp] {
            if (tcp) {
                detail::run_manager_server(listeners->tcp_listener, key, options);
            } else {
                detail::run_manager_server(listeners->unix_listener, key, options);
            }
        });
    server->start();
    // The child has the listening socket now; our copy would only keep the
    // address taken after the server dies. (close() never shuts it down, so
    // the child's copy keeps listening.)
    listeners->tcp_listener.close();
    listeners->unix_listener.close();
    return Manager(std::move(endpoint), std::move(server));
}

Manager Manager::serve(std::string_view host, std::uint16_t port, std::string_view authkey,
                       ManagerOptions options) {
    return start_server(true, host, port, std::string(authkey), std::move(options));
}

Manager Manager::connect(std::string_view host, std::uint16_t port, std::string_view authkey,
                         ManagerOptions options) {
    auto endpoint = std::make_shared<detail::ManagerEndpoint>();
    endpoint->tcp = true;
    endpoint->host = std::string(host);
    endpoint->port = port;
    endpoint->display = display_address(host, port);
    endpoint->authkey = std::string(authkey);
    endpoint->options = std::move(options);
    (void)detail::connect_link(*endpoint);  // does it answer, with our key?
    return Manager(std::move(endpoint), nullptr);
}

const detail::ManagerEndpoint& Manager::endpoint(const char* operation) const {
    if (!endpoint_) {
        throw UsageError(std::string("ringlet::ipc::Manager::") + operation +
                         ": the handle is empty (moved-from)");
    }
    return *endpoint_;
}

std::shared_ptr<detail::ProxyCore> Manager::attach(std::string name, detail::ManagerKind kind,
                                                   std::string fingerprint,
                                                   std::optional<std::string> initial,
                                                   std::uint64_t maxsize) {
    endpoint("attach");
    return detail::attach_object(endpoint_, std::move(name), kind, std::move(fingerprint),
                                 std::move(initial), maxsize);
}

LockProxy Manager::lock(std::string name) {
    return LockProxy(attach(std::move(name), detail::ManagerKind::lock, {}, std::nullopt, 0));
}

void Manager::shutdown() {
    endpoint("shutdown");
    if (!server_) {
        throw UsageError(
            "ringlet::ipc::Manager::shutdown: this handle did not start the server (it came "
            "from Manager::connect); only the handle that started it stops it");
    }
    if (owner_pid_ != ::getpid()) {
        throw UsageError(
            "ringlet::ipc::Manager::shutdown: this is a copy of the handle in a child process; "
            "only the process that started the server stops it");
    }
    if (shut_down_) return;
    Process& server = *server_;
    if (!server.exitcode()) {  // else already gone (killed by someone else)
        try {
            server.terminate();
            if (!server.join(std::chrono::seconds(2))) {
                server.kill();
                server.join();
            }
        } catch (...) {
            server.kill();  // Cancelled or TimeoutError: do not leave it running
            shut_down_ = true;
            throw;
        }
    }
    shut_down_ = true;
}

std::string Manager::address() const { return endpoint("address").address(); }
std::uint16_t Manager::port() const { return endpoint("port").port; }
const std::string& Manager::authkey() const { return endpoint("authkey").authkey; }
pid_t Manager::server_pid() const noexcept {
    return server_ && !shut_down_ ? server_->pid() : 0;
}

}  // namespace ringlet::ipc
