#include "manager_server.hpp"

#include <cxxabi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <list>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <ringlet/event.hpp>
#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/net/serve.hpp>
#include <ringlet/task.hpp>

#include "io_request.hpp"
#include "manager_wire.hpp"

namespace ringlet::ipc::detail {

namespace {

// One request waiting in a connection's task for an item, room, or a lock.
// Whoever satisfies it sets `granted` (and `item`, for a get) and `ready`.
struct Waiter {
    explicit Waiter(std::uint64_t c) : connection(c) {}
    std::uint64_t connection;
    Event ready;
    bool granted = false;
    std::string item;  // get: the item handed over; put: the item to admit
};

using Entries = std::list<std::pair<std::string, std::string>>;

struct DictObject {
    Entries entries;  // insertion order, as Python's dict
    std::unordered_map<std::string, Entries::iterator> index;

    void set(std::string key, std::string value) {
        auto it = index.find(key);
        if (it != index.end()) {
            it->second->second = std::move(value);
            return;
        }
        entries.emplace_back(key, std::move(value));
        index.emplace(std::move(key), std::prev(entries.end()));
    }

    void erase(std::unordered_map<std::string, Entries::iterator>::iterator it) {
        entries.erase(it->second);
        index.erase(it);
    }
};

struct ListObject {
    std::vector<std::string> items;
};

struct QueueObject {
    std::deque<std::string> items;
    std::uint64_t maxsize = 0;      // 0 = no limit
    std::deque<Waiter*> getters;    // non-empty only while items is empty
    std::deque<Waiter*> putters;    // non-empty only while the queue is full
};

struct LockObject {
    std::uint64_t owner = 0;  // connection id; 0 = free
    std::deque<Waiter*> waiters;
};

struct ValueObject {
    std::string bytes;
};

struct Object {
    ManagerKind kind;
    std::string fingerprint;
    std::variant<DictObject, ListObject, QueueObject, LockObject, ValueObject> data;
};

// A request the server refuses: becomes an error reply of `kind`.
struct RequestError {
    ErrorKind kind;
    std::string message;
};

[[noreturn]] void refuse(ErrorKind kind, std::string message) {
    throw RequestError{kind, "ringlet::ipc::Manager: " + std::move(message)};
}

const char* kind_name(ManagerKind k) noexcept {
    switch (k) {
        case ManagerKind::dict: return "dict";
        case ManagerKind::list: return "list";
        case ManagerKind::queue: return "queue";
        case ManagerKind::lock: return "lock";
        case ManagerKind::value: return "value";
    }
    return "unknown";
}

// The kind of object an op works on; nullopt for an unknown op.
std::optional<ManagerKind> kind_of(std::uint8_t op) noexcept {
    if (op >= 10 && op <= static_cast<std::uint8_t>(ManagerOp::dict_pop)) return ManagerKind::dict;
    if (op >= 30 && op <= static_cast<std::uint8_t>(ManagerOp::list_snapshot)) {
        return ManagerKind::list;
    }
    if (op >= 50 && op <= static_cast<std::uint8_t>(ManagerOp::queue_size)) {
        return ManagerKind::queue;
    }
    if (op >= 70 && op <= static_cast<std::uint8_t>(ManagerOp::lock_release)) {
        return ManagerKind::lock;
    }
    if (op >= 80 && op <= static_cast<std::uint8_t>(ManagerOp::value_cas)) {
        return ManagerKind::value;
    }
    return std::nullopt;
}

std::string demangled_type(const std::exception& e) {
    const char* mangled = typeid(e).name();
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(
        abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
    return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

std::string quoted(std::string_view name) {
    std::string s = "\"";
    s.append(name.substr(0, 200));
    if (name.size() > 200) s += "...";
    return s + "\"";
}

void write_bytes(Writer& w, std::string_view bytes) {
    w.put_length(bytes.size());
    w.put(bytes.data(), bytes.size());
}

std::size_t checked_index(std::int64_t index, std::size_t size) {
    const std::int64_t n = static_cast<std::int64_t>(size);
    const std::int64_t i = index < 0 ? index + n : index;
    if (i < 0 || i >= n) {
        refuse(ErrorKind::out_of_range, "list index " + std::to_string(index) +
                                            " out of range (the list has " +
                                            std::to_string(size) + " elements)");
    }
    return static_cast<std::size_t>(i);
}

template <class Container, class T>
void erase_waiter(Container& waiters, T* w) {
    auto it = std::find(waiters.begin(), waiters.end(), w);
    if (it != waiters.end()) waiters.erase(it);
}

void grant(Waiter* w) {
    w->granted = true;
    w->ready.set();
}

// Gives `item` to the longest-waiting getter, or queues it at the tail.
void offer(QueueObject& q, std::string item) {
    if (!q.getters.empty()) {
        Waiter* g = q.getters.front();
        q.getters.pop_front();
        g->item = std::move(item);
        grant(g);
        return;
    }
    q.items.push_back(std::move(item));
}

// Puts back an item a client never acknowledged: first in line again (the
// maxsize may be exceeded by it: an item is never dropped).
void requeue(QueueObject& q, std::string item) {
    if (!q.getters.empty()) {
        offer(q, std::move(item));
        return;
    }
    q.items.push_front(std::move(item));
}

// After an item left the queue: admits waiting putters while there is room.
void admit_putters(QueueObject& q) {
    while (!q.putters.empty() && (q.maxsize == 0 || q.items.size() < q.maxsize)) {
        Waiter* p = q.putters.front();
        q.putters.pop_front();
        q.items.push_back(std::move(p->item));
        grant(p);
    }
}

// Hands the lock to the longest waiter, or frees it.
void release_lock(LockObject& lock) {
    if (!lock.waiters.empty()) {
        Waiter* w = lock.waiters.front();
        lock.waiters.pop_front();
        lock.owner = w->connection;
        grant(w);
        return;
    }
    lock.owner = 0;
}

struct Connection {
    Connection(std::uint64_t i, int fd) : id(i), io(fd) {}
    std::uint64_t id;
    WireStream io;
    std::vector<LockObject*> locks;       // held by this connection
    QueueObject* pending_queue = nullptr;  // an item was sent, not yet acknowledged
    std::string pending_item;
    bool close = false;  // a handler decided: close after this request, no reply
};

enum class WaitEnd { granted, timed_out, hung_up };

class Server {
public:
    Server(std::string key, ManagerOptions options)
        : key_(std::move(key)), options_(std::move(options)) {}

    void serve_connection(int fd, bool tcp, net::ServeConnection* standing = nullptr);

private:
    void run_connection(Connection& c, net::ServeConnection* standing);
    void end_connection(Connection& c) noexcept;
    // Serves one request into `out` (which holds the reserved frame length).
    void handle(Connection& c, std::string_view payload, Writer& out);
    ReplyStatus dispatch(Connection& c, Reader& r, Writer& out);
    void attach(Reader& r, std::string name, Writer& out);
    Object& find(std::string_view name, ManagerKind kind);
    ReplyStatus dict_op(ManagerOp op, DictObject& d, Reader& r, Writer& out);
    ReplyStatus list_op(ManagerOp op, ListObject& l, Reader& r, Writer& out);
    ReplyStatus queue_op(Connection& c, ManagerOp op, QueueObject& q, Reader& r, Writer& out);
    ReplyStatus lock_op(Connection& c, ManagerOp op, LockObject& l, Reader& r, Writer& out);
    ReplyStatus value_op(ManagerOp op, ValueObject& v, Reader& r, Writer& out);
    WaitEnd wait(Connection& c, Waiter& w, std::deque<Waiter*>& queue, std::int64_t timeout_ns);

    std::string key_;
    ManagerOptions options_;
    std::unordered_map<std::string, std::unique_ptr<Object>> objects_;  // never erased
    std::uint64_t next_connection_ = 0;
};

void Server::serve_connection(int fd, bool tcp, net::ServeConnection* standing) {
    if (tcp) {
        // Request/reply: no Nagle delay. Keepalive: a peer machine that
        // vanished must not hold a lock or a waiting request for hours.
        const int one = 1, idle = 60, interval = 10, count = 3;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    }
    Connection c(++next_connection_, fd);
    try {
        run_connection(c, standing);
    } catch (const std::exception& e) {
        // Socket errors of a peer that went away end its connection quietly;
        // anything else is worth a line.
        if (dynamic_cast<const IoError*>(&e) == nullptr) {
            std::fprintf(stderr, "ringlet::ipc::Manager server: connection %llu: %s: %s\n",
                         static_cast<unsigned long long>(c.id), demangled_type(e).c_str(),
                         e.what());
        }
    } catch (...) {
        end_connection(c);
        throw;  // Cancelled: the server is stopping
    }
    end_connection(c);
}

void Server::end_connection(Connection& c) noexcept {
    for (LockObject* l : c.locks) {
        if (l->owner == c.id) release_lock(*l);
    }
    c.locks.clear();
    if (c.pending_queue != nullptr) {
        requeue(*c.pending_queue, std::move(c.pending_item));
        c.pending_queue = nullptr;
    }
}

void Server::run_connection(Connection& c, net::ServeConnection* standing) {
    // Until the handshake is done the connection is a startup: net::serve
    // may close it early under a flood (a shorter deadline, or to free a
    // descriptor at EMFILE), which the handshake sees as EOF.
    if (!server_handshake(c.io, key_, deadline_after(options_.handshake_timeout))) return;
    if (standing != nullptr) standing->established();
    std::string payload;
    Writer out;
    for (;;) {
        const bool awaiting_ack = c.pending_queue != nullptr;
        const TimePoint first_byte =
            awaiting_ack ? deadline_after(options_.frame_timeout) : TimePoint::max();
        if (c.io.read_frame(payload, options_.max_frame_size, first_byte,
                            options_.frame_timeout) != WireResult::ok) {
            return;  // EOF, a cut or oversized frame, a timeout: close
        }
        if (awaiting_ack) {
            if (payload.size() != 1 || payload[0] != static_cast<char>(ManagerOp::ack)) {
                return;  // not the acknowledgement: the stream is out of step
            }
            c.pending_queue = nullptr;
            c.pending_item.clear();
            continue;
        }
        handle(c, payload, out);
        if (c.close) return;
        finish_frame(out.bytes());
        if (c.io.write_all(out.bytes(), deadline_after(options_.frame_timeout)) < 0) return;
        // A big request or reply should not pin its memory to an idle connection.
        if (out.bytes().capacity() > (std::size_t{1} << 20)) std::string().swap(out.bytes());
        if (payload.capacity() > (std::size_t{1} << 20)) std::string().swap(payload);
    }
}

void Server::handle(Connection& c, std::string_view payload, Writer& out) {
    std::string& bytes = out.bytes();
    bytes.assign(frame_length_size, '\0');
    const auto status_at = bytes.size();
    bytes.push_back('\0');
    ErrorKind kind = ErrorKind::internal;
    std::string type;
    std::string message;
    try {
        Reader r(payload);
        const ReplyStatus status = dispatch(c, r, out);
        bytes[status_at] = static_cast<char>(status);
        if (bytes.size() - frame_length_size <= options_.max_frame_size) return;
        if (c.pending_queue != nullptr) {  // an item that cannot be sent stays queued
            requeue(*c.pending_queue, std::move(c.pending_item));
            c.pending_queue = nullptr;
        }
        kind = ErrorKind::too_large;
        type = "ringlet::ipc::CodecError";
        message = "ringlet::ipc::Manager: the reply of " +
                  std::to_string(bytes.size() - frame_length_size) +
                  " bytes is over the frame limit of " +
                  std::to_string(options_.max_frame_size) + " (ManagerOptions::max_frame_size)";
    } catch (const RequestError& e) {
        kind = e.kind;
        message = e.message;
    } catch (const CodecError& e) {
        kind = ErrorKind::bad_request;
        type = "ringlet::ipc::CodecError";
        message = std::string("ringlet::ipc::Manager: the server could not decode the request: ") +
                  e.what();
    } catch (const std::exception& e) {
        kind = ErrorKind::internal;
        type = demangled_type(e);
        message = e.what();
    }
    bytes.resize(status_at);
    out.write(static_cast<std::uint8_t>(ReplyStatus::error));
    out.write(static_cast<std::uint8_t>(kind));
    out.write(type);
    out.write(message);
}

ReplyStatus Server::dispatch(Connection& c, Reader& r, Writer& out) {
    const auto op = r.read<std::uint8_t>();
    if (op == static_cast<std::uint8_t>(ManagerOp::ack)) {
        c.close = true;  // an acknowledgement of nothing: the client is confused
        return ReplyStatus::ok;
    }
    std::string_view name = read_value_bytes(r);
    if (op == static_cast<std::uint8_t>(ManagerOp::attach)) {
        attach(r, std::string(name), out);
        return ReplyStatus::ok;
    }
    const std::optional<ManagerKind> kind = kind_of(op);
    if (!kind) refuse(ErrorKind::bad_request, "unknown request op code " + std::to_string(op));
    Object& obj = find(name, *kind);
    const auto mop = static_cast<ManagerOp>(op);
    switch (*kind) {
        case ManagerKind::dict: return dict_op(mop, std::get<DictObject>(obj.data), r, out);
        case ManagerKind::list: return list_op(mop, std::get<ListObject>(obj.data), r, out);
        case ManagerKind::queue: return queue_op(c, mop, std::get<QueueObject>(obj.data), r, out);
        case ManagerKind::lock: return lock_op(c, mop, std::get<LockObject>(obj.data), r, out);
        case ManagerKind::value: return value_op(mop, std::get<ValueObject>(obj.data), r, out);
    }
    refuse(ErrorKind::bad_request, "unknown request op code " + std::to_string(op));
}

Object& Server::find(std::string_view name, ManagerKind kind) {
    auto it = objects_.find(std::string(name));
    if (it == objects_.end()) {
        refuse(ErrorKind::usage, "no object named " + quoted(name) +
                                     " on this manager (get proxies from Manager::dict, list, "
                                     "queue, lock or value)");
    }
    if (it->second->kind != kind) {
        refuse(ErrorKind::usage, quoted(name) + " is a " + kind_name(it->second->kind) +
                                     ", not a " + kind_name(kind));
    }
    return *it->second;
}

void Server::attach(Reader& r, std::string name, Writer& out) {
    const auto raw_kind = r.read<std::uint8_t>();
    std::string fingerprint = r.read<std::string>();
    const auto initial = r.read<std::optional<std::string>>();
    const auto maxsize = r.read<std::uint64_t>();
    r.expect_end();
    if (raw_kind < 1 || raw_kind > 5) {
        refuse(ErrorKind::bad_request, "unknown object kind " + std::to_string(raw_kind));
    }
    if (name.empty()) refuse(ErrorKind::bad_request, "an object name may not be empty");
    const auto kind = static_cast<ManagerKind>(raw_kind);
    if (auto it = objects_.find(name); it != objects_.end()) {
        const Object& obj = *it->second;
        if (obj.kind != kind) {
            refuse(ErrorKind::usage, quoted(name) + " is a " + kind_name(obj.kind) +
                                         ", not a " + kind_name(kind));
        }
        if (obj.fingerprint != fingerprint) {
            refuse(ErrorKind::usage, "the " + std::string(kind_name(kind)) + " " + quoted(name) +
                                         " was created with other types (" + obj.fingerprint +
                                         " vs " + fingerprint + ", as typeid names)");
        }
        out.write(false);
        return;
    }
    // Decode everything before the object exists: a bad request creates nothing.
    auto obj = std::make_unique<Object>();
    obj->kind = kind;
    obj->fingerprint = std::move(fingerprint);
    switch (kind) {
        case ManagerKind::dict: {
            DictObject d;
            if (initial) {
                using Items = std::vector<std::pair<std::string, std::string>>;
                for (auto& [k, v] : decode<Items>(*initial)) {
                    d.set(std::move(k), std::move(v));
                }
            }
            obj->data = std::move(d);
            break;
        }
        case ManagerKind::list: {
            ListObject l;
            if (initial) l.items = decode<std::vector<std::string>>(*initial);
            obj->data = std::move(l);
            break;
        }
        case ManagerKind::queue: {
            QueueObject q;
            q.maxsize = maxsize;
            obj->data = std::move(q);
            break;
        }
        case ManagerKind::lock: obj->data = LockObject{}; break;
        case ManagerKind::value: {
            ValueObject v;
            if (initial) v.bytes = decode<std::string>(*initial);
            obj->data = std::move(v);
            break;
        }
    }
    objects_.emplace(std::move(name), std::move(obj));
    out.write(true);
}

ReplyStatus Server::dict_op(ManagerOp op, DictObject& d, Reader& r, Writer& out) {
    switch (op) {
        case ManagerOp::dict_set: {
            std::string key(read_value_bytes(r));
            std::string value(read_value_bytes(r));
            r.expect_end();
            d.set(std::move(key), std::move(value));
            break;
        }
        case ManagerOp::dict_get:
        case ManagerOp::dict_pop: {
            const std::string key(read_value_bytes(r));
            r.expect_end();
            auto it = d.index.find(key);
            out.write(it != d.index.end());
            if (it == d.index.end()) break;
            write_bytes(out, it->second->second);
            if (op == ManagerOp::dict_pop) d.erase(it);
            break;
        }
        case ManagerOp::dict_contains:
        case ManagerOp::dict_erase: {
            const std::string key(read_value_bytes(r));
            r.expect_end();
            auto it = d.index.find(key);
            out.write(it != d.index.end());
            if (it != d.index.end() && op == ManagerOp::dict_erase) d.erase(it);
            break;
        }
        case ManagerOp::dict_size:
            r.expect_end();
            out.write(static_cast<std::uint64_t>(d.entries.size()));
            break;
        case ManagerOp::dict_keys:
        case ManagerOp::dict_values:
        case ManagerOp::dict_items:
            r.expect_end();
            out.put_length(d.entries.size());
            for (const auto& [k, v] : d.entries) {
                if (op != ManagerOp::dict_values) write_bytes(out, k);
                if (op != ManagerOp::dict_keys) write_bytes(out, v);
            }
            break;
        case ManagerOp::dict_clear:
            r.expect_end();
            d.entries.clear();
            d.index.clear();
            break;
        case ManagerOp::dict_setdefault: {
            std::string key(read_value_bytes(r));
            std::string value(read_value_bytes(r));
            r.expect_end();
            auto it = d.index.find(key);
            if (it == d.index.end()) {
                write_bytes(out, value);
                d.set(std::move(key), std::move(value));
            } else {
                write_bytes(out, it->second->second);
            }
            break;
        }
        default: refuse(ErrorKind::bad_request, "not a dict op");
    }
    return ReplyStatus::ok;
}

ReplyStatus Server::list_op(ManagerOp op, ListObject& l, Reader& r, Writer& out) {
    auto& items = l.items;
    switch (op) {
        case ManagerOp::list_append: {
            std::string value(read_value_bytes(r));
            r.expect_end();
            items.push_back(std::move(value));
            break;
        }
        case ManagerOp::list_extend: {
            auto values = r.read<std::vector<std::string>>();
            r.expect_end();
            items.insert(items.end(), std::make_move_iterator(values.begin()),
                         std::make_move_iterator(values.end()));
            break;
        }
        case ManagerOp::list_at: {
            const auto index = r.read<std::int64_t>();
            r.expect_end();
            write_bytes(out, items[checked_index(index, items.size())]);
            break;
        }
        case ManagerOp::list_set: {
            const auto index = r.read<std::int64_t>();
            std::string value(read_value_bytes(r));
            r.expect_end();
            items[checked_index(index, items.size())] = std::move(value);
            break;
        }
        case ManagerOp::list_size:
            r.expect_end();
            out.write(static_cast<std::uint64_t>(items.size()));
            break;
        case ManagerOp::list_pop: {
            const auto index = r.read<std::int64_t>();
            r.expect_end();
            if (items.empty()) refuse(ErrorKind::out_of_range, "pop from an empty list");
            const std::size_t i = checked_index(index, items.size());
            write_bytes(out, items[i]);
            items.erase(items.begin() + static_cast<std::ptrdiff_t>(i));
            break;
        }
        case ManagerOp::list_clear:
            r.expect_end();
            items.clear();
            break;
        case ManagerOp::list_snapshot:
            r.expect_end();
            out.put_length(items.size());
            for (const std::string& v : items) write_bytes(out, v);
            break;
        default: refuse(ErrorKind::bad_request, "not a list op");
    }
    return ReplyStatus::ok;
}

ReplyStatus Server::queue_op(Connection& c, ManagerOp op, QueueObject& q, Reader& r,
                             Writer& out) {
    switch (op) {
        case ManagerOp::queue_put: {
            const auto timeout = r.read<std::int64_t>();
            std::string value(read_value_bytes(r));
            r.expect_end();
            if (!q.getters.empty() || q.maxsize == 0 || q.items.size() < q.maxsize) {
                offer(q, std::move(value));
                out.write(true);
                break;
            }
            if (timeout == 0) {
                out.write(false);
                break;
            }
            Waiter w(c.id);
            w.item = std::move(value);
            const WaitEnd end = wait(c, w, q.putters, timeout);
            if (end == WaitEnd::hung_up) {
                c.close = true;
                break;
            }
            out.write(end == WaitEnd::granted);
            break;
        }
        case ManagerOp::queue_get: {
            const auto timeout = r.read<std::int64_t>();
            r.expect_end();
            std::string item;
            if (!q.items.empty()) {
                item = std::move(q.items.front());
                q.items.pop_front();
                admit_putters(q);
            } else if (timeout == 0) {
                out.write(false);
                break;
            } else {
                Waiter w(c.id);
                const WaitEnd end = wait(c, w, q.getters, timeout);
                if (end == WaitEnd::hung_up) {
                    c.close = true;
                    break;
                }
                if (end == WaitEnd::timed_out) {
                    out.write(false);
                    break;
                }
                item = std::move(w.item);
            }
            // Delivered only once acknowledged: until then the connection
            // holds it, and puts it back if it ends (see run_connection).
            out.write(true);
            write_bytes(out, item);
            c.pending_queue = &q;
            c.pending_item = std::move(item);
            return ReplyStatus::ok_ack;
        }
        case ManagerOp::queue_size:
            r.expect_end();
            out.write(static_cast<std::uint64_t>(q.items.size()));
            break;
        default: refuse(ErrorKind::bad_request, "not a queue op");
    }
    return ReplyStatus::ok;
}

ReplyStatus Server::lock_op(Connection& c, ManagerOp op, LockObject& l, Reader& r, Writer& out) {
    switch (op) {
        case ManagerOp::lock_acquire: {
            const auto timeout = r.read<std::int64_t>();
            r.expect_end();
            if (l.owner == c.id) {
                refuse(ErrorKind::usage, "this connection already holds the lock (it is not "
                                         "recursive)");
            }
            if (l.owner == 0) {
                l.owner = c.id;
                c.locks.push_back(&l);
                out.write(true);
                break;
            }
            if (timeout == 0) {
                out.write(false);
                break;
            }
            Waiter w(c.id);
            const WaitEnd end = wait(c, w, l.waiters, timeout);
            if (end == WaitEnd::granted) {
                c.locks.push_back(&l);  // release_lock() made us the owner
                out.write(true);
                break;
            }
            if (end == WaitEnd::hung_up) {
                c.close = true;
                break;
            }
            out.write(false);
            break;
        }
        case ManagerOp::lock_release: {
            r.expect_end();
            if (l.owner != c.id) {
                refuse(ErrorKind::usage, "release of a lock this connection does not hold");
            }
            erase_waiter(c.locks, &l);
            release_lock(l);
            break;
        }
        default: refuse(ErrorKind::bad_request, "not a lock op");
    }
    return ReplyStatus::ok;
}

ReplyStatus Server::value_op(ManagerOp op, ValueObject& v, Reader& r, Writer& out) {
    switch (op) {
        case ManagerOp::value_get:
            r.expect_end();
            write_bytes(out, v.bytes);
            break;
        case ManagerOp::value_set: {
            std::string value(read_value_bytes(r));
            r.expect_end();
            v.bytes = std::move(value);
            break;
        }
        case ManagerOp::value_cas: {
            const std::string_view expected = read_value_bytes(r);
            std::string desired(read_value_bytes(r));
            r.expect_end();
            const bool equal = v.bytes == expected;
            if (equal) v.bytes = std::move(desired);
            out.write(equal);
            break;
        }
        default: refuse(ErrorKind::bad_request, "not a value op");
    }
    return ReplyStatus::ok;
}

// Queues `w` at the back of `queue` and waits until it is granted,
// `timeout_ns` passes (-1: never), or the client goes away; unless granted,
// `w` has left `queue` when this returns (or throws). The client sends
// nothing while it waits for this reply, so the socket becoming readable
// means EOF, an error, or a client out of step: all three end the connection.
WaitEnd Server::wait(Connection& c, Waiter& w, std::deque<Waiter*>& queue,
                     std::int64_t timeout_ns) {
    queue.push_back(&w);
    struct Unqueue {
        std::deque<Waiter*>& queue;
        Waiter& w;
        ~Unqueue() {
            if (!w.granted) erase_waiter(queue, &w);  // granted: the granter removed it
        }
    } unqueue{queue, w};
    const TimePoint deadline =
        timeout_ns < 0 ? TimePoint::max() : deadline_after(Duration(timeout_ns));
    bool hung_up = false;
    Task<void> watcher = spawn(SpawnOptions{.name = "manager-watch"}, [&c, &w, &hung_up] {
        ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::poll, c.io.fd()};
        r.flags = POLLIN | POLLRDHUP;
        (void)ringlet::detail::perform_io(r);
        hung_up = true;
        w.ready.set();
    });
    const TimePoint now = Clock::now();
    const Duration left = deadline == TimePoint::max()
                              ? forever
                              : (deadline > now ? Duration(deadline - now) : Duration::zero());
    // The watcher uses `c` and `w`: it ends before they may go, whatever
    // happens (a cancel is delivered once, so the join after it completes).
    try {
        w.ready.wait(left);
    } catch (...) {
        watcher.cancel();
        watcher.join();
        throw;
    }
    watcher.cancel();
    watcher.join();
    if (w.granted) return WaitEnd::granted;
    return hung_up ? WaitEnd::hung_up : WaitEnd::timed_out;
}

template <class Listener>
void serve_listener(Listener& listener, const std::string& authkey, const ManagerOptions& options,
                    bool tcp) {
    Server server(authkey, options);
    const net::ServeOptions serving{
        .startups_soft = std::min(options.max_startups_soft, options.max_startups),
        .startups_hard = options.max_startups,
        .startup_timeout = options.handshake_timeout,
        .pressure_startup_timeout = options.pressure_handshake_timeout,
    };
    net::serve(
        listener,
        [&server, tcp](auto stream, net::ServeConnection& standing) {
            server.serve_connection(stream.socket().fd(), tcp, &standing);
        },
        serving);
}

}  // namespace

void run_manager_server(net::UnixListener& listener, const std::string& authkey,
                        const ManagerOptions& options) {
    serve_listener(listener, authkey, options, false);
}

void run_manager_server(net::TcpListener& listener, const std::string& authkey,
                        const ManagerOptions& options) {
    serve_listener(listener, authkey, options, true);
}

void serve_manager_connection(int fd, const std::string& authkey, const ManagerOptions& options) {
    Server server(authkey, options);
    server.serve_connection(fd, false);
}

}  // namespace ringlet::ipc::detail
