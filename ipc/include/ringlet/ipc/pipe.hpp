// ringlet/ipc/pipe.hpp — (being written)
#pragma once
