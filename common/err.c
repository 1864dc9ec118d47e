/* common/err.c - error codes, their texts and their stable names. */
#include "common/common.h"

#include <string.h>

static const struct {
    const char *name;
    const char *text;
} err_table[DC_ERR__COUNT] = {
    [0] = {"ok", "success"},
    [-DC_ERR_INVAL] = {"invalid_argument", "invalid argument"},
    [-DC_ERR_NOMEM] = {"out_of_memory", "out of memory"},
    [-DC_ERR_IO] = {"io", "input/output error"},
    [-DC_ERR_CONFIG] = {"config", "bad configuration"},
    [-DC_ERR_TRUNCATED] = {"truncated", "input ends before the record does"},
    [-DC_ERR_BAD_MAGIC] = {"bad_magic", "framing magic byte is not 0"},
    [-DC_ERR_UNKNOWN_SCHEMA] = {"unknown_schema", "unknown schema id"},
    [-DC_ERR_MALFORMED] = {"malformed", "malformed record"},
    [-DC_ERR_BAD_QUANTITY] = {"bad_quantity", "quantity out of range"},
    [-DC_ERR_BAD_PRICE] = {"bad_price", "price not finite or out of range"},
    [-DC_ERR_BAD_TIMESTAMP] = {"bad_timestamp", "event time too far in the future or past"},
    [-DC_ERR_TOO_LATE] = {"too_late", "event older than the longest window"},
    [-DC_ERR_BAD_SKU] = {"bad_sku", "SKU empty or invalid"},
    [-DC_ERR_KAFKA] = {"kafka", "Kafka error"},
    [-DC_ERR_REDIS] = {"redis", "Redis error"},
    [-DC_ERR_CHECKSUM] = {"checksum", "checksum mismatch"},
    [-DC_ERR_VERSION] = {"version", "unsupported format version"},
    [-DC_ERR_EOF] = {"eof", "end of input"},
    [-DC_ERR_AGAIN] = {"again", "temporarily unavailable"},
    [-DC_ERR_NUMERIC] = {"numeric", "non-finite or diverging numbers"},
    [-DC_ERR_TRAILING] = {"trailing_bytes", "bytes left after a complete record"},
};

static int err_index(int err)
{
    if (err > 0 || err <= -DC_ERR__COUNT)
        return -1;
    return -err;
}

const char *dc_err2str(int err)
{
    int i = err_index(err);
    return i < 0 ? "unknown error" : err_table[i].text;
}

const char *dc_err_name(int err)
{
    int i = err_index(err);
    return i < 0 ? "unknown" : err_table[i].name;
}

int dc_seterr(char *errstr, size_t errstr_size, int err, const char *fmt, ...)
{
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
