/* schemas/records.c - the record types: names, their embedded schemas, the
 * bindings of the C structs to Avro fields, and order-line helpers. */
#include "schemas/schemas_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The C enums are stored through an int pointer by the decoder. */
_Static_assert(sizeof(dc_click_type_t) == sizeof(int), "enum is not int-sized");
_Static_assert(sizeof(dc_order_status_t) == sizeof(int), "enum is not int-sized");
_Static_assert(sizeof(dc_surge_state_t) == sizeof(int), "enum is not int-sized");

static const char *const click_types[] = {"VIEW", "ADD_TO_CART", "REMOVE_FROM_CART", "WISHLIST",
                                          "SEARCH_CLICK"};
static const char *const order_statuses[] = {"PLACED", "CANCELLED"};
static const char *const surge_states[] = {"START", "UPDATE", "END"};
_Static_assert(DC_ARRAY_SIZE(click_types) == DC_CLICK__COUNT, "ClickType symbols");
_Static_assert(DC_ARRAY_SIZE(order_statuses) == DC_ORDER__COUNT, "OrderStatus symbols");
_Static_assert(DC_ARRAY_SIZE(surge_states) == DC_SURGE__COUNT, "SurgeState symbols");

const char *dc_click_type_name(dc_click_type_t type)
{
    return (unsigned)type < DC_CLICK__COUNT ? click_types[type] : "?";
}

const char *dc_order_status_name(dc_order_status_t status)
{
    return (unsigned)status < DC_ORDER__COUNT ? order_statuses[status] : "?";
}

const char *dc_surge_state_name(dc_surge_state_t state)
{
    return (unsigned)state < DC_SURGE__COUNT ? surge_states[state] : "?";
}

static const struct {
    const char *json;
    const char *name;
} schemas[DC_REC__COUNT] = {
    [DC_REC_CLICK] = {dc__avsc_ClickEvent, "demandcast.ClickEvent"},
    [DC_REC_ORDER] = {dc__avsc_OrderEvent, "demandcast.OrderEvent"},
    [DC_REC_FORECAST] = {dc__avsc_Forecast, "demandcast.Forecast"},
    [DC_REC_SURGE] = {dc__avsc_SurgeAlert, "demandcast.SurgeAlert"},
};

const char *dc_schema_json(dc_rec_type_t type)
{
    return (unsigned)type < DC_REC__COUNT ? schemas[type].json : "";
}

const char *dc_schema_name(dc_rec_type_t type)
{
    return (unsigned)type < DC_REC__COUNT ? schemas[type].name : "?";
}

void dc_order_clear(dc_order_t *order)
{
    if (!order)
        return;
    free(order->lines);
    memset(order, 0, sizeof(*order));
}

int dc_order_add_line(dc_order_t *order, const char *sku, int32_t qty, double unit_price)
{
    dc_order_line_t *line;
    size_t len = strlen(sku);

    if (len >= DC_SKU_MAX)
        return DC_ERR_INVAL;
    if (order->n_lines == order->lines_cap) {
        size_t cap = order->lines_cap ? order->lines_cap * 2 : 4;
        dc_order_line_t *lines = realloc(order->lines, cap * sizeof(*lines));
        if (!lines)
            return DC_ERR_NOMEM;
        order->lines = lines;
        order->lines_cap = cap;
    }
    line = &order->lines[order->n_lines++];
    memcpy(line->sku, sku, len + 1);
    line->qty = qty;
    line->unit_price = unit_price;
    return DC_OK;
}

/* ---- bindings ---- */

#define STR(T, f) {#f, DC__F_STRING, offsetof(T, f), sizeof(((T *)0)->f), 0, NULL, 0, NULL, 0, 0, 0}
#define NSTR(T, f, flag)                                                                        \
    {#f, DC__F_NSTRING, offsetof(T, f), sizeof(((T *)0)->f), offsetof(T, flag), NULL, 0, NULL,   \
     0, 0, 0}
#define SCALAR(T, name, f, kind) {name, kind, offsetof(T, f), 0, 0, NULL, 0, NULL, 0, 0, 0}
#define ENUM(T, f, syms) \
    {#f, DC__F_ENUM, offsetof(T, f), 0, 0, syms, (int)DC_ARRAY_SIZE(syms), NULL, 0, 0, 0}

static const dc__rfield_t click_fields[] = {
    STR(dc_click_t, event_id),
    SCALAR(dc_click_t, "ts", ts_ms, DC__F_LONG),
    STR(dc_click_t, sku),
    STR(dc_click_t, user_id),
    STR(dc_click_t, session_id),
    ENUM(dc_click_t, type, click_types),
    SCALAR(dc_click_t, "price", price, DC__F_DOUBLE),
    NSTR(dc_click_t, promo, has_promo),
};

static const dc__rfield_t line_fields[] = {
    STR(dc_order_line_t, sku),
    SCALAR(dc_order_line_t, "qty", qty, DC__F_INT),
    SCALAR(dc_order_line_t, "unit_price", unit_price, DC__F_DOUBLE),
};
static const dc__rrec_t line_rec = {"OrderLine", sizeof(dc_order_line_t), line_fields,
                                    DC_ARRAY_SIZE(line_fields)};

static const dc__rfield_t order_fields[] = {
    STR(dc_order_t, order_id),
    SCALAR(dc_order_t, "ts", ts_ms, DC__F_LONG),
    STR(dc_order_t, user_id),
    ENUM(dc_order_t, status, order_statuses),
    {"lines", DC__F_ARRAY, offsetof(dc_order_t, lines), 0, 0, NULL, 0, &line_rec,
     offsetof(dc_order_t, n_lines), 0, offsetof(dc_order_t, lines_cap)},
    NSTR(dc_order_t, promo_code, has_promo_code),
};

static const dc__rfield_t horizon_fields[] = {
    SCALAR(dc_horizon_t, "offset", offset, DC__F_INT),
    SCALAR(dc_horizon_t, "mean", mean, DC__F_DOUBLE),
    SCALAR(dc_horizon_t, "p10", p10, DC__F_DOUBLE),
    SCALAR(dc_horizon_t, "p50", p50, DC__F_DOUBLE),
    SCALAR(dc_horizon_t, "p90", p90, DC__F_DOUBLE),
};
static const dc__rrec_t horizon_rec = {"Horizon", sizeof(dc_horizon_t), horizon_fields,
                                       DC_ARRAY_SIZE(horizon_fields)};

static const dc__rfield_t forecast_fields[] = {
    STR(dc_forecast_t, sku),
    SCALAR(dc_forecast_t, "bucket_start", bucket_start, DC__F_LONG),
    SCALAR(dc_forecast_t, "bucket_width", bucket_width, DC__F_LONG),
    SCALAR(dc_forecast_t, "issued_at", issued_at, DC__F_LONG),
    SCALAR(dc_forecast_t, "model_version", model_version, DC__F_LONG),
    {"horizons", DC__F_ARRAY, offsetof(dc_forecast_t, horizons), 0, 0, NULL, 0, &horizon_rec,
     offsetof(dc_forecast_t, n_horizons), DC_HORIZON_MAX, 0},
    SCALAR(dc_forecast_t, "cold_start", cold_start, DC__F_BOOL),
};

static const dc__rfield_t signal_fields[] = {
    STR(dc_signal_t, name),
    SCALAR(dc_signal_t, "value", value, DC__F_DOUBLE),
};
static const dc__rrec_t signal_rec = {"Signal", sizeof(dc_signal_t), signal_fields,
                                      DC_ARRAY_SIZE(signal_fields)};

static const dc__rfield_t surge_fields[] = {
    STR(dc_surge_t, sku),
    ENUM(dc_surge_t, state, surge_states),
    SCALAR(dc_surge_t, "detected_at", detected_at, DC__F_LONG),
    SCALAR(dc_surge_t, "expected", expected, DC__F_DOUBLE),
    SCALAR(dc_surge_t, "baseline", baseline, DC__F_DOUBLE),
    SCALAR(dc_surge_t, "ratio", ratio, DC__F_DOUBLE),
    {"signals", DC__F_ARRAY, offsetof(dc_surge_t, signals), 0, 0, NULL, 0, &signal_rec,
     offsetof(dc_surge_t, n_signals), DC_SIGNALS_MAX, 0},
};

static const dc__rrec_t top_recs[DC_REC__COUNT] = {
    [DC_REC_CLICK] = {"ClickEvent", sizeof(dc_click_t), click_fields, DC_ARRAY_SIZE(click_fields)},
    [DC_REC_ORDER] = {"OrderEvent", sizeof(dc_order_t), order_fields, DC_ARRAY_SIZE(order_fields)},
    [DC_REC_FORECAST] = {"Forecast", sizeof(dc_forecast_t), forecast_fields,
                         DC_ARRAY_SIZE(forecast_fields)},
    [DC_REC_SURGE] = {"SurgeAlert", sizeof(dc_surge_t), surge_fields, DC_ARRAY_SIZE(surge_fields)},
};

const dc__rrec_t *dc__rrec(dc_rec_type_t type)
{
    return &top_recs[type];
}

/* ---- checking a binding against our parsed .avsc ---- */

static int is_null_string_union(avro_schema_t s)
{
    return is_avro_union(s) && avro_schema_union_size(s) == 2 &&
           is_avro_null(avro_schema_union_branch(s, 0)) &&
           is_avro_string(avro_schema_union_branch(s, 1));
}

static int check_rec(const dc__rrec_t *rrec, avro_schema_t schema, json_t *jrec, char *errstr,
                     size_t errstr_size)
{
    json_t *jfields = json_object_get(jrec, "fields");

    if (!is_avro_record(schema) || strcmp(avro_schema_name(schema), rrec->name) ||
        avro_schema_record_size(schema) != rrec->n_fields ||
        json_array_size(jfields) != rrec->n_fields)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                         "schema of %s does not have the %zu fields of its struct", rrec->name,
                         rrec->n_fields);
    for (size_t i = 0; i < rrec->n_fields; i++) {
        const dc__rfield_t *rf = &rrec->fields[i];
        avro_schema_t fs = avro_schema_record_field_get_by_index(schema, (int)i);
        json_t *jfield = json_array_get(jfields, i);
        json_t *jdefault = json_object_get(jfield, "default");
        int ok;

        if (strcmp(avro_schema_record_field_name(schema, (int)i), rf->name))
            return dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                             "%s field %zu is \"%s\", struct expects \"%s\"", rrec->name, i,
                             avro_schema_record_field_name(schema, (int)i), rf->name);
        switch (rf->kind) {
        case DC__F_STRING: ok = is_avro_string(fs); break;
        case DC__F_NSTRING: ok = is_null_string_union(fs) && json_is_null(jdefault); break;
        case DC__F_LONG: ok = is_avro_int64(fs); break;
        case DC__F_INT: ok = is_avro_int32(fs); break;
        case DC__F_DOUBLE: ok = is_avro_double(fs); break;
        case DC__F_BOOL: ok = is_avro_boolean(fs); break;
        case DC__F_ENUM:
            ok = is_avro_enum(fs) && avro_schema_enum_number_of_symbols(fs) == rf->n_symbols;
            for (int k = 0; ok && k < rf->n_symbols; k++)
                ok = !strcmp(avro_schema_enum_get(fs, k), rf->symbols[k]);
            break;
        case DC__F_ARRAY:
            if (!is_avro_array(fs))
                ok = 0;
            else if (check_rec(rf->items, avro_schema_array_items(fs),
                               json_object_get(json_object_get(jfield, "type"), "items"), errstr,
                               errstr_size))
                return DC_ERR_INVAL;
            else
                ok = 1;
            break;
        default: ok = 0;
        }
        /* Only nullable fields may have a default, and it must be null: the
         * decoder fills a field the writer lacks with exactly that. */
        if (rf->kind != DC__F_NSTRING && jdefault)
            ok = 0;
        if (!ok)
            return dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                             "%s.%s: type or default in the .avsc does not match the struct",
                             rrec->name, rf->name);
    }
    return DC_OK;
}

int dc__rrec_check(const dc__rrec_t *rrec, avro_schema_t schema, const char *json, char *errstr,
                   size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    int err;

    if (!root)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "%s.avsc: %s", rrec->name, jerr.text);
    err = check_rec(rrec, schema, root, errstr, errstr_size);
    json_decref(root);
    return err;
}

/* ---- UTF-8 ---- */

int dc__utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;

        if (c >= 0x01 && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0; /* NUL, a continuation byte, or an overlong/out-of-range lead */
        }
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

int dc__schema_parse(dc_rec_type_t type, avro_schema_t *schemap, char *errstr, size_t errstr_size)
{
    const char *json = dc_schema_json(type);
    int err;

    *schemap = NULL;
    if ((unsigned)type >= DC_REC__COUNT)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "no record type %d", (int)type);
    if (avro_schema_from_json_length(json, strlen(json), schemap))
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "%s: %s", dc_schema_name(type),
                         avro_strerror());
    if ((err = dc__rrec_check(&top_recs[type], *schemap, json, errstr, errstr_size))) {
        avro_schema_decref(*schemap);
        *schemap = NULL;
    }
    return err;
}
