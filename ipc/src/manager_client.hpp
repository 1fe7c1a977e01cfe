// manager_client.hpp — the client side of a Manager: endpoints and connections.
//
// A ManagerLink is one authenticated connection, owned by the process that
// opened it. Its fd is registered so that a fork() child detaches it at once
// (pthread_atfork: the child's copy is replaced by /dev/null), so the server
// sees the connection end exactly when its owner lets it go — a child cannot
// keep its parent's connection, or a lock held through it, alive.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include <ringlet/ipc/manager.hpp>
#include <ringlet/net/socket.hpp>

#include "manager_wire.hpp"

namespace ringlet::ipc::detail {

struct ManagerEndpoint {
    bool tcp = false;
    std::string path;       // Unix: "@ringlet-manager-…"
    std::string host;       // TCP: where clients connect (loopback for a wildcard bind)
    std::uint16_t port = 0;
    std::string display;    // address() as the user sees it
    std::string authkey;
    ManagerOptions options;

    const std::string& address() const noexcept { return tcp ? display : path; }
};

struct ManagerLink {
    explicit ManagerLink(net::Socket s);
    ~ManagerLink();
    ManagerLink(const ManagerLink&) = delete;
    ManagerLink& operator=(const ManagerLink&) = delete;

    net::Socket socket;
    WireStream io;
    pid_t pid;  // the process that opened it
};

// Connects and authenticates (within options.handshake_timeout).
// Suspends. Throws: ManagerError, AuthenticationError, Cancelled, TimeoutError.
std::unique_ptr<ManagerLink> connect_link(const ManagerEndpoint& endpoint);

}  // namespace ringlet::ipc::detail
