// ringlet/ipc/lock.hpp — (being written)
#pragma once
