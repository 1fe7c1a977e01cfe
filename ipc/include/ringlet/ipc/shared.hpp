// ringlet/ipc/shared.hpp — (being written)
#pragma once
