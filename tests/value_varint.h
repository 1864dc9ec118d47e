/* tests/value_varint.h - how a test reads the numbers of a stored value
 * (features/values.lua), independently of features/values.c. */
#ifndef DC_TEST_VALUE_VARINT_H
#define DC_TEST_VALUE_VARINT_H

#include <stddef.h>
#include <stdint.h>

/* The unsigned LEB128 varint at p[*off] of a value the store wrote; *off
 * moves past it. */
static inline uint64_t test_uvar(const uint8_t *p, size_t *off)
{
    uint64_t v = 0;

    for (int shift = 0;; shift += 7) {
        uint8_t b = p[(*off)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
}

#endif
