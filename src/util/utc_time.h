/*
 * utc_time: UTC days and timestamps, independent of the host's TZ.
 *
 * A report covers one UTC day, so every day boundary is computed with
 * timegm() and gmtime_r(), never with local time. Days are written
 * "YYYY-MM-DD" and timestamps "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339 with Z).
 *
 * utc_now() is the suite's clock. Tests may shift it with the environment
 * variable TLSRPTD_CLOCK_OFFSET (seconds, may be negative), so that day
 * boundaries can be tested without waiting for midnight.
 */
#ifndef TLSRPTD_UTC_TIME_H
#define TLSRPTD_UTC_TIME_H

#include <time.h>

#define UTC_DAY_LEN	10	/* "YYYY-MM-DD" */
#define UTC_TIME_LEN	20	/* "YYYY-MM-DDTHH:MM:SSZ" */
#define UTC_DAY_SECONDS	86400

time_t utc_now(void);
time_t utc_day_start(time_t when);
int utc_day_parse(const char *text, time_t *start);
void utc_day_format(time_t when, char out[UTC_DAY_LEN + 1]);
void utc_time_format(time_t when, char out[UTC_TIME_LEN + 1]);
int utc_time_parse(const char *text, time_t *when);

#endif
