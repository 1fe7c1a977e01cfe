// ringlet/ipc/semaphore.hpp — (being written)
#pragma once
