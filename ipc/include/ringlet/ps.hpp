// ringlet/ps.hpp — umbrella for ringlet::ps: process and system information
// from /proc and /sys, psutil's counterpart (ps/process.hpp, ps/system.hpp).
#pragma once

#include <ringlet/ps/errors.hpp>
#include <ringlet/ps/process.hpp>
#include <ringlet/ps/system.hpp>
