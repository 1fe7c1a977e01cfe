// subprocess.cpp — (being written)
