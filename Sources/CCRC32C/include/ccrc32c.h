#ifndef TERN_CCRC32C_H
#define TERN_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli) over `length` bytes. Pass 0 as `crc` to start.
/// Uses the SSE4.2 / ARMv8 CRC instructions when the CPU has them, a table otherwise.
uint32_t tern_crc32c(uint32_t crc, const void *data, size_t length);

#endif
