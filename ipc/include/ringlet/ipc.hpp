// ringlet/ipc.hpp — umbrella for ringlet::ipc: processes and what they share.
#pragma once

#include <ringlet/ipc/codec.hpp>
#include <ringlet/ipc/errors.hpp>
#include <ringlet/ipc/event.hpp>
#include <ringlet/ipc/lock.hpp>
#include <ringlet/ipc/manager.hpp>
#include <ringlet/ipc/pipe.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/ipc/process_pool.hpp>
#include <ringlet/ipc/queue.hpp>
#include <ringlet/ipc/semaphore.hpp>
#include <ringlet/ipc/shared.hpp>
#include <ringlet/ipc/subprocess.hpp>
