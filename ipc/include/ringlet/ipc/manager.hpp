// ringlet/ipc/manager.hpp — a server process of named shared objects, and proxies to them.
//
// ipc::Manager is Python's multiprocessing.Manager (and BaseManager for remote
// access): a server process holds named objects — dicts, lists, queues, locks
// and values — and every process that knows the server's address and authkey
// reaches them through proxies, each operation one request/reply over a
// socket. The server stores values as opaque Codec<T> bytes (codec.hpp), so
// it needs no knowledge of the types: any Encodable K, V, T works.
//
//   ipc::Manager m;                                   // starts the server child
//   auto d = m.dict<int, int>();                      // a new anonymous dict
//   auto l = m.list<int>("", {0, 1, 2, 3, 4});        // like m.list(range(5))
//   ipc::Process p([&] { d.set(7, 70); l.append(ipc::current_pid()); });
//   p.start(); p.join();
//   std::map<int, int> snapshot = d.to_map();         // {7: 70}
//
// Where the server runs. Manager() forks a daemon ipc::Process that runs a
// ringlet scheduler (one task per connection) listening on an abstract Unix
// socket with a random name, and picks a random 32-byte authkey. The handle
// remembers both, so children forked later (ipc::Process, ProcessPool
// workers) reach the same server through the handle or through proxies they
// inherit. Manager::serve(host, port, authkey) starts the same server child
// listening on TCP, for processes on other machines; the returned handle is a
// client of it too. Manager::connect(host, port, authkey) is a client-only
// handle for a server started elsewhere (Python's BaseManager.connect()).
//
// Lifetime. The handle that started the server stops it with shutdown() or
// its destructor (SIGKILL, no wait; shutdown() waits). Copies of the handle
// in forked children never stop it: the handle remembers the pid that
// started the server. The server is a daemon child, so it also ends when the
// ringlet::run() that started it ends. Objects live as long as the server:
// there is no reference counting (anonymous objects included).
//
// Proxies (DictProxy, ListProxy, QueueProxy, LockProxy, ValueProxy) are
// copyable values; copies in one process share their connections. A proxy
// connects lazily, keeps idle connections for reuse, and opens one more when
// a call finds all of them busy (so a task blocked in queue.get() never
// blocks another task's put() on the same proxy). A connection belongs to
// the process that opened it: after fork() the child opens its own (the
// inherited sockets are detached from the server in the child at fork time,
// so a child can never keep its parent's connection, and the locks it holds,
// alive). Proxies are Encodable: they cross into ProcessPool workers and
// through queues and pipes as their address, authkey and object name — so
// send them only between your own processes.
//
// Who may call: tasks (each call suspends only the task) and plain threads
// (calls block), from any number of threads at once. Every proxy call is a
// suspension point: it Suspends, and may throw
//   ManagerError         no server answers, or the connection was lost (the
//                        server died or closed it); the proxy reconnects on
//                        its next call, and fails again while the server is gone
//   AuthenticationError  the server and this process do not share the authkey
//   CodecError           a reply does not decode as the proxy's type, or a
//                        request is larger than max_frame_size (nothing sent)
//   UsageError           an empty (default-constructed) proxy, or misuse
//                        reported by the server (see each call)
//   Cancelled, TimeoutError  (an enclosing scope); the connection in use is
//                        then closed, so the server drops the request if it
//                        was still waiting (a queue get, a lock acquire), and
//                        the next call opens a fresh one.
// Cancellation, in general: a request cancelled after it was sent may or may
// not have taken effect on the server. The exceptions are the waiting calls:
// a QueueProxy get cancelled before its reply arrived loses no item (the
// server puts it back unless this process acknowledged it), and a LockProxy
// acquire cancelled before its reply leaves the lock free (the server
// releases it with the connection).
//
// Wire protocol and security. Every connection starts with an HMAC-SHA256
// challenge-response in both directions (Python's deliver_challenge /
// answer_challenge, with distinct labels per direction against reflection),
// before the server decodes anything: a wrong key gets AuthenticationError
// and a closed connection, and a peer that stays silent is dropped after
// handshake_timeout. Then come frames: a u32 length and that many bytes, at
// most max_frame_size (a longer announced length closes the connection); a
// request that does not decode gets an error reply and the connection goes
// on. One misbehaving client never affects the others. Nothing is encrypted:
// over a network, use a trusted one (or a tunnel). Values are Codec bytes in
// the host's byte order: both ends must be builds of the same code for the
// same architecture (the server itself never decodes them).
//
// Ordering: the server applies requests one at a time (it is one scheduler
// thread); a call's effect happens-before its reply, so whatever one process
// did through a proxy before telling another (through any channel) is seen
// by the other's later calls.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include <ringlet/errors.hpp>
#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/time.hpp>

namespace ringlet::ipc {

// Limits and timeouts of a manager server and of its clients.
struct ManagerOptions {
    // The largest frame (one request or one reply) either side accepts. A
    // larger request throws CodecError before anything is sent; a larger
    // reply becomes an error reply (CodecError); a peer announcing more is
    // disconnected.
    std::size_t max_frame_size = std::size_t{64} << 20;
    // Server: a new connection must complete the handshake within this.
    // Client: connecting plus the handshake must complete within this.
    Duration handshake_timeout = std::chrono::seconds(10);
    // Server: once the first byte of a frame has arrived, the rest must arrive
    // within this, and so must a client's acknowledgement of a queue item and
    // its reading of a reply; otherwise the connection is closed (and an
    // unacknowledged item put back). Idle connections between frames are
    // never timed out.
    Duration frame_timeout = std::chrono::seconds(10);
    // Server: connections that have not finished the handshake (sshd's
    // MaxStartups), so that idle floods cannot lock clients out. Over
    // max_startups_soft of them, a new connection is closed at once with a
    // probability rising linearly to 1 at max_startups, and each gets only
    // pressure_handshake_timeout to finish; out of file descriptors, the
    // oldest is closed to make room. A client whose connection is closed
    // before the handshake starts retries until its handshake_timeout.
    std::size_t max_startups_soft = 64;
    std::size_t max_startups = 256;
    Duration pressure_handshake_timeout = std::chrono::seconds(1);
};

class Manager;

namespace detail {

// What a proxy refers to on the server; a mismatch is an error reply.
enum class ManagerKind : std::uint8_t { dict = 1, list = 2, queue = 3, lock = 4, value = 5 };

// Request op codes (the first byte of a request). The server's dispatch and
// the proxies below agree on them; manager_wire.hpp has the argument layouts.
enum class ManagerOp : std::uint8_t {
    attach = 1,  // get or create a named object
    dict_set = 10, dict_get, dict_contains, dict_erase, dict_size, dict_keys, dict_values,
    dict_items, dict_clear, dict_setdefault, dict_pop,
    list_append = 30, list_extend, list_at, list_set, list_size, list_pop, list_clear,
    list_snapshot,
    queue_put = 50, queue_get, queue_size,
    lock_acquire = 70, lock_release,
    value_get = 80, value_set, value_cas,
    ack = 100,  // the client got a queue item (no reply)
};

struct ManagerEndpoint;  // address, authkey, options; manager_client.cpp
struct ManagerLink;      // one authenticated connection; manager_client.cpp

// The untyped core shared by the copies of one proxy in one process: the
// object's name and kind, the server's endpoint, and a small pool of idle
// connections owned by the process that opened them. Thread-safe.
class ProxyCore {
public:
    ProxyCore(std::shared_ptr<const ManagerEndpoint> endpoint, std::string name,
              ManagerKind kind, std::string fingerprint);
    ~ProxyCore();
    ProxyCore(const ProxyCore&) = delete;
    ProxyCore& operator=(const ProxyCore&) = delete;

    // A request for `op` on this object; append the arguments, then call().
    Writer request(ManagerOp op) const;
    // Sends `request` and waits for the reply; returns the reply's payload.
    // Suspends. Throws: as the file comment says, and what the server reports.
    std::string call(Writer& request);

    // LockProxy's calls: the connection that acquired the lock is kept
    // (the server releases the lock when that connection closes).
    bool lock_acquire(Duration timeout);
    void lock_release();
    bool lock_held_by_me() const;

    const std::string& name() const noexcept { return name_; }
    ManagerKind kind() const noexcept { return kind_; }
    const std::string& fingerprint() const noexcept { return fingerprint_; }
    const std::shared_ptr<const ManagerEndpoint>& endpoint() const noexcept { return endpoint_; }

private:
    struct Links;
    std::unique_ptr<ManagerLink> take_link();
    void give_back(std::unique_ptr<ManagerLink> link) noexcept;
    std::string exchange(ManagerLink& link, Writer& request);

    std::shared_ptr<const ManagerEndpoint> endpoint_;
    std::string name_;
    ManagerKind kind_;
    std::string fingerprint_;
    std::unique_ptr<Links> links_;
};

// Gets or creates `name` on the server (a fresh anonymous name if empty),
// checking kind and fingerprint. `initial` (encoded) fills it if it was
// created. Suspends. Throws: UsageError on a kind or type mismatch, and as
// any call.
std::shared_ptr<ProxyCore> attach_object(const std::shared_ptr<const ManagerEndpoint>& endpoint,
                                         std::string name, ManagerKind kind,
                                         std::string fingerprint,
                                         std::optional<std::string> initial,
                                         std::uint64_t maxsize);

// A proxy as bytes (kind, fingerprint, name, endpoint and authkey) and back.
// decode_proxy checks kind and fingerprint: CodecError if they differ.
void encode_proxy(Writer& w, const ProxyCore* core, ManagerKind kind);
std::shared_ptr<ProxyCore> decode_proxy(Reader& r, ManagerKind kind,
                                        const std::string& fingerprint);

[[noreturn]] void throw_empty_proxy(const char* type);
[[noreturn]] void throw_bad_reply(const char* what);

// The types an object was created with, as the compiler names them.
template <class... T>
std::string type_fingerprint() {
    std::string s;
    ((s += typeid(T).name(), s += ';'), ...);
    return s;
}

// A value's Codec bytes, length-prefixed (the server stores them as they are).
template <class T>
void write_value(Writer& w, const T& value) {
    const std::size_t at = w.size();
    w.put_length(0);
    Codec<T>::encode(w, value);
    const std::uint64_t length = w.size() - at - sizeof(std::uint64_t);
    std::memcpy(w.bytes().data() + at, &length, sizeof length);
}

inline std::string_view read_value_bytes(Reader& r) { return r.take(r.get_length(1)); }

template <class T>
T read_value(Reader& r) {
    return decode<T>(read_value_bytes(r));
}

// A client timeout on the wire: nanoseconds, 0 = do not wait, -1 = forever.
inline std::int64_t wire_timeout(Duration d) noexcept {
    if (d == forever) return -1;
    if (d <= Duration::zero()) return 0;
    return static_cast<std::int64_t>(d.count());
}

}  // namespace detail

// ---- DictProxy --------------------------------------------------------------

// A dict<K, V> held by a manager server: Python's DictProxy. Keys are
// compared by their Codec bytes (equal values must encode equally, which
// holds for the built-in codecs). keys(), values() and items() come in
// insertion order, as Python's dict. Copyable; copies name the same dict.
template <class K, class V>
class DictProxy {
    static_assert(Encodable<K> && Encodable<V>,
                  "ringlet::ipc::DictProxy<K, V>: K and V need a Codec (see codec.hpp)");

public:
    static constexpr const char* type_name = "DictProxy";

    // An empty proxy: every call throws UsageError. Get real ones from a Manager.
    DictProxy() noexcept = default;

    // Sets d[key] = value. Suspends. Throws: as any call (file comment).
    void set(const K& key, const V& value) {
        Writer w = core().request(detail::ManagerOp::dict_set);
        detail::write_value(w, key);
        detail::write_value(w, value);
        core().call(w);
    }
    // d.get(key): the value, or nullopt if the key is absent. Suspends.
    std::optional<V> get(const K& key) {
        Writer w = core().request(detail::ManagerOp::dict_get);
        detail::write_value(w, key);
        return optional_reply(core().call(w));
    }
    // d.get(key, default). Suspends.
    V get(const K& key, const V& default_value) {
        std::optional<V> v = get(key);
        return v ? std::move(*v) : default_value;
    }
    // key in d. Suspends.
    bool contains(const K& key) {
        Writer w = core().request(detail::ManagerOp::dict_contains);
        detail::write_value(w, key);
        return bool_reply(core().call(w));
    }
    // del d[key]; true if it was there. Suspends.
    bool erase(const K& key) {
        Writer w = core().request(detail::ManagerOp::dict_erase);
        detail::write_value(w, key);
        return bool_reply(core().call(w));
    }
    // len(d). Suspends.
    std::size_t size() {
        Writer w = core().request(detail::ManagerOp::dict_size);
        return size_reply(core().call(w));
    }
    bool empty() { return size() == 0; }
    // d.keys() / d.values() / d.items(), in insertion order. Suspends.
    std::vector<K> keys() { return list_reply<K>(detail::ManagerOp::dict_keys); }
    std::vector<V> values() { return list_reply<V>(detail::ManagerOp::dict_values); }
    std::vector<std::pair<K, V>> items() {
        Writer w = core().request(detail::ManagerOp::dict_items);
        const std::string reply = core().call(w);
        Reader r(reply);
        const std::size_t n = r.get_length(2 * sizeof(std::uint64_t));
        std::vector<std::pair<K, V>> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            K k = detail::read_value<K>(r);
            V v = detail::read_value<V>(r);
            out.emplace_back(std::move(k), std::move(v));
        }
        r.expect_end();
        return out;
    }
    // The whole dict at one instant, as a std::map (K needs operator<). Suspends.
    std::map<K, V> to_map() {
        std::map<K, V> out;
        for (auto& [k, v] : items()) out.insert_or_assign(std::move(k), std::move(v));
        return out;
    }
    // d.clear(). Suspends.
    void clear() {
        Writer w = core().request(detail::ManagerOp::dict_clear);
        core().call(w);
    }
    // d.setdefault(key, value): d[key] if present, else sets it to `value`
    // and returns that, in one step on the server. Suspends.
    V setdefault(const K& key, const V& value) {
        Writer w = core().request(detail::ManagerOp::dict_setdefault);
        detail::write_value(w, key);
        detail::write_value(w, value);
        const std::string reply = core().call(w);
        Reader r(reply);
        V v = detail::read_value<V>(r);
        r.expect_end();
        return v;
    }
    // d.pop(key, None): removes the key and returns its value; nullopt if
    // absent. Suspends. Cancellation: if cancelled while waiting for the
    // reply, the key may have been removed (and its value lost).
    std::optional<V> pop(const K& key) {
        Writer w = core().request(detail::ManagerOp::dict_pop);
        detail::write_value(w, key);
        return optional_reply(core().call(w));
    }

    // The object's name on the server (generated for anonymous objects).
    const std::string& name() const { return core().name(); }
    bool valid() const noexcept { return core_ != nullptr; }

private:
    friend class Manager;
    friend struct Codec<DictProxy>;
    explicit DictProxy(std::shared_ptr<detail::ProxyCore> core) noexcept : core_(std::move(core)) {}
    detail::ProxyCore& core() const {
        if (!core_) detail::throw_empty_proxy(type_name);
        return *core_;
    }

    static std::optional<V> optional_reply(const std::string& reply) {
        Reader r(reply);
        std::optional<V> out;
        if (r.read<bool>()) out.emplace(detail::read_value<V>(r));
        r.expect_end();
        return out;
    }
    static bool bool_reply(const std::string& reply) { return decode<bool>(reply); }
    static std::size_t size_reply(const std::string& reply) {
        return static_cast<std::size_t>(decode<std::uint64_t>(reply));
    }
    template <class U>
    std::vector<U> list_reply(detail::ManagerOp op) {
        Writer w = core().request(op);
        const std::string reply = core().call(w);
        Reader r(reply);
        const std::size_t n = r.get_length(sizeof(std::uint64_t));
        std::vector<U> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) out.push_back(detail::read_value<U>(r));
        r.expect_end();
        return out;
    }

    std::shared_ptr<detail::ProxyCore> core_;
};

// ---- ListProxy --------------------------------------------------------------

// A list<T> held by a manager server: Python's ListProxy. Indices are
// std::int64_t and may be negative, counting from the end (-1 is the last),
// as in Python; an index out of range throws std::out_of_range (Python's
// IndexError), raised here from the server's error reply. Copyable.
template <class T>
class ListProxy {
    static_assert(Encodable<T>, "ringlet::ipc::ListProxy<T>: T needs a Codec (see codec.hpp)");

public:
    static constexpr const char* type_name = "ListProxy";

    ListProxy() noexcept = default;

    // l.append(value). Suspends.
    void append(const T& value) {
        Writer w = core().request(detail::ManagerOp::list_append);
        detail::write_value(w, value);
        core().call(w);
    }
    // l.extend(values), in one step on the server. Suspends.
    void extend(const std::vector<T>& values) {
        Writer w = core().request(detail::ManagerOp::list_extend);
        w.put_length(values.size());
        for (const T& v : values) detail::write_value(w, v);
        core().call(w);
    }
    // l[index]. Suspends. Throws: std::out_of_range.
    T at(std::int64_t index) {
        Writer w = core().request(detail::ManagerOp::list_at);
        w.write(index);
        return value_reply(core().call(w));
    }
    // l[index] = value. Suspends. Throws: std::out_of_range.
    void set(std::int64_t index, const T& value) {
        Writer w = core().request(detail::ManagerOp::list_set);
        w.write(index);
        detail::write_value(w, value);
        core().call(w);
    }
    // len(l). Suspends.
    std::size_t size() {
        Writer w = core().request(detail::ManagerOp::list_size);
        return static_cast<std::size_t>(decode<std::uint64_t>(core().call(w)));
    }
    bool empty() { return size() == 0; }
    // l.pop(index): removes and returns l[index] (the last by default).
    // Suspends. Throws: std::out_of_range (also for an empty list).
    // Cancellation: if cancelled while waiting for the reply, the element
    // may have been removed (and lost).
    T pop(std::int64_t index = -1) {
        Writer w = core().request(detail::ManagerOp::list_pop);
        w.write(index);
        return value_reply(core().call(w));
    }
    // l.clear(). Suspends.
    void clear() {
        Writer w = core().request(detail::ManagerOp::list_clear);
        core().call(w);
    }
    // The whole list at one instant. Suspends.
    std::vector<T> to_vector() {
        Writer w = core().request(detail::ManagerOp::list_snapshot);
        const std::string reply = core().call(w);
        Reader r(reply);
        const std::size_t n = r.get_length(sizeof(std::uint64_t));
        std::vector<T> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) out.push_back(detail::read_value<T>(r));
        r.expect_end();
        return out;
    }

    const std::string& name() const { return core().name(); }
    bool valid() const noexcept { return core_ != nullptr; }

private:
    friend class Manager;
    friend struct Codec<ListProxy>;
    explicit ListProxy(std::shared_ptr<detail::ProxyCore> core) noexcept : core_(std::move(core)) {}
    detail::ProxyCore& core() const {
        if (!core_) detail::throw_empty_proxy(type_name);
        return *core_;
    }

    static T value_reply(const std::string& reply) {
        Reader r(reply);
        T v = detail::read_value<T>(r);
        r.expect_end();
        return v;
    }

    std::shared_ptr<detail::ProxyCore> core_;
};

// ---- QueueProxy -------------------------------------------------------------

// A FIFO queue<T> held by a manager server: Python's Manager().Queue(), the
// queue task_master/task_worker share over the network. At most `maxsize`
// items (0 = no limit, fixed when the queue is created). Waiting calls wait
// on the server, in this connection's task there; their timeouts are the
// server's. Copyable.
template <class T>
class QueueProxy {
    static_assert(Encodable<T>, "ringlet::ipc::QueueProxy<T>: T needs a Codec (see codec.hpp)");

public:
    static constexpr const char* type_name = "QueueProxy";

    QueueProxy() noexcept = default;

    // Appends `value`, waiting while the queue is full.
    // Suspends. Throws: as any call. Cancellation: if cancelled while
    // waiting for room, the value was not put; if cancelled after room was
    // found, it may have been.
    void put(const T& value) { (void)put_impl(value, forever); }
    // As put(), waiting at most `timeout`: false if it was not put.
    bool put_for(const T& value, Duration timeout) { return put_impl(value, timeout); }
    // Puts only if there is room now (Python's put_nowait, but false instead of Full).
    bool try_put(const T& value) { return put_impl(value, Duration::zero()); }

    // Takes the oldest item, waiting while the queue is empty.
    // Suspends. Throws: CodecError if the item does not decode as T (it is
    // consumed), and as any call. Cancellation: no item is lost — one the
    // server had already sent is put back at the head of the queue.
    T get() {
        std::optional<T> v = get_impl(forever);
        if (!v) detail::throw_bad_reply("a waiting get came back empty");
        return std::move(*v);
    }
    // As get(), waiting at most `timeout` (Python's get(timeout=...), but
    // nullopt instead of Empty).
    std::optional<T> get_for(Duration timeout) { return get_impl(timeout); }
    // The oldest item if there is one now (Python's get_nowait).
    std::optional<T> try_get() { return get_impl(Duration::zero()); }

    // qsize(): items queued now (a snapshot). Suspends.
    std::size_t size() {
        Writer w = core().request(detail::ManagerOp::queue_size);
        return static_cast<std::size_t>(decode<std::uint64_t>(core().call(w)));
    }
    bool empty() { return size() == 0; }

    const std::string& name() const { return core().name(); }
    bool valid() const noexcept { return core_ != nullptr; }

private:
    friend class Manager;
    friend struct Codec<QueueProxy>;
    explicit QueueProxy(std::shared_ptr<detail::ProxyCore> core) noexcept
        : core_(std::move(core)) {}
    detail::ProxyCore& core() const {
        if (!core_) detail::throw_empty_proxy(type_name);
        return *core_;
    }

    bool put_impl(const T& value, Duration timeout) {
        Writer w = core().request(detail::ManagerOp::queue_put);
        w.write(detail::wire_timeout(timeout));
        detail::write_value(w, value);
        return decode<bool>(core().call(w));
    }
    std::optional<T> get_impl(Duration timeout) {
        Writer w = core().request(detail::ManagerOp::queue_get);
        w.write(detail::wire_timeout(timeout));
        const std::string reply = core().call(w);
        Reader r(reply);
        std::optional<T> out;
        if (r.read<bool>()) out.emplace(detail::read_value<T>(r));
        r.expect_end();
        return out;
    }

    std::shared_ptr<detail::ProxyCore> core_;
};

// ---- LockProxy --------------------------------------------------------------

// A lock held by a manager server: Python's Manager().Lock(), usable across
// machines. Satisfies Lockable and TimedLockable (std::lock_guard,
// std::unique_lock). The lock is held by the task (or plain thread) that
// acquired it, through this proxy's process: only that task may release it,
// and it is not recursive. If the holding process dies, or closes the
// connection that acquired the lock (its last copy of the proxy destroyed,
// its task cancelled while acquiring), the server releases the lock, so a
// killed holder never deadlocks the others. Copyable.
class LockProxy {
public:
    static constexpr const char* type_name = "LockProxy";

    LockProxy() noexcept = default;

    // Takes the lock, waiting while anyone else holds it.
    // Suspends. Throws: UsageError if the calling task already holds it; as
    // any call. Cancellation: the lock was not acquired.
    void acquire() { (void)core().lock_acquire(forever); }
    // Takes the lock if it is free now. Suspends (one round trip).
    bool try_acquire() { return core().lock_acquire(Duration::zero()); }
    // Like acquire(), but false if not acquired within `timeout`.
    bool acquire_for(Duration timeout) { return core().lock_acquire(timeout); }
    // Releases the lock; the server hands it to the longest waiter.
    // Suspends. Throws: UsageError if the calling task does not hold it
    // through this proxy; as any call (after a lost connection the lock is
    // free anyway).
    void release() { core().lock_release(); }
    // True if the calling task holds the lock through this proxy. Never waits.
    bool held_by_me() const { return core_ && core_->lock_held_by_me(); }

    // Lockable names (same contracts).
    void lock() { acquire(); }
    bool try_lock() { return try_acquire(); }
    void unlock() { release(); }
    template <class Rep, class Period>
    bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
        return acquire_for(std::chrono::duration_cast<Duration>(timeout));
    }
    template <class Clock2, class Dur>
    bool try_lock_until(std::chrono::time_point<Clock2, Dur> deadline) {
        const auto left = deadline - Clock2::now();
        return acquire_for(left.count() > 0 ? std::chrono::duration_cast<Duration>(left)
                                            : Duration::zero());
    }

    const std::string& name() const { return core().name(); }
    bool valid() const noexcept { return core_ != nullptr; }

private:
    friend class Manager;
    friend struct Codec<LockProxy>;
    explicit LockProxy(std::shared_ptr<detail::ProxyCore> core) noexcept
        : core_(std::move(core)) {}
    detail::ProxyCore& core() const {
        if (!core_) detail::throw_empty_proxy(type_name);
        return *core_;
    }

    std::shared_ptr<detail::ProxyCore> core_;
};

// ---- ValueProxy -------------------------------------------------------------

// One value of type T held by a manager server: Python's Manager().Value().
// Copyable.
template <class T>
class ValueProxy {
    static_assert(Encodable<T>, "ringlet::ipc::ValueProxy<T>: T needs a Codec (see codec.hpp)");

public:
    static constexpr const char* type_name = "ValueProxy";

    ValueProxy() noexcept = default;

    // The current value. Suspends.
    T get() {
        Writer w = core().request(detail::ManagerOp::value_get);
        const std::string reply = core().call(w);
        Reader r(reply);
        T v = detail::read_value<T>(r);
        r.expect_end();
        return v;
    }
    // Replaces the value. Suspends.
    void set(const T& value) {
        Writer w = core().request(detail::ManagerOp::value_set);
        detail::write_value(w, value);
        core().call(w);
    }
    // If the value's Codec bytes equal `expected`'s, replaces it with
    // `desired` and returns true, in one step on the server; else false.
    // Suspends.
    bool compare_exchange(const T& expected, const T& desired) {
        Writer w = core().request(detail::ManagerOp::value_cas);
        detail::write_value(w, expected);
        detail::write_value(w, desired);
        return decode<bool>(core().call(w));
    }

    const std::string& name() const { return core().name(); }
    bool valid() const noexcept { return core_ != nullptr; }

private:
    friend class Manager;
    friend struct Codec<ValueProxy>;
    explicit ValueProxy(std::shared_ptr<detail::ProxyCore> core) noexcept
        : core_(std::move(core)) {}
    detail::ProxyCore& core() const {
        if (!core_) detail::throw_empty_proxy(type_name);
        return *core_;
    }

    std::shared_ptr<detail::ProxyCore> core_;
};

// ---- Manager ----------------------------------------------------------------

// A handle to a manager server: one that started it (Manager(), serve()) or
// a client-only one (connect()). Move-only; a moved-from handle is empty and
// its calls throw UsageError. Not thread-safe itself (the proxies it returns
// are). Usable from tasks and plain threads.
//
// Getting objects: each call below gets the object called `name` from the
// server, creating it if it does not exist yet, and returns a proxy. An
// empty name makes a new anonymous object (Python's m.dict(), m.list()). An
// `initial` content, `maxsize` or initial value applies only if this call
// created the object. Asking for an existing name as another kind (a list
// called "d" when "d" is a dict) or with other types (dict<int, int> for a
// dict<int, std::string>) throws UsageError (the server's error reply).
// Types are compared as typeid names, so both ends must come from the same
// compiler. Each of these Suspends (one round trip) and throws as any proxy
// call.
class Manager {
public:
    // Starts a local server: a daemon child process listening on an abstract
    // Unix socket with a random name and a random 32-byte authkey.
    // Throws: IoError (fork, socket), ManagerError.
    Manager();
    explicit Manager(ManagerOptions options);

    // Starts a server listening on TCP `host`:`port` ("" or "0.0.0.0" for all
    // IPv4 interfaces, "::" for all; port 0 picks a free port, see port())
    // that accepts clients knowing `authkey`. The handle is a client too
    // (over loopback when `host` is a wildcard).
    // Throws: IoError (EADDRINUSE …), UsageError (bad host).
    static Manager serve(std::string_view host, std::uint16_t port, std::string_view authkey,
                         ManagerOptions options = {});

    // A client-only handle for the server at `host`:`port`. Connects once to
    // check that it answers and knows `authkey`; shutdown() is not allowed.
    // Suspends. Throws: ManagerError if nothing answers (refused, timed
    // out, closed during the handshake); AuthenticationError if the keys
    // differ.
    static Manager connect(std::string_view host, std::uint16_t port, std::string_view authkey,
                           ManagerOptions options = {});

    Manager(Manager&&) noexcept;
    Manager& operator=(Manager&&) noexcept;  // stops the server this held, as the destructor
    Manager(const Manager&) = delete;
    Manager& operator=(const Manager&) = delete;
    // If this handle started the server, in this process: kills it (SIGKILL;
    // no wait — the run() that started it reaps it). Never throws.
    ~Manager();

    template <class K, class V>
    DictProxy<K, V> dict(std::string name = {}) {
        return DictProxy<K, V>(attach(std::move(name), detail::ManagerKind::dict,
                                      detail::type_fingerprint<K, V>(), std::nullopt, 0));
    }
    // Python's m.dict({'count': 100}): `initial` fills the dict if created.
    template <class K, class V>
    DictProxy<K, V> dict(std::string name, const std::map<K, V>& initial) {
        Writer w;
        w.put_length(initial.size());
        for (const auto& [k, v] : initial) {
            detail::write_value(w, k);
            detail::write_value(w, v);
        }
        return DictProxy<K, V>(attach(std::move(name), detail::ManagerKind::dict,
                                      detail::type_fingerprint<K, V>(), std::move(w.bytes()),
                                      0));
    }

    template <class T>
    ListProxy<T> list(std::string name = {}) {
        return ListProxy<T>(attach(std::move(name), detail::ManagerKind::list,
                                   detail::type_fingerprint<T>(), std::nullopt, 0));
    }
    // Python's m.list(range(5)) is m.list<int>("", {0, 1, 2, 3, 4}).
    template <class T>
    ListProxy<T> list(std::string name, const std::vector<T>& initial) {
        Writer w;
        w.put_length(initial.size());
        for (const T& v : initial) detail::write_value(w, v);
        return ListProxy<T>(attach(std::move(name), detail::ManagerKind::list,
                                   detail::type_fingerprint<T>(), std::move(w.bytes()), 0));
    }

    // A queue of at most `maxsize` items (0 = no limit), if created here.
    template <class T>
    QueueProxy<T> queue(std::string name = {}, std::size_t maxsize = 0) {
        return QueueProxy<T>(attach(std::move(name), detail::ManagerKind::queue,
                                    detail::type_fingerprint<T>(), std::nullopt, maxsize));
    }

    LockProxy lock(std::string name = {});

    // A value, set to `initial` if created here.
    template <class T>
    ValueProxy<T> value(std::string name = {}, const T& initial = T{}) {
        Writer w;
        detail::write_value(w, initial);
        return ValueProxy<T>(attach(std::move(name), detail::ManagerKind::value,
                                    detail::type_fingerprint<T>(), std::move(w.bytes()), 0));
    }

    // Stops the server: SIGTERM, then waits for it to end (SIGKILL after 2 s).
    // Proxies then throw ManagerError. Idempotent; a no-op once the server is
    // gone (killed by someone else included). Getting objects afterwards
    // throws ManagerError (nothing answers).
    // Suspends. Throws: UsageError on a connect() handle, on a copy in a
    // process other than the one that started the server, or on an empty
    // handle; Cancelled, TimeoutError (the server is killed anyway).
    void shutdown();

    // "@ringlet-manager-…" (abstract Unix socket) or "host:port".
    std::string address() const;
    // The TCP port (the one picked for port 0); 0 for a Unix socket.
    std::uint16_t port() const;
    // The authkey: 32 random bytes for Manager(), the given one otherwise.
    const std::string& authkey() const;
    // The server process's pid while this handle owns a running server; 0
    // for connect() handles and after shutdown().
    pid_t server_pid() const noexcept;
    bool valid() const noexcept { return endpoint_ != nullptr; }

private:
    Manager(std::shared_ptr<const detail::ManagerEndpoint> endpoint,
            std::unique_ptr<Process> server) noexcept;
    static Manager start_server(bool tcp, std::string_view host, std::uint16_t port,
                                std::string authkey, ManagerOptions options);
    std::shared_ptr<detail::ProxyCore> attach(std::string name, detail::ManagerKind kind,
                                              std::string fingerprint,
                                              std::optional<std::string> initial,
                                              std::uint64_t maxsize);
    const detail::ManagerEndpoint& endpoint(const char* operation) const;
    void kill_server() noexcept;

    std::shared_ptr<const detail::ManagerEndpoint> endpoint_;
    std::unique_ptr<Process> server_;  // set only in the handle that started it
    pid_t owner_pid_ = 0;              // the process that started server_
    bool shut_down_ = false;
};

// ---- Codecs: proxies cross process boundaries ---------------------------------
//
// A proxy encodes as its object's kind, types, name, and the server's address,
// authkey and options; the decoded proxy connects on first use. Decoding as
// another proxy type (other kind or types) throws CodecError.

template <class K, class V>
struct Codec<DictProxy<K, V>> {
    static void encode(Writer& w, const DictProxy<K, V>& p) {
        detail::encode_proxy(w, p.core_.get(), detail::ManagerKind::dict);
    }
    static DictProxy<K, V> decode(Reader& r) {
        return DictProxy<K, V>(
            detail::decode_proxy(r, detail::ManagerKind::dict, detail::type_fingerprint<K, V>()));
    }
};

template <class T>
struct Codec<ListProxy<T>> {
    static void encode(Writer& w, const ListProxy<T>& p) {
        detail::encode_proxy(w, p.core_.get(), detail::ManagerKind::list);
    }
    static ListProxy<T> decode(Reader& r) {
        return ListProxy<T>(
            detail::decode_proxy(r, detail::ManagerKind::list, detail::type_fingerprint<T>()));
    }
};

template <class T>
struct Codec<QueueProxy<T>> {
    static void encode(Writer& w, const QueueProxy<T>& p) {
        detail::encode_proxy(w, p.core_.get(), detail::ManagerKind::queue);
    }
    static QueueProxy<T> decode(Reader& r) {
        return QueueProxy<T>(
            detail::decode_proxy(r, detail::ManagerKind::queue, detail::type_fingerprint<T>()));
    }
};

template <>
struct Codec<LockProxy> {
    static void encode(Writer& w, const LockProxy& p) {
        detail::encode_proxy(w, p.core_.get(), detail::ManagerKind::lock);
    }
    static LockProxy decode(Reader& r) {
        return LockProxy(detail::decode_proxy(r, detail::ManagerKind::lock, std::string()));
    }
};

template <class T>
struct Codec<ValueProxy<T>> {
    static void encode(Writer& w, const ValueProxy<T>& p) {
        detail::encode_proxy(w, p.core_.get(), detail::ManagerKind::value);
    }
    static ValueProxy<T> decode(Reader& r) {
        return ValueProxy<T>(
            detail::decode_proxy(r, detail::ManagerKind::value, detail::type_fingerprint<T>()));
    }
};

}  // namespace ringlet::ipc
