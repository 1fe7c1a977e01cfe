// ringlet/ipc/event.hpp — (being written)
#pragma once
