/*
 * monotonic: milliseconds on CLOCK_MONOTONIC, for batch deadlines that a
 * change of the wall clock must not move.
 */
#ifndef TLSRPTD_RECEIVER_MONOTONIC_H
#define TLSRPTD_RECEIVER_MONOTONIC_H

#include <time.h>

static inline long long monotonic_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

#endif
