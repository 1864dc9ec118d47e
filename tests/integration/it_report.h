/* tests/integration/it_report.h - how a C integration test says what went
 * wrong: each line led by the test's number, IT_NAME (tests/CMakeLists.txt
 * defines it from the file's name). */
#ifndef DC_IT_REPORT_H
#define DC_IT_REPORT_H

#include <stdio.h>
#include <stdlib.h>

/* Whether a check failed: the test's exit status once it has run them all. */
__attribute__((unused)) static int it_failed;

/* Stops the test at once: what failed and why. */
static inline void die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", IT_NAME, what, why);
    exit(1);
}

/* Records a failed check and goes on, so that one run shows every failure. */
static inline void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "%s: %s\n", IT_NAME, what);
        it_failed = 1;
    }
}

#endif
