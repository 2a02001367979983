// The system's compression libraries, from Debian's zlib1g-dev, libzstd-dev and liblz4-dev.
#include <zlib.h>
#include <zstd.h>
#include <lz4frame.h>
