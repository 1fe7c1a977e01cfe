// ringlet/ringlet.hpp — umbrella header for the runtime (everything but ipc).
#pragma once

#include <ringlet/errors.hpp>
#include <ringlet/run.hpp>
#include <ringlet/stats.hpp>
#include <ringlet/task.hpp>
#include <ringlet/time.hpp>
