// ringlet/ringlet.hpp — umbrella header for the runtime (everything but ipc).
#pragma once

#include <ringlet/channel.hpp>
#include <ringlet/condvar.hpp>
#include <ringlet/errors.hpp>
#include <ringlet/event.hpp>
#include <ringlet/generator.hpp>
#include <ringlet/group.hpp>
#include <ringlet/mutex.hpp>
#include <ringlet/net.hpp>
#include <ringlet/pool.hpp>
#include <ringlet/promise.hpp>
#include <ringlet/run.hpp>
#include <ringlet/semaphore.hpp>
#include <ringlet/stats.hpp>
#include <ringlet/task.hpp>
#include <ringlet/task_local.hpp>
#include <ringlet/thread.hpp>
#include <ringlet/blocking.hpp>
#include <ringlet/file.hpp>
#include <ringlet/time.hpp>
