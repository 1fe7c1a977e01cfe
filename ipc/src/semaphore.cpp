// semaphore.cpp — (being written)
