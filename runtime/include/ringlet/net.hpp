// ringlet/net.hpp — umbrella for ringlet::net (TCP, Unix, UDP, TLS, fd waits, serve).
#pragma once

#include <ringlet/net/address.hpp>
#include <ringlet/net/serve.hpp>
#include <ringlet/net/socket.hpp>
#include <ringlet/net/tcp.hpp>
#include <ringlet/net/tls.hpp>
#include <ringlet/net/udp.hpp>
#include <ringlet/net/unix.hpp>
#include <ringlet/net/wait.hpp>
