/*
 * schemas/plan.c - schema resolution compiled into decode plans, and the
 * bounds-checked Avro binary decoder that runs them.
 *
 * Why not decode with avro-c's avro_value_read()? Three reasons, each
 * decisive on its own:
 *  - avro-c trusts lengths from the wire: read_bytes()/read_string() malloc
 *    the declared length before checking that the input holds it, so a
 *    12-byte message can ask for an exabyte; array block counts are trusted
 *    the same way.
 *  - It allocates twice per string value (the bytes and a wrapped-buffer
 *    header) on every record, and the ingest path must not allocate.
 *  - avro-c 1.11's resolvers do not implement defaults: a writer schema
 *    that lacks a reader field (an older ClickEvent without "promo") is
 *    rejected outright ("Reader field ... doesn't appear in writer").
 * So avro-c parses every schema, and still gives its verdict on each
 * resolution (dc__plan_compile() runs avro_resolved_writer_new() on the
 * fields both sides share), while the bytes are read here: every length is
 * checked against what is left of the input before it is used, and nothing
 * is allocated except growth of a growable array, bounded by the input size.
 */
#include "schemas/schemas_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* What the writer put on the wire at one position of its schema. */
typedef enum {
    W_SKIP,   /* a value the reader does not want: skipped by its writer schema */
    W_FAIL,   /* a union branch that cannot be read into the reader's field */
    W_NULL,
    W_BOOL,
    W_INT,
    W_LONG,
    W_FLOAT,
    W_DOUBLE,
    W_STRING, /* string or bytes */
    W_ENUM,
    W_UNION,
    W_ARRAY,
} wkind_t;

typedef struct op_s {
    wkind_t w;
    const dc__rfield_t *rf; /* the field that receives the value; NULL for W_SKIP */
    const char *name;       /* writer field name, for messages */
    avro_schema_t ws;       /* writer schema of the value (not referenced) */
    int *enum_map;          /* W_ENUM: writer symbol index -> reader index or -1 */
    int n_enum;
    struct op_s *branches;  /* W_UNION: one op per writer branch */
    size_t n_branches;
    dc__plan_t *items;      /* W_ARRAY: plan for the writer's item record */
    size_t min_item;        /* W_ARRAY: fewest bytes one writer item takes */
} op_t;

struct dc__plan_s {
    const dc__rrec_t *rrec;
    avro_schema_t writer; /* referenced by the top-level plan only */
    op_t *ops;            /* one per writer field, in writer order */
    size_t n_ops;
    const dc__rfield_t **defaults; /* reader fields the writer lacks: set to null */
    size_t n_defaults;
};

/* Nesting limit for skipping writer values; our own records nest 2 deep. */
#define SKIP_DEPTH_MAX 32
/* A skipped array of zero-byte items (e.g. of nulls) costs no input; this
 * many in one record is certainly hostile and would only burn CPU. */
#define ZERO_ITEMS_MAX 65536

static avro_schema_t unlink_schema(avro_schema_t s)
{
    while (is_avro_link(s))
        s = avro_schema_link_target(s);
    return s;
}

/* ------------------------------------------------------------------------ */
/* Compiling                                                                */
/* ------------------------------------------------------------------------ */

static void op_free(op_t *op);

static void plan_free(dc__plan_t *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->n_ops; i++)
        op_free(&plan->ops[i]);
    free(plan->ops);
    free(plan->defaults);
    if (plan->writer)
        avro_schema_decref(plan->writer);
    free(plan);
}

static void op_free(op_t *op)
{
    free(op->enum_map);
    for (size_t i = 0; i < op->n_branches; i++)
        op_free(&op->branches[i]);
    free(op->branches);
    plan_free(op->items);
}

void dc__plan_destroy(dc__plan_t *plan)
{
    plan_free(plan);
}

/* Fewest bytes a value of writer schema s can take. Recursion through a
 * named-type link is counted as 0, which only makes the bound looser. */
static size_t min_size(avro_schema_t s, int depth)
{
    size_t n = 0, best;

    if (depth > SKIP_DEPTH_MAX || is_avro_link(s))
        return 0;
    switch (avro_typeof(s)) {
    case AVRO_NULL: return 0;
    case AVRO_FLOAT: return 4;
    case AVRO_DOUBLE: return 8;
    case AVRO_FIXED: return (size_t)avro_schema_fixed_size(s);
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s); i++)
            n += min_size(avro_schema_record_field_get_by_index(s, (int)i), depth + 1);
        return n;
    case AVRO_UNION:
        best = SIZE_MAX;
        for (size_t i = 0; i < avro_schema_union_size(s); i++) {
            n = min_size(avro_schema_union_branch(s, (int)i), depth + 1);
            best = n < best ? n : best;
        }
        return 1 + (best == SIZE_MAX ? 0 : best);
    default: return 1; /* boolean, varints, lengths, block counts */
    }
}

static int plan_compile_rec(avro_schema_t ws, const dc__rrec_t *rrec, dc__plan_t **planp,
                            char *errstr, size_t errstr_size);

/* Fills op for reading a value of writer schema ws into rf. Returns
 * DC_ERR_INVAL with errstr when the two can never resolve. */
static int compile_value(op_t *op, avro_schema_t ws, const dc__rfield_t *rf, const char *name,
                         int in_union, char *errstr, size_t errstr_size)
{
    avro_type_t t;

    ws = unlink_schema(ws);
    t = avro_typeof(ws);
    op->rf = rf;
    op->name = name;
    op->ws = ws;
    if (!rf) {
        op->w = W_SKIP;
        return DC_OK;
    }
    if (t == AVRO_UNION && !in_union) {
        size_t n = avro_schema_union_size(ws), usable = 0;
        op->w = W_UNION;
        op->branches = calloc(n ? n : 1, sizeof(*op->branches));
        if (!op->branches)
            return DC_ERR_NOMEM;
        op->n_branches = n;
        for (size_t i = 0; i < n; i++) {
            int err = compile_value(&op->branches[i], avro_schema_union_branch(ws, (int)i), rf,
                                    name, 1, errstr, errstr_size);
            if (err == DC_ERR_NOMEM)
                return err;
            /* A branch the reader cannot take fails only when it is written. */
            if (err)
                op->branches[i].w = W_FAIL;
            else
                usable++;
        }
        if (!usable)
            return dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                             "field %s: no branch of the writer's union resolves", name);
        return DC_OK;
    }
    switch (rf->kind) {
    case DC__F_STRING:
        op->w = W_STRING;
        if (t == AVRO_STRING || t == AVRO_BYTES)
            return DC_OK;
        break;
    case DC__F_NSTRING:
        op->w = t == AVRO_NULL ? W_NULL : W_STRING;
        if (t == AVRO_NULL || t == AVRO_STRING || t == AVRO_BYTES)
            return DC_OK;
        break;
    case DC__F_LONG:
        op->w = t == AVRO_INT32 ? W_INT : W_LONG;
        if (t == AVRO_INT32 || t == AVRO_INT64)
            return DC_OK;
        break;
    case DC__F_INT:
        op->w = W_INT;
        if (t == AVRO_INT32)
            return DC_OK;
        break;
    case DC__F_DOUBLE:
        op->w = t == AVRO_INT32   ? W_INT
                : t == AVRO_INT64 ? W_LONG
                : t == AVRO_FLOAT ? W_FLOAT
                                  : W_DOUBLE;
        if (t == AVRO_INT32 || t == AVRO_INT64 || t == AVRO_FLOAT || t == AVRO_DOUBLE)
            return DC_OK;
        break;
    case DC__F_BOOL:
        op->w = W_BOOL;
        if (t == AVRO_BOOLEAN)
            return DC_OK;
        break;
    case DC__F_ENUM:
        if (t != AVRO_ENUM)
            break;
        op->w = W_ENUM;
        op->n_enum = avro_schema_enum_number_of_symbols(ws);
        op->enum_map = calloc(op->n_enum > 0 ? (size_t)op->n_enum : 1, sizeof(int));
        if (!op->enum_map)
            return DC_ERR_NOMEM;
        /* Symbols match by name; one the reader lacks fails when it is read,
         * as the Avro specification says. */
        for (int i = 0; i < op->n_enum; i++) {
            const char *sym = avro_schema_enum_get(ws, i);
            op->enum_map[i] = -1;
            for (int k = 0; k < rf->n_symbols; k++)
                if (!strcmp(sym, rf->symbols[k]))
                    op->enum_map[i] = k;
        }
        return DC_OK;
    case DC__F_ARRAY:
        if (t != AVRO_ARRAY)
            break;
        op->w = W_ARRAY;
        op->min_item = min_size(unlink_schema(avro_schema_array_items(ws)), 0);
        return plan_compile_rec(avro_schema_array_items(ws), rf->items, &op->items, errstr,
                                errstr_size);
    }
    return dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                     "field %s: writer type %s cannot be read into the reader's field", name,
                     avro_schema_type_name(ws));
}

static int plan_compile_rec(avro_schema_t ws, const dc__rrec_t *rrec, dc__plan_t **planp,
                            char *errstr, size_t errstr_size)
{
    dc__plan_t *plan;
    size_t n;
    int err = DC_ERR_NOMEM;
    unsigned seen = 0; /* bit per reader field; bindings have fewer than 32 */

    *planp = NULL;
    ws = unlink_schema(ws);
    if (!is_avro_record(ws) || strcmp(avro_schema_name(ws), rrec->name))
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                         "writer has %s where the reader expects record %s",
                         is_avro_record(ws) ? avro_schema_name(ws) : avro_schema_type_name(ws),
                         rrec->name);
    n = avro_schema_record_size(ws);
    if (!(plan = calloc(1, sizeof(*plan))))
        return DC_ERR_NOMEM;
    plan->rrec = rrec;
    if (!(plan->ops = calloc(n ? n : 1, sizeof(*plan->ops))) ||
        !(plan->defaults = calloc(rrec->n_fields, sizeof(*plan->defaults))))
        goto fail;
    plan->n_ops = n;
    for (size_t i = 0; i < n; i++) {
        const char *name = avro_schema_record_field_name(ws, (int)i);
        const dc__rfield_t *rf = NULL;
        for (size_t k = 0; k < rrec->n_fields && !rf; k++)
            if (!strcmp(rrec->fields[k].name, name)) {
                rf = &rrec->fields[k];
                seen |= 1u << k;
            }
        err = compile_value(&plan->ops[i], avro_schema_record_field_get_by_index(ws, (int)i), rf,
                            name, 0, errstr, errstr_size);
        if (err)
            goto fail;
    }
    for (size_t k = 0; k < rrec->n_fields; k++) {
        if (seen & (1u << k))
            continue;
        if (rrec->fields[k].kind != DC__F_NSTRING) {
            err = dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                            "reader field %s.%s has no default and the writer lacks it",
                            rrec->name, rrec->fields[k].name);
            goto fail;
        }
        plan->defaults[plan->n_defaults++] = &rrec->fields[k];
    }
    *planp = plan;
    return DC_OK;
fail:
    plan_free(plan);
    return err;
}

/* Asks avro-c whether writer resolves against the fields of reader that
 * the writer also has (it cannot apply defaults itself; the plan does). */
static int avro_crosscheck(avro_schema_t writer, avro_schema_t reader, char *errstr,
                           size_t errstr_size)
{
    avro_schema_t shared = avro_schema_record(avro_schema_name(reader),
                                              avro_schema_namespace(reader));
    avro_value_iface_t *iface;
    int err = DC_OK;

    if (!shared)
        return DC_ERR_NOMEM;
    for (size_t i = 0; i < avro_schema_record_size(reader); i++) {
        const char *name = avro_schema_record_field_name(reader, (int)i);
        if (avro_schema_record_field_get_index(writer, name) >= 0 &&
            avro_schema_record_field_append(shared, name,
                                            avro_schema_record_field_get_by_index(reader, (int)i))) {
            err = DC_ERR_NOMEM;
            goto fail;
        }
    }
    iface = avro_resolved_writer_new(writer, shared);
    if (!iface) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "avro-c cannot resolve: %s",
                        avro_strerror());
        goto fail;
    }
    avro_value_iface_decref(iface);
fail:
    avro_schema_decref(shared);
    return err;
}

int dc__plan_compile(avro_schema_t writer, avro_schema_t reader, const dc__rrec_t *rrec,
                     dc__plan_t **planp, char *errstr, size_t errstr_size)
{
    int err = plan_compile_rec(writer, rrec, planp, errstr, errstr_size);

    if (!err && (err = avro_crosscheck(unlink_schema(writer), reader, errstr, errstr_size))) {
        plan_free(*planp);
        *planp = NULL;
    }
    if (!err)
        (*planp)->writer = avro_schema_incref(writer);
    return err;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *p, *end;
    char *errstr;
    size_t errstr_size;
    size_t zero_items;
} cur_t;

static int cur_fail(cur_t *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int cur_fail(cur_t *c, int err, const char *fmt, ...)
{
    if (c->errstr && c->errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->errstr, c->errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}

#define LEFT(c) ((size_t)((c)->end - (c)->p))

/* Zig-zag varint of at most 10 bytes, as Avro encodes int and long. */
static inline int read_long(cur_t *c, const char *what, int64_t *v)
{
    uint64_t u = 0;

    *v = 0;
    /* The 10th byte may only hold the 64th bit, with no continuation, so the
     * loop ends by the 10th byte. */
    for (int shift = 0;; shift += 7) {
        uint8_t b;
        if (c->p == c->end)
            return cur_fail(c, DC_ERR_TRUNCATED, "%s: input ends inside a varint", what);
        b = *c->p++;
        if (shift == 63 && b > 1)
            return cur_fail(c, DC_ERR_MALFORMED, "%s: varint longer than 10 bytes or past 64 bits",
                            what);
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return DC_OK;
        }
    }
}

static inline int read_int(cur_t *c, const char *what, int64_t *v)
{
    int err = read_long(c, what, v);
    if (!err && (*v < INT32_MIN || *v > INT32_MAX))
        return cur_fail(c, DC_ERR_MALFORMED, "%s: int %lld out of 32-bit range", what,
                        (long long)*v);
    return err;
}

static inline int read_fixed(cur_t *c, const char *what, void *dst, size_t n)
{
    if (LEFT(c) < n)
        return cur_fail(c, DC_ERR_TRUNCATED, "%s: input ends inside a %zu-byte value", what, n);
    memcpy(dst, c->p, n);
    c->p += n;
    return DC_OK;
}

static inline int read_double(cur_t *c, const char *what, double *v)
{
    uint64_t u = 0;
    int err = read_fixed(c, what, &u, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap64(u);
#endif
    memcpy(v, &u, 8);
    return err;
}

static inline int read_float(cur_t *c, const char *what, double *v)
{
    uint32_t u = 0;
    float f;
    int err = read_fixed(c, what, &u, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap32(u);
#endif
    memcpy(&f, &u, 4);
    *v = f;
    return err;
}

/* Reads a length prefix and checks it against what is left, so no length
 * is ever used (or allocated) before the input is known to hold it. */
static inline int read_len(cur_t *c, const char *what, size_t *n)
{
    int64_t v;
    int err = read_long(c, what, &v);

    *n = 0;
    if (err)
        return err;
    if (v < 0)
        return cur_fail(c, DC_ERR_MALFORMED, "%s: negative length %lld", what, (long long)v);
    if ((uint64_t)v > LEFT(c))
        return cur_fail(c, DC_ERR_TRUNCATED, "%s: length %lld but only %zu bytes left", what,
                        (long long)v, LEFT(c));
    *n = (size_t)v;
    return DC_OK;
}

static int read_string(cur_t *c, const dc__rfield_t *rf, char *dst)
{
    int64_t v;
    int err = read_long(c, rf->name, &v);
    if (err)
        return err;
    if (v < 0)
        return cur_fail(c, DC_ERR_MALFORMED, "%s: negative length %lld", rf->name, (long long)v);
    /* Too long for the field is malformed whatever follows, so it is
     * checked before the length is compared with the input. */
    if ((uint64_t)v >= rf->size)
        return cur_fail(c, DC_ERR_MALFORMED, "%s: string of %lld bytes, field holds at most %zu",
                        rf->name, (long long)v, rf->size - 1);
    if ((uint64_t)v > LEFT(c))
        return cur_fail(c, DC_ERR_TRUNCATED, "%s: length %lld but only %zu bytes left", rf->name,
                        (long long)v, LEFT(c));
    if (!dc__utf8_valid(c->p, (size_t)v))
        return cur_fail(c, DC_ERR_MALFORMED, "%s: not UTF-8 text (or holds a NUL byte)",
                        rf->name);
    memcpy(dst, c->p, (size_t)v);
    dst[v] = '\0';
    c->p += v;
    return DC_OK;
}

/* Reads an array or map block count; a negative count is followed by the
 * block's byte size, which is checked and otherwise ignored. */
static int read_block_count(cur_t *c, const char *what, int64_t *count, int64_t *bytes)
{
    int err = read_long(c, what, count);
    *bytes = -1;
    if (err || *count >= 0)
        return err;
    if (*count == INT64_MIN)
        return cur_fail(c, DC_ERR_MALFORMED, "%s: bad block count", what);
    *count = -*count;
    if ((err = read_long(c, what, bytes)))
        return err;
    if (*bytes < 0)
        return cur_fail(c, DC_ERR_MALFORMED, "%s: negative block size %lld", what,
                        (long long)*bytes);
    if ((uint64_t)*bytes > LEFT(c))
        return cur_fail(c, DC_ERR_TRUNCATED, "%s: block of %lld bytes but only %zu left", what,
                        (long long)*bytes, LEFT(c));
    return DC_OK;
}

static int skip_value(cur_t *c, avro_schema_t ws, const char *what, int depth)
{
    int64_t v, count, bytes;
    size_t n = 0;
    uint8_t b = 0;
    int err;

    ws = unlink_schema(ws);
    if (depth > SKIP_DEPTH_MAX)
        return cur_fail(c, DC_ERR_MALFORMED, "%s: values nested too deep", what);
    switch (avro_typeof(ws)) {
    case AVRO_NULL: return DC_OK;
    case AVRO_BOOLEAN:
        if ((err = read_fixed(c, what, &b, 1)))
            return err;
        return b > 1 ? cur_fail(c, DC_ERR_MALFORMED, "%s: boolean byte %u", what, b) : DC_OK;
    case AVRO_INT32: return read_int(c, what, &v);
    case AVRO_INT64: return read_long(c, what, &v);
    case AVRO_FLOAT: n = 4; goto skip_n;
    case AVRO_DOUBLE: n = 8; goto skip_n;
    case AVRO_FIXED: n = (size_t)avro_schema_fixed_size(ws); goto skip_n;
    case AVRO_STRING:
    case AVRO_BYTES:
        if ((err = read_len(c, what, &n)))
            return err;
        goto skip_n;
    case AVRO_ENUM:
        if ((err = read_long(c, what, &v)))
            return err;
        if (v < 0 || v >= avro_schema_enum_number_of_symbols(ws))
            return cur_fail(c, DC_ERR_MALFORMED, "%s: enum index %lld out of range", what,
                            (long long)v);
        return DC_OK;
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(ws); i++)
            if ((err = skip_value(c, avro_schema_record_field_get_by_index(ws, (int)i),
                                  avro_schema_record_field_name(ws, (int)i), depth + 1)))
                return err;
        return DC_OK;
    case AVRO_UNION:
        if ((err = read_long(c, what, &v)))
            return err;
        if (v < 0 || (uint64_t)v >= avro_schema_union_size(ws))
            return cur_fail(c, DC_ERR_MALFORMED, "%s: union branch %lld out of range", what,
                            (long long)v);
        return skip_value(c, avro_schema_union_branch(ws, (int)v), what, depth + 1);
    case AVRO_ARRAY:
    case AVRO_MAP: {
        int is_map = is_avro_map(ws);
        avro_schema_t item = is_map ? avro_schema_map_values(ws) : avro_schema_array_items(ws);
        size_t min = (is_map ? 1 : 0) + min_size(unlink_schema(item), depth + 1);
        for (;;) {
            if ((err = read_block_count(c, what, &count, &bytes)))
                return err;
            if (!count)
                return DC_OK;
            if (bytes >= 0) { /* the writer told us the block size: jump over it */
                c->p += bytes;
                continue;
            }
            if (min ? (uint64_t)count > LEFT(c) / min
                    : (c->zero_items += (uint64_t)count) > ZERO_ITEMS_MAX)
                return cur_fail(c, min ? DC_ERR_TRUNCATED : DC_ERR_MALFORMED,
                                "%s: %lld items cannot fit in %zu bytes", what, (long long)count,
                                LEFT(c));
            for (int64_t i = 0; i < count; i++) {
                if (is_map && (err = read_len(c, what, &n)))
                    return err;
                if (is_map)
                    c->p += n;
                if ((err = skip_value(c, item, what, depth + 1)))
                    return err;
            }
        }
    }
    default:
        return cur_fail(c, DC_ERR_MALFORMED, "%s: cannot skip a %s", what,
                        avro_schema_type_name(ws));
    }
skip_n:
    if (LEFT(c) < n)
        return cur_fail(c, DC_ERR_TRUNCATED, "%s: input ends inside a %zu-byte value", what, n);
    c->p += n;
    return DC_OK;
}

static int decode_rec(cur_t *c, const dc__plan_t *plan, uint8_t *out);

/* Stores a number read from the wire into its field, converting as Avro's
 * promotions allow (int -> long -> double, float -> double). */
static int store_long(cur_t *c, const dc__rfield_t *rf, uint8_t *out, int64_t v)
{
    int32_t i32;
    double d;

    switch (rf->kind) {
    case DC__F_LONG: memcpy(out + rf->off, &v, sizeof(v)); return DC_OK;
    case DC__F_INT:
        i32 = (int32_t)v;
        memcpy(out + rf->off, &i32, sizeof(i32));
        return DC_OK;
    case DC__F_DOUBLE:
        d = (double)v;
        memcpy(out + rf->off, &d, sizeof(d));
        return DC_OK;
    default: return cur_fail(c, DC_ERR_MALFORMED, "%s: number for a non-number field", rf->name);
    }
}

static int decode_array(cur_t *c, const op_t *op, uint8_t *out)
{
    const dc__rfield_t *rf = op->rf;
    const dc__rrec_t *ir = rf->items;
    uint8_t *items = rf->max ? out + rf->off : NULL;
    size_t total = 0, cap = rf->max;
    int64_t count, bytes;
    int err;

    if (!rf->max) {
        memcpy(&items, out + rf->off, sizeof(items));
        memcpy(&cap, out + rf->cap_off, sizeof(cap));
    }
    for (;;) {
        if ((err = read_block_count(c, rf->name, &count, &bytes)))
            goto done;
        if (!count)
            break;
        /* Every item takes at least min_item bytes, so a count the input
         * cannot hold fails here, before any storage is sized by it. */
        if ((uint64_t)count > LEFT(c) / (op->min_item ? op->min_item : 1)) {
            err = cur_fail(c, DC_ERR_TRUNCATED, "%s: %lld items cannot fit in %zu bytes",
                           rf->name, (long long)count, LEFT(c));
            goto done;
        }
        if (rf->max && (uint64_t)count > rf->max - total) {
            err = cur_fail(c, DC_ERR_MALFORMED, "%s: more than %zu items", rf->name, rf->max);
            goto done;
        }
        if (total + (size_t)count > cap) {
            size_t ncap = cap * 2 > total + (size_t)count ? cap * 2 : total + (size_t)count;
            uint8_t *grown = realloc(items, ncap * ir->size);
            if (!grown) {
                err = cur_fail(c, DC_ERR_NOMEM, "%s: out of memory for %zu items", rf->name,
                               ncap);
                goto done;
            }
            items = grown;
            cap = ncap;
        }
        for (int64_t i = 0; i < count; i++, total++)
            if ((err = decode_rec(c, op->items, items + total * ir->size)))
                goto done;
    }
done:
    /* The struct always owns the (possibly grown) storage, even on failure,
     * so a later decode reuses it and dc_order_clear() frees it. */
    if (!rf->max) {
        memcpy(out + rf->off, &items, sizeof(items));
        memcpy(out + rf->cap_off, &cap, sizeof(cap));
    }
    memcpy(out + rf->count_off, &total, sizeof(total));
    return err;
}

static int decode_value(cur_t *c, const op_t *op, uint8_t *out)
{
    const dc__rfield_t *rf = op->rf;
    int64_t v;
    double d;
    uint8_t b = 0;
    int err, flag;

    switch (op->w) {
    case W_SKIP: return skip_value(c, op->ws, op->name, 0);
    case W_FAIL:
        return cur_fail(c, DC_ERR_MALFORMED, "%s: writer chose a union branch (%s) the reader "
                        "cannot take", op->name, avro_schema_type_name(op->ws));
    case W_NULL:
        flag = 0;
        memcpy(out + rf->flag_off, &flag, sizeof(flag));
        out[rf->off] = '\0';
        return DC_OK;
    case W_STRING:
        if (rf->kind == DC__F_NSTRING) {
            flag = 1;
            memcpy(out + rf->flag_off, &flag, sizeof(flag));
        }
        return read_string(c, rf, (char *)out + rf->off);
    case W_BOOL:
        if ((err = read_fixed(c, rf->name, &b, 1)))
            return err;
        if (b > 1)
            return cur_fail(c, DC_ERR_MALFORMED, "%s: boolean byte %u", rf->name, b);
        flag = b;
        memcpy(out + rf->off, &flag, sizeof(flag));
        return DC_OK;
    case W_INT:
        if ((err = read_int(c, rf->name, &v)))
            return err;
        return store_long(c, rf, out, v);
    case W_LONG:
        if ((err = read_long(c, rf->name, &v)))
            return err;
        return store_long(c, rf, out, v);
    case W_FLOAT:
    case W_DOUBLE:
        if ((err = op->w == W_FLOAT ? read_float(c, rf->name, &d) : read_double(c, rf->name, &d)))
            return err;
        memcpy(out + rf->off, &d, sizeof(d));
        return DC_OK;
    case W_ENUM:
        if ((err = read_long(c, rf->name, &v)))
            return err;
        if (v < 0 || v >= op->n_enum)
            return cur_fail(c, DC_ERR_MALFORMED, "%s: enum index %lld out of range", rf->name,
                            (long long)v);
        if (op->enum_map[v] < 0)
            return cur_fail(c, DC_ERR_MALFORMED, "%s: symbol %s unknown to the reader", rf->name,
                            avro_schema_enum_get(op->ws, (int)v));
        memcpy(out + rf->off, &op->enum_map[v], sizeof(int));
        return DC_OK;
    case W_UNION:
        if ((err = read_long(c, rf->name, &v)))
            return err;
        if (v < 0 || (uint64_t)v >= op->n_branches)
            return cur_fail(c, DC_ERR_MALFORMED, "%s: union branch %lld out of range", rf->name,
                            (long long)v);
        return decode_value(c, &op->branches[v], out);
    case W_ARRAY: return decode_array(c, op, out);
    }
    return cur_fail(c, DC_ERR_MALFORMED, "%s: bad plan", op->name);
}

static int decode_rec(cur_t *c, const dc__plan_t *plan, uint8_t *out)
{
    int err, flag = 0;

    for (size_t i = 0; i < plan->n_ops; i++)
        if ((err = decode_value(c, &plan->ops[i], out)))
            return err;
    for (size_t i = 0; i < plan->n_defaults; i++) {
        memcpy(out + plan->defaults[i]->flag_off, &flag, sizeof(flag));
        out[plan->defaults[i]->off] = '\0';
    }
    return DC_OK;
}

int dc__plan_decode(const dc__plan_t *plan, const uint8_t *buf, size_t len, void *out,
                    char *errstr, size_t errstr_size)
{
    cur_t c = {buf, buf + len, errstr, errstr_size, 0};
    int err = decode_rec(&c, plan, out);

    if (!err && c.p != c.end)
        err = cur_fail(&c, DC_ERR_TRAILING, "%zu bytes left after the record", LEFT(&c));
    return err;
}
