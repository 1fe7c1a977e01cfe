// queue.cpp — (being written)
