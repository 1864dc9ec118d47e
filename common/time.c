/* common/time.c - event-time parsing and formatting, independent of the
 * process time zone (no mktime/localtime: a replay must not change with TZ). */
#include "common/common.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Reads exactly n digits at *p into *out. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int dc_time_parse(const char *text, int64_t *ms)
{
    const char *p = text;
    int y, mo, d, hh = 0, mi = 0, ss = 0, frac = 0;
    int64_t offset_min = 0;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (!text || !*text)
        return DC_ERR_INVAL;
    /* A bare integer is epoch milliseconds. */
    const char *num = text[0] == '-' ? text + 1 : text;
    if (*num && strspn(num, "0123456789") == strlen(num)) {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno || *end)
            return DC_ERR_INVAL;
        *ms = v;
        return DC_OK;
    }
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return DC_ERR_INVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return DC_ERR_INVAL;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (digits(&p, 2, &hh) || *p++ != ':' || digits(&p, 2, &mi))
            return DC_ERR_INVAL;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &ss))
                return DC_ERR_INVAL;
            if (*p == '.') {
                int scale = 100;
                p++;
                if (!isdigit((unsigned char)*p))
                    return DC_ERR_INVAL;
                while (isdigit((unsigned char)*p)) {
                    frac += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
        }
        if (hh > 23 || mi > 59 || ss > 60)
            return DC_ERR_INVAL;
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (digits(&p, 2, &oh))
                return DC_ERR_INVAL;
            if (*p == ':')
                p++;
            if (digits(&p, 2, &om))
                return DC_ERR_INVAL;
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (*p)
        return DC_ERR_INVAL;
    *ms = ((days_from_civil(y, mo, d) * 24 + hh) * 60 + mi - offset_min) * 60000 +
          (int64_t)ss * 1000 + frac;
    return DC_OK;
}

/* Years 0000..9999: the range ISO-8601 text covers without a sign, and one
 * in which the day arithmetic below cannot overflow. */
#define MIN_FORMATTABLE_MS (-62167219200000LL)
#define MAX_FORMATTABLE_MS 253402300799999LL

char *dc_time_format(int64_t ms, char *buf, size_t size)
{
    if (ms < MIN_FORMATTABLE_MS || ms > MAX_FORMATTABLE_MS) {
        snprintf(buf, size, "%lldms", (long long)ms);
        return buf;
    }
    int64_t days = dc_time_floor(ms, 86400000) / 86400000;
    int64_t rem = ms - days * 86400000, y;
    int m, d;

    civil_from_days(days, &y, &m, &d);
    int hh = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), ss = (int)(rem / 1000 % 60);
    int frac = (int)(rem % 1000);
    if (frac)
        snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d, hh, mi,
                 ss, frac);
    else
        snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, hh, mi, ss);
    return buf;
}

char *dc_date_format(int64_t ms, char *buf, size_t size)
{
    if (ms < MIN_FORMATTABLE_MS || ms > MAX_FORMATTABLE_MS) {
        snprintf(buf, size, "%lldms", (long long)ms);
        return buf;
    }
    int64_t y;
    int m, d;
    civil_from_days(dc_time_floor(ms, 86400000) / 86400000, &y, &m, &d);
    snprintf(buf, size, "%04lld-%02d-%02d", (long long)y, m, d);
    return buf;
}

static const struct {
    const char *suffix;
    int64_t ms;
} units[] = {{"w", 604800000}, {"d", 86400000}, {"h", 3600000},
             {"m", 60000},     {"s", 1000},      {"ms", 1}};

int dc_duration_parse(const char *text, int64_t *ms)
{
    char *end;
    long long v;

    if (!text || !*text)
        return DC_ERR_INVAL;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || end == text)
        return DC_ERR_INVAL;
    if (!*end) {
        *ms = v;
        return DC_OK;
    }
    for (size_t i = 0; i < DC_ARRAY_SIZE(units); i++) {
        if (!strcmp(end, units[i].suffix)) {
            if (v > INT64_MAX / units[i].ms || v < INT64_MIN / units[i].ms)
                return DC_ERR_INVAL;
            *ms = v * units[i].ms;
            return DC_OK;
        }
    }
    return DC_ERR_INVAL;
}

char *dc_duration_format(int64_t ms, char *buf, size_t size)
{
    for (size_t i = 0; i < DC_ARRAY_SIZE(units); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ms / units[i].ms), units[i].suffix);
            return buf;
        }
    }
    snprintf(buf, size, "%lldms", (long long)ms);
    return buf;
}

int64_t dc_time_floor(int64_t ms, int64_t width)
{
    int64_t q = ms / width;
    if (ms % width < 0)
        q--;
    return q * width;
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int64_t dc_wallclock_ms(void) { return clock_ms(CLOCK_REALTIME); }
double dc_monotonic_s(void) { return clock_s(CLOCK_MONOTONIC); }
int64_t dc_wallclock_coarse_ms(void) { return clock_ms(CLOCK_REALTIME_COARSE); }
double dc_monotonic_coarse_s(void) { return clock_s(CLOCK_MONOTONIC_COARSE); }
double dc_thread_cpu_s(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }
