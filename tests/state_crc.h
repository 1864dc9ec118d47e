/* tests/state_crc.h - how a test (or fuzz target) makes a deliberately
 * changed state record get past its CRC: every saved record of the model
 * and the forecaster ends in the CRC-32 (zlib) of the bytes before it,
 * little-endian. */
#ifndef DC_TEST_STATE_CRC_H
#define DC_TEST_STATE_CRC_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/* Writes the CRC of p[0 .. len - 4) into p's last 4 bytes (len >= 4). */
static inline void test_put_crc(uint8_t *p, size_t len)
{
    uint32_t crc = (uint32_t)crc32(0L, p, (uInt)(len - 4));
    for (int i = 0; i < 4; i++)
        p[len - 4 + i] = (uint8_t)(crc >> (8 * i));
}

#endif
