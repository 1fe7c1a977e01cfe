// ringlet/redis.hpp — umbrella header for ringlet::redis.
//
// Redis as the broker many machines share: Client (every call a suspension
// point), ConnectionPool, Queue<T> (reliable, Codec-encoded) and TaskQueue
// (functions by name over Streams and a consumer group). See docs/redis.md.
#pragma once

#include <ringlet/redis/client.hpp>
#include <ringlet/redis/errors.hpp>
#include <ringlet/redis/pool.hpp>
#include <ringlet/redis/queue.hpp>
#include <ringlet/redis/reply.hpp>
#include <ringlet/redis/task_queue.hpp>
