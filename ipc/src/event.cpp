// event.cpp — (being written)
