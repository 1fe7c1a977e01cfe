// pipe.cpp — (being written)
