// ringlet/ipc/queue.hpp — (being written)
#pragma once
