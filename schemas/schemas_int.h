/*
 * schemas/schemas_int.h - private to dc_schemas: how the C structs of
 * schemas.h map onto Avro fields, and the compiled decode plans.
 *
 * A "binding" (dc__rrec_t) describes one of our records field by field: the
 * Avro field name, what kind of value it is and where it lives in the C
 * struct. The encoder walks a binding to write our own schema; the decoder
 * runs a "plan" (dc__plan_t), compiled once per writer schema, that says for
 * each field the writer wrote how to read it and which struct field (if any)
 * receives it. Schema resolution therefore happens once, at registration, and
 * decoding is a tight loop with no allocation.
 */
#ifndef DC_SCHEMAS_INT_H
#define DC_SCHEMAS_INT_H

#include "schemas/schemas.h"

#include <avro.h>

/* The .avsc texts, generated into the build tree by schemas/embed.cmake. */
extern const char dc__avsc_ClickEvent[];
extern const char dc__avsc_OrderEvent[];
extern const char dc__avsc_Forecast[];
extern const char dc__avsc_SurgeAlert[];

typedef enum {
    DC__F_STRING,  /* "string" into char[size] */
    DC__F_NSTRING, /* ["null","string"] default null: int flag + char[size] */
    DC__F_LONG,    /* int64_t */
    DC__F_INT,     /* int32_t */
    DC__F_DOUBLE,  /* double */
    DC__F_BOOL,    /* int, 0 or 1 */
    DC__F_ENUM,    /* a C enum (int-sized) numbered like the Avro symbols */
    DC__F_ARRAY,   /* array of records, see dc__rfield_t */
} dc__fkind_t;

typedef struct dc__rrec_s dc__rrec_t;

typedef struct {
    const char *name;
    dc__fkind_t kind;
    size_t off;      /* offset of the value in the struct */
    size_t size;     /* STRING, NSTRING: size of the char array */
    size_t flag_off; /* NSTRING: offset of the int "has" flag */
    const char *const *symbols; /* ENUM */
    int n_symbols;
    /* ARRAY: items bind to the record items; count_off is a size_t count.
     * A fixed array (max > 0) lives in the struct; a growable one (max == 0)
     * is a pointer at off with its capacity (size_t) at cap_off. */
    const dc__rrec_t *items;
    size_t count_off;
    size_t max;
    size_t cap_off;
} dc__rfield_t;

struct dc__rrec_s {
    const char *name; /* unqualified Avro record name */
    size_t size;      /* sizeof the C struct */
    const dc__rfield_t *fields;
    size_t n_fields;
};

/* The binding of each top-level record type. */
const dc__rrec_t *dc__rrec(dc_rec_type_t type);

/* Parses our .avsc of type into *schemap (the caller owns the reference)
 * and checks it against the binding with dc__rrec_check(). */
int dc__schema_parse(dc_rec_type_t type, avro_schema_t *schemap, char *errstr, size_t errstr_size);

/* Checks that schema (parsed from our .avsc) has exactly the fields, order,
 * types, enum symbols and null defaults the binding expects; json is the
 * .avsc text, read for the defaults avro-c does not keep. Guards against the
 * .avsc and the structs drifting apart. */
int dc__rrec_check(const dc__rrec_t *rrec, avro_schema_t schema, const char *json, char *errstr,
                   size_t errstr_size);

/* A compiled reading of one writer record schema into a binding (plan.c). */
typedef struct dc__plan_s dc__plan_t;

/* Resolves writer (a record schema) against the binding rrec following
 * Avro's rules: fields match by name, the writer's extra fields are skipped,
 * the reader's missing fields take their null default (a missing field with
 * no default fails), int/long/float promote to double, string and bytes mix,
 * enums map by symbol, unions resolve branch by branch. reader is our
 * parsed schema for rrec: avro-c is asked to confirm the resolution of the
 * fields both share. The plan keeps a reference to writer. */
int dc__plan_compile(avro_schema_t writer, avro_schema_t reader, const dc__rrec_t *rrec,
                     dc__plan_t **planp, char *errstr, size_t errstr_size);
void dc__plan_destroy(dc__plan_t *plan);

/* Decodes one Avro body of exactly len bytes with plan into out (a struct
 * of the plan's binding). Never reads outside [buf, buf+len) and allocates
 * only to grow a growable array, by at most what the input can hold. */
int dc__plan_decode(const dc__plan_t *plan, const uint8_t *buf, size_t len, void *out,
                    char *errstr, size_t errstr_size);

/* Appends the Avro body (no framing) of rec, a struct of binding rrec, to out.
 * Fails with DC_ERR_INVAL (and out unchanged) when a string is not valid
 * UTF-8, an enum is out of range or an array count exceeds its storage. */
int dc__encode(const dc__rrec_t *rrec, const void *rec, dc_buf_t *out);

/* Appends v as an Avro long (zig-zag varint). */
int dc__put_long(dc_buf_t *out, int64_t v);

/* 1 when s[0..len) is well-formed UTF-8 without NUL bytes. */
int dc__utf8_valid(const uint8_t *s, size_t len);

#endif /* DC_SCHEMAS_INT_H */
