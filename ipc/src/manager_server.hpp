// manager_server.hpp — the manager server: named objects, one task per connection.
//
// Runs inside the server child (an ipc::Process with its own scheduler).
// Each connection: handshake (handshake_timeout), then request frames one at
// a time, each answered by one reply frame. Waiting requests (queue get/put
// on a full queue, lock acquire) wait in that connection's task, which also
// watches the socket so that a client that goes away drops its wait. When a
// connection ends, for whatever reason, the locks it held are released and
// an item it had not acknowledged goes back to the head of its queue.
#pragma once

#include <string>

#include <ringlet/ipc/manager.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/net/unix.hpp>

namespace ringlet::ipc::detail {

// Serves `listener` until the listener is closed (in practice: until the
// process is killed). Never lets a client's error escape.
void run_manager_server(net::UnixListener& listener, const std::string& authkey,
                        const ManagerOptions& options);
void run_manager_server(net::TcpListener& listener, const std::string& authkey,
                        const ManagerOptions& options);

// Serves one connected stream socket `fd` (handshake, then requests) with an
// object table of its own, until the connection ends; does not close `fd`.
// The seam tests/fuzz/manager_server.cpp drives without a listener.
// Suspends. Throws: Cancelled.
void serve_manager_connection(int fd, const std::string& authkey, const ManagerOptions& options);

}  // namespace ringlet::ipc::detail
