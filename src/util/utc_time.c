/*
 * utc_time: UTC day and timestamp helpers; see utc_time.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utc_time.h"

time_t utc_now(void)
{
	static int offset_read;
	static long long offset;

	if (!offset_read) {
		const char *text = getenv("TLSRPTD_CLOCK_OFFSET");

		if (text != NULL)
			offset = strtoll(text, NULL, 10);
		offset_read = 1;
	}
	return time(NULL) + (time_t)offset;
}

time_t utc_day_start(time_t when)
{
	time_t rest = when % UTC_DAY_SECONDS;

	if (rest < 0)
		rest += UTC_DAY_SECONDS;
	return when - rest;
}

void utc_day_format(time_t when, char out[UTC_DAY_LEN + 1])
{
	struct tm tm;

	gmtime_r(&when, &tm);
	snprintf(out, UTC_DAY_LEN + 1, "%04u-%02u-%02u",
		 (unsigned)(tm.tm_year + 1900) % 10000u,
		 (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
}

void utc_time_format(time_t when, char out[UTC_TIME_LEN + 1])
{
	struct tm tm;

	gmtime_r(&when, &tm);
	snprintf(out, UTC_TIME_LEN + 1, "%04u-%02u-%02uT%02u:%02u:%02uZ",
		 (unsigned)(tm.tm_year + 1900) % 10000u,
		 (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
		 (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
		 (unsigned)tm.tm_sec % 100u);
}

/* Check that text matches a digit/literal pattern such as "dddd-dd-dd". */
static int matches(const char *text, const char *pattern)
{
	for (; *pattern != '\0'; pattern++, text++) {
		if (*pattern == 'd' ? !isdigit((unsigned char)*text)
		    : *text != *pattern)
			return 0;
	}
	return *text == '\0';
}

static int to_epoch(struct tm *tm, time_t *when)
{
	struct tm check = *tm;
	time_t result = timegm(tm);

	/* timegm() normalises 2026-02-30 into March; reject such dates. */
	if (result == (time_t)-1 || tm->tm_mday != check.tm_mday
	    || tm->tm_mon != check.tm_mon || tm->tm_year != check.tm_year
	    || tm->tm_hour != check.tm_hour || tm->tm_min != check.tm_min
	    || tm->tm_sec != check.tm_sec)
		return -1;
	*when = result;
	return 0;
}

int utc_day_parse(const char *text, time_t *start)
{
	struct tm tm;

	if (!matches(text, "dddd-dd-dd"))
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = atoi(text) - 1900;
	tm.tm_mon = atoi(text + 5) - 1;
	tm.tm_mday = atoi(text + 8);
	if (tm.tm_year < 70)
		return -1;
	return to_epoch(&tm, start);
}

int utc_time_parse(const char *text, time_t *when)
{
	struct tm tm;

	if (!matches(text, "dddd-dd-ddTdd:dd:ddZ"))
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = atoi(text) - 1900;
	tm.tm_mon = atoi(text + 5) - 1;
	tm.tm_mday = atoi(text + 8);
	tm.tm_hour = atoi(text + 11);
	tm.tm_min = atoi(text + 14);
	tm.tm_sec = atoi(text + 17);
	if (tm.tm_year < 70)
		return -1;
	return to_epoch(&tm, when);
}
